//! `vpn-inventory review`: the digest names its period and runs (a failed one too), counts
//! what `drift` counts, shows each change's values before and after and the policy
//! violations gained and lost, lists added and removed connections; its Markdown renders
//! into whole tables whatever the names hold, and its HTML renders in a real browser
//! without loading anything.

use crate::support::{Backend, TestEnv};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vpn_simulator::Faults;
use vpn_simulator::server::generated_inventory;

backend_tests!(
    the_digest_names_the_period_and_every_change,
    the_html_renders_in_a_browser_and_loads_nothing,
);

/// A Markdown table as a renderer reads it: header cells and rows of cells (text only).
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Every table of `markdown`, rendered as CommonMark with GitHub's tables.
fn tables(markdown: &str) -> Vec<Table> {
    let mut found = Vec::new();
    let (mut row, mut cell): (Vec<String>, Option<String>) = (Vec::new(), None);
    let mut header = None;
    let mut rows = Vec::new();
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => rows = Vec::new(),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(cell) = &mut cell {
                    cell.push_str(&text);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                panic!("raw HTML in the Markdown: {html}")
            }
            Event::End(TagEnd::TableCell) => row.push(cell.take().unwrap()),
            Event::End(TagEnd::TableHead) => header = Some(std::mem::take(&mut row)),
            Event::End(TagEnd::TableRow) => rows.push(std::mem::take(&mut row)),
            Event::End(TagEnd::Table) => found.push(Table {
                header: header.take().unwrap(),
                rows: std::mem::take(&mut rows),
            }),
            _ => {}
        }
    }
    found
}

/// The pipes of a Markdown line that are not escaped by a backslash.
fn pipes(line: &str) -> usize {
    let (mut count, mut escaped) = (0, false);
    for c in line.chars() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            ('|', false) => count += 1,
            _ => escaped = false,
        }
    }
    count
}

fn table_with<'a>(tables: &'a [Table], first: &[&str]) -> Vec<&'a Table> {
    tables
        .iter()
        .filter(|t| t.header.iter().take(first.len()).eq(first.iter()))
        .collect()
}

/// A name no table may break on: a pipe, a newline, backticks and markup.
const HOSTILE_NAME: &str = "edge|fra\nline `x` <b>bold</b> <img src=\"http://203.0.113.9/x.png\">";

async fn the_digest_names_the_period_and_every_change(backend: Backend) {
    let mut served = generated_inventory(40, 91);
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    let since = (chrono::Utc::now() - chrono::TimeDelta::minutes(1)).to_rfc3339();
    env.sync(&[]).await;

    let ike = |c: &Value| {
        c["ikepolicy"]["encryption_algorithm"]
            .as_str()
            .map(str::to_lowercase)
    };
    let weak = |c: &Value| ike(c).is_some_and(|e| e == "3des" || e == "des");
    let gains = served
        .iter()
        .position(|c| ike(c).is_some() && !weak(c))
        .unwrap();
    let loses = served
        .iter()
        .position(weak)
        .expect("a connection with 3DES or DES");
    let lost_value = served[loses]["ikepolicy"]["encryption_algorithm"].clone();
    let renamed = (0..served.len())
        .find(|i| ![gains, loses].contains(i))
        .unwrap();
    served[gains]["ikepolicy"]["encryption_algorithm"] = json!("3des");
    served[loses]["ikepolicy"]["encryption_algorithm"] = json!("aes-256");
    served[renamed]["name"] = json!(HOSTILE_NAME);
    let removed = served.pop().unwrap();
    let mut added = served[0].clone();
    added["id"] = json!("0f0f0f0f-0000-4000-8000-00000000beef");
    added["name"] = json!("added|in\nreview");
    served.push(added);
    env.sim.state.set_inventory(served);
    env.sync(&[]).await;
    // A run that fails in the period is named.
    env.sim.state.set_faults(Faults {
        error_page: Some((
            1,
            500,
            json!({"error_code": "VPN.9999", "error_msg": "boom"}),
        )),
        ..Faults::default()
    });
    let failed = env.run(&["sync", "--max-retries", "0"]).await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    env.sim.state.set_faults(Faults::default());
    // So is one that withheld removals: most connections missing at once.
    let all = env.sim.state.inventory();
    env.sim.state.set_inventory(all[..5].to_vec());
    let withheld = env.sync(&[]).await;
    assert!(withheld["removals_skipped"].is_string(), "{withheld}");
    let withheld_id = withheld["run_id"].as_i64().unwrap();
    env.sim.state.set_inventory(all);

    let run = env
        .run(&["review", "--since", &since, "--format", "markdown"])
        .await;
    let markdown = run.assert_ok().stdout.clone();
    let again = env
        .run(&["review", "--since", &since, "--format", "markdown"])
        .await;
    assert_eq!(
        again.stdout, markdown,
        "the same database gives the same document"
    );
    assert!(
        markdown.contains("Runs: 4 in the period; 1 failed; 1 withheld removals"),
        "{markdown}"
    );
    assert!(markdown.contains("Baselines left out"), "{markdown}");
    assert!(
        markdown.contains(&since.replace("+00:00", "Z")[..19]),
        "{markdown}"
    );
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let failed_id = runs[1]["run_id"].as_i64().unwrap();
    assert_eq!(runs[1]["status"], "failed");
    assert!(
        markdown.contains(&format!("**Warning:** Run {failed_id} failed")),
        "{markdown}"
    );
    let warning = format!("**Warning:** Run {withheld_id} withheld removals");
    assert!(markdown.contains(&warning), "{markdown}");

    let tables = tables(&markdown);
    for t in &tables {
        for row in &t.rows {
            assert_eq!(row.len(), t.header.len(), "a broken row {row:?} in {t:?}");
        }
    }
    // A renderer pads short rows and drops extra cells, so count them in the text too: every
    // line of a table has as many unescaped pipes as the table's first line.
    for block in markdown.split("\n\n").filter(|b| b.starts_with('|')) {
        let lines: Vec<&str> = block.lines().take_while(|l| l.starts_with('|')).collect();
        for line in &lines {
            assert_eq!(pipes(line), pipes(lines[0]), "{line}\nin\n{block}");
        }
    }
    // The counts are drift's for the same period.
    let drift = env
        .run(&["drift", "--since", &since, "--format", "json"])
        .await;
    let records = drift.assert_ok().json();
    let records = records.as_array().unwrap();
    let mut want: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for r in records {
        let key = ["project_id", "category", "change"].map(|k| r[k].as_str().unwrap().to_owned());
        *want.entry(key.to_vec()).or_default() += 1;
    }
    let counts = table_with(&tables, &["project", "category", "change", "count"]);
    let got: BTreeMap<Vec<String>, usize> = counts[0]
        .rows
        .iter()
        .map(|r| (r[..3].to_vec(), r[3].parse().unwrap()))
        .collect();
    assert_eq!(got, want);

    // Every modified field, with its values before and after, in its connection's table.
    let changes = table_with(&tables, &["field", "category", "before", "after"]);
    let shown: Vec<(String, String, String)> = changes
        .iter()
        .flat_map(|t| {
            t.rows
                .iter()
                .map(|r| (r[0].clone(), r[2].clone(), r[3].clone()))
        })
        .collect();
    let value = |v: &Value| {
        if v.is_null() {
            "(absent)".to_owned()
        } else {
            v.to_string()
        }
    };
    let modified: Vec<&Value> = records
        .iter()
        .filter(|r| r["change"] == "modified")
        .collect();
    assert!(modified.len() >= 3, "{records:?}");
    assert_eq!(shown.len(), modified.len(), "{shown:?}");
    for r in modified {
        let old = r.get("old").map_or("(absent)".to_owned(), value);
        let new = r.get("new").map_or("(absent)".to_owned(), value);
        let row = (r["field"].as_str().unwrap().to_owned(), old, new);
        assert!(shown.contains(&row), "{row:?} not in {shown:?}");
    }
    let hostile = json!(HOSTILE_NAME).to_string();
    assert!(
        shown
            .iter()
            .any(|(field, _, new)| field == "name" && *new == hostile),
        "{shown:?}"
    );
    // Policy: gained by one, lost by the other, judged by the same SQL as `check`.
    let gained = "Policy violations gained: encryption: ikepolicy.encryption\\_algorithm = 3des";
    assert!(markdown.contains(gained), "{markdown}");
    let lost = format!(
        "Policy violations lost: encryption: ikepolicy.encryption\\_algorithm = {}",
        lost_value.as_str().unwrap()
    );
    assert!(markdown.contains(&lost), "{markdown}");
    assert!(markdown.contains("the built-in policy"), "{markdown}");
    // The policy summary is `check`'s answer counted by rule.
    let check = env.run(&["check", "--format", "json"]).await.json();
    let mut by_rule: BTreeMap<String, (usize, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    for v in check.as_array().unwrap() {
        let rule = by_rule
            .entry(v["rule"].as_str().unwrap().to_owned())
            .or_default();
        rule.0 += 1;
        rule.1
            .insert(v["connection_id"].as_str().unwrap().to_owned());
    }
    let want: Vec<Vec<String>> = by_rule
        .into_iter()
        .map(|(rule, (n, ids))| vec![rule, n.to_string(), ids.len().to_string()])
        .collect();
    let policy = table_with(&tables, &["rule", "violations", "connections"]);
    assert!(!want.is_empty());
    assert_eq!(policy[0].rows, want);
    assert!(
        markdown.contains("unknown (no traces fetched)"),
        "{markdown}"
    );

    // --project narrows to one project (here the only one): the same document, scope apart.
    let project = env.config.project_id.clone();
    let args = [
        "review",
        "--since",
        &since,
        "--project",
        &project[..10],
        "--format",
        "markdown",
    ];
    let narrowed = env.run(&args).await;
    let scope = format!("- Scope: project {project}\n");
    assert_eq!(
        narrowed.assert_ok().stdout,
        markdown.replace("- Scope: every project\n", &scope)
    );
    let args = [
        "review", "--since", &since, "--target", "nowhere", "--format", "html",
    ];
    let unknown = env.run(&args).await;
    assert_eq!(unknown.code, Some(64), "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("--target nowhere"),
        "{}",
        unknown.stderr
    );

    // Added and removed connections, with their key fields.
    let listed = table_with(&tables, &["project", "connection", "name", "status"]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let added_row = &listed[0].rows[0];
    assert_eq!(added_row[1], "0f0f0f0f-0000-4000-8000-00000000beef");
    assert_eq!(added_row[2], "added|in\\nreview");
    let removed_row = &listed[1].rows[0];
    assert_eq!(removed_row[1], removed["id"].as_str().unwrap());
    assert_eq!(removed_row[3], removed["status"].as_str().unwrap());
    assert_eq!(removed_row[5], removed["vgw_id"].as_str().unwrap());
}

/// A loopback HTTP server that answers every request (origin-form, or absolute-form as a
/// proxy receives it) with `page` for a path ending in `/review.html` and 404 otherwise, and
/// records each request line.
async fn recording_server(page: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (page, record) = (page.clone(), record.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let line = head.lines().next().unwrap_or_default().to_owned();
                record.lock().unwrap().push(line.clone());
                let path = line.split(' ').nth(1).unwrap_or_default();
                let (status, body) = match path.ends_with("/review.html") {
                    true => ("200 OK", page),
                    false => ("404 Not Found", String::new()),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

/// Debian's `chromium`, if installed. Without it the test is skipped, saying so, except in
/// CI (`CI` set), where `.ci/run` installs it, so its absence is a failure.
fn browser() -> Option<std::path::PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| std::path::Path::new("/usr/bin").join(name))
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no browser (chromium) installed, and CI is set: `.ci/run` installs it \
             (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED: the review HTML browser test needs chromium (apt-get install chromium); \
             in CI (CI=true) this is a failure"
        );
    }
    found
}

async fn the_html_renders_in_a_browser_and_loads_nothing(backend: Backend) {
    let Some(chromium) = browser() else {
        return;
    };
    let mut served = generated_inventory(12, 92);
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    let since = (chrono::Utc::now() - chrono::TimeDelta::minutes(1)).to_rfc3339();
    env.sync(&[]).await;
    served[1]["name"] = json!(HOSTILE_NAME);
    served[2]["ikepolicy"]["lifetime_seconds"] = json!(12_345);
    env.sim.state.set_inventory(served);
    env.sync(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("review.html");
    let args = ["review", "--since", &since, "--format", "html", "--output"];
    let mut args = args.to_vec();
    args.push(file.to_str().unwrap());
    let run = env.run(&args).await;
    assert!(
        run.assert_ok().stdout.is_empty(),
        "--output writes the file only"
    );
    let page = std::fs::read_to_string(&file).unwrap();
    assert!(page.contains("Content-Security-Policy"), "{page}");

    let (dom, seen) = in_browser(&chromium, page).await;
    assert!(
        dom.contains("<svg") && dom.contains("id=\"timeline\""),
        "{dom}"
    );
    assert!(dom.matches("<table>").count() >= 4, "{dom}");
    assert!(dom.contains("Changed connections (2)"), "{dom}");
    // The hostile name is text, not elements.
    assert!(dom.contains("&lt;img src="), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    assert_eq!(seen, ["/review.html"], "the page alone was fetched");

    // The harness sees what a page loads: the same markup without the escaping and the
    // Content-Security-Policy fetches its image through the proxy.
    let control = "<!DOCTYPE html><title>control</title><img src=\"http://203.0.113.9/x.png\">";
    let (_, seen) = in_browser(&chromium, control.to_owned()).await;
    assert!(
        seen.iter().any(|r| r == "http://203.0.113.9/x.png"),
        "{seen:?}"
    );
}

/// Chromium's own requests to Google's services (component updates, sign-in), which no page
/// asked for and the flags below do not all turn off.
fn browser_service(request: &str) -> bool {
    let host = request
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap_or_default();
    ["google.com", "googleapis.com", "gstatic.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Loads `page` in headless `chromium` from a loopback server that is also the browser's
/// proxy for every address, loopback included, so every request lands there. Returns the
/// DOM after loading and the paths (absolute URLs for other hosts) requested, Chromium's
/// own requests to its services left out.
async fn in_browser(chromium: &std::path::Path, page: String) -> (String, Vec<String>) {
    let (port, seen) = recording_server(page).await;
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--disable-extensions",
            "--virtual-time-budget=3000",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--proxy-server=http://127.0.0.1:{port}"),
            "--proxy-bypass-list=<-loopback>",
            "--dump-dom",
            &format!("http://127.0.0.1:{port}/review.html"),
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let page_origin = format!("http://127.0.0.1:{port}");
    let seen = seen.lock().unwrap().clone();
    let requested = seen
        .iter()
        .map(|line| line.split(' ').nth(1).unwrap_or_default().to_owned())
        .filter(|target| !browser_service(target))
        .map(|target| match target.strip_prefix(&page_origin) {
            Some(path) => path.to_owned(),
            None => target,
        })
        .collect();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        requested,
    )
}

#[tokio::test]
async fn usage_mistakes_exit_64_naming_the_flag() {
    let env = TestEnv::generated(Backend::Sqlite, 3, 93).await;
    let cases: [(&[&str], &str); 5] = [
        (&["--since", "last week", "--format", "html"], "--since"),
        (&["--since", "7d", "--format", "pdf"], "--format"),
        (&["--since", "7d"], "--format"),
        (&["--format", "markdown"], "--since"),
        (
            &[
                "--since",
                "2026-12-02",
                "--until",
                "2026-12-01",
                "--format",
                "html",
            ],
            "--since 2026-12-02T00:00:00Z is not before --until",
        ),
    ];
    for (args, named) in cases {
        let mut all = vec!["review"];
        all.extend_from_slice(args);
        let run = env.run(&all).await;
        assert_eq!(run.code, Some(64), "{all:?}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{all:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{all:?}: {}", run.stdout);
    }
}
