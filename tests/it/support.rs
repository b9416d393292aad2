//! Test fixtures: a simulator on a free loopback port, a fresh database, and a way to run the
//! binary against them.
//!
//! Every storage test is an ordinary `async fn name(backend: Backend)`; `backend_tests!` gives
//! it a `sqlite` and a `postgres` case. `TestEnv` creates a fresh SQLite file or PostgreSQL
//! database (dropped afterwards) for the backend it is given. PostgreSQL is the server at
//! `VPN_INVENTORY_TEST_POSTGRES` (default postgres://postgres@127.0.0.1:5432/postgres).

use serde_json::Value;
use sqlx::Connection;
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use vpn_inventory::store::DatabaseUrl;
use vpn_simulator::server::{SimConfig, generated_inventory};
use vpn_simulator::{RunningSimulator, spawn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares the `sqlite` and `postgres` cases of ordinary `async fn name(backend: Backend)`
/// tests: `backend_tests!(name_a, name_b);` gives `name_a::sqlite`, `name_a::postgres`, ...
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::support::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }
        }
    )+};
}

fn postgres_admin_url() -> String {
    std::env::var("VPN_INVENTORY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The PostgreSQL test server, or a panic saying how to start one or where to point the tests.
async fn connect_postgres_admin() -> sqlx::PgConnection {
    let url = postgres_admin_url();
    match sqlx::PgConnection::connect(&url).await {
        Ok(admin) => admin,
        Err(e) => {
            // The URL without its password, if it has one.
            let shown = DatabaseUrl::parse(&url).map_or_else(
                |_| "VPN_INVENTORY_TEST_POSTGRES".to_owned(),
                |u| u.to_string(),
            );
            panic!(
                "PostgreSQL test server not reachable at {shown} ({e}): start it \
                 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) \
                 or set VPN_INVENTORY_TEST_POSTGRES to a server's admin URL"
            )
        }
    }
}

/// A database of one backend for one test.
enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { name: String },
}

impl TestDatabase {
    async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::Sqlite(tempfile::tempdir().expect("temp dir")),
            Backend::Postgres => {
                static COUNTER: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "vpninv_test_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                );
                let mut admin = connect_postgres_admin().await;
                for sql in [
                    format!("DROP DATABASE IF EXISTS {name}"),
                    format!("CREATE DATABASE {name}"),
                ] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await
                        .expect("create test database");
                }
                Self::Postgres { name }
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("inventory.db").display()),
            Self::Postgres { name } => {
                let admin = postgres_admin_url();
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { name } = self {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // Drop cannot await: a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await?;
                    Ok::<_, sqlx::Error>(())
                })
                .map_err(std::io::Error::other)
            })
            .join();
        }
    }
}

/// A direct connection to the test database, for assertions the CLI cannot make.
pub enum TestDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds.
#[macro_export]
macro_rules! on_test_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::support::TestDb::Sqlite($pool) => $body,
            $crate::support::TestDb::Postgres($pool) => $body,
        }
    };
}

impl TestDb {
    /// The first column of the first row, as an integer.
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        on_test_db!(self, pool => sqlx::query(sql).fetch_one(pool).await.expect(sql).get(0))
    }

    /// The first column of the first row, as text.
    pub async fn text(&self, sql: &'static str) -> String {
        use sqlx::Row;
        on_test_db!(self, pool => sqlx::query(sql).fetch_one(pool).await.expect(sql).get(0))
    }

    /// Runs a script of several statements as it is (fixtures).
    pub async fn execute_script(&self, script: &str) {
        let script = sqlx::AssertSqlSafe(script.to_owned());
        let done = on_test_db!(self, pool => sqlx::raw_sql(script).execute(pool).await.map(drop));
        done.expect("the script runs");
    }

    pub async fn close(&self) {
        on_test_db!(self, pool => pool.close().await)
    }
}

pub struct TestEnv {
    pub sim: RunningSimulator,
    pub config: SimConfig,
    database: TestDatabase,
}

/// Result of one run of the binary.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl TestEnv {
    /// A simulator serving `inventory` and a fresh, empty database of `backend`.
    pub async fn with_inventory(backend: Backend, inventory: Vec<Value>) -> Self {
        Self::with_config(backend, SimConfig::default(), inventory).await
    }

    /// [`TestEnv::with_inventory`] with a simulator configured as `config`.
    pub async fn with_config(backend: Backend, config: SimConfig, inventory: Vec<Value>) -> Self {
        let sim = spawn(([127, 0, 0, 1], 0).into(), config.clone(), inventory)
            .await
            .expect("simulator starts");
        Self {
            sim,
            config,
            database: TestDatabase::create(backend).await,
        }
    }

    /// A simulator serving these JSON texts as they are (`SimState::set_verbatim_inventory`)
    /// and a fresh, empty database of `backend`.
    pub async fn with_verbatim_inventory(backend: Backend, connections: Vec<String>) -> Self {
        let env = Self::with_inventory(backend, Vec::new()).await;
        env.sim.state.set_verbatim_inventory(connections);
        env
    }

    pub async fn generated(backend: Backend, connections: usize, seed: u64) -> Self {
        Self::with_inventory(backend, generated_inventory(connections, seed)).await
    }

    /// The gateway (`vgw_id`) of the first connection served, for a filtered scope.
    pub fn first_gateway(&self) -> String {
        let served = self.sim.state.inventory();
        served[0]["vgw_id"].as_str().expect("a vgw_id").to_owned()
    }

    /// The gateways of the served connections, sorted, each once.
    pub fn gateways(&self) -> Vec<String> {
        let served = self.sim.state.inventory();
        let mut gateways: Vec<String> = served
            .iter()
            .map(|c| c["vgw_id"].as_str().expect("a vgw_id").to_owned())
            .collect();
        gateways.sort();
        gateways.dedup();
        gateways
    }

    pub fn database_url(&self) -> String {
        self.database.url()
    }

    /// The binary with the test's database, endpoint, project and credentials, and nothing
    /// from the developer's own environment.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vpn-inventory"));
        for (name, _) in std::env::vars() {
            if name.starts_with("HUAWEICLOUD_") || name.starts_with("VPN_INVENTORY_") {
                cmd.env_remove(name);
            }
        }
        // No configuration file or data directory of the developer's own.
        cmd.env("XDG_CONFIG_HOME", "/nonexistent/vpn-inventory-tests")
            .env("XDG_DATA_HOME", "/nonexistent/vpn-inventory-tests")
            .env("VPN_INVENTORY_DATABASE", self.database_url())
            .env("VPN_INVENTORY_ENDPOINT", self.sim.endpoint())
            .env("HUAWEICLOUD_SDK_PROJECT_ID", &self.config.project_id)
            .env("HUAWEICLOUD_SDK_AK", &self.config.access_key)
            .env("HUAWEICLOUD_SDK_SK", &self.config.secret_key)
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_cmd(self.command(args)).await
    }

    pub async fn run_cmd(&self, mut cmd: tokio::process::Command) -> Run {
        cmd.output().await.expect("binary runs").into()
    }

    /// The change kinds `history` shows for connection `id`, oldest first, a modification's
    /// records (one per field) once.
    pub async fn history_kinds(&self, id: &str) -> Vec<String> {
        let history = self.run(&["history", id, "--format", "json"]).await.json();
        let kinds = history.as_array().unwrap().iter();
        let kinds = kinds.map(|r| r["change"].as_str().unwrap().to_owned());
        let mut kinds: Vec<String> = kinds.collect();
        kinds.dedup();
        kinds
    }

    /// `sync --output json` that must succeed; returns its report.
    pub async fn sync(&self, extra: &[&str]) -> Value {
        let mut args = vec!["sync", "--output", "json"];
        args.extend_from_slice(extra);
        self.run(&args).await.assert_ok().json()
    }

    /// `export` with `args`, each connection read as `vpn_inventory::json` reads it (serde_json
    /// refuses a lone surrogate and respells exponents).
    pub async fn export_exact(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["export"];
        all.extend_from_slice(args);
        let run = self.run(&all).await;
        match vpn_inventory::json::parse(&run.assert_ok().stdout) {
            Ok(Value::Array(items)) => items,
            other => panic!("export is not a JSON array: {other:?}\n{}", run.stdout),
        }
    }

    pub async fn export(&self) -> Vec<Value> {
        match self.run(&["export"]).await.assert_ok().json() {
            Value::Array(items) => items,
            other => panic!("export is not an array: {other}"),
        }
    }

    pub async fn db(&self) -> TestDb {
        let url = self.database_url();
        match self.backend() {
            Backend::Sqlite => TestDb::Sqlite(
                sqlx::SqlitePool::connect(&url)
                    .await
                    .expect("open test database"),
            ),
            Backend::Postgres => TestDb::Postgres(
                sqlx::PgPool::connect(&url)
                    .await
                    .expect("open test database"),
            ),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.database {
            TestDatabase::Sqlite(_) => Backend::Sqlite,
            TestDatabase::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Everything a failed run must leave untouched: the export and every connection row.
    pub async fn inventory_fingerprint(&self) -> Fingerprint {
        use sqlx::Row;
        const SQL: &str =
            "SELECT id, content_hash, last_changed_run_id FROM connections ORDER BY id";
        let db = self.db().await;
        let rows = on_test_db!(&db, pool => {
            let rows = sqlx::query(SQL).fetch_all(pool).await.expect(SQL);
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
        });
        db.close().await;
        (sorted_by_id(self.export().await), rows)
    }
}

/// Starts the binary with `args` (its stdout ignored) and reads its stderr until a line
/// contains `needle`, or it ends; returns the child and the lines read (the last one is
/// `needle`'s, if it came). The rest of stderr is read on, so that the child never blocks.
pub async fn spawn_until_stderr_says(
    env: &TestEnv,
    args: &[&str],
    needle: &str,
) -> (tokio::process::Child, Vec<String>) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = env.command(args);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut said = Vec::new();
    while let Some(line) = stderr.next_line().await.expect("stderr line") {
        let found = line.contains(needle);
        said.push(line);
        if found {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    (child, said)
}

/// Starts `sync` with `args` (stdout and stderr piped) and returns once the simulator holds
/// its request for page `page` (`Faults::hang_page`, until `SimState::release`): mid-sweep.
pub async fn sync_held_at_page(env: &TestEnv, page: u64, args: &[&str]) -> tokio::process::Child {
    env.sim.state.set_faults(vpn_simulator::Faults {
        hang_page: Some(page),
        ..vpn_simulator::Faults::default()
    });
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    let mut cmd = env.command(&all);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("sync starts");
    env.sim.state.hanging.notified().await;
    child
}

/// Sends `signal` (`-INT`, `-TERM`) to `child`; returns its exit code once it ends.
pub async fn signal_and_wait(child: &mut tokio::process::Child, signal: &str) -> Option<i32> {
    let pid = child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args([signal, &pid])
        .status();
    assert!(kill.expect("kill").success());
    child.wait().await.expect("the binary ends").code()
}

/// The export and every connection row's id, content hash and last changing run.
pub type Fingerprint = (Vec<Value>, Vec<(String, String, i64)>);

/// What export must return for `served`: the same objects without null fields, by id.
/// One `[[targets]]` entry of a test configuration, keyed as the simulators are: its
/// credentials are read from `SIM_AK` and `SIM_SK`. `extra` holds further lines as written
/// (`vgw_id = "..."`, `region = "..."`), each ending in a line break or not.
pub fn target_toml(name: &str, project: &str, endpoint: &str, extra: &[&str]) -> String {
    let extra: String = extra
        .iter()
        .map(|line| format!("{}\n", line.trim_end()))
        .collect();
    format!(
        "[[targets]]\nname = \"{name}\"\nproject_id = \"{project}\"\nendpoint = \"{endpoint}\"\n\
         {extra}credentials = {{ ak_env = \"SIM_AK\", sk_env = \"SIM_SK\" }}\n\n"
    )
}

pub fn expected_export(served: &[Value]) -> Vec<Value> {
    sorted_by_id(
        served
            .iter()
            .map(vpn_simulator::wire::without_nulls)
            .collect(),
    )
}

pub fn sorted_by_id(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    items
}

/// Asserts equality of two connection lists, naming the first connection that differs.
#[track_caller]
pub fn assert_same_connections(actual: &[Value], expected: &[Value]) {
    assert_eq!(actual.len(), expected.len(), "number of connections");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(a, e, "connection {} differs", e["id"]);
    }
}

/// How many pages a sweep of `connections` with distinct `created_at`s takes from the
/// simulator (a strict marker) at `page_size`: the first page; the answer to its marker as
/// served, which shows the service is strict; then pages asked from one step after each
/// boundary, which overlap the page before by its last connection, until a short one. At page
/// size 1 every page is one instant, which is passed as served: one page per connection and an
/// empty one.
pub fn strict_sweep_pages(connections: usize, page_size: usize) -> usize {
    let (n, size) = (connections, page_size);
    match size {
        1 => n + 1,
        _ if n < size => 1,
        // Recovery pages start at the n-th connection and move on by size - 1 each.
        _ => {
            2 + (n + 1)
                .checked_sub(2 * size)
                .map_or(0, |d| d / (size - 1) + 1)
                + 1
        }
    }
}

/// The schema version this build migrates to: the highest `V<n>__` in `migrations/sqlite`.
pub fn latest_schema_version() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    std::fs::read_dir(dir)
        .expect("migrations directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix('V')?.split_once("__")?.0.parse().ok()
        })
        .max()
        .expect("a migration")
}
