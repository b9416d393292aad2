//! Command-line interface. Flag and environment names are part of the contract with cron
//! jobs and scripts: rename nothing without a deprecation path.

use crate::drift::{Category, ChangeKind};
use crate::store::AsOf;
use crate::sync::{
    DEFAULT_FETCH_CONCURRENCY, DEFAULT_PAGE_SIZE, MAX_FETCH_CONCURRENCY, MAX_PAGE_SIZE,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// `--version`: the release, the commit it was built from, and the schema it migrates to.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("VPN_INVENTORY_COMMIT"),
    ", schema version ",
    env!("VPN_INVENTORY_SCHEMA"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "vpn-inventory", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// Inventory database: sqlite://FILE (created if missing) or postgres://... [default: the
    /// configuration's `database`, else sqlite://<data dir>/vpn-inventory/inventory.db, e.g.
    /// ~/.local/share/vpn-inventory/inventory.db; `status` shows which]
    #[arg(
        long,
        global = true,
        env = "VPN_INVENTORY_DATABASE",
        hide_env_values = true
    )]
    // Parsed by the command, not here: clap's own error would repeat the value, password
    // and all; `DatabaseUrl::parse` names it with the password hidden.
    pub database: Option<String>,

    /// Configuration file (TOML: the database, and targets for `sync --all`) [default:
    /// <config dir>/vpn-inventory/config.toml, e.g. ~/.config/vpn-inventory/config.toml, if
    /// it exists]
    #[arg(long, global = true, env = "VPN_INVENTORY_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Log line format (logs go to stderr; stdout carries only data).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less log detail (-q errors only, -qq nothing).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// A line of text per event.
    Text,
    /// A JSON object per line.
    Json,
}

/// How a command that reports one outcome (a sync's counts, what prune or forget-scope deleted)
/// prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A line of text for a person (`table` is read as this too).
    #[value(alias = "table")]
    Text,
    /// JSON for a script.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Page through the cloud's VPN connections and store them; prints the run's counts.
    Sync(Box<SyncArgs>),
    /// Print the stored connections as JSON: an array in the API's own shape, or grouped by
    /// project and region (`--format projects`); now, or as they stood at a point in history.
    Export(ExportArgs),
    /// List sync runs, newest first.
    Runs(RunsArgs),
    /// Check the configuration file and show the targets it resolves to (secrets masked).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The database, its schema and size, and each scope's latest complete and failed runs.
    Status(StatusArgs),
    /// Delete failed runs' leftovers, and optionally history older than a retention period;
    /// never the current inventory.
    Prune(PruneArgs),
    /// Forget a scope nobody syncs any more: `status` and the metrics stop listing it, and its
    /// runs' staging and its record of what it returned last time are deleted. The project's
    /// inventory, its history and the runs it names stay.
    ForgetScope(ForgetScopeArgs),
    /// Show what changed: the change records of a run (default: the latest complete one).
    Drift(DriftArgs),
    /// Every change record of one connection, oldest first.
    History(HistoryArgs),
    /// The net field-level difference between the inventories at two points in history (after
    /// a run, after a sync, at a time, latest), over every project or one.
    Diff(DiffArgs),
    /// Run a report, an SQL query answering an operator's question (`report --list`).
    ///
    /// `report weak-crypto` runs a built-in one, `report --file mine.sql` your own: one SQL
    /// statement opening with a header like those `report NAME --show-sql` prints.
    Report(ReportArgs),
    /// Check every stored connection against the policy (policy.toml, or the built-in one);
    /// exits 4 when any breaks it.
    ///
    /// Prints one row per connection and broken rule, naming the rule, the field and its
    /// value, and the change that made it so. `--new-since` lists only the violations a change
    /// after that point made. The rules are the report `policy-violations`.
    Check(CheckArgs),
    /// Write a change-review digest of a period: one self-contained Markdown or HTML document
    /// for a ticket or a mail.
    ///
    /// It names the period, the projects and the runs it covers (and any that failed or
    /// withheld removals), counts the changes, draws them per day, shows each changed
    /// connection's fields before and after and the policy violations it gained or lost, lists
    /// the added and removed connections, and sums up the policy as `check` applies it.
    Review(ReviewArgs),
    /// Create or upgrade the database schema (every command does this on its own too).
    Migrate(MigrateArgs),
    /// Serve a local fake of the VPN list API, for demos and tests.
    #[cfg(feature = "simulator")]
    Simulate(SimulateArgs),
    /// Sync a simulated project into the database: the whole job, no cloud account needed.
    #[cfg(feature = "simulator")]
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh and fish also complete the configuration's
    /// target names and the report names), e.g. `vpn-inventory completions bash >
    /// ~/.local/share/bash-completion/completions/vpn-inventory`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the names a completion script offers, one a line (the scripts call it).
    #[command(name = "__complete", hide = true)]
    Complete {
        #[arg(value_enum)]
        names: CompletedNames,
    },
    /// Print the manual page (roff), e.g. `vpn-inventory man | man -l -`; with a subcommand,
    /// that subcommand's page (`vpn-inventory man sync`).
    Man {
        /// The subcommand whose page to print.
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Option<String>,
    },
}

/// Names that change after a completion script is installed, so the script asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletedNames {
    /// The configuration's targets (`sync TARGET`).
    Targets,
    /// The built-in reports (`report NAME`).
    Reports,
}

/// Where the API is and which project to read.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Project id (the {project_id} of the API path).
    #[arg(long, env = "HUAWEICLOUD_SDK_PROJECT_ID")]
    pub project_id: Option<String>,

    /// Region, e.g. cn-north-4; gives the default endpoint https://vpn.{region}.myhuaweicloud.com.
    #[arg(long, env = "HUAWEICLOUD_SDK_REGION")]
    pub region: Option<String>,

    /// Base URL of the VPN service, overriding the region's default (http:// allowed).
    #[arg(long, env = "VPN_INVENTORY_ENDPOINT")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only connections of this VPN gateway.
    #[arg(long)]
    pub vgw_id: Option<String>,
    /// Only connections of the gateway with this EIP id or private IP.
    #[arg(long)]
    pub vgw_ip: Option<String>,
    /// Only connections in this enterprise project (repeatable).
    #[arg(long = "enterprise-project-id")]
    pub enterprise_project_ids: Vec<String>,
    /// Only this VPN connection (the SDK's vpn_id filter).
    #[arg(long)]
    pub vpn_id: Option<String>,
    /// Only connections of this EIP (the SDK's eip_id filter).
    #[arg(long)]
    pub eip_id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Targets of the configuration file to sync (each its own run); without any, and without
    /// --all, the one scope the flags and environment describe.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Sync every target of the configuration file.
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,
    /// Fetch and parse every page as a sync would and say what would change (by connection),
    /// writing nothing: no run, no lock, no staging. With targets or --all, for each of them.
    #[arg(long, conflicts_with_all = ["resume", "metrics_file", "with_traces"])]
    pub dry_run: bool,
    /// How many targets sync at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// After syncing, write Prometheus text-format metrics of every scope here (atomically),
    /// e.g. for node_exporter's textfile collector.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Also ask the Cloud Trace Service who made each change: the VPN traces since the scope's
    /// previous complete run are stored with the run, and `drift` and `history` show each
    /// change's author. Needs the cts:trace:list permission; without it the sync warns once
    /// and goes on. CTS keeps traces for 7 days. (`traces = true` per configured target.)
    #[arg(long)]
    pub with_traces: bool,
    /// Base URL of the Cloud Trace Service, overriding https://cts.{region}.myhuaweicloud.com;
    /// with neither it nor --region, CTS is asked at --endpoint (http:// allowed).
    /// (`cts_endpoint` per configured target.)
    #[arg(long, env = "VPN_INVENTORY_CTS_ENDPOINT", value_name = "URL",
          requires = "with_traces", conflicts_with_all = ["targets", "all"])]
    pub cts_endpoint: Option<String>,
    /// Connections per page (the API allows 200; some dedicated regions up to 2000).
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE_SIZE as i64))]
    pub page_size: u32,
    /// Page requests on the way at once (4 to 8 against a region far away). A re-sync
    /// foresees the markers of the pages to come from the inventory and asks for up to N pages
    /// together; the pages are still read in order, each the answer to the request a
    /// sequential sweep makes, and a wrong guess costs a request, never an answer. After a
    /// retry (a throttled or failing service) the rest of the run asks one at a time.
    #[arg(long, default_value_t = DEFAULT_FETCH_CONCURRENCY, value_name = "N",
          env = "VPN_INVENTORY_FETCH_CONCURRENCY",
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_FETCH_CONCURRENCY)))]
    pub fetch_concurrency: u16,
    /// How to print the run's summary: a line of text, or one JSON object (with targets or
    /// --all: a JSON array, one object per target).
    // `--output` was this flag's first name; cron jobs still use it.
    #[arg(long, alias = "output", value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Exit 2 when the run recorded changes (0: none, 1: error), like terraform plan, and 3
    /// when it stored what it saw but inferred no removals (stderr says why). With `=config`,
    /// only added or removed connections and configuration changes count: a status or BGP
    /// state flap alone exits 0.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "all")]
    pub detailed_exitcode: Option<ExitDetail>,
    /// Infer no removals when a sweep lacks more than this percentage of the connections
    /// its scope held (and more than 5, or all of them): an empty or cut-short answer must not
    /// empty the inventory.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub max_removal_percent: u8,
    /// Trust this sweep's removals however many there are (after a real mass deletion).
    #[arg(long)]
    pub accept_mass_removal: bool,
    /// Continue the sweep of this scope's latest run if it failed or was interrupted after
    /// staging pages, instead of starting again: a new run takes its pages over, asks again
    /// from the last of them, and is judged as one complete sweep. With nothing to continue,
    /// sweeps from the first page (safe in a crontab).
    #[arg(long)]
    pub resume: bool,
    /// How long to wait for another sync of the same scope to finish (and, on PostgreSQL, for
    /// another sync's apply step), e.g. 500ms, 30s, 5m,
    /// 1h or 1h30m; a bare number is seconds. At most 24h.
    #[arg(long, default_value = "5m", value_parser = Wait::parser(Wait::DAY, false))]
    pub lock_timeout: Wait,
    /// With targets or --all: skip a target whose scope completed a run less than this long
    /// ago (e.g. 30m), so several hosts running the same `sync --all` share the work instead of
    /// syncing it twice. A target another process is syncing is always skipped, never waited
    /// for. 0: sync every target that is not being synced.
    #[arg(long, default_value = "0s", value_name = "DURATION",
          value_parser = Wait::parser(Wait::YEAR, false))]
    pub min_interval: Wait,
    /// The longest one run may take, from waiting for its scope's lock to its apply, retries
    /// and waits included (same forms as --lock-timeout); then it stops, is marked failed and
    /// changes nothing (an apply already begun commits first), and sync exits 1. With targets
    /// or --all, each target's run has this long, from when it starts.
    #[arg(long, default_value = "30m", value_parser = Wait::parser(Wait::WEEK, true))]
    pub max_run_time: Wait,
    /// Retries of a page after a transient failure (429 or APIG.0308 throttling, 500, 502,
    /// 503, 504, a timeout, a dropped connection), with exponential backoff from 1s up to 30s
    /// and jitter, or as long as the server's Retry-After says (up to 5m). 0: never retry.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,
    /// The longest wait for one answer of the API, e.g. 30s or 2m.
    #[arg(long, default_value = "60s", value_parser = Wait::parser(Wait::DAY, true))]
    pub request_timeout: Wait,
    /// The largest answer read, e.g. 64MiB or 512KiB (a bare number is bytes): a page of 2,000
    /// connections is about 20 MB, and a bigger or endless answer must not fill memory.
    #[arg(long, default_value = "64MiB")]
    pub max_response_size: Bytes,
}

/// A size in bytes: a number with an optional `KiB`, `MiB` or `GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl std::str::FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(digits);
        let shift = match unit.trim() {
            "" | "B" => 0,
            "KiB" => 10,
            "MiB" => 20,
            "GiB" => 30,
            other => return Err(format!("unknown unit {other:?}: use KiB, MiB or GiB")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{s:?} is not a size like 64MiB"))?;
        n.checked_mul(1 << shift)
            .filter(|&b| b > 0)
            .map(Bytes)
            .ok_or_else(|| format!("{s:?} is not a size from 1 byte to 16 EiB"))
    }
}

/// Which changes `--detailed-exitcode` reports with exit code 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExitDetail {
    /// Every recorded change.
    All,
    /// Added and removed connections and configuration changes, not state alone.
    Config,
}

/// A duration as humantime reads it (`500ms`, `30s`, `5m`, `1h`, `1h 30m`); a bare number is
/// seconds, as it always was here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub std::time::Duration);

impl std::str::FromStr for Wait {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(seconds) = s.parse::<u64>() {
            return Ok(Wait(std::time::Duration::from_secs(seconds)));
        }
        humantime::parse_duration(s).map(Wait).map_err(|e| match e {
            // humantime's own words ("values below 1ns are not supported") miss the point.
            humantime::DurationError::NumberOverflow => format!("{s:?} is too long"),
            e => format!("{s:?} is not a duration like 30s, 5m or 1h: {e}"),
        })
    }
}

impl Wait {
    /// The longest wait a flag takes, with how its message writes it.
    pub const DAY: (std::time::Duration, &'static str) = (Self::days(1), "24h");
    pub const WEEK: (std::time::Duration, &'static str) = (Self::days(7), "7d");
    pub const YEAR: (std::time::Duration, &'static str) = (Self::days(365), "365d");
    pub const CENTURY: (std::time::Duration, &'static str) = (Self::days(36_500), "36500d");

    const fn days(days: u64) -> std::time::Duration {
        std::time::Duration::from_secs(days * 24 * 3600)
    }

    /// A flag's parser: a duration of at most `max` (and not 0 when `positive`), refused as
    /// clap refuses any bad value, so that clap names the flag and the exit code is 64. Past
    /// the bound a wait stops meaning anything (PostgreSQL's lock_timeout ends at about 596h,
    /// a timer or a time of day at some far point) and is a typo.
    pub fn parser(
        (max, shown): (std::time::Duration, &'static str),
        positive: bool,
    ) -> impl Fn(&str) -> Result<Wait, String> + Clone + Send + Sync + 'static {
        move |s| match s.parse::<Wait>() {
            Ok(Wait(wait)) if wait > max => Err(format!("must be at most {shown}")),
            Ok(Wait(wait)) if positive && wait.is_zero() => Err("must be longer than 0".into()),
            Ok(wait) => Ok(wait),
            Err(e) if e.ends_with("is too long") => Err(format!("must be at most {shown}")),
            Err(e) => Err(e),
        }
    }
}

/// How `export` prints the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON array of connections in the API's own shape, every project's mixed.
    Json,
    /// One JSON object: `{"format": "projects", "version": 1, "as_of": ..., "projects":
    /// [{"project_id", "region", "connections": [...]}]}`, one entry per project and region.
    Projects,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The JSON's shape: the connections alone, or grouped by project and region.
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    pub format: ExportFormat,
    /// The inventory as it stood at a point: after a run's apply committed (a run id: 7 or
    /// run:7), after a sync's last apply (sync:3), after the latest apply by a time (24h, 7d,
    /// 30m, a date at midnight UTC, an RFC 3339 time, now), or latest. Every project as it
    /// stood then: applies count in the order they committed (`runs`), not by run id.
    #[arg(long, value_name = "POINT", value_parser = point_arg)]
    pub as_of: Option<AsOf>,
    #[command(flatten)]
    pub project: ProjectTargetArgs,
    /// Only the connections of this region (as the syncing target or `--region` named it).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// How a listing that is no set of records (`status`, `runs`, `config check`) prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Aligned columns for a person.
    Table,
    /// JSON for a script.
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration: every target's endpoint and credentials; exit 1 if any is
    /// wrong.
    Check {
        /// How to print the targets: a table, or one JSON object.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
        /// Also ask each target's API for one connection (`limit=1`, signed as a sync signs):
        /// shows whether its credentials, permission and endpoint work; exit 1 if any fails.
        #[arg(long)]
        probe: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Also delete change records, connection versions and failed runs older than this, e.g.
    /// 400d or 8760h: `drift`, `history` and `export --as-of` then reach back this far.
    #[arg(long, value_parser = Wait::parser(Wait::CENTURY, false))]
    pub older_than: Option<Wait>,
    /// How to print what was deleted: a line of text, or one JSON object.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Args)]
pub struct ForgetScopeArgs {
    /// The scope as `status` shows it, e.g. "0123abcd vgw_id=b6a8d3c1" (the project id, then
    /// each filter as name=value), or its JSON object from `status --format json`.
    pub scope: String,
    /// How long to wait for a running sync of the scope to end (default: refuse at once).
    #[arg(long, default_value = "0s", value_parser = Wait::parser(Wait::DAY, false))]
    pub lock_timeout: Wait,
    /// How to print what was deleted: a line of text, or one JSON object.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// Show each scope in full (project, endpoint and filters) and every failure whole,
    /// however wide the table gets.
    #[arg(long)]
    pub wide: bool,
    /// How to print the database's and each scope's state: tables, or one JSON object.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `--project` and `--target`: one project's, or one configuration target's, answers.
#[derive(Debug, Clone, Default, Args)]
pub struct ProjectTargetArgs {
    /// Only this project: its id, or a unique start of it (tables show the start).
    #[arg(long, value_name = "PROJECT_ID")]
    pub project: Option<String>,
    /// Only this configuration target's (its `name`, as its runs recorded it; runs from flags
    /// have none): its runs and their changes, or for `diff` and `export` the project it syncs.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    /// Only the runs of this sync (one invocation of `sync`).
    #[arg(long, value_name = "ID")]
    pub sync: Option<i64>,
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// Every column, each scope in full (project, endpoint and filters) and notes whole,
    /// however wide the table gets.
    #[arg(long)]
    pub wide: bool,
    /// How to print the runs: a table, a JSON array (one object per run), CSV or a Markdown
    /// table (CSV and Markdown: every column, as `--wide`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..))]
    pub limit: i64,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Stop after this schema version instead of the latest (for staged upgrades).
    #[arg(long)]
    pub target_version: Option<i32>,
}

#[derive(Debug, Clone, Args)]
pub struct DriftArgs {
    /// Change records of this sync: every run of one `sync` (`sync --all`: every target's).
    /// Without --sync, --run, --since or --until: the latest sync that recorded changes (of
    /// the --project or --target, when given).
    #[arg(long, value_name = "ID", conflicts_with_all = ["run", "since", "until"])]
    pub sync: Option<i64>,
    /// Change records of this run (one target's, of one sync).
    #[arg(long, conflicts_with_all = ["since", "until"])]
    pub run: Option<i64>,
    /// Change records detected at or after this time: a time ago (24h, 7d, 30m), a date
    /// (2026-11-20, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Change records detected before this time (same formats as --since).
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this connection: its id, a unique start of its id, or its exact name.
    #[arg(long, value_name = "CONNECTION")]
    pub connection: Option<String>,
    /// Only fields whose dotted path starts with this, e.g. `ikepolicy`, `tags.env`,
    /// `policy_rules[` (added and removed connections have no field).
    #[arg(long, value_name = "PREFIX")]
    pub field: Option<String>,
    /// Only added, removed or modified connections.
    #[arg(long, value_enum)]
    pub change: Option<ChangeArg>,
    /// Only `config` (what operators set) or `state` (status, BGP state) changes.
    #[arg(long, value_enum)]
    pub category: Option<CategoryArg>,
    /// Keep what baseline runs added: a scope's first complete run adds every connection it
    /// finds, which is no drift, so it is left out unless asked for.
    #[arg(long)]
    pub include_baseline: bool,
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// How to print the change records: a table, a JSON array, CSV or a Markdown table.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// A time a person gives on the command line, counted back from now when it is a time ago.
fn time_arg(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    crate::time::parse_time(text, crate::time::now_utc())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChangeArg {
    Added,
    Removed,
    Modified,
}

impl From<ChangeArg> for ChangeKind {
    fn from(c: ChangeArg) -> Self {
        match c {
            ChangeArg::Added => ChangeKind::Added,
            ChangeArg::Removed => ChangeKind::Removed,
            ChangeArg::Modified => ChangeKind::Modified,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CategoryArg {
    Config,
    State,
}

impl From<CategoryArg> for Category {
    fn from(c: CategoryArg) -> Self {
        match c {
            CategoryArg::Config => Category::Config,
            CategoryArg::State => Category::State,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The connection: its id, a unique start of its id, or its exact name (current or
    /// earlier).
    #[arg(value_name = "CONNECTION")]
    pub connection: String,
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// How to print the change records: a table, a JSON array, CSV or a Markdown table.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The inventory to compare from, at a point: after a run's apply committed (a run id: 7
    /// or run:7), after a sync's last apply (sync:3), after the latest apply by a time (24h,
    /// 7d, a date, RFC 3339), or latest. Every project as it stood then: applies count in the
    /// order they committed (`runs`), not by run id.
    #[arg(value_name = "FROM", value_parser = point_arg)]
    pub from: AsOf,
    /// The inventory to compare to (the same forms as FROM).
    #[arg(value_name = "TO", value_parser = point_arg)]
    pub to: AsOf,
    #[command(flatten)]
    pub project: ProjectTargetArgs,
    /// How to print the differences: a table, a JSON array, CSV or a Markdown table.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// A point in history as a person names it (`AsOf::parse`).
fn point_arg(text: &str) -> Result<AsOf, String> {
    AsOf::parse(text, crate::time::now_utc())
}

/// How rows print: reports, change records (`drift`, `history`, `diff`) and `runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a person.
    Table,
    /// A JSON array, one object per row.
    Json,
    /// A header line, then a line per row.
    Csv,
    /// A Markdown table.
    Markdown,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("report").required(true).args(["name", "list", "file"])))]
pub struct ReportArgs {
    /// The built-in report to run (`--list` shows them).
    pub name: Option<String>,
    /// List the built-in reports: name, title and parameters with their defaults.
    #[arg(long)]
    pub list: bool,
    /// Run your own report: one SQL statement, `:name` parameters declared in a header like
    /// those of the built-in ones (`--show-sql` prints one).
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Set a parameter, e.g. `--param since=7d` (repeatable); the others take their defaults.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = name_value)]
    pub params: Vec<(String, String)>,
    /// `--project`, or `--target` (the project its runs synced), sets the report's `project`
    /// parameter, which every built-in report takes.
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// A table, JSON (an array of objects), CSV or Markdown.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Print the report's SQL, header included, instead of running it.
    #[arg(long, conflicts_with = "list")]
    pub show_sql: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy file (TOML) [default: the configuration's `policy`, else the built-in
    /// policy: no 3DES, DES, MD5 or SHA-1, no Diffie-Hellman group below 14].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,
    /// Only violations a change after this point made (a connection added, or the field
    /// changed): a run id, sync:ID, or a time (7d, a date, an RFC 3339 time) meaning the
    /// latest run applied by then.
    #[arg(long, value_name = "RUN|SYNC|TIME")]
    pub new_since: Option<String>,
    /// Only this project's connections (or the project of a configured target).
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// A table, JSON (an array of objects), CSV or Markdown.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The period's start: change records detected at or after this time, a time ago (24h,
    /// 7d), a date (2026-11-20, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub since: chrono::DateTime<chrono::Utc>,
    /// The period's end: records detected before this time (same formats as --since)
    /// [default: now].
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    #[command(flatten)]
    pub only: ProjectTargetArgs,
    /// The policy file (TOML) the policy part holds connections to [default: the
    /// configuration's `policy`, else the built-in policy, as `check`].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,
    /// The document's format.
    #[arg(long, value_enum)]
    pub format: ReviewFormat,
    /// Write the document to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// What `review` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReviewFormat {
    /// Markdown (GitHub-flavoured tables) for a ticket.
    Markdown,
    /// One HTML page with inline CSS and SVG, loading nothing, for a mail or a browser.
    Html,
}

/// `name=value` (the value may hold `=` itself).
fn name_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE, e.g. since=7d")),
    }
}

#[cfg(feature = "simulator")]
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Address to serve on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// How many connections the fake project holds.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Seed of the generated inventory: the same seed serves the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Project id to serve (default: a fixed demo id, printed at start).
    #[arg(long, env = "HUAWEICLOUD_SDK_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Largest page size accepted (the public API: 200; dedicated regions: 2000).
    #[arg(long, default_value_t = MAX_PAGE_SIZE)]
    pub max_page_size: u32,
    /// Create connections in groups of N sharing one created_at (0 or 1: none share).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub ties: usize,
    /// Serve created_at and updated_at in whole seconds, ordering by the full instant.
    #[arg(long)]
    pub whole_seconds: bool,
    /// Wait this many milliseconds before answering each list request (each page), like the
    /// round trip to a real region.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub latency_ms: u64,
}

#[cfg(feature = "simulator")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many connections the simulated project holds.
    #[arg(long, default_value_t = 2000)]
    pub connections: usize,
    /// Seed of the simulated inventory.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Connections per page.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every `--format` says what it does and what each of its values gives.
    #[test]
    fn every_format_flag_and_value_is_described() {
        fn check(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                if arg.get_id() != "format" {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --format has no help");
                for value in arg.get_possible_values() {
                    let name = value.get_name();
                    assert!(value.get_help().is_some(), "{path} --format {name}");
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        let cli = <Cli as clap::CommandFactory>::command();
        check(&cli, "vpn-inventory");
    }

    /// Commands whose output is the same kind take the same `--format` values: rows (reports,
    /// change records, runs), one outcome (sync, prune, forget-scope), a state (status,
    /// config check).
    #[test]
    fn outputs_of_one_kind_take_the_same_formats() {
        let cli = <Cli as clap::CommandFactory>::command();
        let formats = |path: &[&str]| -> Vec<String> {
            let mut command = &cli;
            for name in path {
                command = command.find_subcommand(name).expect(name);
            }
            let format = command.get_arguments().find(|a| a.get_id() == "format");
            let values = format.expect("--format").get_possible_values();
            values.iter().map(|v| v.get_name().to_owned()).collect()
        };
        let kinds: [&[&[&str]]; 3] = [
            &[&["report"], &["drift"], &["history"], &["diff"], &["runs"]],
            &[&["sync"], &["prune"], &["forget-scope"]],
            &[&["status"], &["config", "check"]],
        ];
        for kind in kinds {
            let first = formats(kind[0]);
            for path in &kind[1..] {
                assert_eq!(formats(path), first, "{path:?} and {:?}", kind[0]);
            }
        }
        assert_eq!(formats(&["runs"]), ["table", "json", "csv", "markdown"]);
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!("512KiB".parse(), Ok(Bytes(512 << 10)));
        assert_eq!("64MiB".parse(), Ok(Bytes(64 << 20)));
        assert_eq!("1000".parse(), Ok(Bytes(1000)));
        assert!("0".parse::<Bytes>().is_err());
        assert!("5MB".parse::<Bytes>().unwrap_err().contains("unknown unit"));
        assert!("99999999999999GiB".parse::<Bytes>().is_err());
    }

    #[test]
    fn waits_parse_with_units() {
        assert_eq!("500ms".parse(), Ok(Wait(Duration::from_millis(500))));
        assert_eq!("30".parse(), Ok(Wait(Duration::from_secs(30))));
        assert_eq!("5m".parse(), Ok(Wait(Duration::from_secs(300))));
        assert_eq!("1h".parse(), Ok(Wait(Duration::from_secs(3600))));
        assert_eq!("1h 30m".parse(), Ok(Wait(Duration::from_secs(5400))));
        let err = "5 parsecs".parse::<Wait>().unwrap_err();
        assert!(
            err.contains("not a duration like 30s") && err.contains("parsecs"),
            "{err}"
        );
        assert!("m".parse::<Wait>().is_err());
        assert!("-5s".parse::<Wait>().is_err());
        let lock = Wait::parser(Wait::DAY, false);
        assert_eq!(lock("24h"), Ok(Wait(Duration::from_secs(86_400))));
        assert_eq!(lock("0s"), Ok(Wait(Duration::ZERO)));
        for too_long in [
            "600h",
            "86401",
            "67694426654938024h",
            "99999999999999999999",
        ] {
            assert_eq!(
                lock(too_long),
                Err("must be at most 24h".to_owned()),
                "{too_long}"
            );
        }
        let run_time = Wait::parser(Wait::WEEK, true);
        assert_eq!(run_time("0s"), Err("must be longer than 0".to_owned()));
        assert_eq!(run_time("8d"), Err("must be at most 7d".to_owned()));
    }
}
