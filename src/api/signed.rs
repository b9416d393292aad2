//! The signed HTTP path every Huawei Cloud API call of this tool takes: one GET of an API path
//! under an endpoint, signed with the credentials (AK/SK or token), asked again after a
//! transient failure as the retry policy allows, never following a redirect, reading at most
//! `--max-response-size` bytes, and failing as a [`FetchError`] that names what went wrong.
//! The VPN list client and the CTS traces client are thin layers over it.

use super::credentials::Credentials;
use super::error::{ApiError, FetchError};
use super::retry::{RetryPolicy, parse_retry_after};
use super::signer::{self, SigningInput};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const USER_AGENT: &str = concat!("vpn-inventory/", env!("CARGO_PKG_VERSION"));

/// The default `--max-response-size`: far above a page of 2,000 connections (about 20 MB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// A 200 answer, not yet read.
#[derive(Debug)]
pub struct Answer {
    pub body: Vec<u8>,
    /// `X-Request-Id`, when sent.
    pub header_request_id: Option<String>,
    /// When the answer began to arrive.
    pub received_at: DateTime<Utc>,
    /// How long the answer took to begin, from its request (the last one, after retries).
    pub waited: Duration,
}

/// Signed GETs to one endpoint for one project.
#[derive(Debug, Clone)]
pub struct SignedHttp {
    http: reqwest::Client,
    retry: RetryPolicy,
    max_response_bytes: u64,
    endpoint: reqwest::Url,
    /// `Host` as sent and signed: the port is included only when the URL names one.
    host: String,
    project_id: String,
    credentials: Credentials,
    /// Requests asked again after a transient failure, over this client's life (and its
    /// clones' and the clients sharing it, [`SignedHttp::at`]).
    retries: Arc<AtomicU64>,
}

impl SignedHttp {
    /// A client of `endpoint` (already checked: see `client::parse_endpoint`).
    pub fn new(
        endpoint: reqwest::Url,
        project_id: &str,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let host = host_of(&endpoint)?;
        if project_id.is_empty()
            || !project_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            anyhow::bail!(
                "invalid project id {project_id:?}: expected letters, digits, '-' or '_'"
            );
        }
        let http = reqwest::Client::builder()
            // A redirect would carry the token headers to another host: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(retry.request_timeout.min(Duration::from_secs(10)))
            .timeout(retry.request_timeout)
            .build()?;
        Ok(Self {
            http,
            retry,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            endpoint,
            host,
            project_id: project_id.to_owned(),
            credentials,
            retries: Default::default(),
        })
    }

    /// The same client (credentials, retry policy, limits, connection pool, retry count) for
    /// another endpoint of the same cloud, such as another service's.
    pub fn at(&self, endpoint: reqwest::Url) -> anyhow::Result<Self> {
        Ok(Self {
            host: host_of(&endpoint)?,
            endpoint,
            ..self.clone()
        })
    }

    /// The largest answer read (`--max-response-size`); a real page is far smaller.
    pub fn with_max_response_size(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Requests asked again so far after a transient failure.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// GETs `path` (under the endpoint's own path) with `query`, asking again after a
    /// transient failure as the retry policy allows. The last failure is returned as it was.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Answer, FetchError> {
        let mut retry = 0;
        loop {
            let error = match self.get_once(path, query).await {
                Ok(page) => return Ok(page),
                Err(error) => error,
            };
            let Some(wait) = self.retry.delay(retry, &error, fastrand::f64()) else {
                return Err(error);
            };
            retry += 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
            let (code, request_id) = match &error {
                FetchError::Api(api) => (api.code.as_deref(), api.request_id.as_deref()),
                _ => (None, None),
            };
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            // One line per retry at the default level: cron mail shows why a run is slow.
            tracing::warn!(
                retry,
                code = code.unwrap_or(""),
                request_id = request_id.unwrap_or(""),
                wait_ms,
                "transient failure, asking again in {}: {}",
                humantime::format_duration(Duration::from_millis(wait_ms)),
                crate::text::one_line(&crate::api::retry::describe(&error))
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn get_once(&self, path: &str, query: &[(String, String)]) -> Result<Answer, FetchError> {
        let path = format!("{}{path}", self.endpoint.path().trim_end_matches('/'));
        let query_string = signer::canonical_query_string(query);
        let mut url = self.endpoint.clone();
        url.set_path(&path);
        url.set_query(Some(&query_string));
        let mut request = self.http.get(url);
        for (name, value) in &self.signed_headers(&path, query) {
            request = request.header(name, value);
        }
        let sent = std::time::Instant::now();
        let response = request.send().await.map_err(FetchError::Transport)?;
        let waited = sent.elapsed();
        self.read_answer(response, waited).await
    }

    /// The headers of a GET of `path` with `query`, the credentials' among them (an AK/SK
    /// signature over the others, or the token).
    fn signed_headers(&self, path: &str, query: &[(String, String)]) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), "application/json".into()),
            ("Host".into(), self.host.clone()),
            ("User-Agent".into(), USER_AGENT.into()),
            ("X-Project-Id".into(), self.project_id.clone()),
        ];
        match &self.credentials {
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                headers.push(("X-Sdk-Date".into(), signer::sdk_date(Utc::now())));
                if let Some(token) = security_token {
                    headers.push(("X-Security-Token".into(), token.expose().to_owned()));
                }
                let signed = signer::sign(
                    access_key,
                    secret_key.expose(),
                    &SigningInput {
                        method: "GET",
                        path,
                        query,
                        headers: &headers,
                        body: b"",
                    },
                );
                headers.push(("Authorization".into(), signed.authorization));
            }
            Credentials::Token(token) => {
                headers.push(("X-Auth-Token".into(), token.expose().to_owned()));
            }
        }
        headers
    }

    /// The answer to a request that began to arrive after `waited`: the page unread, or
    /// the API's error (with the wait it asks for), a redirect, or a body too large.
    async fn read_answer(
        &self,
        response: reqwest::Response,
        waited: Duration,
    ) -> Result<Answer, FetchError> {
        let received_at = Utc::now();
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(reqwest::header::LOCATION);
            let location = location.map_or("(no Location)".to_owned(), |l| {
                // Printed for humans: escaped, so a hostile server cannot forge lines.
                String::from_utf8_lossy(l.as_bytes())
                    .escape_debug()
                    .to_string()
            });
            return Err(FetchError::Redirect {
                status: status.as_u16(),
                location,
            });
        }
        let header_request_id = response
            .headers()
            .get("X-Request-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        // No Accept-Encoding is sent (reqwest is built without decoders), so the body must
        // come as it is: an encoded one would only be read as garbage.
        if let Some(encoding) = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .filter(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"))
        {
            return Err(FetchError::Malformed(format!(
                "the server sent Content-Encoding: {}, which was not requested (this client \
                 sends no Accept-Encoding and reads bodies as they are): a proxy in between?",
                String::from_utf8_lossy(encoding.as_bytes()).escape_debug()
            )));
        }
        let body = self.read_body(response).await?;
        if !status.is_success() {
            let mut error =
                ApiError::from_response(status.as_u16(), header_request_id.as_deref(), &body);
            error.retry_after = retry_after;
            return Err(error.into());
        }
        Ok(Answer {
            body,
            header_request_id,
            received_at,
            waited,
        })
    }

    /// The body, read a chunk at a time so an endless or huge answer stops at the limit
    /// instead of filling memory.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let limit = self.max_response_bytes;
        let too_large = || FetchError::TooLarge { limit };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let room = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Transport)? {
            if body.len().saturating_add(chunk.len()) > room {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `Host` as sent and signed for `endpoint`: the port only when the URL names one.
fn host_of(endpoint: &reqwest::Url) -> anyhow::Result<String> {
    Ok(match (endpoint.host_str(), endpoint.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => anyhow::bail!("invalid endpoint {endpoint}: no host"),
    })
}
