//! A local fake of `GET /v5/{project_id}/vpn-connection`, for demos and tests.
//!
//! It behaves like the real service where a client can tell: marker paging newest first,
//! the filters, `limit` bounds, AK/SK signature checking (with the same signer, run in reverse),
//! `X-Auth-Token`, and Huawei-style error bodies from both the VPN service and the API gateway.
//! `Faults` make it misbehave the ways real APIs do, so tests can prove we cope.
//! `POST /_simulator/mutate?rounds=N` (or `SimState::mutate`) changes the served inventory the
//! way operators do, so two syncs have drift to find. `SimConfig::latency` delays every answer
//! of the list API, like the round trip to a real region.
//! The same listener serves the Cloud Trace Service's `GET /v3/{project_id}/traces` over the
//! traces the mutations leave (see [`crate::traces`]), with the same credentials and its own
//! `Faults` (`SimState::set_traces_faults`).
//!
//! The inventory is held as text (see [`crate::held`]): a page is the matching connections'
//! texts joined, and only a fault that changes what is served (`whole_seconds`) makes a request
//! parse and rewrite the connections it serves.

use crate::data::{GenOptions, generate, generate_each};
use crate::held::{Held, hold, sort_newest_first};
use crate::mutate::{AppliedChange, Mutator};
use crate::traces::{TraceLog, TraceQuery};
use crate::wire::{in_whole_seconds, parse_api_time};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hwcloud_signer::{self as signer, SigningInput};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// Fixed credentials the simulator uses when none are configured; printed at start.
pub const DEMO_PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";
pub const DEMO_ACCESS_KEY: &str = "DEMOACCESSKEY0000001";
pub const DEMO_SECRET_KEY: &str = "DemoSecretKeyForTheSimulatorOnly000001";

/// How far `X-Sdk-Date` may be from the simulator's clock, like the real gateway.
const MAX_CLOCK_SKEW_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub project_id: String,
    pub access_key: String,
    pub secret_key: String,
    /// Accepted as `X-Auth-Token` when set.
    pub auth_token: Option<String>,
    /// Largest `limit` accepted.
    pub max_limit: u32,
    /// How long every list or traces request waits before it is answered (any answer), like
    /// the round trip to a real region and its own time to answer.
    pub latency: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            project_id: DEMO_PROJECT_ID.into(),
            access_key: DEMO_ACCESS_KEY.into(),
            secret_key: DEMO_SECRET_KEY.into(),
            auth_token: None,
            max_limit: 2000,
            latency: Duration::ZERO,
        }
    }
}

/// Ways to make the simulator misbehave. Page numbers count list requests answered since the
/// faults were set, from 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Serve connections with `created_at <= marker` instead of `<`: every page then repeats
    /// the previous page's last connection, like an API whose marker falls on a tie.
    pub inclusive_marker: bool,
    /// From page 2 on, answer with `next_marker` equal to the marker requested.
    pub stuck_marker: bool,
    /// Answer this page with a truncated JSON body.
    pub malformed_page: Option<u64>,
    /// Answer this page gzip-compressed, with `Content-Encoding: gzip`, whether or not the
    /// request's `Accept-Encoding` asked for it (as a misconfigured proxy does).
    pub gzip_page: Option<u64>,
    /// Answer this page with this status and body.
    pub error_page: Option<(u64, u16, Value)>,
    /// Do not answer this page until `SimState::release` (signals `SimState::hanging` when it
    /// starts waiting).
    pub hang_page: Option<u64>,
    /// Misbehave on a run of list requests, the way a throttled or flaky service does.
    pub transient: Option<Transient>,
    /// Answer every list request with `302 Found` to this `Location`.
    pub redirect_to: Option<String>,
    /// From this page on, ignore the marker (serve the newest connections again) but answer
    /// with a `next_marker` one second before the one asked with: no end, no progress.
    pub replay_from_page: Option<u64>,
    /// Answer this page with a bare `{"vpn_connections": []}`: no counts, no marker.
    pub bare_empty_page: Option<u64>,
    /// From this page on, serve nothing (with the usual counts), as if the marker had jumped
    /// past the oldest connection.
    pub empty_from_page: Option<u64>,
    /// Serve `created_at` and `updated_at` in whole seconds (the fraction cut off) while still
    /// ordering and filtering by the full instant, like a service that keeps more precision
    /// than it shows: the markers it hands out then name whole seconds, and connections of
    /// one second look tied.
    pub whole_seconds: bool,
    /// Answer with this `total_count` whatever the inventory holds, like a service that
    /// counts wrong (or lists without end).
    pub claimed_total: Option<u64>,
    /// Ignore the `vpn_id` filter, like a service that does not know it: a request for one
    /// connection gets the first page of all.
    pub ignore_vpn_id: bool,
    /// The traces route only: answer 403, as CTS does to a user without `cts:trace:list`.
    pub missing_cts_permission: bool,
}

/// A transient fault: `answer` on `times` list requests from request `from` on.
#[derive(Debug, Clone)]
pub struct Transient {
    pub from: u64,
    pub times: u64,
    pub answer: TransientAnswer,
}

#[derive(Debug, Clone)]
pub enum TransientAnswer {
    /// This status and body, with a `Retry-After` header when given.
    Status {
        status: u16,
        body: Value,
        retry_after: Option<String>,
    },
    /// The normal answer, but only after this long (past a client's timeout).
    Stall(std::time::Duration),
    /// The normal answer's headers, then half its body, then the connection closes.
    Truncated,
    /// No answer at all: the connection is dropped once the request is read, as by a load
    /// balancer restarting or a network resetting it.
    Reset,
}

impl Transient {
    /// Its answer for list request `n`, if `n` is one it misbehaves on.
    fn at(&self, n: u64) -> Option<&TransientAnswer> {
        (n >= self.from && n - self.from < self.times).then_some(&self.answer)
    }
}

pub struct SimState {
    config: SimConfig,
    /// Connections as served, newest first.
    inventory: RwLock<Vec<Held>>,
    faults: Mutex<Faults>,
    requests: AtomicU64,
    /// List requests being answered now, and the most there ever were at once.
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    /// Notified when a request starts hanging because of `Faults::hang_page`.
    pub hanging: tokio::sync::Notify,
    /// Lets a hanging request go on (see [`SimState::release`]).
    released: tokio::sync::Notify,
    /// Created on the first mutation, from the inventory served then.
    mutator: Mutex<Option<Mutator>>,
    /// Connections served as JSON text (see `set_verbatim_inventory`), each standing in the
    /// inventory as a string naming it.
    verbatim: RwLock<Vec<String>>,
    /// The traces the mutations left, created with the mutator.
    traces: Mutex<Option<TraceLog>>,
    /// Faults of the traces route, and its requests since they were set.
    traces_faults: Mutex<Faults>,
    traces_requests: AtomicU64,
}

impl SimState {
    /// A simulator state serving `inventory` (taken one connection at a time, so a generator
    /// never needs the whole inventory as `Value`s).
    pub fn new(config: SimConfig, inventory: impl IntoIterator<Item = Value>) -> Self {
        Self {
            config,
            inventory: RwLock::new(hold(inventory)),
            faults: Mutex::new(Faults::default()),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            most_in_flight: AtomicU64::new(0),
            hanging: tokio::sync::Notify::new(),
            released: tokio::sync::Notify::new(),
            mutator: Mutex::new(None),
            verbatim: RwLock::new(Vec::new()),
            traces: Mutex::new(None),
            traces_faults: Mutex::new(Faults::default()),
            traces_requests: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Replaces what is served (sorted newest first, as the API pages it).
    pub fn set_inventory(&self, inventory: Vec<Value>) {
        *self.inventory.write().expect("inventory lock") = hold(inventory);
    }

    /// Serves these JSON texts as the connections, verbatim: values a `Value` cannot hold as
    /// sent (`1e400` as written, a lone surrogate escape `"\ud800"`). The simulator never reads
    /// them, so no filter selects them, they have no `created_at` to page by (they come last,
    /// in the order given) and `mutate` is not for them.
    pub fn set_verbatim_inventory(&self, connections: Vec<String>) {
        let stand_ins = (0..connections.len()).map(verbatim_stand_in).collect();
        *self.verbatim.write().expect("verbatim lock") = connections;
        self.set_inventory(stand_ins);
    }

    /// A copy of what is served (as held: see `as_served` for what a client sees).
    pub fn inventory(&self) -> Vec<Value> {
        let inventory = self.inventory.read().expect("inventory lock");
        inventory.iter().map(Held::value).collect()
    }

    /// The inventory as a client is served it under the current faults (`whole_seconds`).
    pub fn as_served(&self) -> Vec<Value> {
        let faults = self.faults.lock().expect("faults lock").clone();
        let inventory = self.inventory.read().expect("inventory lock");
        inventory
            .iter()
            .map(|c| served(c.value(), &faults))
            .collect()
    }

    /// Sets faults and restarts the page count they refer to.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("faults lock") = faults;
        self.requests.store(0, Ordering::SeqCst);
    }

    /// Applies `rounds` rounds of random operator-like changes (deterministic for `seed`) to the
    /// served inventory; returns the change records a sync must find. Only the connections a
    /// round reads are parsed (all of them once, when the first mutation creates the mutator).
    /// Each connection a round changes leaves one trace, timed now (see [`crate::traces`]).
    pub fn mutate(&self, rounds: u32, seed: u64) -> Vec<AppliedChange> {
        let mut inventory = self.inventory.write().expect("inventory lock");
        let mut mutator = self.mutator.lock().expect("mutator lock");
        let mut log = self.traces.lock().expect("traces lock");
        let mutator = mutator.get_or_insert_with(|| Mutator::new(seed, &*inventory));
        let log = log.get_or_insert_with(|| TraceLog::new(seed));
        let mut changes = Vec::new();
        for _ in 0..rounds {
            let round = mutator.round(&mut *inventory);
            let now_ms = Utc::now().timestamp_millis();
            log.record_round(&round, mutator.last_round_names(), now_ms);
            changes.extend(round);
        }
        sort_newest_first(&mut inventory);
        changes
    }

    /// Every trace the mutations left, newest first, as the traces route serves them.
    pub fn traces(&self) -> Vec<Value> {
        let log = self.traces.lock().expect("traces lock");
        log.as_ref().map_or_else(Vec::new, TraceLog::all)
    }

    /// Sets the traces route's faults and restarts the page count they refer to (the list
    /// route's faults and count are its own).
    pub fn set_traces_faults(&self, faults: Faults) {
        *self.traces_faults.lock().expect("traces faults lock") = faults;
        self.traces_requests.store(0, Ordering::SeqCst);
    }

    /// Traces requests answered (any outcome) since the traces faults were last set.
    pub fn traces_requests(&self) -> u64 {
        self.traces_requests.load(Ordering::SeqCst)
    }

    /// Lets the request held by `Faults::hang_page` answer.
    pub fn release(&self) {
        self.released.notify_one();
    }

    /// List requests answered (any outcome) since the faults were last set.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// The most list requests that were being answered at once, latency included, since the
    /// last call (which starts counting afresh).
    pub fn take_most_in_flight(&self) -> u64 {
        self.most_in_flight.swap(0, Ordering::SeqCst)
    }
}

/// Whether `faults` change the connections served (else their held text is served as it is).
fn rewrites(faults: &Faults) -> bool {
    faults.whole_seconds
}

/// One connection as `faults` make the simulator serve it.
fn served(mut connection: Value, faults: &Faults) -> Value {
    if faults.whole_seconds {
        for key in ["created_at", "updated_at"] {
            if let Some(Value::String(time)) = connection.get_mut(key) {
                *time = in_whole_seconds(time);
            }
        }
    }
    connection
}

/// The JSON text of `connection` as `faults` make the simulator serve it.
fn served_text<'a>(connection: &'a Held, faults: &Faults) -> Cow<'a, str> {
    if rewrites(faults) {
        Cow::Owned(served(connection.value(), faults).to_string())
    } else {
        Cow::Borrowed(&connection.json)
    }
}

/// The `created_at` text of `connection` as `faults` make the simulator serve it.
fn served_created_at(connection: &Held, faults: &Faults) -> Option<String> {
    let text = connection.created_at_text.as_deref()?;
    Some(if faults.whole_seconds {
        in_whole_seconds(text)
    } else {
        text.to_owned()
    })
}

/// `{"vpn_connections":[...]` followed by `rest` (which closes the object): the texts joined,
/// as `serde_json` would write the same values.
fn page_body(texts: &[Cow<'_, str>], rest: &str) -> String {
    let length = texts.iter().map(|t| t.len() + 1).sum::<usize>() + rest.len() + 32;
    let mut body = String::with_capacity(length);
    body.push_str("{\"vpn_connections\":[");
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(text);
    }
    body.push(']');
    body.push_str(rest);
    body
}

/// What stands in the inventory for verbatim connection `index`: a string no API sends.
fn verbatim_stand_in(index: usize) -> Value {
    Value::String(format!("\u{E000}verbatim {index}"))
}

/// `body` with the verbatim connections' text in place of their stand-ins.
fn with_verbatim(mut body: String, verbatim: &[String]) -> String {
    for (index, text) in verbatim.iter().enumerate() {
        // serde_json writes the private-use character as it is.
        let stand_in = verbatim_stand_in(index).to_string();
        body = body.replace(&stand_in, text);
    }
    body
}

/// A simulator serving on a local port.
pub struct RunningSimulator {
    pub addr: SocketAddr,
    pub state: Arc<SimState>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSimulator {
    /// Base URL to use as `--endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Generated inventory for `connections` and `seed`.
pub fn generated_inventory(connections: usize, seed: u64) -> Vec<Value> {
    generated_inventory_with_ties(connections, seed, 0)
}

/// Generated inventory whose connections come in groups of `ties` sharing one `created_at`
/// (0 or 1: none share).
pub fn generated_inventory_with_ties(connections: usize, seed: u64, ties: usize) -> Vec<Value> {
    generate(&GenOptions {
        count: connections,
        seed,
        ties,
    })
}

/// The same connections as [`generated_inventory_with_ties`], one at a time: what `spawn` takes
/// to serve a large inventory without ever holding it all as `Value`s.
pub fn generated_connections(
    connections: usize,
    seed: u64,
    ties: usize,
) -> impl Iterator<Item = Value> {
    generate_each(GenOptions {
        count: connections,
        seed,
        ties,
    })
}

/// Binds `listen` and serves in a background task.
pub async fn spawn(
    listen: SocketAddr,
    config: SimConfig,
    inventory: impl IntoIterator<Item = Value>,
) -> std::io::Result<RunningSimulator> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(SimState::new(config, inventory));
    let app = Router::new().fallback(handle).with_state(state.clone());
    // Answers go out as written, like a real gateway's: no Nagle delay on the last segment.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        let _ = stream.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("simulator stopped: {e}");
        }
    });
    Ok(RunningSimulator { addr, state, task })
}

fn request_id(n: u64) -> String {
    format!(
        "{n:08x}-5151-4d0c-8e4e-{:012x}",
        n.wrapping_mul(0x9E37_79B9)
    )
}

fn error_response(status: StatusCode, body: Value, request_id: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-request-id"), request_id),
        ],
        body.to_string(),
    )
        .into_response()
}

/// The API gateway's error shape.
fn gateway_error(status: StatusCode, code: &str, msg: &str, request_id: &str) -> Response {
    let body = json!({"error_code": code, "error_msg": msg, "request_id": request_id});
    error_response(status, body, request_id)
}

/// The VPN service's error shape (request id only in the header).
fn vpn_error(status: StatusCode, code: &str, msg: &str, request_id: &str) -> Response {
    error_response(status, json!({"code": code, "message": msg}), request_id)
}

async fn handle(State(state): State<Arc<SimState>>, request: Request) -> Response {
    if request.uri().path() == "/_simulator/mutate" && request.method() == Method::POST {
        return mutate(&state, request.uri().query());
    }
    // The latency is the whole time to answer, this simulator's own work included: a page
    // then costs what a region's round trip costs, not that plus the time to build it.
    let asked = tokio::time::Instant::now();
    let traces = traces_project(request.uri().path()).is_some();
    // List requests only: what `--fetch-concurrency` sends at once.
    let _answering = (!traces).then(|| InFlight::new(&state));
    let response = if traces {
        answer_traces(&state, request).await
    } else {
        answer(&state, request).await
    };
    if !state.config.latency.is_zero() {
        wait_until(asked + state.config.latency).await;
    }
    response
}

/// A list request being answered: counted in `SimState::in_flight` until dropped (also when
/// the client gives up on it).
struct InFlight<'a>(&'a SimState);

impl<'a> InFlight<'a> {
    fn new(state: &'a SimState) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sleeps until `deadline`, to within a fraction of a millisecond. tokio's timer wakes on
/// whole milliseconds after the deadline (a 50 ms latency answered in 52 ms on a busy two-core
/// machine, which a benchmark of the client's overhead would count against the client), so
/// its timer takes all but the last two milliseconds, and a blocking thread's sleep the rest.
async fn wait_until(deadline: tokio::time::Instant) {
    const TIMER_SLACK: Duration = Duration::from_millis(2);
    if let Some(coarse) = deadline.checked_sub(TIMER_SLACK) {
        tokio::time::sleep_until(coarse).await;
    }
    let rest = deadline.saturating_duration_since(tokio::time::Instant::now());
    if !rest.is_zero() {
        // A blocking thread only sleeps: the pool starts one per waiting answer.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

/// Answers one request to the list API: refusals first (unknown API, credentials, project),
/// then the faults that strike before a page, then the page chosen by the query.
async fn answer(state: &SimState, request: Request) -> Response {
    let n = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let rid = request_id(n);
    let (parts, _body) = request.into_parts();
    let pairs = query_pairs(parts.uri.query());
    if let Some(refusal) = refusal(&state.config, &parts, &pairs, &rid) {
        return refusal;
    }
    let faults = state.faults.lock().expect("faults lock").clone();
    let transient = faults.transient.as_ref().and_then(|t| t.at(n));
    if let Some(response) = act_out_early_faults(state, &faults, transient, n, &rid).await {
        return response;
    }
    let query = match ListQuery::parse(&pairs, state.config.max_limit) {
        Ok(query) => query,
        Err(message) => return vpn_error(StatusCode::BAD_REQUEST, "VPN.0001", &message, &rid),
    };

    let inventory = state.inventory.read().expect("inventory lock");
    let page = choose_page(&inventory, &query, &faults, n);
    let texts: Vec<Cow<'_, str>> = page.iter().map(|c| served_text(c, &faults)).collect();
    if let Some(response) = broken_page(&texts, &faults, n) {
        return response;
    }
    let next_marker = next_marker(&query, &page, &faults, n);
    // Documented as the tenant's total, not the filtered count: so it is here too.
    let total_count = faults.claimed_total.unwrap_or(inventory.len() as u64);
    let body = page_body(
        &texts,
        &page_rest(page.len(), next_marker, &rid, total_count),
    );
    drop(texts);
    drop(page);
    drop(inventory);
    let body = with_verbatim(body, &state.verbatim.read().expect("verbatim lock"));
    let truncated = matches!(transient, Some(TransientAnswer::Truncated));
    page_response(body.into_bytes(), &rid, truncated)
}

/// The project of a ListTraces path, `/v3/{project_id}/traces`.
fn traces_project(path: &str) -> Option<&str> {
    let project = path.strip_prefix("/v3/")?.strip_suffix("/traces")?;
    (!project.contains('/')).then_some(project)
}

/// The CTS service's error shape.
fn cts_error(status: StatusCode, code: &str, msg: &str, request_id: &str) -> Response {
    error_response(
        status,
        json!({"error_code": code, "error_msg": msg}),
        request_id,
    )
}

/// Answers one ListTraces request as [`answer`] does a list request: refusals (method,
/// credentials, project, permission), the traces faults that strike before a page, the page.
/// Of the list faults, the traces route acts out the transient ones, a redirect, a hang, an
/// error page, a malformed page, `stuck_marker` and `replay_from_page` (both cycle).
async fn answer_traces(state: &SimState, request: Request) -> Response {
    let n = state.traces_requests.fetch_add(1, Ordering::SeqCst) + 1;
    let rid = request_id(n);
    let (parts, _body) = request.into_parts();
    let pairs = query_pairs(parts.uri.query());
    let path = parts.uri.path();
    if parts.method != Method::GET {
        let msg = "The API does not exist or has not been published in the environment";
        return gateway_error(StatusCode::NOT_FOUND, "APIG.0101", msg, &rid);
    }
    if let Err((code, msg)) =
        authenticate(&state.config, &parts.method, path, &pairs, &parts.headers)
    {
        return gateway_error(StatusCode::UNAUTHORIZED, code, &msg, &rid);
    }
    let faults = state
        .traces_faults
        .lock()
        .expect("traces faults lock")
        .clone();
    let project = traces_project(path).unwrap_or_default();
    if project != state.config.project_id {
        let msg = format!("project {project} is not accessible with these credentials");
        return cts_error(StatusCode::FORBIDDEN, "CTS.0003", &msg, &rid);
    }
    if faults.missing_cts_permission {
        let msg = "Forbidden: the user has no permission cts:trace:list for this project";
        return cts_error(StatusCode::FORBIDDEN, "CTS.0003", msg, &rid);
    }
    let transient = faults.transient.as_ref().and_then(|t| t.at(n));
    if let Some(response) = act_out_early_faults(state, &faults, transient, n, &rid).await {
        return response;
    }
    let query = match TraceQuery::parse(&pairs) {
        Ok(query) => query,
        Err((code, msg)) => return cts_error(StatusCode::BAD_REQUEST, code, &msg, &rid),
    };
    let page = {
        let log = state.traces.lock().expect("traces lock");
        let empty = TraceLog::new(0);
        let log = log.as_ref().unwrap_or(&empty);
        log.page(&query, Utc::now().timestamp_millis(), replays(&faults, n))
    };
    let page = match page {
        Ok(page) => page,
        Err(msg) => return cts_error(StatusCode::BAD_REQUEST, "CTS.0204", &msg, &rid),
    };
    // Cycling: the marker asked with handed out again.
    let stuck = query
        .next
        .as_deref()
        .filter(|_| faults.stuck_marker && n >= 2);
    let text = page.body(stuck).to_string();
    if faults.malformed_page == Some(n) {
        let cut = text.len() / 2;
        return page_response(text.into_bytes()[..cut].to_vec(), &rid, false);
    }
    let truncated = matches!(transient, Some(TransientAnswer::Truncated));
    page_response(text.into_bytes(), &rid, truncated)
}

/// A query string's `key=value` pairs, decoded, in the order sent.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The answer refusing a request the gateway or the VPN service would refuse before reading
/// its query: another API or method, missing or wrong credentials, a project these credentials
/// do not reach. `None` lets it through.
fn refusal(
    config: &SimConfig,
    parts: &axum::http::request::Parts,
    pairs: &[(String, String)],
    rid: &str,
) -> Option<Response> {
    let path = parts.uri.path();
    let project_id = match path
        .strip_prefix("/v5/")
        .and_then(|p| p.strip_suffix("/vpn-connection"))
    {
        Some(p) if !p.contains('/') && parts.method == Method::GET => p,
        _ => {
            return Some(gateway_error(
                StatusCode::NOT_FOUND,
                "APIG.0101",
                "The API does not exist or has not been published in the environment",
                rid,
            ));
        }
    };
    if let Err((code, msg)) = authenticate(config, &parts.method, path, pairs, &parts.headers) {
        return Some(gateway_error(StatusCode::UNAUTHORIZED, code, &msg, rid));
    }
    (project_id != config.project_id).then(|| {
        vpn_error(
            StatusCode::FORBIDDEN,
            "VPN.0003",
            &format!("project {project_id} is not accessible with these credentials"),
            rid,
        )
    })
}

/// Acts out the faults that strike before a page is chosen, in this order: a transient fault
/// (a status, a stall, a reset), a redirect, a hang, an error page. Returns the answer that
/// takes the page's place, if one does.
async fn act_out_early_faults(
    state: &SimState,
    faults: &Faults,
    transient: Option<&TransientAnswer>,
    n: u64,
    rid: &str,
) -> Option<Response> {
    match transient {
        Some(TransientAnswer::Status {
            status,
            body,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = error_response(status, body.clone(), rid);
            if let Some(wait) = retry_after.as_deref().and_then(|w| w.parse().ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, wait);
            }
            return Some(response);
        }
        Some(TransientAnswer::Stall(wait)) => tokio::time::sleep(*wait).await,
        // Unwinding ends the connection's task, which closes its socket mid-exchange;
        // `resume_unwind` skips the panic hook, so nothing is printed.
        Some(TransientAnswer::Reset) => std::panic::resume_unwind(Box::new("connection reset")),
        Some(TransientAnswer::Truncated) | None => {}
    }
    if let Some(location) = &faults.redirect_to {
        return Some((StatusCode::FOUND, [(header::LOCATION, location.as_str())]).into_response());
    }
    if faults.hang_page == Some(n) {
        state.hanging.notify_one();
        state.released.notified().await;
    }
    let (page, status, body) = faults.error_page.as_ref()?;
    (*page == n).then(|| {
        error_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.clone(),
            rid,
        )
    })
}

/// What a list request asks for, read from its query.
struct ListQuery<'q> {
    limit: u32,
    /// The marker as sent, and the instant it names.
    marker: Option<(&'q str, DateTime<Utc>)>,
    vgw_id: Option<&'q str>,
    vgw_ip: Option<&'q str>,
    eip_id: Option<&'q str>,
    vpn_id: Option<&'q str>,
    /// Every `enterprise_project_id` sent (the parameter repeats); empty: any.
    enterprise_projects: Vec<&'q str>,
}

impl<'q> ListQuery<'q> {
    /// Reads `pairs`, or says why the VPN service refuses them: a `limit` above `max_limit` or
    /// not a number (checked first), a `marker` that is not a creation time.
    fn parse(pairs: &'q [(String, String)], max_limit: u32) -> Result<Self, String> {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let limit = match get("limit").map(str::parse::<u32>) {
            None | Some(Ok(0)) => 200.min(max_limit),
            Some(Ok(l)) if l <= max_limit => l,
            Some(_) => {
                return Err(format!(
                    "invalid request: limit must be an integer from 0 to {max_limit}"
                ));
            }
        };
        let marker = match get("marker") {
            None => None,
            Some(m) => match parse_api_time(m) {
                Some(t) => Some((m, t)),
                None => {
                    return Err(format!(
                        "invalid request: marker {m:?} is not a creation time"
                    ));
                }
            },
        };
        let enterprise_projects = pairs
            .iter()
            .filter(|(k, _)| k == "enterprise_project_id")
            .map(|(_, v)| v.as_str())
            .collect();
        Ok(ListQuery {
            limit,
            marker,
            vgw_id: get("vgw_id"),
            vgw_ip: get("vgw_ip"),
            eip_id: get("eip_id"),
            vpn_id: get("vpn_id"),
            enterprise_projects,
        })
    }

    /// Whether `connection` passes the filters (`vpn_id` only when it is heeded).
    fn selects(&self, connection: &Held, heed_vpn_id: bool) -> bool {
        let field_is = |field: &Option<Box<str>>, want: Option<&str>| {
            want.is_none_or(|w| field.as_deref() == Some(w))
        };
        let vpn_id = self.vpn_id.filter(|_| heed_vpn_id);
        field_is(&connection.vgw_id, self.vgw_id)
            && field_is(&connection.vgw_ip, self.vgw_ip)
            && field_is(&connection.id, vpn_id)
            && field_is(&connection.vgw_ip, self.eip_id)
            && (self.enterprise_projects.is_empty()
                || connection
                    .enterprise_project_id
                    .as_deref()
                    .is_some_and(|e| self.enterprise_projects.contains(&e)))
    }
}

/// Whether page `n` ignores its marker (`Faults::replay_from_page`).
fn replays(faults: &Faults, n: u64) -> bool {
    faults.replay_from_page.is_some_and(|from| n >= from)
}

/// The connections page `n` serves: those created before the marker (at or before it with
/// `inclusive_marker`) that pass the filters, newest first, at most `limit` (none from
/// `empty_from_page` on).
fn choose_page<'i>(
    inventory: &'i [Held],
    query: &ListQuery<'_>,
    faults: &Faults,
    n: u64,
) -> Vec<&'i Held> {
    let marker = query
        .marker
        .filter(|_| !replays(faults, n))
        .map(|(_, instant)| instant);
    // Whether instant `t` comes after marker `m` in the newest-first order: is older, or (with
    // `inclusive_marker`) the same.
    let after_marker = |t: DateTime<Utc>, m: DateTime<Utc>| {
        if faults.inclusive_marker {
            t <= m
        } else {
            t < m
        }
    };
    // Held newest first: what a marker excludes is a prefix, skipped by binary search (a scan
    // from the top made each page cost the whole inventory, 100,000 connections a page).
    let start = marker.map_or(0, |m| {
        inventory.partition_point(|c| c.created_at.is_some_and(|t| !after_marker(t, m)))
    });
    let size = if faults.empty_from_page.is_some_and(|from| n >= from) {
        0
    } else {
        query.limit as usize
    };
    inventory[start..]
        .iter()
        .filter(|c| query.selects(c, !faults.ignore_vpn_id))
        .filter(|c| match (marker, c.created_at) {
            (None, _) => true,
            (Some(m), Some(t)) => after_marker(t, m),
            (Some(_), None) => false,
        })
        .take(size)
        .collect()
}

/// The answer that takes page `n`'s place when `faults` break it: a bare empty list, or the
/// first half of its body.
fn broken_page(texts: &[Cow<'_, str>], faults: &Faults, n: u64) -> Option<Response> {
    if faults.bare_empty_page == Some(n) {
        return Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"vpn_connections\": []}",
            )
                .into_response(),
        );
    }
    if faults.gzip_page == Some(n) {
        return Some(
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                gzip(page_body(texts, "}").as_bytes()),
            )
                .into_response(),
        );
    }
    if faults.malformed_page != Some(n) {
        return None;
    }
    let text = page_body(texts, "}");
    let cut = text.len() / 2;
    Some(
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            text.into_bytes()[..cut].to_vec(),
        )
            .into_response(),
    )
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks: what any gunzip reads,
/// without a compression library.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = data.chunks(usize::from(u16::MAX)).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let len = u16::try_from(block.len()).expect("a chunk of at most u16::MAX bytes");
        out.push(u8::from(blocks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE: the length modulo 2^32, little-endian.
    out.extend_from_slice(&data.len().to_le_bytes()[..4]);
    out
}

/// The CRC-32 (IEEE) gzip's trailer holds.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The `next_marker` page `n` hands out: its last connection's `created_at`, unless a fault
/// repeats the marker asked with (`stuck_marker`) or steps one second back from it (`replay`).
fn next_marker(query: &ListQuery<'_>, page: &[&Held], faults: &Faults, n: u64) -> Option<String> {
    match (&query.marker, faults.stuck_marker && n >= 2) {
        (Some((m, _)), true) => Some((*m).to_owned()),
        (Some((_, t)), false) if replays(faults, n) => {
            let earlier = *t - chrono::Duration::seconds(1);
            Some(earlier.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        }
        _ => page.last().and_then(|c| served_created_at(c, faults)),
    }
}

/// The rest of a page's object after `vpn_connections`, in the order `json!` wrote it.
fn page_rest(
    current_count: usize,
    next_marker: Option<String>,
    rid: &str,
    total_count: u64,
) -> String {
    let mut page_info = json!({"current_count": current_count});
    if let Some(m) = next_marker {
        page_info["next_marker"] = Value::String(m);
    }
    format!(
        ",\"page_info\":{page_info},\"request_id\":{},\"total_count\":{total_count}}}",
        Value::from(rid),
    )
}

/// A page's answer, `body` with its length and request id; only its first half is sent when
/// `truncated` (`Content-Length` still promises the whole: hyper closes the connection when
/// the body ends early).
fn page_response(mut body: Vec<u8>, rid: &str, truncated: bool) -> Response {
    let full_length = body.len();
    if truncated {
        body.truncate(full_length / 2);
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, full_length)
        .header("x-request-id", rid)
        .body(Body::from(body))
        .expect("valid response")
}

/// Why the gateway refused a request: its error code and message.
type Refusal = (&'static str, String);

/// `POST /_simulator/mutate?rounds=N&seed=S`: the simulator's own control, not part of the API.
fn mutate(state: &SimState, query: Option<&str>) -> Response {
    let params = query_pairs(query);
    let number = |key: &str, default: u64| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map_or(Ok(default), |(_, v)| v.parse::<u64>())
    };
    match (number("rounds", 1), number("seed", 1)) {
        (Ok(rounds), Ok(seed)) if rounds <= 1000 => {
            let changes = state.mutate(rounds as u32, seed);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(&changes).expect("changes serialize"),
            )
                .into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "rounds (at most 1000) and seed must be whole numbers\n",
        )
            .into_response(),
    }
}

/// Checks `X-Auth-Token` or the AK/SK signature.
fn authenticate(
    config: &SimConfig,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let unauthorized = |code: &'static str, msg: &str| (code, msg.to_owned());
    if let Some(token) = headers.get("x-auth-token") {
        return match &config.auth_token {
            Some(expected) if token.as_bytes() == expected.as_bytes() => Ok(()),
            _ => Err(unauthorized(
                "APIG.1002",
                "Incorrect token or token resolution failed",
            )),
        };
    }
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            "APIG.1000",
            "Incorrect IAM authentication information: Authorization header missing",
        ));
    };
    let parsed = signer::parse_authorization(authorization).map_err(|e| {
        unauthorized(
            "APIG.0301",
            &format!("Incorrect IAM authentication information: {e}"),
        )
    })?;
    if parsed.access_key != config.access_key {
        return Err(unauthorized(
            "APIG.0301",
            "Incorrect IAM authentication information: AK not found",
        ));
    }
    let date = headers
        .get("x-sdk-date")
        .and_then(|v| v.to_str().ok())
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ").ok())
        .ok_or_else(|| {
            unauthorized(
                "APIG.0301",
                "Incorrect IAM authentication information: X-Sdk-Date missing or malformed",
            )
        })?;
    if (Utc::now().naive_utc() - date).num_seconds().abs() > MAX_CLOCK_SKEW_SECONDS {
        return Err(unauthorized(
            "APIG.0301",
            "Incorrect IAM authentication information: request expired",
        ));
    }
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let input = SigningInput {
        method: method.as_str(),
        path,
        query,
        headers: &header_pairs,
        body: b"",
    };
    signer::verify(&config.secret_key, &parsed, &input).map_err(|_| {
        unauthorized(
            "APIG.0301",
            "Incorrect IAM authentication information: verify aksk signature fail",
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn gzip_is_a_stored_member_with_its_crc() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
        let zipped = super::gzip(b"abc");
        assert_eq!(&zipped[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        assert_eq!(&zipped[10..18], &[1, 3, 0, 0xfc, 0xff, b'a', b'b', b'c']);
        assert_eq!(&zipped[18..], &[0xc2, 0x41, 0x24, 0x35, 3, 0, 0, 0]);
    }

    use super::*;

    #[test]
    fn an_answer_waits_its_whole_latency_and_never_less() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            for millis in [0, 1, 2, 3, 25] {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
                wait_until(deadline).await;
                assert!(tokio::time::Instant::now() >= deadline, "{millis} ms");
            }
        });
    }

    #[test]
    fn a_page_of_held_texts_is_what_serializing_the_values_gave() {
        let inventory = generated_inventory(30, 5);
        for faults in [
            Faults::default(),
            Faults {
                whole_seconds: true,
                ..Faults::default()
            },
        ] {
            let held = hold(inventory.clone());
            let texts: Vec<Cow<'_, str>> = held.iter().map(|c| served_text(c, &faults)).collect();
            let values: Vec<Value> = held.iter().map(|c| served(c.value(), &faults)).collect();
            let marker = served_created_at(&held[29], &faults);
            assert_eq!(marker.as_deref(), values[29]["created_at"].as_str());
            let page_info = json!({"current_count": 30, "next_marker": marker});
            let expected = json!({
                "vpn_connections": values,
                "page_info": page_info,
                "request_id": "r\"1",
                "total_count": 30,
            });
            let rest = format!(
                ",\"page_info\":{page_info},\"request_id\":\"r\\\"1\",\"total_count\":30}}"
            );
            assert_eq!(page_body(&texts, &rest), expected.to_string());
            assert_eq!(
                page_body(&[], "}"),
                json!({"vpn_connections": []}).to_string()
            );
        }
    }

    #[test]
    fn verbatim_connections_are_served_as_their_text() {
        let text = r#"{"id":"\ud800","n":1E400}"#;
        let body = json!({"vpn_connections": [verbatim_stand_in(0)], "x": "verbatim 0"});
        assert_eq!(
            with_verbatim(body.to_string(), &[text.to_owned()]),
            format!(r#"{{"vpn_connections":[{text}],"x":"verbatim 0"}}"#)
        );
    }
}
