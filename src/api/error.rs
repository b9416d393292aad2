//! Error answers of the Huawei Cloud API, in every shape Huawei uses.
//!
//! The VPN service answers `{"code","message"}`, the API gateway in front of it
//! `{"error_code","error_msg","request_id"}`, and some services `{"errorCode","errorMsg"}`;
//! the request id may also come only in the `X-Request-Id` header. `FetchError` is every way a
//! page request can fail: the client returns it and the retry policy judges it, so it lives
//! here, below both.

use serde_json::Value;
use std::fmt;

/// A non-success HTTP answer from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    /// The start of a body that had no recognizable error shape.
    pub body_excerpt: Option<String>,
    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn from_response(status: u16, header_request_id: Option<&str>, body: &[u8]) -> Self {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let field = |names: &[&str]| -> Option<String> {
            let obj = json.as_ref()?.as_object()?;
            // Some gateways nest the error one level down, e.g. {"error": {...}}.
            let nested = obj.get("error").and_then(Value::as_object);
            names.iter().find_map(|n| {
                let v = obj.get(*n).or_else(|| nested?.get(*n))?;
                match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }
            })
        };
        let code = field(&["error_code", "errorCode", "code"]);
        let message = field(&["error_msg", "errorMsg", "message"]);
        let request_id =
            field(&["request_id", "requestId"]).or_else(|| header_request_id.map(str::to_owned));
        let body_excerpt = (code.is_none() && message.is_none() && !body.is_empty()).then(|| {
            let text = String::from_utf8_lossy(body);
            text.chars().take(200).collect()
        });
        Self {
            status,
            code,
            message,
            request_id,
            body_excerpt,
            retry_after: None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " error_code {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(excerpt) = &self.body_excerpt {
            write!(f, ": {excerpt}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request_id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Why a page could not be had. Each variant keeps its cause as `source`, so an error chain
/// (`{:#}` of anyhow) names every cause once.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The API answered with an error: its code, message and request id.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer, or an answer cut short (the URL carries no secrets: they travel in headers).
    #[error("request failed")]
    Transport(#[source] reqwest::Error),
    #[error("response is not the expected JSON")]
    Json(#[source] serde_json::Error),
    #[error("response is not the expected JSON: {0}")]
    Malformed(String),
    /// Redirects are not followed: the token headers would go to wherever they point.
    #[error(
        "the endpoint answered HTTP {status} redirecting to {location}; redirects are not \
         followed (credentials would go to another host): point --endpoint at the final address"
    )]
    Redirect { status: u16, location: String },
    #[error("the answer is larger than {limit} bytes (--max-response-size); stopped reading it")]
    TooLarge { limit: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_shape() {
        let e = ApiError::from_response(
            401,
            Some("hdr-id"),
            concat!(
                r#"{"error_code":"APIG.0301","#,
                r#""error_msg":"Incorrect IAM authentication information","#,
                r#""request_id":"body-id"}"#
            )
            .as_bytes(),
        );
        assert_eq!(e.code.as_deref(), Some("APIG.0301"));
        assert_eq!(e.request_id.as_deref(), Some("body-id"));
        assert_eq!(
            e.to_string(),
            "HTTP 401 error_code APIG.0301: Incorrect IAM authentication information \
             (request_id body-id)"
        );
    }

    #[test]
    fn vpn_service_shape_takes_request_id_from_header() {
        let e = ApiError::from_response(
            400,
            Some("hdr-id"),
            br#"{"code":"VPN.0001","message":"invalid request: limit"}"#,
        );
        assert_eq!(e.code.as_deref(), Some("VPN.0001"));
        assert_eq!(e.message.as_deref(), Some("invalid request: limit"));
        assert_eq!(e.request_id.as_deref(), Some("hdr-id"));
    }

    #[test]
    fn camel_case_and_unknown_bodies() {
        let e = ApiError::from_response(403, None, br#"{"errorCode":"X.1","errorMsg":"no"}"#);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (Some("X.1"), Some("no"))
        );
        let e = ApiError::from_response(502, None, b"<html>Bad Gateway</html>");
        assert_eq!(e.to_string(), "HTTP 502: <html>Bad Gateway</html>");
    }
}
