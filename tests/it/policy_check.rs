//! `vpn-inventory check`: every connection held to a policy, its violations the same as a
//! check of the served JSON written here, on both backends; exit 4 when any, 0 when none.

use crate::support::{Backend, Run, TestEnv};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use vpn_simulator::server::generated_inventory;

backend_tests!(
    the_builtin_policy_finds_weak_crypto_in_the_served_inventory,
    every_rule_of_a_policy_file_is_checked,
    new_since_lists_only_what_a_later_change_made,
);

/// What a policy allows, as the oracle below reads it (lower-case names).
#[derive(Default)]
struct Rules {
    encryption_allowed: Vec<&'static str>,
    encryption_disallowed: Vec<&'static str>,
    authentication_disallowed: Vec<&'static str>,
    dh_minimum: u32,
    ike_versions: Vec<&'static str>,
    pfs_required: bool,
    ike_lifetime: (i64, i64),
    dpd_required: bool,
    tags_required: Vec<&'static str>,
    healthy: Vec<&'static str>,
}

impl Rules {
    fn builtin() -> Self {
        Self {
            encryption_disallowed: vec!["3des", "des"],
            authentication_disallowed: vec!["md5", "sha1"],
            dh_minimum: 14,
            ..Self::default()
        }
    }
}

/// One violation: connection id, rule, field and value (None: absent).
type Violation = (String, String, String, Option<String>);

/// The violations of `connection` under `rules`, read from the API's JSON.
fn violations(connection: &Value, rules: &Rules) -> BTreeSet<Violation> {
    let id = connection["id"].as_str().unwrap().to_owned();
    let mut found = BTreeSet::new();
    let mut add = |rule: &str, field: &str, value: Option<String>| {
        found.insert((id.clone(), rule.to_owned(), field.to_owned(), value));
    };
    let text = |policy: &str, field: &str| connection[policy][field].as_str().map(str::to_owned);
    let weak_group = |group: &str| {
        group
            .strip_prefix("group")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= 1 && n < rules.dh_minimum)
    };
    for policy in ["ikepolicy", "ipsecpolicy"] {
        if let Some(value) = text(policy, "encryption_algorithm") {
            let lower = value.to_lowercase();
            let allowed = rules.encryption_allowed.is_empty()
                || rules.encryption_allowed.contains(&lower.as_str());
            if rules.encryption_disallowed.contains(&lower.as_str()) || !allowed {
                add(
                    "encryption",
                    &format!("{policy}.encryption_algorithm"),
                    Some(value),
                );
            }
        }
        if let Some(value) = text(policy, "authentication_algorithm")
            && rules
                .authentication_disallowed
                .contains(&value.to_lowercase().as_str())
        {
            let field = format!("{policy}.authentication_algorithm");
            add("authentication", &field, Some(value));
        }
    }
    if let Some(group) = text("ikepolicy", "dh_group")
        && weak_group(&group.to_lowercase())
    {
        add("dh_group", "ikepolicy.dh_group", Some(group));
    }
    if let Some(pfs) = text("ipsecpolicy", "pfs") {
        if weak_group(&pfs.to_lowercase()) {
            add("dh_group", "ipsecpolicy.pfs", Some(pfs.clone()));
        }
        if rules.pfs_required && pfs.eq_ignore_ascii_case("disable") {
            add("pfs", "ipsecpolicy.pfs", Some(pfs));
        }
    }
    if let Some(version) = text("ikepolicy", "ike_version")
        && !rules.ike_versions.is_empty()
        && !rules
            .ike_versions
            .contains(&version.to_lowercase().as_str())
    {
        add("ike_version", "ikepolicy.ike_version", Some(version));
    }
    if let Some(seconds) = connection["ikepolicy"]["lifetime_seconds"].as_i64() {
        let (min, max) = rules.ike_lifetime;
        if seconds < min || (max > 0 && seconds > max) {
            add(
                "lifetime",
                "ikepolicy.lifetime_seconds",
                Some(seconds.to_string()),
            );
        }
    }
    if rules.dpd_required && !connection["ikepolicy"]["dpd"].is_object() {
        add("dpd", "ikepolicy.dpd", None);
    }
    let tags = connection["tags"].as_array().cloned().unwrap_or_default();
    for key in &rules.tags_required {
        if !tags.iter().any(|t| t["key"] == *key) {
            add("tags", &format!("tags.{key}"), None);
        }
    }
    if let Some(status) = connection["status"].as_str()
        && !rules.healthy.is_empty()
        && !rules.healthy.contains(&status)
    {
        add("status", "status", Some(status.to_owned()));
    }
    found
}

fn expected(served: &[Value], rules: &Rules) -> BTreeSet<Violation> {
    served.iter().flat_map(|c| violations(c, rules)).collect()
}

/// The violations `check --format json` printed.
fn printed(run: &Run) -> BTreeSet<Violation> {
    let rows = run.json();
    rows.as_array()
        .expect("an array of violations")
        .iter()
        .map(|r| {
            let text = |name: &str| r[name].as_str().map(str::to_owned);
            (
                text("connection_id").unwrap(),
                text("rule").unwrap(),
                text("field").unwrap(),
                text("value"),
            )
        })
        .collect()
}

async fn the_builtin_policy_finds_weak_crypto_in_the_served_inventory(backend: Backend) {
    let env = TestEnv::generated(backend, 80, 71).await;
    env.sync(&[]).await;
    let served = env.sim.state.inventory();
    let want = expected(&served, &Rules::builtin());
    assert!(
        want.len() > 10,
        "the generated inventory has weak crypto: {want:?}"
    );

    let run = env.run(&["check", "--format", "json"]).await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(printed(&run), want);
    assert!(run.stderr.contains("the built-in policy"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{} violation(s)", want.len())),
        "{}",
        run.stderr
    );
    // Every violation names where it comes from: its connection's baseline add.
    for row in run.json().as_array().unwrap() {
        assert_eq!(row["change"], "added", "{row}");
        assert!(row["since_run"].as_i64().is_some(), "{row}");
    }
    // The same rules as a report, in every format the other reports take.
    let report = env
        .run(&["report", "policy-violations", "--format", "json"])
        .await;
    assert_eq!(report.assert_ok().json(), run.json());
}

async fn every_rule_of_a_policy_file_is_checked(backend: Backend) {
    let env = TestEnv::generated(backend, 80, 72).await;
    env.sync(&[]).await;
    let served = env.sim.state.inventory();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        r#"
[encryption]
allowed = ["AES-256", "aes-256-gcm-16", "sm4"]
disallowed = []
[authentication]
disallowed = ["md5"]
[dh_group]
minimum = 15
[ike]
versions = ["v2"]
[pfs]
required = true
[lifetime]
ike_seconds = { min = 3600, max = 86400 }
[dpd]
required = true
[tags]
required = ["owner", "env"]
[status]
healthy = ["ACTIVE"]
"#,
    )
    .unwrap();
    // The configuration names the policy relative to itself.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "policy = \"policy.toml\"\n").unwrap();
    let rules = Rules {
        encryption_allowed: vec!["aes-256", "aes-256-gcm-16", "sm4"],
        authentication_disallowed: vec!["md5"],
        dh_minimum: 15,
        ike_versions: vec!["v2"],
        pfs_required: true,
        ike_lifetime: (3600, 86400),
        dpd_required: true,
        tags_required: vec!["owner", "env"],
        healthy: vec!["ACTIVE"],
        ..Rules::default()
    };
    let want = expected(&served, &rules);
    let config = config.to_str().unwrap();
    let run = env
        .run(&["--config", config, "check", "--format", "json"])
        .await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    let got = printed(&run);
    let rules_seen: BTreeSet<&str> = got.iter().map(|v| v.1.as_str()).collect();
    assert_eq!(
        rules_seen,
        BTreeSet::from([
            "authentication",
            "dh_group",
            "dpd",
            "encryption",
            "ike_version",
            "lifetime",
            "pfs",
            "status",
            "tags"
        ]),
        "the inventory breaks every rule at least once"
    );
    assert_eq!(got, want);

    // `config check` reads the policy too, and says where it is.
    let checked = env.run(&["--config", config, "config", "check"]).await;
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);
    let policy_file = dir.path().join("policy.toml");
    let line = format!("policy         {}", policy_file.display());
    assert!(checked.stdout.contains(&line), "{}", checked.stdout);

    // A policy nothing breaks: exit 0, no rows.
    let lax = dir.path().join("lax.toml");
    let text = "[encryption]\ndisallowed = []\n[authentication]\ndisallowed = []\n\
                [dh_group]\nminimum = 0\n";
    std::fs::write(&lax, text).unwrap();
    let run = env
        .run(&[
            "check",
            "--policy",
            lax.to_str().unwrap(),
            "--format",
            "json",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json(), json!([]));

    // A mistake in the file names the file, the line and the key.
    std::fs::write(&lax, "[encryption]\nforbidden = [\"des\"]\n").unwrap();
    let run = env.run(&["check", "--policy", lax.to_str().unwrap()]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("lax.toml: line 2, column 1")
            && run.stderr.contains("unknown field `forbidden`"),
        "{}",
        run.stderr
    );
    std::fs::write(
        dir.path().join("policy.toml"),
        "[dpd]\nrequired = \"yes\"\n",
    )
    .unwrap();
    let checked = env.run(&["--config", config, "config", "check"]).await;
    assert_eq!(checked.code, Some(1), "{}", checked.stdout);
    assert!(
        checked.stdout.contains("invalid policy"),
        "{}",
        checked.stdout
    );
}

async fn new_since_lists_only_what_a_later_change_made(backend: Backend) {
    let mut served = generated_inventory(40, 73);
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    let first = env.sync(&[]).await;
    let first_run = first["run_id"].as_i64().expect("the run's id").to_string();
    let builtin = Rules::builtin();

    // One compliant connection gains 3DES; one connection is added with MD5.
    let compliant = served
        .iter()
        .position(|c| violations(c, &builtin).is_empty() && c["ikepolicy"].is_object())
        .expect("a compliant connection");
    served[compliant]["ikepolicy"]["encryption_algorithm"] = json!("3des");
    let mut added = served[compliant].clone();
    added["id"] = json!("0f0f0f0f-0000-4000-8000-000000000001");
    added["name"] = json!("added-later");
    added["ikepolicy"]["authentication_algorithm"] = json!("md5");
    served.push(added.clone());
    env.sim.state.set_inventory(served.clone());
    let second = env.sync(&[]).await;
    let second_run = second["run_id"].as_i64().unwrap();

    let mut want = violations(&served[compliant], &builtin);
    want.extend(violations(&added, &builtin));
    let run = env
        .run(&["check", "--new-since", &first_run, "--format", "json"])
        .await;
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert_eq!(printed(&run), want);
    for row in run.json().as_array().unwrap() {
        assert_eq!(row["since_run"], second_run, "{row}");
        let change = if row["connection_id"] == added["id"] {
            "added"
        } else {
            "modified"
        };
        assert_eq!(row["change"], change, "{row}");
    }
    // A time before any run stands for the start: every change but the baselines.
    let early = env
        .run(&["check", "--new-since", "2000-01-01", "--format", "json"])
        .await;
    assert_eq!(printed(&early), want);
    let bogus = env.run(&["check", "--new-since", "yesterday-ish"]).await;
    assert_eq!(bogus.code, Some(64), "{}", bogus.stderr);
    assert!(bogus.stderr.contains("--new-since"), "{}", bogus.stderr);
    // The whole check still lists what the baseline held.
    let all = env.run(&["check", "--format", "json"]).await;
    assert_eq!(printed(&all), expected(&served, &builtin));

    // Nothing became non-compliant after the second run.
    let second_run = second_run.to_string();
    let run = env.run(&["check", "--new-since", &second_run]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("0 violation(s) new since"),
        "{}",
        run.stderr
    );
}
