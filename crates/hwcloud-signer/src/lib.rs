//! Huawei Cloud AK/SK request signing, `SDK-HMAC-SHA256`, for both sides of the wire.
//!
//! This crate owns the canonical request, the string to sign, the signature and the
//! `Authorization` header value, byte-for-byte as the official SDK signer
//! (`huaweicloudsdkcore.signer.Signer`) builds them, plus the query string that goes on the
//! wire (the SDK sends exactly the canonical query). It also owns the server side used by the
//! API simulator: parsing an `Authorization` value and verifying it in constant time. It is
//! pure: no clock (callers pass `X-Sdk-Date`), no I/O, and it never renders the secret key.
//! It is its own crate so that the client (`vpn-inventory`, as `api::signer`) and the simulator
//! (`vpn-simulator`) share it without the simulator depending on the product.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The algorithm name that opens the string to sign and the `Authorization` value.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

const HEADER_DATE: &str = "X-Sdk-Date";
/// Lets a caller sign a precomputed (or `UNSIGNED-PAYLOAD`) body hash, as the SDK does.
const HEADER_CONTENT_SHA256: &str = "X-Sdk-Content-Sha256";
const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SDK_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The SDK uses Python's `quote(s, safe='~')`, which leaves only these unescaped; notably
/// `/`, `:`, `+` and space are all escaped, unlike form encoding.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// `X-Sdk-Date` format, e.g. `20221211T135959Z`.
pub fn sdk_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format(SDK_DATE_FORMAT).to_string()
}

/// The canonical query string: pairs sorted by key then value (on the raw, unencoded text, as
/// the SDK sorts before encoding), each side percent-encoded, joined with `&`. Repeated keys
/// stay repeated pairs. This is also the query string to send: the server canonicalizes what
/// it receives, so sending anything else risks a signature mismatch.
pub fn canonical_query_string(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    // `String` orders by UTF-8 bytes, which matches Python's code-point order.
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The request target as the SDK sends it: the path untouched, then `?` and the canonical
/// query string when there is one.
pub fn request_uri(path: &str, query: &[(String, String)]) -> String {
    let query_string = canonical_query_string(query);
    if query_string.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query_string}")
    }
}

/// What is signed. `headers` are the request headers exactly as they will be sent.
#[derive(Clone, Copy)]
pub struct SigningInput<'a> {
    pub method: &'a str,
    /// The resource path without query, e.g. `/v5/{project_id}/vpn-connection`.
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Everything the signer produced, kept for logging and tests; `authorization` is the header
/// value to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signed_headers: String,
    pub signature: String,
    pub authorization: String,
}

// Hand-written rather than derived: the canonical request carries `X-Security-Token`, a
// credential, verbatim.
impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field(
                "canonical_request",
                &redact_security_token(&self.canonical_request),
            )
            .field("string_to_sign", &self.string_to_sign)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("authorization", &self.authorization)
            .finish()
    }
}

/// Signs a request. `input.headers` must include `Host` and `X-Sdk-Date` (looked up
/// case-insensitively); this function does not add them because it has no clock and does not
/// know the endpoint. Every header whose name has no `_` is signed (proxies commonly drop
/// underscored headers, so signing them would break verification). If two headers differ only
/// in case, the last one wins.
///
/// Unlike the SDK, this does not add `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` for non-JSON
/// bodies; a caller that wants that must put the header in `input.headers` itself.
pub fn sign(access_key: &str, secret_key: &str, input: &SigningInput<'_>) -> Signed {
    let mut by_name: Vec<(String, &str)> = Vec::new();
    for (name, value) in input.headers {
        if name.contains('_') {
            continue;
        }
        let name = name.to_lowercase();
        let value = value.trim();
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => by_name.push((name, value)),
        }
    }
    by_name.sort_by(|a, b| a.0.cmp(&b.0));

    let date = find_header(input.headers, HEADER_DATE).unwrap_or("");
    let (canonical_request, string_to_sign, signed_headers) = canonicalize(input, &by_name, date);

    let mut mac = new_mac(secret_key);
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let authorization = format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    Signed {
        canonical_request,
        string_to_sign,
        signed_headers,
        signature,
        authorization,
    }
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access_key: String,
    /// In the order the client listed them, which is the order it canonicalized them in.
    pub signed_headers: Vec<String>,
    /// Lower-case hex, 64 characters.
    pub signature: String,
}

/// Why an `Authorization` header was rejected. Messages never include the secret key, and
/// `Malformed` only carries fixed text so client input is not echoed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    #[error("signed header `{0}` is not present in the request")]
    MissingSignedHeader(String),
    #[error("request has no X-Sdk-Date header")]
    MissingDate,
    #[error("request signature does not match")]
    SignatureMismatch,
}

/// Parses an `Authorization` header value. Parameters may come in any order but each exactly
/// once; unknown parameters are rejected rather than ignored.
pub fn parse_authorization(value: &str) -> Result<ParsedAuthorization, AuthorizationError> {
    use AuthorizationError::Malformed;

    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or(Malformed("expected the SDK-HMAC-SHA256 algorithm"))?;
    if !rest.starts_with(' ') {
        return Err(Malformed("expected a space after the algorithm"));
    }

    let (mut access, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part
            .trim()
            .split_once('=')
            .ok_or(Malformed("expected Key=Value parameters"))?;
        let slot = match key {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(Malformed("unknown parameter")),
        };
        if slot.replace(val).is_some() {
            return Err(Malformed("duplicate parameter"));
        }
    }

    let access_key = access.ok_or(Malformed("missing Access"))?;
    if access_key.is_empty() {
        return Err(Malformed("empty Access"));
    }
    let signed_headers: Vec<String> = signed
        .ok_or(Malformed("missing SignedHeaders"))?
        .split(';')
        .map(str::to_owned)
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(Malformed("empty name in SignedHeaders"));
    }
    let signature = signature.ok_or(Malformed("missing Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Malformed("Signature is not 64 hex digits"));
    }
    Ok(ParsedAuthorization {
        access_key: access_key.to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// Recomputes the signature over exactly the headers named in `auth.signed_headers` (looked
/// up case-insensitively in `input.headers`) and compares in constant time. Matching the
/// access key to `secret_key` and checking the date's freshness are the caller's job.
pub fn verify(
    secret_key: &str,
    auth: &ParsedAuthorization,
    input: &SigningInput<'_>,
) -> Result<(), AuthorizationError> {
    let mut named: Vec<(String, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let value = find_header(input.headers, name)
            .ok_or_else(|| AuthorizationError::MissingSignedHeader(name.clone()))?;
        // The client canonicalized under the names it listed, so use them as listed.
        named.push((name.clone(), value.trim()));
    }
    let date = find_header(input.headers, HEADER_DATE).ok_or(AuthorizationError::MissingDate)?;
    let (_, string_to_sign, _) = canonicalize(input, &named, date);

    let expected = hex::decode(&auth.signature)
        .map_err(|_| AuthorizationError::Malformed("Signature is not hex"))?;
    let mut mac = new_mac(secret_key);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| AuthorizationError::SignatureMismatch)
}

/// Builds (canonical request, string to sign, signed headers) from already-selected headers
/// (`name`, trimmed value) in canonical order.
fn canonicalize(
    input: &SigningInput<'_>,
    headers: &[(String, &str)],
    date: &str,
) -> (String, String, String) {
    let canonical_headers: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}"))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    // The SDK formats "\n".join(lines) + "\n" into a "\n"-separated template, which is where
    // the blank line before the signed-headers list comes from.
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n\n{}\n{}",
        input.method.to_uppercase(),
        canonical_uri(input.path),
        canonical_query_string(input.query),
        canonical_headers.join("\n"),
        signed_headers,
        payload_hash(input.headers, input.body),
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}",
        date.trim(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    (canonical_request, string_to_sign, signed_headers)
}

/// The SDK unquotes the path, re-encodes each segment (so `/` inside a segment cannot
/// survive) and always ends it with `/`, even though the path sent has no trailing slash.
fn canonical_uri(path: &str) -> String {
    // Lossy decoding mirrors Python's `unquote` (UTF-8, errors replaced with U+FFFD).
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut uri = decoded
        .split('/')
        .map(url_encode)
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// An empty body always hashes to the empty-string digest; otherwise an explicit
/// `X-Sdk-Content-Sha256` (e.g. `UNSIGNED-PAYLOAD`) replaces the body hash, as in the SDK.
fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
    if body.is_empty() {
        return EMPTY_BODY_SHA256.to_owned();
    }
    match find_header(headers, HEADER_CONTENT_SHA256).map(str::trim) {
        Some(declared) if !declared.is_empty() => declared.to_owned(),
        _ => hex::encode(Sha256::digest(body)),
    }
}

fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn new_mac(secret_key: &str) -> HmacSha256 {
    // HMAC is defined for keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret_key.as_bytes()).expect("HMAC accepts any key length")
}

fn redact_security_token(canonical_request: &str) -> String {
    canonical_request
        .split('\n')
        .map(|line| {
            if line.starts_with("x-security-token:") {
                "x-security-token:<redacted>"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../tests/fixtures/sdk-hmac-sha256-vectors.json");

    struct Case {
        name: String,
        ak: String,
        sk: String,
        method: String,
        path: String,
        query: Vec<(String, String)>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        expected: Value,
    }

    impl Case {
        fn input(&self) -> SigningInput<'_> {
            SigningInput {
                method: &self.method,
                path: &self.path,
                query: &self.query,
                headers: &self.headers,
                body: &self.body,
            }
        }

        fn expected(&self, field: &str) -> &str {
            self.expected[field]
                .as_str()
                .unwrap_or_else(|| panic!("{}: expected.{field} missing", self.name))
        }
    }

    /// Query values in the vectors are strings, numbers or lists (a list expands to repeated
    /// pairs, as in the SDK); booleans are rendered lower-case as the SDK does.
    fn query_values(value: &Value) -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Number(n) => vec![n.to_string()],
            Value::Bool(b) => vec![b.to_string()],
            Value::Array(items) => items.iter().flat_map(query_values).collect(),
            other => panic!("unsupported query value {other}"),
        }
    }

    fn str_field(v: &Value, field: &str) -> String {
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("field {field} missing"))
            .to_owned()
    }

    fn cases() -> Vec<Case> {
        let doc: Value = serde_json::from_str(VECTORS).expect("vectors are valid JSON");
        assert_eq!(doc["algorithm"], ALGORITHM);
        let cases = doc["cases"].as_array().expect("cases array");
        assert!(!cases.is_empty());
        cases
            .iter()
            .map(|c| {
                let query = c["query"]
                    .as_array()
                    .expect("query array")
                    .iter()
                    .flat_map(|pair| {
                        let key = pair[0].as_str().expect("query key").to_owned();
                        query_values(&pair[1])
                            .into_iter()
                            .map(move |v| (key.clone(), v))
                    })
                    .collect();
                let headers = c["headers"]
                    .as_object()
                    .expect("headers object")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_owned()))
                    .collect();
                Case {
                    name: str_field(c, "name"),
                    ak: str_field(c, "ak"),
                    sk: str_field(c, "sk"),
                    method: str_field(c, "method"),
                    path: str_field(c, "path"),
                    query,
                    headers,
                    body: str_field(c, "body").into_bytes(),
                    expected: c["expected"].clone(),
                }
            })
            .collect()
    }

    fn sample_headers() -> Vec<(String, String)> {
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("Host".into(), "vpn.cn-north-4.myhuaweicloud.com".into()),
            ("X-Sdk-Date".into(), "20221211T135959Z".into()),
        ]
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn replays_every_official_vector() {
        for case in cases() {
            let signed = sign(&case.ak, &case.sk, &case.input());
            let name = &case.name;
            assert_eq!(
                signed.canonical_request,
                case.expected("canonical_request"),
                "{name}: canonical_request"
            );
            assert_eq!(
                signed.string_to_sign,
                case.expected("string_to_sign"),
                "{name}: string_to_sign"
            );
            assert_eq!(
                signed.authorization,
                case.expected("authorization"),
                "{name}: authorization"
            );
            assert_eq!(
                request_uri(&case.path, &case.query),
                case.expected("request_uri"),
                "{name}: request_uri"
            );
        }
    }

    #[test]
    fn verifies_every_official_vector() {
        for case in cases() {
            let auth = parse_authorization(case.expected("authorization")).expect("parses");
            assert_eq!(auth.access_key, case.ak);
            assert_eq!(
                verify(&case.sk, &auth, &case.input()),
                Ok(()),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn verify_accepts_what_sign_produced() {
        let headers = sample_headers();
        let query = pairs(&[("limit", "5"), ("marker", "a b")]);
        let input = SigningInput {
            method: "GET",
            path: "/v5/p/vpn-connection",
            query: &query,
            headers: &headers,
            body: b"",
        };
        let signed = sign("AK", "secret", &input);
        let auth = parse_authorization(&signed.authorization).unwrap();
        assert_eq!(auth.signature, signed.signature);
        assert_eq!(verify("secret", &auth, &input), Ok(()));
    }

    #[test]
    fn verify_rejects_a_different_secret() {
        let headers = sample_headers();
        let input = SigningInput {
            method: "GET",
            path: "/v5/p/vpn-connection",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let auth = parse_authorization(&sign("AK", "secret", &input).authorization).unwrap();
        assert_eq!(
            verify("not-the-secret", &auth, &input),
            Err(AuthorizationError::SignatureMismatch)
        );
    }

    #[test]
    fn verify_rejects_a_tampered_query_value() {
        let headers = sample_headers();
        let query = pairs(&[("limit", "5")]);
        let signed = sign(
            "AK",
            "secret",
            &SigningInput {
                method: "GET",
                path: "/v5/p/vpn-connection",
                query: &query,
                headers: &headers,
                body: b"",
            },
        );
        let tampered = pairs(&[("limit", "500")]);
        let auth = parse_authorization(&signed.authorization).unwrap();
        let input = SigningInput {
            method: "GET",
            path: "/v5/p/vpn-connection",
            query: &tampered,
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            verify("secret", &auth, &input),
            Err(AuthorizationError::SignatureMismatch)
        );
    }

    #[test]
    fn verify_reports_a_missing_signed_header_and_date() {
        let headers = sample_headers();
        let input = SigningInput {
            method: "GET",
            path: "/",
            query: &[],
            headers: &headers,
            body: b"",
        };
        let mut auth = parse_authorization(&sign("AK", "secret", &input).authorization).unwrap();
        auth.signed_headers.push("x-project-id".into());
        assert_eq!(
            verify("secret", &auth, &input),
            Err(AuthorizationError::MissingSignedHeader(
                "x-project-id".into()
            ))
        );

        let undated: Vec<_> = headers
            .iter()
            .filter(|(n, _)| n != "X-Sdk-Date")
            .cloned()
            .collect();
        let auth = ParsedAuthorization {
            access_key: "AK".into(),
            signed_headers: vec!["host".into()],
            signature: "0".repeat(64),
        };
        let input = SigningInput {
            headers: &undated,
            ..input
        };
        assert_eq!(
            verify("secret", &auth, &input),
            Err(AuthorizationError::MissingDate)
        );
    }

    #[test]
    fn parse_authorization_rejects_malformed_values() {
        let sig = "a".repeat(64);
        let bad = [
            String::new(),
            "Bearer abc".into(),
            format!("SDK-HMAC-SHA256Access=AK, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA1 Access=AK, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, Signature={sig}"),
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host".into(),
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=xyz".into(),
            format!("SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;date, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK, Foo=1, SignedHeaders=host, Signature={sig}"),
            format!("SDK-HMAC-SHA256 Access=AK SignedHeaders=host, Signature={sig}"),
        ];
        for value in &bad {
            assert!(
                matches!(
                    parse_authorization(value),
                    Err(AuthorizationError::Malformed(_))
                ),
                "accepted {value:?}"
            );
        }
    }

    #[test]
    fn parse_authorization_reads_the_sdk_format() {
        let sig = "ab".repeat(32);
        let parsed = parse_authorization(&format!(
            "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature={sig}"
        ))
        .unwrap();
        assert_eq!(
            parsed,
            ParsedAuthorization {
                access_key: "AK1".into(),
                signed_headers: vec!["host".into(), "x-sdk-date".into()],
                signature: sig,
            }
        );
    }

    #[test]
    fn canonical_query_string_sorts_repeated_keys_by_value() {
        let query = pairs(&[("b", "2"), ("a", "z"), ("a", "y"), ("a", "10"), ("a", "9")]);
        // Values are text, so "10" sorts before "9".
        assert_eq!(canonical_query_string(&query), "a=10&a=9&a=y&a=z&b=2");
        assert_eq!(canonical_query_string(&[]), "");
    }

    #[test]
    fn canonical_query_string_escapes_all_but_unreserved() {
        let query = pairs(&[("k:ey", "a b+c/d~e_f.g-h:é")]);
        assert_eq!(
            canonical_query_string(&query),
            "k%3Aey=a%20b%2Bc%2Fd~e_f.g-h%3A%C3%A9"
        );
    }

    #[test]
    fn canonical_uri_encodes_segments_and_adds_one_trailing_slash() {
        assert_eq!(
            canonical_uri("/v5/p/vpn-connection"),
            "/v5/p/vpn-connection/"
        );
        assert_eq!(canonical_uri("/v5/p/"), "/v5/p/");
        assert_eq!(canonical_uri("/a b/c%20d/e:f"), "/a%20b/c%20d/e%3Af/");
        assert_eq!(canonical_uri(""), "/");
    }

    #[test]
    fn underscored_headers_are_not_signed_and_names_are_case_insensitive() {
        let mut headers = sample_headers();
        headers.push(("X_Custom".into(), "ignored".into()));
        headers.push(("x-extra".into(), "  padded  ".into()));
        let signed = sign(
            "AK",
            "secret",
            &SigningInput {
                method: "get",
                path: "/",
                query: &[],
                headers: &headers,
                body: b"",
            },
        );
        assert_eq!(
            signed.signed_headers,
            "content-type;host;x-extra;x-sdk-date"
        );
        assert!(signed.canonical_request.starts_with("GET\n/\n\n"));
        assert!(signed.canonical_request.contains("\nx-extra:padded\n"));
        assert!(!signed.canonical_request.contains("ignored"));
    }

    #[test]
    fn body_hash_honours_declared_content_sha256() {
        let plain = sample_headers();
        let mut declared = sample_headers();
        declared.push(("X-Sdk-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into()));
        let input = |headers| SigningInput {
            method: "POST",
            path: "/",
            query: &[],
            headers,
            body: b"{}",
        };

        let hashed = sign("AK", "secret", &input(&plain));
        let body_hash = hex::encode(Sha256::digest(b"{}"));
        assert!(hashed.canonical_request.ends_with(&body_hash));

        let unsigned = sign("AK", "secret", &input(&declared));
        assert!(unsigned.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
        let auth = parse_authorization(&unsigned.authorization).unwrap();
        assert_eq!(verify("secret", &auth, &input(&declared)), Ok(()));
    }

    #[test]
    fn sdk_date_matches_the_header_format() {
        let t = chrono::DateTime::parse_from_rfc3339("2022-12-11T13:59:59.633Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(sdk_date(t), "20221211T135959Z");
    }

    #[test]
    fn debug_and_errors_do_not_leak_credentials() {
        let case = cases()
            .into_iter()
            .find(|c| c.headers.iter().any(|(n, _)| n == "X-Security-Token"))
            .expect("a vector with a security token");
        let signed = sign(&case.ak, &case.sk, &case.input());
        let debug = format!("{signed:?}");
        assert!(!debug.contains("tokenABC"), "{debug}");
        assert!(debug.contains("x-security-token:<redacted>"));
        assert!(!debug.contains(&case.sk));

        let auth = parse_authorization(&signed.authorization).unwrap();
        let err = verify("wrong", &auth, &case.input()).unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                !text.contains(&case.sk) && !text.contains("wrong"),
                "{text}"
            );
        }
    }
}
