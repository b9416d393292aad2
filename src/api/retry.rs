//! When and how long to wait before asking for a page again: which failures are transient,
//! exponential backoff with jitter, and the server's own `Retry-After`. Pure; the client loops.

use super::error::FetchError;
use std::time::Duration;

/// How hard one page is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of a transient failure per page (429, 500, 502, 503, 504, `APIG.0308`, a
    /// timeout, a dropped connection, a body cut short).
    pub max_retries: u32,
    /// The longest wait for one answer, connecting included.
    pub request_timeout: Duration,
    /// The first backoff; it doubles with each retry up to `max_delay`, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            request_timeout: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// The longest `Retry-After` honoured: a server asking for more is treated as down.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// HTTP statuses worth asking again: throttling and a gateway or service having a bad moment.
const TRANSIENT_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];

/// The API gateway's throttling code, whatever status carries it.
const THROTTLED: &str = "APIG.0308";

impl RetryPolicy {
    /// How long to wait before retry number `retry` (from 0) of a failure; `None`: give up.
    /// `jitter` is a uniform draw from [0, 1).
    pub fn delay(&self, retry: u32, error: &FetchError, jitter: f64) -> Option<Duration> {
        if retry >= self.max_retries || !is_transient(error) {
            return None;
        }
        if let FetchError::Api(api) = error
            && let Some(wait) = api.retry_after
        {
            return (wait <= MAX_RETRY_AFTER).then_some(wait);
        }
        let doubled = self.base_delay.saturating_mul(1 << retry.min(16));
        let capped = doubled.min(self.max_delay);
        // Half fixed, half random: clients retrying together spread out.
        Some(capped.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0))
    }
}

/// Whether asking again may succeed.
pub fn is_transient(error: &FetchError) -> bool {
    match error {
        FetchError::Api(api) => {
            TRANSIENT_STATUSES.contains(&api.status) || api.code.as_deref() == Some(THROTTLED)
        }
        FetchError::Transport(e) => !(e.is_builder() || e.is_redirect()),
        FetchError::Json(_)
        | FetchError::Malformed(_)
        | FetchError::Redirect { .. }
        | FetchError::TooLarge { .. } => false,
    }
}

/// The failure with its causes, on one line, for a log message.
pub fn describe(error: &FetchError) -> String {
    let chain = std::iter::successors(Some(error as &dyn std::error::Error), |e| e.source());
    chain
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// A `Retry-After` value: seconds, or an HTTP date (then the time left until it, from `now`).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.to_utc() - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::error::ApiError;

    fn api(status: u16, body: &str, retry_after: Option<Duration>) -> FetchError {
        let mut error = ApiError::from_response(status, None, body.as_bytes());
        error.retry_after = retry_after;
        FetchError::Api(error)
    }

    #[test]
    fn throttling_and_server_errors_are_retried_client_errors_not() {
        for status in TRANSIENT_STATUSES {
            assert!(is_transient(&api(status, "{}", None)), "{status}");
        }
        let throttled = r#"{"error_code":"APIG.0308","error_msg":"throttled"}"#;
        assert!(is_transient(&api(403, throttled, None)));
        for status in [400, 401, 403, 404] {
            assert!(!is_transient(&api(status, "{}", None)), "{status}");
        }
        assert!(!is_transient(&FetchError::Malformed("x".into())));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_and_stops_after_the_last_retry() {
        let policy = RetryPolicy::default();
        let error = api(503, "{}", None);
        let at = |retry, jitter| policy.delay(retry, &error, jitter);
        assert_eq!(at(0, 0.0), Some(Duration::from_millis(500)));
        assert_eq!(at(0, 0.999_999).map(|d| d.as_millis()), Some(999));
        assert_eq!(at(2, 0.0), Some(Duration::from_secs(2)));
        assert_eq!(at(4, 1.0), Some(Duration::from_secs(16)));
        assert_eq!(at(4, 0.0).map(|d| d.as_secs()), Some(8));
        assert_eq!(
            policy.delay(3, &error, 1.0),
            Some(Duration::from_secs(8)),
            "1s doubled three times"
        );
        let capped = RetryPolicy {
            max_retries: 40,
            ..policy
        };
        assert_eq!(capped.delay(30, &error, 1.0), Some(Duration::from_secs(30)));
        assert_eq!(at(5, 0.0), None, "five retries, then give up");
        assert_eq!(policy.delay(0, &api(400, "{}", None), 0.0), None);
    }

    #[test]
    fn retry_after_is_honoured_in_seconds_or_as_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let date = "Sat, 28 Nov 2026 10:00:07 GMT";
        assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(7)));
        let past = "Sat, 28 Nov 2026 09:00:00 GMT";
        assert_eq!(parse_retry_after(past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);

        let policy = RetryPolicy::default();
        let told = api(429, "{}", Some(Duration::from_secs(4)));
        assert_eq!(policy.delay(0, &told, 0.0), Some(Duration::from_secs(4)));
        let too_long = api(429, "{}", Some(Duration::from_secs(3600)));
        assert_eq!(policy.delay(0, &too_long, 0.0), None);
    }
}
