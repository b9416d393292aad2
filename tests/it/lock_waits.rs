//! Every wait of a sync is bounded by `--lock-timeout` and gives way to a signal: SQLite's own
//! write lock held by another process, and a PostgreSQL scope lock lost with its session.

use crate::support::{
    Backend, Run, TestEnv, signal_and_wait, spawn_until_stderr_says, sync_held_at_page,
};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use vpn_simulator::Faults;

/// Holds SQLite's write lock (`BEGIN IMMEDIATE`) from another process until stdin closes; with
/// a second argument, first sets that journal mode.
const HOLD_WRITE_LOCK: &str = "import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if len(sys.argv) > 2:
    db.execute('PRAGMA journal_mode = ' + sys.argv[2])
db.execute('BEGIN IMMEDIATE')
print('ready', flush=True)
sys.stdin.read()
db.execute('ROLLBACK')";

/// Another process (python3's sqlite3) holding the write lock of the test's SQLite database.
struct WriteLockHolder(tokio::process::Child);

impl WriteLockHolder {
    /// Returns once the other process holds the lock (it says so on stdout).
    async fn take(env: &TestEnv) -> Self {
        Self::take_in(env, &[]).await
    }

    /// [`WriteLockHolder::take`], first setting the file's journal mode to `mode`, e.g. as a
    /// copy made by a tool that does not use WAL.
    async fn take_in_journal_mode(env: &TestEnv, mode: &str) -> Self {
        Self::take_in(env, &[mode]).await
    }

    async fn take_in(env: &TestEnv, extra: &[&str]) -> Self {
        let url = env.database_url();
        let file = url.strip_prefix("sqlite://").expect("a SQLite database");
        let mut child = tokio::process::Command::new("python3")
            .args(["-c", HOLD_WRITE_LOCK, file])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let stdout = child.stdout.take().expect("stdout");
        let line = BufReader::new(stdout).lines().next_line().await;
        assert_eq!(line.expect("python3's stdout").as_deref(), Some("ready"));
        Self(child)
    }

    async fn release(mut self) {
        let mut stdin = self.0.stdin.take().expect("stdin");
        stdin.shutdown().await.expect("close stdin");
        drop(stdin);
        let status = self.0.wait().await.expect("python3 ends");
        assert!(status.success(), "the lock holder failed: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_s_write_lock_held_elsewhere_bounds_a_sync_by_its_lock_timeout() {
    let env = TestEnv::generated(Backend::Sqlite, 12, 61).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;

    // Held before the sync starts: it gives up after --lock-timeout, naming the lock.
    let holder = WriteLockHolder::take(&env).await;
    let run = env.run(&["sync", "--lock-timeout", "2s"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("SQLite database (it holds the write lock)")
            && run
                .stderr
                .contains("gave up after waiting 2s (--lock-timeout)"),
        "{}",
        run.stderr
    );

    // Taken mid-sweep: staging a page gives up after --lock-timeout; the run cannot be marked
    // failed while the lock is held, and says so.
    holder.release().await;
    let child = sync_held_at_page(&env, 2, &["--page-size", "5", "--lock-timeout", "2s"]).await;
    let holder = WriteLockHolder::take(&env).await;
    env.sim.state.release();
    let run: Run = child.wait_with_output().await.expect("sync ends").into();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the SQLite database's write lock for longer than 2s (--lock-timeout)")
            && run.stderr.contains("still shown running")
            && !run.stderr.contains("pool timed out"),
        "{}",
        run.stderr
    );
    holder.release().await;
    env.sim.state.set_faults(Faults::default());
    assert_eq!(env.inventory_fingerprint().await, before);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["status"], "running", "{runs}");
    let stuck = runs[0]["run_id"].clone();

    // The next sync of the scope finds it stale and marks it abandoned.
    env.sync(&[]).await;
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let stuck = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == stuck)
        .expect("the stuck run");
    assert_eq!(stuck["status"], "failed");
    assert!(
        stuck["error"].as_str().unwrap().starts_with("abandoned"),
        "{stuck}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_ends_a_wait_for_sqlite_s_write_lock() {
    let env = TestEnv::generated(Backend::Sqlite, 6, 62).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;
    let holder = WriteLockHolder::take(&env).await;

    let args = ["-v", "sync", "--lock-timeout", "1h"];
    let (mut waiting, said) = spawn_until_stderr_says(&env, &args, "waiting up to").await;
    assert!(
        said.last()
            .is_some_and(|l| l.contains("up to 1h for the SQLite database's write lock")),
        "the sync never said it waits: {said:?}"
    );
    // SIGTERM exits 143, as a shell reports a process it ended.
    assert_eq!(signal_and_wait(&mut waiting, "-TERM").await, Some(143));

    holder.release().await;
    assert_eq!(env.inventory_fingerprint().await, before);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "running"),
        "{runs}"
    );
}

/// Opening a file in rollback-journal mode while another process writes it fails at once
/// inside SQLite (switching to WAL cannot wait there): a sync waits that out as it waits for
/// the write lock, and goes on once the writer is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_database_another_process_is_writing_waits_for_it() {
    let env = TestEnv::generated(Backend::Sqlite, 6, 63).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;

    let holder = WriteLockHolder::take_in_journal_mode(&env, "DELETE").await;
    let run = env.run(&["sync", "--lock-timeout", "1s"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "gave up after waiting 1s for the SQLite database (another process holds its lock)"
        ),
        "{}",
        run.stderr
    );

    // A signal ends that wait, before any run is recorded.
    let args = ["-v", "sync", "--lock-timeout", "1h"];
    let (mut waiting, said) = spawn_until_stderr_says(&env, &args, "waiting up to").await;
    assert!(
        said.last()
            .is_some_and(|l| l.contains("up to 1h to open the SQLite database")),
        "the sync never said it waits: {said:?}"
    );
    assert_eq!(signal_and_wait(&mut waiting, "-TERM").await, Some(143));
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");

    let (waiting, _) = spawn_until_stderr_says(&env, &args, "waiting up to").await;
    holder.release().await;
    let run: Run = waiting.wait_with_output().await.expect("sync ends").into();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(env.inventory_fingerprint().await, before);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
    assert_eq!(runs[0]["status"], "complete", "{runs}");
}

/// The session holding a sync's scope lock is terminated mid-sweep, and nobody takes the
/// scope over: the run cannot prove the scope is still its own, so it applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_postgres_lock_session_ended_applies_nothing() {
    let env = TestEnv::generated(Backend::Postgres, 12, 63).await;
    let child = sync_held_at_page(&env, 2, &["--page-size", "5"]).await;
    let db = env.db().await;
    // The sync's scope lock is the only advisory lock held in this database mid-sweep; the
    // terminated backend is gone when this returns (it waits up to 10 s for that).
    let terminated = db
        .scalar(
            "SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_locks
             WHERE locktype = 'advisory' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await;
    assert_eq!(terminated, 1, "the lock holder's session");
    db.close().await;
    env.sim.state.release();
    let run: Run = child.wait_with_output().await.expect("sync ends").into();
    assert_eq!(
        run.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("lost the lock on scope")
            && run.stderr.contains("its database session ended"),
        "{}",
        run.stderr
    );
    env.sim.state.set_faults(Faults::default());
    assert!(env.export().await.is_empty(), "the run applied");
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["status"], "failed");
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .contains("lost the lock on scope"),
        "{runs}"
    );
    assert_eq!(
        env.sync(&[]).await["added"],
        12,
        "the next run starts clean"
    );
}
