//! What a sync logs on stderr: one summary line per run at the default level, nothing when
//! quiet, no colours or progress bar when stderr is not a terminal, and with `--log-format
//! json` one object per line naming the run and its target.

use crate::support::{Backend, TestEnv, strict_sweep_pages};
use serde_json::{Value, json};

/// Every stderr line as JSON; a line that is not one fails the test.
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

#[tokio::test]
async fn the_default_level_logs_one_summary_line_per_run() {
    let env = TestEnv::generated(Backend::Sqlite, 12, 31).await;
    let run = env.run(&["sync", "--page-size", "5"]).await;
    run.assert_ok();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", run.stderr);
    let line = lines[0];
    let project = &env.config.project_id;
    for part in [
        "run 1 complete",
        "run_id=1",
        "fetched=12",
        "added=12",
        "removed=0",
        &format!("pages={}", strict_sweep_pages(12, 5)),
        "duration_seconds=",
        &format!("target={project}"),
    ] {
        assert!(line.contains(part), "{part:?} missing: {line}");
    }
    // Not a terminal: no colour, no progress bar, no cursor movement.
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains("page received"));

    let quiet = env.run(&["-q", "sync"]).await;
    quiet.assert_ok();
    assert_eq!(quiet.stderr, "", "-q: nothing on success");
}

#[tokio::test]
async fn json_logs_name_the_run_and_target_on_every_line() {
    let env = TestEnv::generated(Backend::Sqlite, 12, 32).await;
    let run = env
        .run(&[
            "-v",
            "--log-format",
            "json",
            "sync",
            "--page-size",
            "5",
            "--format",
            "json",
        ])
        .await;
    let report = run.assert_ok().json();
    let lines = json_lines(&run.stderr);
    assert!(lines.len() >= 4, "pages and the summary: {}", run.stderr);
    for line in &lines {
        assert_eq!(line["target"], env.config.project_id.as_str(), "{line}");
        assert_eq!(line["run_id"], report["run_id"], "{line}");
        assert!(
            line["message"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let pages = lines.iter().filter(|l| l["message"] == "page received");
    assert_eq!(pages.count(), strict_sweep_pages(12, 5));
    assert!(
        lines.iter().any(|l| l["total_count"] == 12),
        "{}",
        run.stderr
    );

    // A failed run: every line names the target, its error line the run too, and so does
    // the failure record on stdout.
    let mut failing = env.command(&["--log-format", "json", "sync", "--format", "json"]);
    failing.env("HUAWEICLOUD_SDK_SK", "a-wrong-secret-key");
    let failed = env.run_cmd(failing).await;
    assert_eq!(failed.code, Some(1));
    let lines = json_lines(&failed.stderr);
    for line in &lines {
        assert_eq!(line["target"], env.config.project_id.as_str(), "{line}");
    }
    let error = lines.last().expect("an error line");
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["run_id"], 2, "{error}");
    let record = failed.json();
    assert_eq!(
        (&record["run_id"], &record["target"]),
        (&json!(2), &json!(env.config.project_id))
    );
}

#[tokio::test]
async fn concurrent_targets_keep_their_own_run_and_target_on_each_line() {
    let env = TestEnv::generated(Backend::Sqlite, 20, 33).await;
    let gateway = env.first_gateway();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let target = |name: &str, filter: &str| {
        format!(
            "[[targets]]\nname = \"{name}\"\nproject_id = \"{}\"\nendpoint = \"{}\"\n{filter}\n",
            env.config.project_id,
            env.sim.endpoint()
        )
    };
    let text = target("whole", "")
        + &target("gateway", &format!("vgw_id = \"{gateway}\""))
        + &target(
            "no-keys",
            "credentials = { ak_env = \"MISSING_AK\", sk_env = \"MISSING_SK\" }",
        );
    std::fs::write(&config, text).unwrap();
    let args = [
        "-v",
        "--log-format",
        "json",
        "--config",
        config.to_str().unwrap(),
        "sync",
        "--all",
        "--concurrency",
        "2",
        "--page-size",
        "3",
        "--format",
        "json",
    ];
    let run = env.run(&args).await;
    assert_eq!(run.code, Some(1), "one target fails: {}", run.stderr);
    let outcomes = run.json();
    let run_of = |name: &str| {
        let outcomes = outcomes.as_array().unwrap();
        outcomes.iter().find(|o| o["target"] == name).unwrap()["run_id"].clone()
    };
    let lines = json_lines(&run.stderr);
    for name in ["whole", "gateway"] {
        let mine: Vec<&Value> = lines.iter().filter(|l| l["target"] == name).collect();
        assert!(mine.len() >= 2, "{name}: {}", run.stderr);
        for line in mine {
            // Before its run is recorded, a target may wait for SQLite's write lock, which the
            // other target's run holds: that line has no run yet.
            let before_its_run = line["run_id"].is_null()
                && text_of(line).starts_with("waiting up to")
                && text_of(line).contains("write lock");
            if !before_its_run {
                assert_eq!(line["run_id"], run_of(name), "{line}");
            }
        }
    }
    assert!(
        lines.iter().all(|l| l["target"].is_string()),
        "{}",
        run.stderr
    );
}

/// A JSON log line's message.
fn text_of(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}
