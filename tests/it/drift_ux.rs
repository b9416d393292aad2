//! drift, history, runs and diff as people and programs read them: filters, relative times,
//! baselines, connections named by id, prefix or name, values that never look alike, times
//! in RFC 3339 with `Z`, and the net difference between two runs' inventories.

use crate::support::{Backend, TestEnv};
use serde_json::{Value, json};

backend_tests!(
    drift_filters_periods_and_baselines,
    history_names_a_connection_by_id_prefix_or_name,
    diff_gives_the_net_difference_between_two_runs,
    diff_reads_many_versions_a_chunk_at_a_time,
    rows_print_as_csv_and_markdown_wherever_they_print,
);

async fn json_of(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    match env.run(&all).await.assert_ok().json() {
        Value::Array(items) => items,
        other => panic!("{args:?} gave no array: {other}"),
    }
}

fn fields(records: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} {}", r["connection_id"], r["change"], r["field"]))
        .collect();
    out.sort();
    out
}

/// Runs `args`, which must exit with `code` and say `needle` on stderr; returns stderr.
async fn fails_with(env: &TestEnv, args: &[&str], code: i32, needle: &str) -> String {
    let run = env.run(args).await;
    assert_eq!(run.code, Some(code), "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    run.stderr
}

#[track_caller]
fn assert_utc_z(text: &Value) {
    let text = text.as_str().expect("a time");
    assert!(
        text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "{text}"
    );
}

/// What `change_some` did: the changed connection, its blanked tag's key and old value, and
/// the removed connection.
struct Changed {
    id: String,
    key: String,
    old_tag: Value,
    gone: String,
}

/// Changes a connection with a tag and a DPD block (one tag set to "", the DPD block
/// removed) and removes another.
fn change_some(served: &mut Vec<Value>) -> Changed {
    let (id, key, old_tag) = blank_tag_and_drop_dpd(served);
    let gone = served.iter().position(|c| c["id"] != id.as_str()).unwrap();
    let gone = served.remove(gone)["id"].as_str().unwrap().to_owned();
    Changed {
        id,
        key,
        old_tag,
        gone,
    }
}

fn blank_tag_and_drop_dpd(served: &mut [Value]) -> (String, String, Value) {
    let conn = served
        .iter_mut()
        .find(|c| {
            c["tags"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t[0].as_object().unwrap().len() == 2)
                && c["ikepolicy"]["dpd"].is_object()
        })
        .expect("a connection with tags and DPD");
    let key = conn["tags"][0]["key"].as_str().unwrap().to_owned();
    let old = conn["tags"][0]["value"].clone();
    conn["tags"][0]["value"] = json!("");
    conn["ikepolicy"].as_object_mut().unwrap().remove("dpd");
    (conn["id"].as_str().unwrap().to_owned(), key, old)
}

async fn drift_filters_periods_and_baselines(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 61).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    let Changed {
        id: changed,
        key,
        old_tag,
        gone,
    } = change_some(&mut served);
    env.sim.state.set_inventory(served.clone());
    let second = env.sync(&[]).await;
    assert_eq!(second["removed"], 1);

    // The first run is the scope's baseline; so is a new scope's first run.
    let gateway = served[0]["vgw_id"].as_str().unwrap().to_owned();
    env.sync(&["--vgw-id", &gateway]).await;
    let runs = json_of(&env, &["runs"]).await;
    let baseline: Vec<bool> = runs.iter().map(|r| r["baseline"] == true).collect();
    assert_eq!(baseline, [true, false, true], "{runs:?}");
    for run in &runs {
        assert_utc_z(&run["started_at"]);
        assert_utc_z(&run["finished_at"]);
    }
    let table = env.run(&["runs"]).await;
    let lines: Vec<&str> = table.assert_ok().stdout.lines().collect();
    assert!(lines[3].contains("baseline"), "{}", table.stdout);
    assert!(!lines[2].contains("baseline"), "{}", table.stdout);
    let started = runs[2]["started_at"].as_str().unwrap();
    assert!(lines[3].contains(&started[..19]), "{}", table.stdout);

    // A period leaves what baselines added out, unless asked.
    let since = json_of(&env, &["drift", "--since", "1h"]).await;
    assert!(since.iter().all(|r| r["change"] != "added"), "{since:?}");
    let mut expected = vec![
        format!("\"{gone}\" \"removed\" null"),
        format!("\"{changed}\" \"modified\" \"tags.{key}\""),
        format!("\"{changed}\" \"modified\" \"ikepolicy.dpd\""),
    ];
    expected.sort();
    assert_eq!(fields(&since), expected);
    let everything = json_of(&env, &["drift", "--since", "1h", "--include-baseline"]).await;
    assert_eq!(everything.len(), 20 + 3);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(json_of(&env, &["drift", "--since", &today]).await, since);
    // Until is before: the second run's start separates the two runs.
    let before_second = runs[1]["started_at"].as_str().unwrap();
    let first_only = ["drift", "--since", "7d", "--until", before_second];
    assert!(json_of(&env, &first_only).await.is_empty());
    let with_baseline = json_of(&env, &[&first_only[..], &["--include-baseline"]].concat()).await;
    assert_eq!(with_baseline.len(), 20);
    let after_first = json_of(&env, &["drift", "--since", before_second]).await;
    assert_eq!(after_first, since);
    // A run asked for by id leaves its baseline out too, and says so.
    let baseline_run = env.run(&["drift", "--run", "1", "--format", "json"]).await;
    assert_eq!(baseline_run.assert_ok().json(), serde_json::json!([]));
    assert!(
        baseline_run
            .stderr
            .contains("20 added connections left out")
            && baseline_run.stderr.contains("run 1")
            && baseline_run.stderr.contains("--include-baseline"),
        "{}",
        baseline_run.stderr
    );
    let all = json_of(&env, &["drift", "--run", "1", "--include-baseline"]).await;
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|r| r["baseline"] == true), "{all:?}");

    // --change, --field (a prefix) and --connection narrow it.
    let removed = json_of(&env, &["drift", "--since", "1h", "--change", "removed"]).await;
    assert_eq!(fields(&removed), [format!("\"{gone}\" \"removed\" null")]);
    let tags = json_of(&env, &["drift", "--since", "1h", "--field", "tags."]).await;
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0]["old"], old_tag);
    assert_eq!(tags[0]["new"], "");
    let dpd = json_of(&env, &["drift", "--since", "1h", "--field", "ikepolicy"]).await;
    assert_eq!(dpd.len(), 1);
    assert!(dpd[0].get("new").is_none(), "absent is left out: {dpd:?}");
    let name = served.iter().find(|c| c["id"] == changed.as_str()).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_name = json_of(&env, &["drift", "--since", "1h", "--connection", &name]).await;
    assert_eq!(by_name.len(), 2);
    let prefix = &changed[..changed.len() - 3];
    let by_prefix = json_of(&env, &["drift", "--run", "2", "--connection", prefix]).await;
    assert_eq!(by_prefix, by_name);
    assert_eq!(by_prefix.len(), 2);

    // Absent, "" and the old values look different in a table; times carry Z everywhere.
    let table = env.run(&["drift", "--run", "2"]).await;
    let text = &table.assert_ok().stdout;
    let tag_line = text.lines().find(|l| l.contains("tags.")).expect(text);
    assert!(tag_line.ends_with(&format!("{old_tag} -> \"\"")), "{text}");
    let dpd_line = text
        .lines()
        .find(|l| l.contains("ikepolicy.dpd"))
        .expect(text);
    assert!(dpd_line.ends_with("} -> (absent)"), "{text}");
    assert!(text.lines().next().unwrap().contains("DETECTED"), "{text}");
    for record in &by_prefix {
        assert_utc_z(&record["detected_at"]);
    }
    let csv = env.run(&["drift", "--run", "2", "--format", "csv"]).await;
    let csv = &csv.assert_ok().stdout;
    let tag_row = csv.lines().find(|l| l.contains(",tags.")).expect(csv);
    let plain_old = old_tag.as_str().unwrap();
    assert!(
        tag_row.contains(&format!(",{plain_old},,string,string,"))
            && tag_row.ends_with(&format!(
                "Z,{},,,,,,no traces fetched",
                env.config.project_id
            )),
        "{csv}"
    );

    // A bad time says which formats work, before anything is read.
    for bad in ["yesterday", "7", "2026-13-01"] {
        let stderr = fails_with(&env, &["drift", "--since", bad], 64, "24h").await;
        assert!(stderr.contains("RFC 3339"), "{stderr}");
    }
    let empty = ["drift", "--since", "1h", "--until", "2h"];
    fails_with(&env, &empty, 64, "is not before --until").await;
}

async fn history_names_a_connection_by_id_prefix_or_name(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 62).await;
    let mut served = env.sim.state.inventory();
    served[3]["name"] = json!("twin");
    served[4]["name"] = json!("twin");
    served[5]["name"] = json!("before");
    env.sim.state.set_inventory(served.clone());
    env.sync(&[]).await;
    served[5]["name"] = json!("after");
    env.sim.state.set_inventory(served.clone());
    env.sync(&[]).await;

    let id = served[5]["id"].as_str().unwrap().to_owned();
    let by_id = json_of(&env, &["history", &id]).await;
    assert_eq!(by_id.len(), 2, "added, then renamed: {by_id:?}");
    let prefix = &id[..id.len() - 4];
    for text in [prefix, "after", "before"] {
        assert_eq!(json_of(&env, &["history", text]).await, by_id, "{text}");
    }
    let table = env.run(&["history", "after"]).await;
    let lines: Vec<&str> = table.assert_ok().stdout.lines().collect();
    assert!(lines[0].starts_with("RUN  DETECTED"), "{lines:?}");
    assert!(
        lines[2].contains("2  20") && lines[2].contains("Z  "),
        "{lines:?}"
    );
    assert!(lines[2].ends_with("\"before\" -> \"after\""), "{lines:?}");

    // Several matches: an error listing each with its name.
    let twin = fails_with(&env, &["history", "twin"], 1, "matches 2 connections").await;
    for c in &served[3..5] {
        let listed = format!("{} (twin)", c["id"].as_str().unwrap());
        assert!(twin.contains(&listed), "{twin}");
    }
    let mut ids: Vec<&str> = served.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let shared = ids
        .windows(2)
        .find(|w| w[0][..1] == w[1][..1])
        .map(|w| &w[0][..1])
        .expect("two of 20 ids share a first character");
    fails_with(&env, &["history", shared], 1, "give more of the id").await;
    fails_with(&env, &["drift", "--connection", "twin"], 1, "(twin)").await;
    let none = ["history", "no-such-connection"];
    fails_with(&env, &none, 1, "no connection matches").await;
}

async fn diff_gives_the_net_difference_between_two_runs(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 63).await;
    let first = env.sync(&[]).await["run_id"].to_string();
    let original = env.sim.state.inventory();

    // Run 2: a tag blanked, DPD dropped, one connection removed, one renamed, one new.
    let mut served = original.clone();
    let Changed {
        id: changed,
        key,
        old_tag,
        gone,
    } = change_some(&mut served);
    let renamed = served
        .iter()
        .position(|c| c["id"] != changed.as_str())
        .unwrap();
    let old_name = served[renamed]["name"].clone();
    served[renamed]["name"] = json!("renamed-for-a-while");
    let mut new = served[renamed].clone();
    new["id"] = json!("00000000-new-0000-0000-000000000000");
    new["name"] = json!("brand-new");
    served.push(new);
    env.sim.state.set_inventory(served.clone());
    let second = env.sync(&[]).await["run_id"].to_string();

    // Run 3: the rename goes back, and telemetry alone moves.
    served[renamed]["name"] = old_name;
    for c in served.iter_mut() {
        c["updated_at"] = json!("2026-11-27T00:00:00.000Z");
    }
    env.sim.state.set_inventory(served.clone());
    let third = env.sync(&[]).await["run_id"].to_string();

    let net = json_of(&env, &["diff", &first, &third]).await;
    let mut expected = vec![
        format!("\"{gone}\" \"removed\" null"),
        "\"00000000-new-0000-0000-000000000000\" \"added\" null".to_owned(),
        format!("\"{changed}\" \"modified\" \"tags.{key}\""),
        format!("\"{changed}\" \"modified\" \"ikepolicy.dpd\""),
    ];
    expected.sort();
    assert_eq!(
        fields(&net),
        expected,
        "the rename changed back: no difference"
    );
    let tag = net
        .iter()
        .find(|d| d["field"] == format!("tags.{key}"))
        .unwrap();
    assert_eq!((&tag["old"], &tag["new"]), (&old_tag, &json!("")));
    let dpd = net.iter().find(|d| d["field"] == "ikepolicy.dpd").unwrap();
    assert!(dpd["old"].is_object() && dpd.get("new").is_none(), "{dpd}");
    assert_eq!(
        net.iter().find(|d| d["change"] == "added").unwrap()["connection_name"],
        "brand-new"
    );

    // The other way round, removed and added swap and old and new too; `latest` is run 3.
    let back = json_of(&env, &["diff", "latest", &first]).await;
    let swapped: Vec<String> = fields(&back)
        .iter()
        .map(|f| {
            f.replace("\"added\"", "\"x\"")
                .replace("\"removed\"", "\"added\"")
        })
        .map(|f| f.replace("\"x\"", "\"removed\""))
        .collect();
    let mut swapped = swapped;
    swapped.sort();
    assert_eq!(swapped, expected);
    let tag_back = back
        .iter()
        .find(|d| d["field"] == format!("tags.{key}"))
        .unwrap();
    assert_eq!((&tag_back["old"], &tag_back["new"]), (&json!(""), &old_tag));

    // Neighbouring runs: exactly what the later one recorded, rename included.
    let step = json_of(&env, &["diff", &first, &second]).await;
    let recorded = json_of(&env, &["drift", "--run", &second]).await;
    assert_eq!(fields(&step), fields(&recorded));
    assert!(json_of(&env, &["diff", &third, &third]).await.is_empty());

    // Table and CSV; a run that is no complete one is an error naming it.
    let table = env.run(&["diff", &first, &third]).await;
    let text = &table.assert_ok().stdout;
    assert!(
        text.lines().next().unwrap().starts_with("CONNECTION"),
        "{text}"
    );
    assert!(text.contains("} -> (absent)"), "{text}");
    let csv = env.run(&["diff", &first, &third, "--format", "csv"]).await;
    let csv = &csv.assert_ok().stdout;
    assert_eq!(
        csv.lines().next(),
        Some("connection_id,connection_name,change,category,field,old,new,old_type,new_type")
    );
    assert_eq!(csv.lines().count(), 5);
    let same = env.run(&["diff", &third, &third]).await;
    assert!(same.assert_ok().stdout.contains("(no differences)"));
    fails_with(&env, &["diff", &first, "99"], 1, "no run 99").await;
    fails_with(
        &env,
        &["diff", &first, "someday"],
        64,
        "run id (7 or run:7)",
    )
    .await;
}

async fn diff_reads_many_versions_a_chunk_at_a_time(backend: Backend) {
    // 300 connections rewritten by `updated_at` alone are 600 versions to read, more than a
    // chunk (500); one new connection sorting first puts a chunk's end between the two
    // versions of one connection.
    let env = TestEnv::generated(backend, 300, 64).await;
    let first = env.sync(&[]).await["run_id"].to_string();
    let mut served = env.sim.state.inventory();
    for c in served.iter_mut() {
        c["updated_at"] = json!("2026-11-27T00:00:00.000Z");
    }
    let mut new = served[0].clone();
    new["id"] = json!("00000000-0000-0000-0000-000000000000");
    served.push(new);
    let mut ids: Vec<String> = served
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    // Connections at either side of row 500 of the ordered versions, and the last one.
    for at in [250, 251, 300] {
        let c = served
            .iter_mut()
            .find(|c| c["id"] == ids[at].as_str())
            .unwrap();
        c["name"] = json!(format!("renamed-{at}"));
    }
    env.sim.state.set_inventory(served);
    let second = env.sync(&[]).await;
    assert_eq!(second["modified"], 3);
    let found = json_of(&env, &["diff", &first, "latest"]).await;
    let mut expected: Vec<String> = [250, 251, 300]
        .map(|at| format!("\"{}\" \"modified\" \"name\"", ids[at]))
        .to_vec();
    expected.push(format!("\"{}\" \"added\" null", ids[0]));
    expected.sort();
    assert_eq!(fields(&found), expected);
    let mut recorded = json_of(&env, &["drift", "--run", &second["run_id"].to_string()]).await;
    let mut found = found;
    for records in [&mut found, &mut recorded] {
        records.sort_by_key(|r| format!("{} {}", r["connection_id"], r["field"]));
    }
    assert_eq!(found.len(), recorded.len());
    for (d, r) in found.iter().zip(&recorded) {
        for key in ["connection_id", "change", "field", "old", "new"] {
            assert_eq!(d.get(key), r.get(key), "{key}: {d} / {r}");
        }
    }
}

/// Every command that prints rows (`drift`, `history`, `diff`, `runs`) prints them as CSV
/// and as a Markdown table too: a header, then one line per JSON row, with the same cells.
async fn rows_print_as_csv_and_markdown_wherever_they_print(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 64).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    let Changed { id: changed, .. } = change_some(&mut served);
    env.sim.state.set_inventory(served);
    env.sync(&[]).await;
    let commands: [&[&str]; 4] = [
        &["drift"],
        &["history", &changed],
        &["diff", "1", "latest"],
        &["runs"],
    ];
    for command in commands {
        let json = json_of(&env, command).await;
        assert!(!json.is_empty(), "{command:?}");
        let with = |format: &'static str| {
            let mut args = command.to_vec();
            args.extend(["--format", format]);
            args
        };
        let csv = env.run(&with("csv")).await.assert_ok().stdout.clone();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), json.len(), "{command:?} csv");
        let id_column = if command[0] == "runs" {
            "run_id"
        } else {
            "connection_id"
        };
        let at = header.iter().position(|h| h == id_column).expect(id_column);
        for (row, object) in rows.iter().zip(&json) {
            let id = match &object[id_column] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(row[at], id, "{command:?} csv row");
        }

        let markdown = env.run(&with("markdown")).await.assert_ok().stdout.clone();
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines.len(), json.len() + 2, "{command:?}:\n{markdown}");
        let names: Vec<&str> = lines[0]
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(
            names,
            header.iter().collect::<Vec<_>>(),
            "{command:?} markdown"
        );
        assert!(
            lines[1].starts_with("| -") || lines[1].starts_with("|-"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2..]
                .iter()
                .all(|l| l.starts_with('|') && l.ends_with('|'))
        );
    }
}
