//! HTTP client for `ListVpnConnections`: builds, signs and sends one page request, and turns
//! the answer into a `RawPage` (then a `ListPage`) or an error that says what went wrong.

use super::credentials::Credentials;
use super::error::FetchError;
use super::filters::Filters;
use super::retry::RetryPolicy;
use super::signed::SignedHttp;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// Default endpoint of the VPN service in a region.
pub fn default_endpoint(region: &str) -> String {
    format!("https://vpn.{region}.myhuaweicloud.com")
}

/// One page of the list, as received.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The connection objects exactly as sent.
    pub connections: Vec<Value>,
    pub next_marker: Option<String>,
    pub current_count: Option<u64>,
    pub total_count: Option<u64>,
    pub request_id: Option<String>,
    /// When the answer began to arrive: what the page shows was current then. (Staging
    /// stamps its connections' observation with it, not with the later moment it writes.)
    pub received_at: DateTime<Utc>,
    /// The answer's size: bytes of JSON read.
    pub bytes: u64,
}

/// A 200 answer of the list API, not yet read: [`RawPage::markers`] reads the little the
/// next request depends on, [`RawPage::parse`] the whole page.
#[derive(Debug)]
pub struct RawPage {
    body: Vec<u8>,
    header_request_id: Option<String>,
    received_at: DateTime<Utc>,
    waited: Duration,
}

impl RawPage {
    /// How long the answer took to begin, from its request (the last one, after retries).
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The body as received, unread (the benchmark's download floor only searches it).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The page, every value exactly as sent, or what is wrong with it.
    pub fn parse(&self) -> Result<ListPage, FetchError> {
        parse_list_page(&self.body, self.header_request_id.clone(), self.received_at)
    }

    /// What the pager needs of the page (each connection's `created_at` and `page_info`),
    /// read without building the connections: so the next request can go out while the page
    /// is read in full. `None` when the page is not plainly of the documented shape; the
    /// full reading decides then, and says what is wrong.
    pub fn markers(&self) -> Option<PageMarkers<'_>> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The part of a page that the next request depends on ([`RawPage::markers`]).
#[derive(Debug, serde::Deserialize)]
pub struct PageMarkers<'a> {
    #[serde(borrow)]
    vpn_connections: Vec<CreatedAt<'a>>,
    #[serde(borrow, default)]
    page_info: Option<PageInfo<'a>>,
}

#[derive(Debug, serde::Deserialize)]
struct CreatedAt<'a> {
    #[serde(borrow, default)]
    created_at: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Debug, serde::Deserialize)]
struct PageInfo<'a> {
    #[serde(borrow, default)]
    next_marker: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    current_count: Option<u64>,
}

impl PageMarkers<'_> {
    /// Each connection's `created_at`, in page order.
    pub fn created_at(&self) -> Vec<Option<&str>> {
        let connections = self.vpn_connections.iter();
        connections.map(|c| c.created_at.as_deref()).collect()
    }

    pub fn next_marker(&self) -> Option<&str> {
        self.page_info.as_ref()?.next_marker.as_deref()
    }

    pub fn current_count(&self) -> Option<u64> {
        self.page_info.as_ref()?.current_count
    }
}

/// The base URL of the VPN service: `http(s)://host[:port][/path]`, nothing else. The
/// message never repeats a URL that carries a password.
pub fn parse_endpoint(text: &str) -> Result<reqwest::Url, String> {
    parse_endpoint_of(text, "--endpoint, VPN_INVENTORY_ENDPOINT")
}

/// [`parse_endpoint`] of a base URL that `source` (a flag, a variable) gave.
pub fn parse_endpoint_of(text: &str, source: &str) -> Result<reqwest::Url, String> {
    let shape = format!("expected http(s)://host[:port][/path] ({source})");
    let url = reqwest::Url::parse(text.trim_end_matches('/'))
        .map_err(|e| format!("invalid endpoint: {e}; {shape}"))?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some("only http:// and https:// are supported")
    } else if !url.username().is_empty() || url.password().is_some() {
        // Credentials come from the environment, never from the URL (which runs and logs show).
        return Err(format!(
            "invalid endpoint: it holds a user name or password; {shape}"
        ));
    } else if url.host_str().is_none() {
        Some("it names no host")
    } else if url.query().is_some() || url.fragment().is_some() {
        Some("a query or fragment would be dropped from every request")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("invalid endpoint {url}: {problem}; {shape}")),
        None => Ok(url),
    }
}

/// The default `--max-response-size`: far above a page of 2,000 connections (about 20 MB).
pub use super::signed::{DEFAULT_MAX_RESPONSE_BYTES, USER_AGENT};

/// The client of `ListVpnConnections`.
#[derive(Debug, Clone)]
pub struct VpnClient {
    http: SignedHttp,
}

impl VpnClient {
    pub fn new(endpoint: &str, project_id: &str, credentials: Credentials) -> anyhow::Result<Self> {
        Self::with_retries(endpoint, project_id, credentials, RetryPolicy::default())
    }

    pub fn with_retries(
        endpoint: &str,
        project_id: &str,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let endpoint = parse_endpoint(endpoint).map_err(anyhow::Error::msg)?;
        let http = SignedHttp::new(endpoint, project_id, credentials, retry)?;
        Ok(Self { http })
    }

    /// The largest answer read (`--max-response-size`); a real page is far smaller.
    pub fn with_max_response_size(self, bytes: u64) -> Self {
        Self {
            http: self.http.with_max_response_size(bytes),
        }
    }

    /// The signed HTTP path this client takes, for a client of another service of the same
    /// cloud (`traces::CtsClient`).
    pub fn http(&self) -> &SignedHttp {
        &self.http
    }

    /// Fetches one page of connections matching `filters`, asking again after a transient
    /// failure as the retry policy allows. The last failure is returned as it was. The page
    /// is returned unread: [`RawPage::parse`] reads it (a page that does not read is no
    /// transient failure: asking again would bring the same).
    #[tracing::instrument(level = "warn", skip_all, fields(marker = marker.unwrap_or("")))]
    pub async fn list_page(
        &self,
        filters: &Filters,
        limit: u32,
        marker: Option<&str>,
    ) -> Result<RawPage, FetchError> {
        let mut query = filters.query_pairs();
        query.push(("limit".to_owned(), limit.to_string()));
        if let Some(marker) = marker {
            query.push(("marker".to_owned(), marker.to_owned()));
        }
        let path = format!("/v5/{}/vpn-connection", self.http.project_id());
        let answer = self.http.get(&path, &query).await?;
        Ok(RawPage {
            body: answer.body,
            header_request_id: answer.header_request_id,
            received_at: answer.received_at,
            waited: answer.waited,
        })
    }

    /// Requests asked again so far after a transient failure (by this client and the clients
    /// sharing its HTTP path).
    pub fn retries(&self) -> u64 {
        self.http.retries()
    }
}

/// Parses a 200 answer of the list API, which began to arrive at `received_at`.
pub fn parse_list_page(
    body: &[u8],
    header_request_id: Option<String>,
    received_at: DateTime<Utc>,
) -> Result<ListPage, FetchError> {
    let start = body.trim_ascii_start();
    if start.starts_with(b"<") {
        return Err(FetchError::Malformed(
            "the body is an HTML page (a proxy, a login page or the wrong --endpoint?)".into(),
        ));
    }
    if start.starts_with(&[0x1f, 0x8b]) {
        return Err(FetchError::Malformed(
            "the body is gzip data the server did not declare as such".into(),
        ));
    }
    // Every value exactly as sent: numbers by their text, strings with any escape.
    let mut value: Value = crate::json::parse_slice(body)
        .map_err(|e| too_deep(body).unwrap_or(FetchError::Json(e)))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| FetchError::Malformed("the body is not a JSON object".into()))?;
    let connections = match obj.remove("vpn_connections") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => {
            return Err(FetchError::Malformed("no vpn_connections array".into()));
        }
        Some(_) => {
            return Err(FetchError::Malformed(
                "vpn_connections is not an array".into(),
            ));
        }
    };
    if let Some(pos) = connections.iter().position(|c| !c.is_object()) {
        return Err(FetchError::Malformed(format!(
            "vpn_connections[{pos}] is not an object"
        )));
    }
    let page_info = obj.get("page_info").and_then(Value::as_object);
    let next_marker = page_info
        .and_then(|p| p.get("next_marker"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let current_count = page_info
        .and_then(|p| p.get("current_count"))
        .and_then(Value::as_u64);
    Ok(ListPage {
        connections,
        next_marker,
        current_count,
        total_count: obj.get("total_count").and_then(Value::as_u64),
        request_id: obj
            .get("request_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(header_request_id),
        received_at,
        bytes: u64::try_from(body.len()).unwrap_or(u64::MAX),
    })
}

/// The error for a page nesting deeper than the parser reads, naming the connection and field
/// where it does; `None` when the page does not.
fn too_deep(body: &[u8]) -> Option<FetchError> {
    let at = crate::json::too_deep(body)?;
    let limit = crate::json::MAX_DEPTH;
    let what = match crate::json::item_at(body, "vpn_connections", at) {
        Some(item) => {
            let shown = |s: Option<String>| {
                s.map_or("(none)".to_owned(), |s| {
                    format!("{:?}", crate::json::lossy(&s))
                })
            };
            format!(
                "vpn_connections[{}] (id {}) nests its field {} deeper than {limit} levels \
                 (arrays and objects, the page itself counting as 1)",
                item.index,
                shown(item.id),
                shown(item.key)
            )
        }
        None => format!("the page nests deeper than {limit} levels"),
    };
    Some(FetchError::Malformed(format!(
        "{what}, more than the JSON parser reads; nothing of the page is stored"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::ApiError;

    fn raw(body: &[u8]) -> RawPage {
        RawPage {
            body: body.to_vec(),
            header_request_id: None,
            received_at: Utc::now(),
            waited: Duration::ZERO,
        }
    }

    #[test]
    fn the_quick_reading_finds_what_the_full_one_does() {
        let page = raw(include_bytes!(
            "../../tests/fixtures/seed-example-all-connections.json"
        ));
        let full = page.parse().unwrap();
        let quick = page.markers().unwrap();
        let created_at: Vec<Option<&str>> = full
            .connections
            .iter()
            .map(|c| c["created_at"].as_str())
            .collect();
        assert_eq!(quick.created_at(), created_at);
        assert_eq!(quick.next_marker(), full.next_marker.as_deref());
        assert_eq!(quick.current_count(), full.current_count);
        // An escape the quick reading undoes as the full one does.
        let escaped = br#"{"vpn_connections":[{"created_at":"2025-01-01T00:00:00\u002e001Z"}],
            "page_info":{"next_marker":"2025-01-01T00:00:00.001Z","current_count":1}}"#;
        let full = raw(escaped).parse().unwrap();
        assert_eq!(
            full.connections[0]["created_at"],
            "2025-01-01T00:00:00.001Z"
        );
        assert_eq!(
            raw(escaped).markers().unwrap().created_at(),
            [Some("2025-01-01T00:00:00.001Z")]
        );
    }

    #[test]
    fn the_quick_reading_gives_up_on_what_is_not_plainly_a_page() {
        for body in [
            &br#"{"vpn_connections":[{"created_at":1}]}"#[..],
            br#"{"vpn_connections":[{"created_at":"a","created_at":"b"}]}"#,
            br#"{"vpn_connections":[7]}"#,
            br#"{"vpn_connections":[],"page_info":{"current_count":"1"}}"#,
            br#"{"page_info":{}}"#,
            b"<html>",
        ] {
            let text = String::from_utf8_lossy(body);
            assert!(raw(body).markers().is_none(), "{text}");
        }
    }

    #[test]
    fn parses_the_seed_example() {
        let body = include_bytes!("../../tests/fixtures/seed-example-all-connections.json");
        let page = parse_list_page(body, None, Utc::now()).unwrap();
        assert_eq!(page.connections.len(), 2);
        assert_eq!(
            page.next_marker.as_deref(),
            Some("2022-12-09T07:24:27.674Z")
        );
        assert_eq!(page.current_count, Some(2));
        assert_eq!(
            page.request_id.as_deref(),
            Some("1d94a4e8-fdc2-7bfd-943e-19bfa9b234ac")
        );
        assert_eq!(page.bytes, body.len() as u64);
    }

    /// The message and its causes, as `main` prints them.
    fn chain(error: FetchError) -> String {
        format!("{:#}", anyhow::Error::from(error))
    }

    #[test]
    fn endpoints_are_scheme_host_port_and_path_only() {
        for good in [
            "https://vpn.cn-north-4.myhuaweicloud.com",
            "http://127.0.0.1:8080/",
        ] {
            assert!(parse_endpoint(good).is_ok(), "{good}");
        }
        assert!(parse_endpoint("https://h.example/prefix").is_ok());
        for (bad, why) in [
            ("ftp://h.example", "only http"),
            ("https://h.example/?x=1", "query or fragment"),
            ("https://h.example/#top", "query or fragment"),
            ("https://user@h.example", "user name or password"),
            ("not a url", "invalid endpoint"),
        ] {
            let err = parse_endpoint(bad).unwrap_err();
            assert!(
                err.contains(why) && err.contains("--endpoint"),
                "{bad}: {err}"
            );
        }
        let err = parse_endpoint("http://user:s3cret@h.example").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let err = chain(parse_list_page(b"{\"vpn_connections\": [", None, Utc::now()).unwrap_err());
        assert!(
            err.starts_with("response is not the expected JSON: "),
            "{err}"
        );
        assert!(err.contains("EOF"), "{err}");
        let err = parse_list_page(b"{\"vpn_connections\": [1]}", None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("vpn_connections[0]"), "{err}");
        let err = parse_list_page(b"[]", None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let err = parse_list_page(b"\n<!DOCTYPE html><html>", None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("HTML page"), "{err}");
        let err = parse_list_page(&[0x1f, 0x8b, 8, 0], None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("gzip"), "{err}");
    }

    #[test]
    fn a_page_too_deep_names_the_connection_and_field() {
        let deep = format!("{}0{}", "[".repeat(125), "]".repeat(125));
        let body = format!(r#"{{"vpn_connections": [{{"id": "c-1", "future": {deep}}}]}}"#);
        let err = chain(parse_list_page(body.as_bytes(), None, Utc::now()).unwrap_err());
        assert!(
            err.contains(r#"vpn_connections[0] (id "c-1") nests its field "future" deeper"#),
            "{err}"
        );
        let deepest = format!("{}0{}", "[".repeat(124), "]".repeat(124));
        let body = format!(r#"{{"vpn_connections": [{{"id": "c-1", "future": {deepest}}}]}}"#);
        assert_eq!(
            parse_list_page(body.as_bytes(), None, Utc::now())
                .unwrap()
                .connections
                .len(),
            1
        );
    }

    #[test]
    fn an_api_error_is_named_once_in_the_chain() {
        let api = ApiError::from_response(401, Some("rid-1"), br#"{"code":"X.1","message":"no"}"#);
        let err = chain(api.into());
        assert_eq!(err, "HTTP 401 error_code X.1: no (request_id rid-1)");
    }
}
