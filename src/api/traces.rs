//! The Cloud Trace Service client: `GET /v3/{project_id}/traces` (ListTraces), the management
//! traces that say who changed a VPN connection, when and from where.
//!
//! It takes the same signed HTTP path as the VPN list ([`SignedHttp`]: signing, retries,
//! size cap, no redirects), pages a window back in time with `next` until no marker comes,
//! stops when a marker comes again (a cycling service), and keeps every trace as sent next to
//! the fields it reads. A 403 is its own error: a user may list VPN connections and not
//! traces, and the sync turns that into one warning. CTS keeps traces for 7 days: the part of a
//! window older than that is not asked for, and is reported as such, never as "no traces".

use super::client::{VpnClient, parse_endpoint_of};
use super::error::{ApiError, FetchError};
use super::signed::SignedHttp;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use std::collections::HashSet;
use std::ops::RangeInclusive;

/// How long CTS keeps a trace that can be queried.
pub const RETENTION: TimeDelta = TimeDelta::days(7);

/// The largest page ListTraces serves.
pub const MAX_PAGE_SIZE: u32 = 200;

/// What the flag that names the CTS endpoint is called, for messages.
const ENDPOINT_SOURCE: &str = "--cts-endpoint";

/// Default endpoint of CTS in a region.
pub fn default_cts_endpoint(region: &str) -> String {
    format!("https://cts.{region}.myhuaweicloud.com")
}

/// Where CTS requests go: the CTS endpoint given, else the region's default, else (only a VPN
/// endpoint given) that same address, as simulators and gateways serve both APIs on one;
/// `None` without any.
pub fn cts_endpoint(
    cts_endpoint: Option<&str>,
    endpoint: Option<&str>,
    region: Option<&str>,
) -> Option<String> {
    cts_endpoint
        .map(str::to_owned)
        .or_else(|| region.map(default_cts_endpoint))
        .or_else(|| endpoint.map(str::to_owned))
}

/// One trace: the fields attribution reads, and the whole trace as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub trace_id: String,
    /// The operation, e.g. `updateVpnConnection`.
    pub trace_name: Option<String>,
    /// `ApiCall`, `ConsoleAction` or `SystemAction`.
    pub trace_type: Option<String>,
    pub trace_rating: Option<String>,
    pub service_type: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    /// When the operation happened.
    pub time: DateTime<Utc>,
    /// When CTS recorded it.
    pub record_time: Option<DateTime<Utc>>,
    pub user: Option<TraceUser>,
    pub source_ip: Option<String>,
    /// The operation's HTTP status, as text (`"200"`).
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub api_version: Option<String>,
    /// The trace exactly as sent: every field, known or not, every number and string as
    /// written (`crate::json::to_string` gives the text back).
    pub raw: Value,
}

/// Who made the call: the IAM user and the account (domain) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceUser {
    pub id: Option<String>,
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub domain_name: Option<String>,
}

/// The traces of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceListing {
    /// Newest first, each trace once.
    pub traces: Vec<Trace>,
    /// When part of the window is older than CTS keeps: the window's start as asked. The
    /// traces then cover only from 7 days before the request on; changes before that cannot
    /// be attributed.
    pub expired_from: Option<DateTime<Utc>>,
    /// Where the traces asked for begin: the window's start, or, when part of it was older
    /// than CTS keeps, 7 days before the request.
    pub covered_from: DateTime<Utc>,
    /// Pages requested.
    pub pages: u32,
}

/// Why the traces of a window could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// 403: the credentials may not list traces.
    #[error(
        "missing CTS permission cts:trace:list: grant it to the user of these credentials to \
         see who changed what"
    )]
    MissingPermission(#[source] ApiError),
    #[error("CTS traces page {page} failed")]
    Fetch {
        page: u32,
        #[source]
        source: FetchError,
    },
    #[error(
        "CTS traces page {page} hands out marker {marker:?}, which an earlier page gave; \
         stopping instead of looping"
    )]
    MarkerCycle { page: u32, marker: String },
}

/// The client of ListTraces for one project.
#[derive(Debug, Clone)]
pub struct CtsClient {
    http: SignedHttp,
    page_size: u32,
}

impl CtsClient {
    /// A client of CTS at `endpoint` with the VPN client's credentials, retry policy, limits
    /// and retry count. `endpoint` is checked as `--endpoint` is.
    pub fn new(vpn: &VpnClient, endpoint: &str) -> anyhow::Result<Self> {
        let endpoint = parse_endpoint_of(endpoint, ENDPOINT_SOURCE).map_err(anyhow::Error::msg)?;
        Ok(Self {
            http: vpn.http().at(endpoint)?,
            page_size: MAX_PAGE_SIZE,
        })
    }

    /// Traces asked per page (1 to 200; the most by default: the fewest requests).
    pub fn with_page_size(mut self, limit: u32) -> Self {
        self.page_size = limit.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// Every VPN management trace of `window` (inclusive, to the millisecond), of one
    /// connection when `resource_id` is given, newest first.
    pub async fn list_traces(
        &self,
        window: RangeInclusive<DateTime<Utc>>,
        resource_id: Option<&str>,
    ) -> Result<TraceListing, TraceError> {
        let kept_from = Utc::now() - RETENTION + TimeDelta::minutes(1);
        let (from, to) = (*window.start(), *window.end());
        let expired_from = (from < kept_from).then_some(from);
        let base = query(from.max(kept_from), to, resource_id, self.page_size);
        let mut listing = TraceListing {
            traces: Vec::new(),
            expired_from,
            covered_from: from.max(kept_from),
            pages: 0,
        };
        if from.max(kept_from) > to {
            return Ok(listing);
        }
        let mut ids = HashSet::new();
        let mut markers = HashSet::new();
        let mut next: Option<String> = None;
        loop {
            listing.pages += 1;
            let page = listing.pages;
            let (traces, marker) = self.page(&base, next.as_deref(), page).await?;
            for trace in traces {
                if ids.insert(trace.trace_id.clone()) {
                    listing.traces.push(trace);
                }
            }
            match marker {
                None => return Ok(listing),
                Some(marker) if !markers.insert(marker.clone()) => {
                    return Err(TraceError::MarkerCycle { page, marker });
                }
                Some(marker) => next = Some(marker),
            }
        }
    }

    /// One page: its traces and the marker of the next, if any.
    #[tracing::instrument(level = "warn", skip_all, fields(page, next = next.unwrap_or("")))]
    async fn page(
        &self,
        base: &[(String, String)],
        next: Option<&str>,
        page: u32,
    ) -> Result<(Vec<Trace>, Option<String>), TraceError> {
        let mut query = base.to_vec();
        if let Some(next) = next {
            query.push(("next".to_owned(), next.to_owned()));
        }
        let path = format!("/v3/{}/traces", self.http.project_id());
        let failed = |source| TraceError::Fetch { page, source };
        let answer = match self.http.get(&path, &query).await {
            Ok(answer) => answer,
            Err(FetchError::Api(api)) if api.status == 403 && !is_throttling(&api) => {
                return Err(TraceError::MissingPermission(api));
            }
            Err(e) => return Err(failed(e)),
        };
        parse_traces_page(&answer.body).map_err(failed)
    }
}

/// The API gateway throttles with a 403 too; that one is asked again, not a permission.
fn is_throttling(api: &ApiError) -> bool {
    api.code.as_deref() == Some("APIG.0308")
}

/// The query of every page of a window, `next` aside. No `resource_type`: a value the real
/// service spells otherwise would silently match nothing; the caller picks by `resource_type`
/// and `trace_name` from what comes.
fn query(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    resource_id: Option<&str>,
    limit: u32,
) -> Vec<(String, String)> {
    let mut query = vec![
        ("trace_type".to_owned(), "system".to_owned()),
        ("service_type".to_owned(), "VPN".to_owned()),
        ("from".to_owned(), from.timestamp_millis().to_string()),
        ("to".to_owned(), to.timestamp_millis().to_string()),
        ("limit".to_owned(), limit.to_string()),
    ];
    if let Some(id) = resource_id {
        query.push(("resource_id".to_owned(), id.to_owned()));
    }
    query
}

/// A 200 answer of ListTraces: its traces and `meta_data.marker`.
pub fn parse_traces_page(body: &[u8]) -> Result<(Vec<Trace>, Option<String>), FetchError> {
    let malformed = |what: String| FetchError::Malformed(what);
    // Every value exactly as sent: numbers by their text, strings with any escape.
    let value = crate::json::parse_slice(body).map_err(FetchError::Json)?;
    let traces = match value.get("traces") {
        Some(Value::Array(traces)) => traces,
        _ => return Err(malformed("no traces array".into())),
    };
    let traces = traces
        .iter()
        .enumerate()
        .map(|(i, t)| read_trace(t).map_err(|why| malformed(format!("traces[{i}] {why}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let marker = value["meta_data"]["marker"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    Ok((traces, marker))
}

/// A trace's fields, or what is wrong with it.
fn read_trace(raw: &Value) -> Result<Trace, String> {
    if !raw.is_object() {
        return Err("is not an object".into());
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let field = |key: &str| text(&raw[key]);
    let millis = |key: &str| {
        let ms = raw[key].as_i64()?;
        DateTime::<Utc>::from_timestamp_millis(ms)
    };
    let trace_id = field("trace_id").ok_or("has no trace_id")?;
    let time = millis("time").ok_or_else(|| format!("({trace_id}) has no time in epoch ms"))?;
    let user = raw
        .get("user")
        .filter(|u| u.is_object())
        .map(|u| TraceUser {
            id: text(&u["id"]),
            name: text(&u["name"]),
            domain_id: text(&u["domain"]["id"]),
            domain_name: text(&u["domain"]["name"]),
        });
    Ok(Trace {
        trace_name: field("trace_name"),
        trace_type: field("trace_type"),
        trace_rating: field("trace_rating"),
        service_type: field("service_type"),
        resource_type: field("resource_type"),
        resource_id: field("resource_id"),
        resource_name: field("resource_name"),
        time,
        record_time: millis("record_time"),
        user,
        source_ip: field("source_ip"),
        code: field("code"),
        request_id: field("request_id"),
        api_version: field("api_version"),
        raw: raw.clone(),
        trace_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_cts_one_else_the_vpn_one_else_the_regions() {
        assert_eq!(
            cts_endpoint(Some("http://c"), Some("http://v"), Some("r")).as_deref(),
            Some("http://c")
        );
        assert_eq!(
            cts_endpoint(None, Some("http://v"), Some("r")).as_deref(),
            Some("https://cts.r.myhuaweicloud.com")
        );
        assert_eq!(
            cts_endpoint(None, Some("http://v"), None).as_deref(),
            Some("http://v")
        );
        assert_eq!(
            cts_endpoint(None, None, Some("cn-north-4")).as_deref(),
            Some("https://cts.cn-north-4.myhuaweicloud.com")
        );
        assert_eq!(cts_endpoint(None, None, None), None);
    }

    #[test]
    fn a_cts_endpoint_is_checked_as_the_vpn_one_and_named_as_its_own() {
        let credentials =
            crate::api::credentials::Credentials::Token(crate::api::credentials::Secret::new("t"));
        let vpn = VpnClient::new("http://127.0.0.1:9", "p1", credentials).unwrap();
        assert!(CtsClient::new(&vpn, "https://cts.cn-north-4.myhuaweicloud.com/").is_ok());
        for bad in [
            "ftp://h.example",
            "https://h.example/?x=1",
            "http://u:pw@h.example",
        ] {
            let err = CtsClient::new(&vpn, bad).unwrap_err().to_string();
            assert!(
                err.contains("--cts-endpoint") && !err.contains("pw"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_page_keeps_every_trace_as_sent_and_reads_its_fields() {
        let body = br#"{"traces":[{"trace_id":"t1","time":1700000000123,"code":200,
            "user":{"name":"alice","domain":{"name":"acme"}},"future":1.50,"big":1e400}],
            "meta_data":{"count":1,"marker":"t1"}}"#;
        let (traces, marker) = parse_traces_page(body).unwrap();
        assert_eq!(marker.as_deref(), Some("t1"));
        let t = &traces[0];
        assert_eq!(t.time.timestamp_millis(), 1_700_000_000_123);
        assert_eq!(t.code.as_deref(), Some("200"));
        let user = t.user.as_ref().unwrap();
        assert_eq!(
            (user.name.as_deref(), user.domain_name.as_deref()),
            (Some("alice"), Some("acme"))
        );
        assert_eq!(crate::json::to_string(&t.raw["future"]), "1.50");
        assert_eq!(crate::json::to_string(&t.raw["big"]), "1e400");
        let (none, end) = parse_traces_page(br#"{"traces":[],"meta_data":{"count":0}}"#).unwrap();
        assert!(none.is_empty() && end.is_none());
    }

    #[test]
    fn a_page_not_of_the_documented_shape_says_what_is_wrong() {
        for (body, why) in [
            (&br#"{"meta_data":{}}"#[..], "no traces array"),
            (br#"{"traces":[{"time":1}]}"#, "traces[0] has no trace_id"),
            (
                br#"{"traces":[{"trace_id":"x"}]}"#,
                "traces[0] (x) has no time",
            ),
        ] {
            let err = parse_traces_page(body).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }
}
