//! Runs at the same time: one at a time per scope, any number across scopes.

use crate::support::{
    Backend, Run, TestEnv, assert_same_connections, expected_export, signal_and_wait, sorted_by_id,
    spawn_until_stderr_says, sync_held_at_page,
};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use vpn_inventory::store::{DatabaseUrl, Store};
use vpn_simulator::Faults;

backend_tests!(
    a_second_sync_of_a_scope_waits_then_gives_up_and_a_crash_leaves_no_stale_lock,
    syncs_of_different_scopes_run_concurrently_and_correctly,
    a_run_marked_abandoned_by_another_process_applies_nothing,
    a_killed_run_is_marked_abandoned_by_the_next_sync_of_any_scope,
    waiting_for_another_apply_honours_the_lock_timeout_and_signals,
);

/// The files beside a SQLite database other than the database and SQLite's own (`-wal`,
/// `-shm`, `-journal`): its lock files. None for PostgreSQL.
fn lock_files_beside_the_database(env: &TestEnv) -> Vec<String> {
    let url = env.database_url();
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Vec::new();
    };
    let path = std::path::Path::new(path);
    let db_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| {
            let own = ["", "-wal", "-shm", "-journal"].map(|suffix| format!("{db_name}{suffix}"));
            !own.contains(name)
        })
        .collect();
    names.sort();
    names
}

async fn a_second_sync_of_a_scope_waits_then_gives_up_and_a_crash_leaves_no_stale_lock(
    backend: Backend,
) {
    let env = TestEnv::generated(backend, 12, 51).await;
    env.sim.state.set_faults(Faults {
        hang_page: Some(2),
        ..Faults::default()
    });
    let mut first = env.command(&["sync", "--page-size", "5"]);
    first.stdout(Stdio::null()).stderr(Stdio::null());
    let mut first = first.spawn().unwrap();
    // The first sync holds the scope's lock and is mid-sweep.
    env.sim.state.hanging.notified().await;

    let second = env.run(&["sync", "--lock-timeout", "1s"]).await;
    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(
        second.stderr.contains("another sync of this scope")
            && second.stderr.contains("--lock-timeout"),
        "{}",
        second.stderr
    );
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "the refused sync recorded no run"
    );
    assert_eq!(runs[0]["status"], "running");

    // A filtered scope of the same project is another scope: it does not wait.
    let vgw = env.sim.state.inventory()[0]["vgw_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.sim.state.set_faults(Faults::default());
    let other = env
        .run(&[
            "sync",
            "--vgw-id",
            &vgw,
            "--lock-timeout",
            "1s",
            "--output",
            "json",
        ])
        .await;
    let other = other.assert_ok().json();

    // The first dies without cleaning up; the next cron run neither waits nor trips on it.
    first.kill().await.unwrap();
    first.wait().await.unwrap();
    let next = env
        .run(&["sync", "--output", "json", "--lock-timeout", "20s"])
        .await;
    // One inventory: what the gateway's scope added is not added again.
    let added = next.assert_ok().json()["added"].as_u64().unwrap();
    assert_eq!(added + other["added"].as_u64().unwrap(), 12);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let abandoned = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == runs[0]["run_id"].as_i64().unwrap() - 2)
        .unwrap();
    assert_eq!(abandoned["status"], "failed");
    assert!(
        abandoned["error"]
            .as_str()
            .unwrap()
            .starts_with("abandoned"),
        "{abandoned}"
    );
}

async fn syncs_of_different_scopes_run_concurrently_and_correctly(backend: Backend) {
    let env = TestEnv::generated(backend, 90, 52).await;
    let served = env.sim.state.inventory();
    let mut gateways = env.gateways();
    gateways.truncate(3);
    let mut scopes: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| vec!["--vgw-id".to_owned(), g.clone()])
        .collect();
    scopes.push(Vec::new());
    // Small pages: many staging transactions from every process interleave.
    let children: Vec<_> = scopes
        .iter()
        .map(|filter| {
            let mut args = vec!["sync", "--output", "json", "--page-size", "3"];
            args.extend(filter.iter().map(String::as_str));
            let mut cmd = env.command(&args);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    // One inventory: whichever run applies first adds a connection, and only that one.
    let mut added = 0;
    for (child, filter) in children.into_iter().zip(&scopes) {
        let run: Run = child.wait_with_output().await.unwrap().into();
        let report = run.assert_ok().json();
        let selected = match filter.get(1) {
            Some(gateway) => served
                .iter()
                .filter(|c| c["vgw_id"] == gateway.as_str())
                .count(),
            None => served.len(),
        };
        assert_eq!(report["fetched"].as_u64(), Some(selected as u64));
        added += report["added"].as_u64().unwrap();
    }
    assert_eq!(added, served.len() as u64);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let statuses: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, vec!["complete"; 4]);
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    // Four scopes' locks and the applies' lock: one lock file, not one per lock, left behind.
    let expected: Vec<String> = match backend {
        Backend::Sqlite => vec!["inventory.db.lock".to_owned()],
        Backend::Postgres => Vec::new(),
    };
    assert_eq!(lock_files_beside_the_database(&env), expected);
}

/// The locks in one lock file hold within a process too (as between `sync --all`'s targets):
/// the same lock is refused to a second holder, another lock is not, and closing frees it.
#[tokio::test]
async fn locks_sharing_one_file_exclude_each_other_within_a_process() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 57).await;
    let url = DatabaseUrl::parse(&env.database_url()).expect("database URL");
    let store = Store::open(&url).await.expect("open the inventory");
    let applying = store
        .lock_applies(Duration::ZERO)
        .await
        .expect("apply lock");
    let again = store.lock_applies(Duration::ZERO).await;
    assert!(again.is_err(), "the apply lock was taken twice");
    let scope = vpn_inventory::scope::Scope::new(
        &env.sim.endpoint(),
        None,
        &env.config.project_id,
        Default::default(),
    );
    let scope_lock = store.lock_scope(&scope, Duration::ZERO).await;
    let scope_lock = scope_lock.expect("another lock of the same file");
    assert!(store.lock_scope(&scope, Duration::ZERO).await.is_err());
    applying.release().await;
    let again = store.lock_applies(Duration::ZERO).await.expect("freed");
    again.release().await;
    scope_lock.release().await;
    store.close().await;
    assert_eq!(lock_files_beside_the_database(&env), ["inventory.db.lock"]);
}

/// Lock files do not pile up (issue 25): after syncs of several scopes and `forget-scope`, the
/// database has one lock file. The `<database>.lock-<hex>` files development builds left, one
/// per lock, go as this build first locks the database; one a development build still holds
/// stays, and so does a file of another pattern.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn one_lock_file_remains_after_syncs_of_scopes_and_forget_scope() {
    let env = TestEnv::generated(Backend::Sqlite, 12, 58).await;
    let url = env.database_url();
    let dir = std::path::Path::new(url.strip_prefix("sqlite://").unwrap())
        .parent()
        .unwrap()
        .to_owned();
    let old = |suffix: &str| dir.join(format!("inventory.db.lock-{suffix}"));
    for hex in ["0123456789abcdef", "fedcba9876543210"] {
        std::fs::write(old(hex), "").unwrap();
    }
    let held = std::fs::File::create(old("00000000000000ff")).unwrap();
    held.try_lock().expect("a development build's lock");
    std::fs::write(old("notes"), "").unwrap();

    let gateway = env.first_gateway();
    env.sync(&[]).await;
    env.sync(&["--vgw-id", &gateway]).await;
    let project = env.config.project_id.clone();
    let named = format!("{project} vgw_id={gateway}");
    env.run(&["forget-scope", &named]).await.assert_ok();
    env.sync(&[]).await;
    let expected = [
        "inventory.db.lock",
        "inventory.db.lock-00000000000000ff",
        "inventory.db.lock-notes",
    ];
    assert_eq!(lock_files_beside_the_database(&env), expected);
    drop(held);
}

/// A run whose lock was lost (its PostgreSQL session killed, say) is marked abandoned by the
/// process that took the scope over; when it comes back it must not apply its sweep.
async fn a_run_marked_abandoned_by_another_process_applies_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 53).await;
    let child = sync_held_at_page(&env, 2, &["--page-size", "5"]).await;
    // What the next holder of the scope's lock does to a run it finds still running.
    let db = env.db().await;
    db.execute_script(
        "UPDATE sync_runs SET status = 'failed', error = 'abandoned: taken over' \
         WHERE status = 'running'",
    )
    .await;
    db.close().await;
    env.sim.state.release();
    let run: Run = child.wait_with_output().await.expect("sync ends").into();
    assert_eq!(run.code, Some(1), "stdout: {}", run.stdout);
    assert!(run.stderr.contains("applies nothing"), "{}", run.stderr);
    env.sim.state.set_faults(Faults::default());
    assert!(env.export().await.is_empty(), "the abandoned run applied");
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(
        env.sync(&[]).await["added"],
        12,
        "the next run starts clean"
    );
}

async fn a_killed_run_is_marked_abandoned_by_the_next_sync_of_any_scope(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 54).await;
    // While page 5 is asked for, page 1 is staged (page 2 is staged while page 3 is fetched
    // and prepared, and page 4 may be asked for before page 3 is read).
    env.sim.state.set_faults(Faults {
        hang_page: Some(5),
        ..Faults::default()
    });
    let mut killed = env.command(&["sync", "--page-size", "3"]);
    killed.stdout(Stdio::null()).stderr(Stdio::null());
    let mut killed = killed.spawn().expect("sync starts");
    env.sim.state.hanging.notified().await;
    killed.kill().await.expect("kill -9");
    env.sim.state.set_faults(Faults::default());
    // Another scope's sync (here: one gateway) finds the dead run and marks it.
    let gateway = env.sim.state.inventory()[0]["vgw_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.sync(&["--vgw-id", &gateway]).await;
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let dead = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == 1)
        .unwrap();
    assert_eq!(dead["status"], "failed");
    assert!(
        dead["error"].as_str().unwrap().starts_with("abandoned"),
        "{dead}"
    );
    // What it staged stays for `sync --resume` of its scope, until a run of that scope ends.
    let db = env.db().await;
    let staged = "SELECT COUNT(*) FROM staged_connections WHERE run_id = 1";
    assert!(db.scalar(staged).await >= 3);
    env.sync(&[]).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM staged_connections").await,
        0
    );
    db.close().await;
}

/// Another process's apply holds the database (through the library, as the binary does):
/// a sync waiting to apply gives up after `--lock-timeout`, and a signal ends its wait.
async fn waiting_for_another_apply_honours_the_lock_timeout_and_signals(backend: Backend) {
    let env = TestEnv::generated(backend, 6, 55).await;
    let url = DatabaseUrl::parse(&env.database_url()).expect("database URL");
    let store = Store::open(&url).await.expect("open the inventory");
    // On SQLite the other apply's write transaction would also hold up this sync's staging
    // (for its busy timeout); the lock that serializes applies is what is under test.
    let other = match backend {
        Backend::Sqlite => Ok(store
            .lock_applies(Duration::ZERO)
            .await
            .expect("apply lock")),
        Backend::Postgres => Err(store
            .begin_apply(Duration::from_secs(5))
            .await
            .expect("the other apply")),
    };

    let timed_out = env.run(&["sync", "--lock-timeout", "1s"]).await;
    assert_eq!(timed_out.code, Some(1));
    assert!(
        timed_out.stderr.contains("busy applying"),
        "{}",
        timed_out.stderr
    );

    // Until the sync says it waits for the other apply.
    let (mut waiting, said) =
        spawn_until_stderr_says(&env, &["-v", "sync"], "for another run's apply").await;
    assert!(
        said.last().is_some_and(|l| l.contains("waiting up to")),
        "the sync never said it waits: {said:?}"
    );
    assert_eq!(signal_and_wait(&mut waiting, "-INT").await, Some(130));

    drop(other);
    store.close().await;
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    // Marked failed, or (when the other apply kept the database busy) left for the next sync.
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "complete"),
        "{runs}"
    );
    assert_eq!(env.sync(&[]).await["added"], 6);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let finished = runs.as_array().unwrap().iter().skip(1);
    assert!(
        finished.into_iter().all(|r| r["status"] == "failed"),
        "{runs}"
    );
}
