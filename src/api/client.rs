//! HTTP client for `ListVpnConnections`: builds, signs and sends one page request, and turns
//! the answer into a `RawPage` (then a `ListPage`) or an error that says what went wrong.

use super::credentials::Credentials;
use super::error::FetchError;
use super::filters::Filters;
use super::page::{ListPage, read_page};
use super::retry::RetryPolicy;
use super::signed::SignedHttp;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Default endpoint of the VPN service in a region.
pub fn default_endpoint(region: &str) -> String {
    format!("https://vpn.{region}.myhuaweicloud.com")
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

    /// The page, every value exactly as sent, or what is wrong with it (`api::page`).
    pub fn parse(self) -> Result<ListPage, FetchError> {
        read_page(self.body, self.header_request_id, self.received_at)
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
        let quick = page.markers().unwrap();
        let (quick_times, quick_next, quick_count) = (
            quick.created_at(),
            quick.next_marker(),
            quick.current_count(),
        );
        let quick_times: Vec<Option<String>> =
            quick_times.iter().map(|t| t.map(str::to_owned)).collect();
        let (quick_next, quick_count) = (quick_next.map(str::to_owned), quick_count);
        let full = page.parse().unwrap();
        let created_at: Vec<Option<String>> = full
            .connections
            .iter()
            .map(|c| c.created_at.clone())
            .collect();
        assert_eq!(quick_times, created_at);
        assert_eq!(quick_next, full.next_marker);
        assert_eq!(quick_count, full.current_count);
        // An escape the quick reading undoes as the full one does.
        let escaped = br#"{"vpn_connections":[{"created_at":"2025-01-01T00:00:00\u002e001Z"}],
            "page_info":{"next_marker":"2025-01-01T00:00:00.001Z","current_count":1}}"#;
        let full = raw(escaped).parse().unwrap();
        assert_eq!(
            full.connections[0].created_at.as_deref(),
            Some("2025-01-01T00:00:00.001Z")
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
    fn an_api_error_is_named_once_in_the_chain() {
        let api = ApiError::from_response(401, Some("rid-1"), br#"{"code":"X.1","message":"no"}"#);
        let err = chain(api.into());
        assert_eq!(err, "HTTP 401 error_code X.1: no (request_id rid-1)");
    }
}
