//! `ftforge matrix`: a hand-written channel covering every verdict (all four formats,
//! snapshots of the text ones; one interpreter probed under load in today's format, one
//! in the format of older reports), a hand-written channel with several versions per
//! package (newest first by PEP 440, "GIL-free since", in every format and in
//! Chromium), a real channel built by ftforge read from a directory and over HTTP, the
//! HTML page rendered by headless Chromium, and `--filter` answers.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn matrix(channel: &str, args: &[&str]) -> (String, String) {
    let out = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .args(["matrix", "-c", channel])
        .args(args)
        .env("NO_COLOR", "1"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

fn fixture() -> String {
    repo_root()
        .join("tests/fixtures/every-verdict")
        .to_string_lossy()
        .into_owned()
}

/// pyyaml 6.0.2 (GIL back on), 6.0.3 (off), 6.0.10 (off; skipped on cp313t): GIL-free
/// since 6.0.3, and only PEP 440 puts 6.0.10 first. ujson 5.9.0 and 5.10.0 keep it
/// off, the newest 5.11.0 turns it on: not GIL-free. markupsafe has one version.
fn history_fixture() -> String {
    repo_root()
        .join("tests/fixtures/history")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_verdict_in_every_format() {
    let channel = fixture();
    let (table, _) = matrix(&channel, &["--format", "table"]);
    let table = table.replace(&channel, "<fixture>");
    insta::assert_snapshot!("table_every_verdict", table);
    let (markdown, _) = matrix(&channel, &["--format", "markdown"]);
    insta::assert_snapshot!("markdown_every_verdict", markdown);

    let (json, _) = matrix(&channel, &["--json"]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(m["schema_version"], 2);
    assert_eq!(m["variants"], serde_json::json!(["cp314t", "cp314"]));
    let seen: std::collections::BTreeSet<String> = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["cells"]
                .as_object()
                .unwrap()
                .values()
                .map(|c| c["verdict"].as_str().unwrap().to_string())
        })
        .collect();
    for v in [
        "build-failed",
        "import-failed",
        "tests-failed",
        "gil-reenabled",
        "stress-failed",
        "gil-free",
        "verified",
        "pure-python",
        "skipped",
        "ok",
    ] {
        assert!(seen.contains(v), "{v} missing from {seen:?}");
    }
    assert_eq!(m["summary"]["usable_free_threaded"], 3);

    let (html, _) = matrix(&channel, &["--format", "html"]);
    assert!(html.starts_with("<!doctype html>"));
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(
            !html.contains(external),
            "the page must not load {external}"
        );
    }
    assert!(html.contains("pkg-gil-reenabled"));
    // Colours come from Verdict::severity (in the legend), not from a table in the page.
    assert!(html.contains(r#""verdict":"gil-reenabled","meaning":"#));
    assert!(html.contains(r#""severity":"warn""#) && html.contains(".v-warn"));
    assert!(
        !html.contains("'gil-reenabled':"),
        "a hand-written verdict map"
    );
    // The interpreter cards say how the probes were measured, and flag load.
    assert!(
        html.contains("measured with 1 other build running, load 2.1 on 2 cores"),
        "{html}"
    );
    assert!(html.contains(r#""under_load":true"#));
    assert!(html.contains("measurement conditions not recorded"));
    let legend = m["legend"].as_array().unwrap();
    let severity = |v: &str| {
        legend.iter().find(|l| l["verdict"] == v).unwrap()["severity"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        [
            "verified",
            "gil-reenabled",
            "import-failed",
            "skipped",
            "ok"
        ]
        .map(severity),
        ["good", "warn", "bad", "neutral", "good"]
    );
}

#[test]
fn filter_answers_whether_a_requirements_list_can_go_free_threaded() {
    let (out, _) = matrix(&fixture(), &["--filter", "pkg-verified", "pkg-pure-python"]);
    assert!(
        out.trim_end()
            .ends_with("all 2 usable free-threaded on cp314t"),
        "{out}"
    );
    let (out, _) = matrix(
        &fixture(),
        &["--filter", "pkg-verified", "pkg-gil-reenabled", "numpy"],
    );
    assert!(
        out.contains("2 of 3 block free-threading on cp314t"),
        "{out}"
    );
    assert!(
        out.contains(
            "pkg-gil-reenabled 1.2 is gil-reenabled on cp314t: importing demo._c turned the GIL on"
        ),
        "{out}"
    );
    assert!(out.contains("numpy has no cp314t build"), "{out}");
    assert!(!out.contains("pkg-skipped"), "{out}");
}

#[test]
fn versions_newest_first_and_gil_free_since() {
    let channel = history_fixture();
    let (json, _) = matrix(&channel, &["--json"]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(m["schema_version"], 2);
    let rows: Vec<String> = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["name"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "markupsafe 3.0.2",
            "pyyaml 6.0.10",
            "pyyaml 6.0.3",
            "pyyaml 6.0.2",
            "ujson 5.11.0",
            "ujson 5.10.0",
            "ujson 5.9.0"
        ]
    );
    let history = |name: &str| {
        m["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        history("pyyaml"),
        serde_json::json!({
            "name": "pyyaml",
            "newest": "6.0.10",
            "versions": ["6.0.10", "6.0.3", "6.0.2"],
            "gil_free_since": {"cp314t": "6.0.3", "cp313t": "6.0.3"}
        })
    );
    assert_eq!(
        history("ujson")["gil_free_since"],
        serde_json::json!({"cp314t": null})
    );
    assert_eq!(history("markupsafe")["gil_free_since"]["cp314t"], "3.0.2");
    // The headline counts packages by their newest version.
    assert_eq!(m["summary"]["packages"], 3);
    assert_eq!(m["summary"]["versions"], 7);
    assert_eq!(m["summary"]["usable_free_threaded"], 2);
    assert_eq!(m["summary"]["reenable_gil"], 1);

    let (table, _) = matrix(&channel, &[]);
    let lines: Vec<&str> = table.lines().collect();
    let line = |start: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start}:\n{table}"))
    };
    assert!(line("package").ends_with("GIL-free since"), "{table}");
    assert!(
        line("pyyaml 6.0.10 ").ends_with("cp314t 6.0.3 · cp313t 6.0.3"),
        "{table}"
    );
    assert!(line("ujson 5.11.0 ").ends_with("cp314t none"), "{table}");
    let position = |start: &str| lines.iter().position(|l| l.starts_with(start)).unwrap();
    assert!(
        position("pyyaml 6.0.10") < position("pyyaml 6.0.3")
            && position("pyyaml 6.0.3") < position("pyyaml 6.0.2"),
        "{table}"
    );
    // The "since" value stands once per package, on its first row.
    assert!(
        line("pyyaml 6.0.3 ").trim_end().ends_with("gil-free"),
        "{table}"
    );
    assert!(
        table.contains("3 packages (7 versions) · on cp314t (newest versions): 2 usable free-threaded, 1 re-enable the GIL"),
        "{table}"
    );

    let (markdown, _) = matrix(&channel, &["--format", "markdown"]);
    assert!(
        markdown.contains("| package | cp314t | cp314 | cp313t | GIL-free since |"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "| pyyaml 6.0.10 | ✅ verified | ✅ verified | ➖ skipped | cp314t 6.0.3 · cp313t 6.0.3 |"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| *pyyaml 6.0.2* | ⚠️ gil-reenabled | ✅ ok | ⚠️ gil-reenabled | |"),
        "{markdown}"
    );

    // A bare name is judged by its newest version; a pinned old one says what fixed it.
    let (out, _) = matrix(&channel, &["--filter", "pyyaml", "markupsafe"]);
    assert!(
        out.trim_end()
            .ends_with("all 2 usable free-threaded on cp314t"),
        "{out}"
    );
    assert!(
        out.contains("pyyaml 6.0.2"),
        "a bare name shows every version:\n{out}"
    );
    let (out, _) = matrix(&channel, &["--filter", "pyyaml==6.0.2", "ujson"]);
    assert!(
        out.contains("pyyaml 6.0.2 is gil-reenabled on cp314t: importing yaml._yaml turned the GIL on (pyyaml 6.0.3 and later keep the GIL off)"),
        "{out}"
    );
    assert!(
        out.contains("ujson 5.11.0 is gil-reenabled on cp314t"),
        "{out}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("pyyaml 6.0.3")),
        "a pinned version shows only that row:\n{out}"
    );

    // The page groups versions and shows the same "since" text.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("matrix.html");
    let (_, _) = matrix(
        &channel,
        &["--format", "html", "-o", page.to_str().unwrap()],
    );
    let dom = chromium(&page, &dir.path().join("matrix.png"));
    let tbody = dom.split("<tbody>").nth(1).unwrap_or_default();
    let order: Vec<usize> = [
        "pyyaml</b> 6.0.10",
        "pyyaml</span> 6.0.3",
        "pyyaml</span> 6.0.2",
    ]
    .iter()
    .map(|s| {
        tbody
            .find(s)
            .unwrap_or_else(|| panic!("{s} not in\n{tbody}"))
    })
    .collect();
    assert!(order[0] < order[1] && order[1] < order[2], "{tbody}");
    assert!(
        tbody.contains(r#"<td class="since">cp314t 6.0.3 · cp313t 6.0.3</td>"#),
        "{tbody}"
    );
    assert!(
        tbody.contains(r#"<td class="since">cp314t none</td>"#),
        "{tbody}"
    );
    assert!(tbody.contains(r#"<tr class="older">"#), "{tbody}");
}

/// Renders a page in headless Chromium: the DOM after scripts ran, and a screenshot.
fn chromium(page: &Path, png: &Path) -> String {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("which")
                .arg(b)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium (Debian package `chromium`, installed by .ci/setup)");
    let profile = tempfile::tempdir().unwrap();
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,900",
    ];
    let url = format!("file://{}", page.display());
    let dom = run(Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=3000", "--dump-dom"])
        .arg(&url));
    assert!(dom.status.success(), "{}", text(&dom.stderr));
    let shot = run(Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--virtual-time-budget=3000")
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url));
    assert!(
        shot.status.success() && png.is_file(),
        "{}",
        text(&shot.stderr)
    );
    text(&dom.stdout)
}

/// Distinct colours in a PNG: a blank page has one or two.
fn distinct_colours(png: &Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    bytes
        .chunks(step)
        .map(|px| px.to_vec())
        .collect::<std::collections::HashSet<_>>()
        .len()
}

#[test]
fn a_real_channel_over_http_and_its_page_in_chromium() {
    let channel = channel_with(
        &["recipes/markupsafe", GIL_REENABLING_RECIPE],
        &["--python", "3.14"],
    );
    let served = serve(&channel);
    let (from_dir, _) = matrix(channel.to_str().unwrap(), &["--json"]);
    let (from_http, _) = matrix(&served.url, &["--json"]);
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["channel"] = serde_json::Value::Null;
        v
    };
    assert_eq!(
        strip(&from_dir),
        strip(&from_http),
        "HTTP and directory give the same matrix"
    );
    let m = strip(&from_dir);
    let row = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pyyaml" && r["version"] == "6.0.2")
        .unwrap();
    assert_eq!(row["cells"]["cp314t"]["verdict"], "gil-reenabled");
    assert!(
        m["interpreters"]["cp314t"]["facts"]["gil_enabled"] == false,
        "{}",
        m["interpreters"]
    );

    let (table, _) = matrix(&served.url, &[]);
    assert!(
        table.contains(&format!("markupsafe {}", shipped_version("markupsafe")))
            && table.contains("usable free-threaded"),
        "{table}"
    );
    let (markdown, _) = matrix(&served.url, &["--format", "markdown"]);
    // Italic when the channel also holds a newer pyyaml (built by other tests).
    assert!(
        markdown.contains("| pyyaml 6.0.2 |") || markdown.contains("| *pyyaml 6.0.2* |"),
        "{markdown}"
    );

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("matrix.html");
    let status = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .args(["matrix", "-c", &served.url, "--format", "html", "-o"])
        .arg(&page));
    assert!(status.status.success(), "{}", text(&status.stderr));
    let png = dir.path().join("matrix.png");
    let dom = chromium(&page, &png);
    let tbody = dom.split("<tbody>").nth(1).unwrap_or_default();
    assert!(
        tbody.contains("markupsafe") && tbody.contains("gil-reenabled"),
        "the script did not render rows:\n{dom}"
    );
    // The generated severity map reached the page's classes.
    assert!(
        tbody.contains(r#"class="v v-warn""#) && tbody.contains(r#"class="v v-good""#),
        "{tbody}"
    );
    // Every interpreter card says how its probes were measured.
    let cards = dom.split(r#"id="cards""#).nth(1).unwrap_or_default();
    assert!(cards.contains(r#"class="measured"#), "{cards}");
    let colours = distinct_colours(&png);
    assert!(
        colours > 20,
        "the screenshot looks blank ({colours} colours)"
    );
    if let Ok(keep) = std::env::var("FTFORGE_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
