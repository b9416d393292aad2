//! Credentials stay where they belong: no redirect carries them elsewhere, and an endpoint,
//! region or credential that could send them astray is refused before anything is recorded.
//! The inventory file is private, and asking for a run that recorded nothing says why. What a
//! server sends can neither drive the terminal nor pass one id off as another. No message shows
//! a secret, whatever library's text carries it, and each error is one clear line naming what
//! to change.

use crate::support::{Backend, TestEnv, target_toml};
use vpn_simulator::server::generated_inventory;
use vpn_simulator::{Faults, SimConfig};

backend_tests!(
    drift_of_an_unknown_or_failed_run_says_so,
    characters_that_reorder_or_hide_an_id_are_shown_escaped,
);

/// The runs the database holds; 0 when no command created it.
async fn recorded_runs(env: &TestEnv) -> usize {
    let run = env.run(&["runs", "--format", "json"]).await;
    if run.stderr.contains("there is no inventory") {
        return 0;
    }
    run.assert_ok().json().as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_redirect_is_refused_and_the_other_host_gets_nothing() {
    let env = TestEnv::generated(Backend::Sqlite, 5, 71).await;
    let elsewhere = vpn_simulator::spawn(
        ([127, 0, 0, 1], 0).into(),
        SimConfig::default(),
        generated_inventory(5, 72),
    )
    .await
    .expect("second simulator");
    let location = format!(
        "{}/v5/{}/vpn-connection",
        elsewhere.endpoint(),
        env.config.project_id
    );
    env.sim.state.set_faults(Faults {
        redirect_to: Some(location.clone()),
        ..Faults::default()
    });
    let mut cmd = env.command(&["sync"]);
    cmd.env("HUAWEICLOUD_SDK_SECURITY_TOKEN", "temporary-token-value");
    let run = env.run_cmd(cmd).await;
    assert_eq!(run.code, Some(1), "stdout: {}", run.stdout);
    assert!(
        run.stderr.contains("HTTP 302") && run.stderr.contains(&location),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("temporary-token-value"));
    assert_eq!(elsewhere.state.requests(), 0, "the redirect was followed");
    assert!(env.export().await.is_empty());
}

#[tokio::test]
async fn endpoints_and_regions_that_could_mislead_are_refused_before_anything_is_recorded() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 73).await;
    let cases: [(&[&str], &str); 4] = [
        (
            &["--endpoint", "http://user:pw-in-url@127.0.0.1:1"],
            "user name or password",
        ),
        (
            &["--endpoint", "https://vpn.example.com/?x=1"],
            "query or fragment",
        ),
        (&["--endpoint", "ftp://vpn.example.com"], "only http"),
        (&["--region", "x@evil.com:1/"], "invalid region"),
    ];
    for (flags, why) in cases {
        let mut args = vec!["sync"];
        args.extend_from_slice(flags);
        let mut cmd = env.command(&args);
        if flags[0] == "--region" {
            cmd.env_remove("VPN_INVENTORY_ENDPOINT");
        }
        let run = env.run_cmd(cmd).await;
        assert_eq!(run.code, Some(1), "{flags:?}");
        assert!(run.stderr.contains(why), "{flags:?}: {}", run.stderr);
        assert!(!run.stderr.contains("pw-in-url"), "{}", run.stderr);
    }
    assert_eq!(recorded_runs(&env).await, 0);
}

#[tokio::test]
async fn credentials_that_would_forge_headers_are_refused_by_name() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 74).await;
    let cases = [
        ("HUAWEICLOUD_SDK_AK", "AK1\nX-Injected: yes"),
        ("HUAWEICLOUD_SDK_AK", "AK1, Signature=0000"),
        ("HUAWEICLOUD_SDK_SK", "   "),
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "token\r\nX-Injected: yes"),
    ];
    for (name, value) in cases {
        let mut cmd = env.command(&["sync"]);
        cmd.env(name, value);
        let run = env.run_cmd(cmd).await;
        assert_eq!(run.code, Some(1), "{name}");
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("Injected"), "{}", run.stderr);
    }
    assert_eq!(recorded_runs(&env).await, 0);
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_inventory_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::generated(Backend::Sqlite, 3, 75).await;
    env.sync(&[]).await;
    let url = env.database_url();
    let file = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    let dir = file.parent().expect("a directory");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("database directory") {
        let path = entry.expect("entry").path();
        // The database, its lock files, and -wal/-shm while they exist.
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 2, "the database and at least one lock file");
}

async fn drift_of_an_unknown_or_failed_run_says_so(backend: Backend) {
    let env = TestEnv::generated(backend, 5, 76).await;
    env.sim.state.set_faults(Faults {
        error_page: Some((
            1,
            500,
            serde_json::json!({"code": "VPN.0002", "message": "down"}),
        )),
        ..Faults::default()
    });
    assert_eq!(env.run(&["sync", "--max-retries", "0"]).await.code, Some(1));
    let failed = env.run(&["drift", "--run", "1"]).await;
    assert_eq!(failed.code, Some(1));
    assert!(
        failed.stderr.contains("run 1 failed") && failed.stderr.contains("VPN.0002"),
        "{}",
        failed.stderr
    );
    let unknown = env.run(&["drift", "--run", "999"]).await;
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("there is no run 999"),
        "{}",
        unknown.stderr
    );
    env.sim.state.set_faults(Faults::default());
    env.sync(&[]).await;
    let records = [
        "drift",
        "--run",
        "2",
        "--include-baseline",
        "--format",
        "json",
    ];
    let records = env.run(&records).await;
    assert_eq!(records.assert_ok().json().as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_not_read_nor_retried() {
    let env = TestEnv::generated(Backend::Sqlite, 30, 77).await;
    let run = env.run(&["sync", "--max-response-size", "4KiB"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("larger than 4096 bytes (--max-response-size)"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.state.requests(), 1);
    assert_eq!(
        env.sync(&[]).await["added"],
        30,
        "the default limit reads it"
    );
}

#[tokio::test]
async fn bad_flags_get_one_clear_line_and_never_the_changes_exit_code() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 78).await;
    let typo = env
        .run(&["sync", "--detailed-exitcode", "--page-size", "abc"])
        .await;
    assert_eq!(typo.code, Some(64), "a usage error is not 'changes found'");
    assert!(typo.stderr.contains("--page-size"), "{}", typo.stderr);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--database", "mysql://root:pw-in-url@h/x", "runs"],
            "unsupported database URL",
        ),
        (
            &["--database", "postgres://u:pw-in-url/x@h/db", "runs"],
            "URL hidden",
        ),
        (&["runs", "--limit=-1"], "--limit"),
        (&["--database", "sqlite://", "runs"], "names no file"),
    ];
    for (args, says) in cases {
        let run = env.run(args).await;
        assert!(matches!(run.code, Some(1 | 64)), "{args:?}: {:?}", run.code);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("pw-in-url"), "{}", run.stderr);
    }
    // A duration past its flag's bound is a usage mistake, named at parse time.
    let too_long: [(&[&str], &str); 7] = [
        (&["sync", "--lock-timeout", "600h"], "--lock-timeout"),
        (
            &["sync", "--lock-timeout", "67694426654938024h"],
            "--lock-timeout",
        ),
        (&["sync", "--max-run-time", "8d"], "--max-run-time"),
        (&["sync", "--request-timeout", "25h"], "--request-timeout"),
        (
            &["sync", "--all", "--min-interval", "400d"],
            "--min-interval",
        ),
        (&["prune", "--older-than", "99999999999d"], "--older-than"),
        (
            &["forget-scope", "x", "--lock-timeout", "25h"],
            "--lock-timeout",
        ),
    ];
    for (args, flag) in too_long {
        let run = env.run(args).await;
        assert_eq!(run.code, Some(64), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(flag) && run.stderr.contains("must be at most"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("below 1ns"), "{}", run.stderr);
    }
    let help = env.run(&["sync", "--help"]).await;
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("--max-retries") && help.stdout.contains("--request-timeout"));
}

#[tokio::test]
async fn server_text_cannot_drive_the_terminal_or_forge_lines() {
    let env = TestEnv::generated(Backend::Sqlite, 5, 79).await;
    let message = "bad\nvpn-inventory: all good \u{1b}[2J";
    env.sim.state.set_faults(Faults {
        error_page: Some((
            1,
            400,
            serde_json::json!({"code": "VPN.0001", "message": message}),
        )),
        ..Faults::default()
    });
    let run = env.run(&["sync"]).await;
    assert_eq!(run.code, Some(1));
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(r"bad\nvpn-inventory: all good \u{1b}[2J"),
        "{}",
        run.stderr
    );
    let forged = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("vpn-inventory: all good"));
    assert_eq!(forged.count(), 0, "{}", run.stderr);
    let runs = env.run(&["runs"]).await;
    let table = &runs.assert_ok().stdout;
    assert!(
        !table.contains('\u{1b}') && table.lines().count() == 2,
        "{table}"
    );
}

/// A right-to-left override (U+202E) shows `vpn-\u{202e}1-gp` as `vpn-pg-1`, and invisible
/// characters make two names look alike (issue 25): tables show them escaped, as control
/// characters are, while JSON keeps what was sent.
async fn characters_that_reorder_or_hide_an_id_are_shown_escaped(backend: Backend) {
    let mut served = generated_inventory(3, 80);
    let id = "vpn-\u{202e}1-gp";
    served[0]["id"] = id.into();
    served[0]["name"] = "edge\u{2066}-a\u{2069}\u{200b}".into();
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    env.sync(&[]).await;
    served[0]["name"] = "renamed\u{202e}gnp.exe\u{feff}".into();
    env.sim.state.set_inventory(served);
    env.sync(&[]).await;
    let shown = [
        r"vpn-\u{202e}1-gp",
        r"edge\u{2066}-a\u{2069}\u{200b}",
        r"renamed\u{202e}gnp.exe\u{feff}",
    ];
    for args in [
        &["drift"][..],
        &["history", id],
        &["report", "recent-changes", "--format", "table"],
    ] {
        let run = env.run(args).await;
        let out = &run.assert_ok().stdout;
        for hidden in ['\u{202e}', '\u{2066}', '\u{2069}', '\u{200b}', '\u{feff}'] {
            assert!(!out.contains(hidden), "{args:?} printed {hidden:?}:\n{out}");
        }
        for text in shown {
            assert!(out.contains(text), "{args:?} lacks {text}:\n{out}");
        }
    }
    let drift = env.run(&["drift", "--format", "json"]).await.json();
    assert_eq!(drift[0]["connection_id"], id, "{drift}");
}

#[tokio::test]
async fn pages_that_bring_nothing_new_while_the_marker_moves_end_the_run() {
    let env = TestEnv::generated(Backend::Sqlite, 30, 80).await;
    env.sim.state.set_faults(Faults {
        replay_from_page: Some(2),
        ..Faults::default()
    });
    let sync = env.run(&["sync", "--page-size", "10"]);
    // A guard only: without the bound this sweep would never end.
    let run = tokio::time::timeout(std::time::Duration::from_secs(60), sync)
        .await
        .expect("the sweep ended on its own");
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stderr.contains("no connection not received"),
        "{}",
        run.stderr
    );
    assert!(
        env.sim.state.requests() < 10,
        "{} requests",
        env.sim.state.requests()
    );
    assert!(env.export().await.is_empty());
}

#[tokio::test]
async fn a_sweep_bringing_far_more_than_the_total_count_ends_the_run() {
    // A service claiming 50 connections that keeps serving new ones: it could list forever.
    let env = TestEnv::generated(Backend::Sqlite, 400, 81).await;
    env.sim.state.set_faults(Faults {
        claimed_total: Some(50),
        ..Faults::default()
    });
    let run = env.run(&["sync", "--page-size", "20"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("more than the 155 the API's total_count allows"),
        "{}",
        run.stderr
    );
    // 155 is passed on the eighth page of 20 (and 400 would need 20): tie probes and the
    // page prefetched while one is staged add a few requests.
    let requests = env.sim.state.requests();
    assert!((8..=12).contains(&requests), "{requests} requests");
    assert!(env.export().await.is_empty());
}

/// The test's PostgreSQL database URL with a password in its user information and an
/// upper-case `PASSWORD` parameter, which sqlx does not know and logs as it is.
fn postgres_url_with_secrets(env: &TestEnv) -> String {
    let url = env
        .database_url()
        .replacen("postgres@", "postgres:USERSECRET5@", 1);
    assert!(url.contains("USERSECRET5"), "{url}");
    format!("{url}?PASSWORD=SECRETD4")
}

#[tokio::test]
async fn library_log_lines_never_show_a_database_password() {
    let env = TestEnv::generated(Backend::Postgres, 3, 82).await;
    let url = postgres_url_with_secrets(&env);
    let cases: [(&[&str], Option<&str>); 3] = [
        (&["-vvv", "sync"], None),
        (&["sync"], Some("warn")),
        (&["--log-format", "json", "-vvv", "sync"], None),
    ];
    for (args, level) in cases {
        let mut cmd = env.command(args);
        cmd.env("VPN_INVENTORY_DATABASE", &url);
        if let Some(level) = level {
            cmd.env("VPN_INVENTORY_LOG", level);
        }
        let run = env.run_cmd(cmd).await;
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
        // sqlx did warn: the line is there, its value hidden.
        assert!(
            run.stderr.contains("unrecognized connect parameter"),
            "{args:?}: {}",
            run.stderr
        );
        for secret in ["SECRETD4", "USERSECRET5"] {
            assert!(!run.stderr.contains(secret), "{args:?}: {}", run.stderr);
            assert!(!run.stdout.contains(secret), "{args:?}: {}", run.stdout);
        }
    }
}

/// Writes `text` to a file `name` in `dir`, readable by its owner only.
fn private_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A configuration (its path) with one target, `loose`, whose credentials file holds `text`.
fn credentials_file_target(env: &TestEnv, dir: &tempfile::TempDir, text: &str) -> String {
    let credentials = private_file(dir, "creds", text);
    let target = target_toml("loose", "p", &env.sim.endpoint(), &[]).replace(
        "{ ak_env = \"SIM_AK\", sk_env = \"SIM_SK\" }",
        &format!("{{ file = \"{credentials}\" }}"),
    );
    private_file(dir, "config.toml", &target)
}

/// Stdout and stderr of `args` run with `--config config`, which must exit 1.
async fn failed_with_config(env: &TestEnv, config: &str, args: &[&str]) -> String {
    let mut all = vec!["--config", config];
    all.extend_from_slice(args);
    let run = env.run(&all).await;
    assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
    format!("{}{}", run.stdout, run.stderr)
}

#[tokio::test]
async fn toml_errors_never_quote_a_line_holding_a_secret() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 83).await;
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://postgres:CFGSECRET2@127.0.0.1/db";
    let broken = [
        // The line with the secret is the broken one.
        format!("database = \"{url}\n"),
        format!("database = [\"{url}\"]\n"),
        // A secret quoted in toml's message, not its snippet.
        format!("targets = \"{url}\"\n"),
    ];
    for (i, text) in broken.iter().enumerate() {
        let config = private_file(&dir, &format!("config-{i}.toml"), text);
        let run = env.run(&["--config", &config, "status"]).await;
        assert_eq!(run.code, Some(1), "{text}");
        assert!(run.stderr.contains("line 1"), "{text}: {}", run.stderr);
        assert!(!run.stderr.contains("CFGSECRET2"), "{text}: {}", run.stderr);
    }
    // Broken elsewhere: the line at fault is quoted as toml quotes it, the secret is not.
    let text = format!("database = \"{url}\"\n[[targets]]\nname = \"a\"\nregon = \"r\"\n");
    let config = private_file(&dir, "elsewhere.toml", &text);
    let run = env.run(&["--config", &config, "status"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("regon = \"r\""), "{}", run.stderr);
    assert!(!run.stderr.contains("CFGSECRET2"), "{}", run.stderr);

    // A broken credentials file is never quoted.
    let config = credentials_file_target(&env, &dir, "ak = \"AK1\"\nsk = \"CREDSECRET3\n");
    for args in [&["sync", "loose"][..], &["config", "check"]] {
        let shown = failed_with_config(&env, &config, args).await;
        assert!(shown.contains("is not TOML (line 2"), "{args:?}: {shown}");
        assert!(!shown.contains("CREDSECRET3"), "{args:?}: {shown}");
    }
}

#[tokio::test]
async fn a_credential_of_the_wrong_type_is_named_by_key_not_value() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 84).await;
    let dir = tempfile::tempdir().unwrap();
    let config = credentials_file_target(&env, &dir, "ak = \"AK1\"\nsk = 98765432123456789\n");
    for args in [
        &["sync", "loose"][..],
        &["sync", "--all"],
        &["config", "check"],
    ] {
        let shown = failed_with_config(&env, &config, args).await;
        assert!(
            shown.contains("sk must be a string, not integer"),
            "{args:?}: {shown}"
        );
        assert!(!shown.contains("98765432123456789"), "{args:?}: {shown}");
    }
    assert_eq!(env.sim.state.requests(), 0);
}

#[tokio::test]
async fn a_target_that_does_not_resolve_is_named_once() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 85).await;
    let dir = tempfile::tempdir().unwrap();
    let text = "[[targets]]\nname = \"loose\"\nproject_id = \"p\"\nregion = \"BAD\"\n";
    let config = private_file(&dir, "config.toml", text);
    let run = env.run(&["--config", &config, "sync", "--all"]).await;
    assert_eq!(run.code, Some(1));
    let line = run.stderr.lines().find(|l| l.contains("invalid region"));
    let line = line.unwrap_or_else(|| panic!("{}", run.stderr));
    assert_eq!(line.matches("target loose").count(), 1, "{line}");
}

#[tokio::test]
async fn database_url_and_server_errors_are_one_clear_line() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 86).await;
    let admin = std::env::var("VPN_INVENTORY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let bogus = format!("{base}/postgres?sslmode=bogus");
    let run = env.run(&["--database", &bogus, "runs"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("sslmode=bogus is not one of disable,"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("error with configuration"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let missing = format!("{base}/vpninv_no_such_database_{}", std::process::id());
    let run = env.run(&["--database", &missing, "runs"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("SQLSTATE 3D000") && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(" at line "), "{}", run.stderr);
}

#[tokio::test]
async fn a_body_the_server_compressed_unasked_is_named_for_what_it_is() {
    let env = TestEnv::generated(Backend::Sqlite, 5, 87).await;
    env.sim.state.set_faults(Faults {
        gzip_page: Some(1),
        ..Faults::default()
    });
    let run = env.run(&["sync"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("the server sent Content-Encoding: gzip, which was not requested"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("did not declare"), "{}", run.stderr);
    assert!(env.export().await.is_empty());
}
