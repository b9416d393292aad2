//! `diff` and `export --as-of` at points in history (a run, a sync, a time, latest) when the
//! runs of one `sync --all` over several projects applied in an order other than their ids:
//! a point is every project as it stood when that apply committed.

use crate::support::{Backend, Run, TestEnv, sorted_by_id, target_toml};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use vpn_inventory::drift::{Previous, Verdict, judge};
use vpn_simulator::server::{Faults, SimConfig, generated_inventory};
use vpn_simulator::{RunningSimulator, spawn};

backend_tests!(diff_and_export_at_each_run_of_a_sync_that_applied_out_of_id_order);

const NORTH: &str = "11111111111111111111111111111111";
const SOUTH: &str = "22222222222222222222222222222222";

/// Two projects and three targets: `north` (project NORTH, region cn-north-4), `south`
/// (project SOUTH, an endpoint alone) and
/// `south-gw` (one gateway of SOUTH), each on a simulator of its own so that each can be held
/// and released on its own; `south-gw`'s serves what `south`'s does.
struct Fleet {
    env: TestEnv,
    south: RunningSimulator,
    south_gw: RunningSimulator,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fleet {
    async fn new(backend: Backend) -> Self {
        let north = SimConfig {
            project_id: NORTH.into(),
            ..SimConfig::default()
        };
        let env = TestEnv::with_config(backend, north, generated_inventory(30, 241)).await;
        let south_config = SimConfig {
            project_id: SOUTH.into(),
            ..SimConfig::default()
        };
        let local = ([127, 0, 0, 1], 0).into();
        let south = spawn(local, south_config.clone(), generated_inventory(40, 242))
            .await
            .expect("simulator starts");
        let south_gw = spawn(local, south_config, south.state.inventory())
            .await
            .expect("simulator starts");
        let gateway = south.state.inventory()[0]["vgw_id"]
            .as_str()
            .expect("a vgw_id")
            .to_owned();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("config.toml");
        let target = |name: &str, project: &str, sim: &RunningSimulator, extra: &[&str]| {
            target_toml(name, project, &sim.endpoint(), extra)
        };
        let text = [
            target("north", NORTH, &env.sim, &["region = \"cn-north-4\""]),
            target("south", SOUTH, &south, &[]),
            target(
                "south-gw",
                SOUTH,
                &south_gw,
                &[&format!("vgw_id = \"{gateway}\"")],
            ),
        ]
        .concat();
        std::fs::write(&config, text).expect("write the configuration");
        Self {
            env,
            south,
            south_gw,
            config,
            _dir: dir,
        }
    }

    fn sims(&self) -> [(&str, &RunningSimulator); 3] {
        [
            ("north", &self.env.sim),
            ("south", &self.south),
            ("south-gw", &self.south_gw),
        ]
    }

    /// The binary with the configuration and the credentials its targets name.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut all = vec!["--config", self.config.to_str().expect("a UTF-8 path")];
        all.extend_from_slice(args);
        let mut cmd = self.env.command(&all);
        cmd.env("SIM_AK", &self.env.config.access_key)
            .env("SIM_SK", &self.env.config.secret_key);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.env.run_cmd(self.command(args)).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        self.run(args).await.assert_ok().json()
    }

    /// Changes what every project serves (the gateway's simulator follows its project's).
    fn mutate(&self, seed: u64) {
        self.env.sim.state.mutate(3, seed);
        self.south.state.mutate(3, seed + 1);
        self.south_gw
            .state
            .set_inventory(self.south.state.inventory());
    }

    /// `sync --all` that must succeed.
    async fn sync_all(&self) {
        self.run(&["sync", "--all", "--format", "json"])
            .await
            .assert_ok();
    }

    /// `sync --all` whose runs all start, then apply one at a time in the reverse order of
    /// their ids; returns the runs in apply order with the inventory (`export --format
    /// projects`) as it stood right after each applied.
    async fn sync_all_in_reverse_id_order(&self, sync_id: i64) -> Vec<(i64, Value)> {
        for (_, sim) in self.sims() {
            sim.state.set_faults(Faults {
                hang_page: Some(1),
                ..Faults::default()
            });
        }
        let mut cmd = self.command(&["sync", "--all", "--concurrency", "3"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("sync starts");
        // Every run has started (and has its id) once each simulator holds its first page.
        for (_, sim) in self.sims() {
            sim.state.hanging.notified().await;
        }
        let mut runs = self.runs_of_sync(sync_id).await;
        runs.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut applied = Vec::new();
        for (run_id, target) in runs {
            let (_, sim) = self
                .sims()
                .into_iter()
                .find(|(name, _)| *name == target)
                .unwrap();
            sim.state.release();
            // The summary line of a run is logged once its apply committed.
            let done = format!("run {run_id} complete");
            loop {
                let line = stderr.next_line().await.expect("stderr reads");
                let line = line.unwrap_or_else(|| panic!("sync ended before {done}"));
                if line.contains(&done) {
                    break;
                }
            }
            applied.push((run_id, self.json(&["export", "--format", "projects"]).await));
        }
        let status = child.wait().await.expect("sync ends");
        assert!(status.success(), "sync --all failed: {status}");
        for (_, sim) in self.sims() {
            sim.state.set_faults(Faults::default());
        }
        applied
    }

    /// The runs of sync `sync_id`: (run id, target).
    async fn runs_of_sync(&self, sync_id: i64) -> Vec<(i64, String)> {
        use sqlx::Row;
        const SQL: &str = "SELECT id, target FROM sync_runs WHERE sync_id = $1 ORDER BY id";
        let db = self.env.db().await;
        let runs = on_test_db!(&db, pool => {
            let rows = sqlx::query(SQL).bind(sync_id).fetch_all(pool).await.expect(SQL);
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        });
        db.close().await;
        runs
    }

    /// The runs of sync `sync_id` in the order they applied.
    async fn apply_order(&self, sync_id: i64) -> Vec<i64> {
        use sqlx::Row;
        const SQL: &str = "SELECT id FROM sync_runs WHERE sync_id = $1 ORDER BY apply_seq";
        let db = self.env.db().await;
        let runs = on_test_db!(&db, pool => {
            let rows = sqlx::query(SQL).bind(sync_id).fetch_all(pool).await.expect(SQL);
            rows.iter().map(|r| r.get(0)).collect()
        });
        db.close().await;
        runs
    }

    /// `diff FROM TO` (and `extra`) as (project, connection, change, field) rows.
    async fn diff(&self, from: &str, to: &str, extra: &[&str]) -> BTreeSet<Difference> {
        let mut args = vec!["diff", from, to, "--format", "json"];
        args.extend_from_slice(extra);
        let found = self.json(&args).await;
        let rows = found.as_array().expect("an array");
        rows.iter()
            .map(|d| {
                let text = |key: &str| d[key].as_str().map(str::to_owned);
                (
                    text("project_id").expect("a project"),
                    text("connection_id").expect("a connection"),
                    text("change").expect("a change"),
                    text("field"),
                )
            })
            .collect()
    }
}

/// One row of `diff`: project, connection, change, field.
type Difference = (String, String, String, Option<String>);

/// Each connection of an `export --format projects` by (project, id), checking its wrapper.
fn by_project(export: &Value) -> BTreeMap<(String, String), Value> {
    assert_eq!(
        (&export["format"], &export["version"]),
        (&Value::from("projects"), &Value::from(1))
    );
    let mut connections = BTreeMap::new();
    for group in export["projects"].as_array().expect("projects") {
        let project = group["project_id"].as_str().expect("a project").to_owned();
        assert!(
            group.get("region").is_some(),
            "every group names its region"
        );
        for conn in group["connections"].as_array().expect("connections") {
            let id = conn["id"].as_str().expect("an id").to_owned();
            connections.insert((project.clone(), id), conn.clone());
        }
    }
    connections
}

/// What `diff` must find between two inventories: each connection judged as a sync judges it.
fn expected_diff(
    old: &BTreeMap<(String, String), Value>,
    new: &BTreeMap<(String, String), Value>,
) -> BTreeSet<Difference> {
    let keys: BTreeSet<&(String, String)> = old.keys().chain(new.keys()).collect();
    let mut found = BTreeSet::new();
    for key @ (project, id) in keys {
        let row = |change: &str, field: Option<String>| {
            (project.clone(), id.clone(), change.to_owned(), field)
        };
        match (old.get(key), new.get(key)) {
            (None, Some(_)) => {
                found.insert(row("added", None));
            }
            (Some(_), None) => {
                found.insert(row("removed", None));
            }
            (Some(before), Some(after)) => {
                if let Verdict::Modified(changes) = judge(Previous::Other(before), after) {
                    found.extend(changes.into_iter().map(|c| row("modified", Some(c.field))));
                }
            }
            (None, None) => {}
        }
    }
    found
}

/// `export --as-of POINT` (and `extra`), in the projects format.
async fn export_at(fleet: &Fleet, point: &str, extra: &[&str]) -> Value {
    let mut args = vec!["export", "--format", "projects", "--as-of", point];
    args.extend_from_slice(extra);
    fleet.json(&args).await
}

async fn diff_and_export_at_each_run_of_a_sync_that_applied_out_of_id_order(backend: Backend) {
    let fleet = Fleet::new(backend).await;
    fleet.sync_all().await;
    fleet.mutate(7);
    let applied = fleet.sync_all_in_reverse_id_order(2).await;
    let ids: Vec<i64> = applied.iter().map(|(id, _)| *id).collect();
    assert_eq!(fleet.apply_order(2).await, ids, "applied as released");
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "not in id order: {ids:?}"
    );
    fleet.mutate(8);
    fleet.sync_all().await;
    let latest = by_project(&fleet.json(&["export", "--format", "projects"]).await);
    assert!(latest.keys().any(|(p, _)| p == NORTH) && latest.keys().any(|(p, _)| p == SOUTH));

    let runs = fleet.json(&["runs", "--format", "json"]).await;
    let finished = |run: i64| {
        let row = runs.as_array().unwrap().iter().find(|r| r["run_id"] == run);
        row.and_then(|r| r["finished_at"].as_str())
            .expect("finished")
            .to_owned()
    };
    for (run, stood) in &applied {
        let stood = by_project(stood);
        let point = run.to_string();
        // The inventory after run N: every project as it stood when run N's apply committed.
        let at_run = export_at(&fleet, &point, &[]).await;
        assert_eq!(by_project(&at_run), stood, "export --as-of {run}");
        assert_eq!(at_run["as_of"]["run_id"], *run);
        assert_eq!(
            by_project(&export_at(&fleet, &finished(*run), &[]).await),
            stood
        );
        let as_array = fleet
            .run(&["export", "--as-of", &format!("run:{run}")])
            .await;
        let mut expected: Vec<Value> = stood.values().cloned().collect();
        expected = sorted_by_id(expected);
        assert_eq!(
            sorted_by_id(as_array.assert_ok().json().as_array().unwrap().clone()),
            expected
        );

        let since = fleet.diff(&point, "latest", &[]).await;
        assert_eq!(since, expected_diff(&stood, &latest), "diff {run} latest");
        assert!(since.iter().any(|d| d.0 == NORTH) && since.iter().any(|d| d.0 == SOUTH));
        assert_eq!(
            fleet.diff(&finished(*run), "latest", &[]).await,
            since,
            "by time"
        );
        let north: BTreeSet<Difference> = since.iter().filter(|d| d.0 == NORTH).cloned().collect();
        assert_eq!(
            fleet.diff(&point, "latest", &["--project", NORTH]).await,
            north
        );
        assert_eq!(
            fleet.diff(&point, "latest", &["--target", "north"]).await,
            north
        );
    }

    // After sync 2: when its last run applied.
    let (last, after_sync) = applied.last().unwrap();
    let (last, after_sync) = (last.to_string(), by_project(after_sync));
    assert_eq!(
        by_project(&export_at(&fleet, "sync:2", &[]).await),
        after_sync
    );
    let by_sync = fleet.diff("sync:2", "latest", &[]).await;
    assert_eq!(by_sync, fleet.diff(&last, "latest", &[]).await);
    assert_eq!(
        by_sync,
        fleet
            .diff(&finished(last.parse().unwrap()), "latest", &[])
            .await
    );
    assert_eq!(by_sync, expected_diff(&after_sync, &latest));

    // `export` narrows to a project (by id or target) and a region.
    let south = export_at(&fleet, "sync:2", &["--target", "south-gw"]).await;
    let south_only: BTreeMap<_, _> = after_sync
        .iter()
        .filter(|((p, _), _)| p == SOUTH)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(by_project(&south), south_only);
    let north = export_at(&fleet, "sync:2", &["--region", "cn-north-4"]).await;
    let groups: Vec<(&Value, &Value)> = north["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (&g["project_id"], &g["region"]))
        .collect();
    assert_eq!(groups, [(&Value::from(NORTH), &Value::from("cn-north-4"))]);
    let now = fleet.json(&["export", "--format", "projects"]).await;
    let regions: Vec<&Value> = now["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["region"])
        .collect();
    assert_eq!(
        regions,
        [&Value::from("cn-north-4"), &Value::Null],
        "by project id"
    );
    let unknown_region = export_at(&fleet, "sync:2", &["--region", "xx-nowhere-1"]).await;
    assert_eq!(unknown_region["projects"], Value::Array(Vec::new()));

    // Mistakes are named.
    let unknown = fleet
        .run(&["diff", "1", "latest", "--project", "f00"])
        .await;
    assert_ne!(unknown.code, Some(0));
    assert!(
        unknown
            .stderr
            .contains("--project f00: no project of this inventory"),
        "{}",
        unknown.stderr
    );
    let no_sync = fleet.run(&["diff", "sync:99", "latest"]).await;
    assert!(
        no_sync.stderr.contains("there is no sync 99"),
        "{}",
        no_sync.stderr
    );
    let bad = fleet.run(&["export", "--as-of", "sync:x"]).await;
    assert!(bad.stderr.contains("sync:x"), "{}", bad.stderr);
}
