//! Test fixtures: a simulator on a free loopback port, a fresh database, and a way to run the
//! binary against them.

use serde_json::Value;
use std::process::Output;
use vpn_inventory::simulate::server::{SimConfig, generated_inventory};
use vpn_inventory::simulate::{RunningSimulator, spawn};

pub struct TestEnv {
    pub sim: RunningSimulator,
    pub config: SimConfig,
    dir: tempfile::TempDir,
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
    /// A simulator serving `inventory` and an empty database directory.
    pub async fn with_inventory(inventory: Vec<Value>) -> Self {
        let config = SimConfig::default();
        let sim = spawn(([127, 0, 0, 1], 0).into(), config.clone(), inventory)
            .await
            .expect("simulator starts");
        Self {
            sim,
            config,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub async fn generated(connections: usize, seed: u64) -> Self {
        Self::with_inventory(generated_inventory(connections, seed)).await
    }

    pub fn database_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.dir.path().join("inventory.db").display()
        )
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
        cmd.env("VPN_INVENTORY_DATABASE", self.database_url())
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

    /// `sync --output json` that must succeed; returns its report.
    pub async fn sync(&self, extra: &[&str]) -> Value {
        let mut args = vec!["sync", "--output", "json"];
        args.extend_from_slice(extra);
        self.run(&args).await.assert_ok().json()
    }

    pub async fn export(&self) -> Vec<Value> {
        match self.run(&["export"]).await.assert_ok().json() {
            Value::Array(items) => items,
            other => panic!("export is not an array: {other}"),
        }
    }

    pub async fn pool(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&self.database_url())
            .await
            .expect("open test database")
    }

    /// Everything a failed run must leave untouched: the export and every connection row.
    pub async fn inventory_fingerprint(&self) -> (Vec<Value>, Vec<(String, String, i64)>) {
        use sqlx::Row;
        let pool = self.pool().await;
        let rows = sqlx::query(
            "SELECT id, content_hash, last_changed_run_id FROM connections ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("query connections");
        let rows = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        pool.close().await;
        (sorted_by_id(self.export().await), rows)
    }
}

/// What export must return for `served`: the same objects without null fields, by id.
pub fn expected_export(served: &[Value]) -> Vec<Value> {
    sorted_by_id(
        served
            .iter()
            .map(vpn_inventory::api::model::without_nulls)
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
