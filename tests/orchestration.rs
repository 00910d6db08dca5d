//! The build graph with small real recipes (no interpreter needed): dependency order,
//! a failure held to its dependents, the no-op rebuild that builds nothing, and a
//! changed recipe rebuilding exactly itself and what depends on it.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn recipe(root: &Path, name: &str, host: &[&str], script: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.txt"), format!("{name} v1\n")).unwrap();
    let host = if host.is_empty() {
        String::new()
    } else {
        format!("requirements:\n  host: [{}]\n", host.join(", "))
    };
    std::fs::write(
        dir.join("recipe.yaml"),
        format!("package:\n  name: {name}\n  version: \"1.0\"\nbuild:\n  script:\n    - {script}\n{host}"),
    )
    .unwrap();
}

/// Writes `root/name/recipe.yaml` with `yaml`; returns the recipe folder.
fn write_recipe(root: &Path, name: &str, yaml: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("recipe.yaml"), yaml).unwrap();
    dir
}

struct Run {
    ok: bool,
    /// (event, job, ok/summary) from --json progress events, in order.
    events: Vec<serde_json::Value>,
    stdout: String,
}

fn build(root: &Path, channel: &Path, cache: &Path, extra: &[&str]) -> Run {
    let out = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .arg("build")
        .arg(root)
        .arg("--channel")
        .arg(channel)
        .arg("--json")
        .args(extra)
        .env("FTFORGE_CACHE_DIR", cache));
    let events = text(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Run {
        ok: out.status.success(),
        events,
        stdout: text(&out.stdout),
    }
}

fn finished(run: &Run) -> Vec<(String, bool, String)> {
    run.events
        .iter()
        .filter(|e| e["event"] == "finished")
        .map(|e| {
            (
                e["job"].as_str().unwrap().to_string(),
                e["ok"].as_bool().unwrap(),
                e["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn built(run: &Run) -> Vec<String> {
    finished(run)
        .into_iter()
        .filter(|(_, ok, s)| *ok && s.starts_with("built"))
        .map(|(j, _, _)| j)
        .collect()
}

#[test]
fn order_isolation_reuse_and_exact_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recipes");
    let copy = "mkdir -p $PREFIX/share && cp $RECIPE_DIR/data.txt $PREFIX/share/$PKG_NAME.txt";
    recipe(&root, "base", &[], copy);
    recipe(&root, "mid", &["base"], copy);
    recipe(&root, "top", &["mid"], copy);
    recipe(&root, "other", &[], copy);
    recipe(&root, "broken", &[], "echo cannot build this && exit 9");
    recipe(&root, "afterbroken", &["broken"], copy);
    let channel = dir.path().join("channel");
    let cache = dir.path().join("cache");

    // The plan shows the graph.
    let plan = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .arg("plan")
        .arg(&root)
        .arg("--channel")
        .arg(&channel)
        .arg("--json")
        .env("FTFORGE_CACHE_DIR", &cache));
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let plan: serde_json::Value = serde_json::from_str(&text(&plan.stdout)).unwrap();
    let deps = |job: &str| -> Vec<String> {
        let row = plan
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["job"] == job)
            .unwrap();
        row["depends_on"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(deps("top 1.0"), vec!["mid 1.0"]);
    assert_eq!(deps("mid 1.0"), vec!["base 1.0"]);
    assert!(deps("other 1.0").is_empty());
    assert!(plan
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "build"));

    // First build: dependency order, the failure is a result, only its dependent waits.
    let first = build(&root, &channel, &cache, &["-j", "2"]);
    assert!(
        first.ok,
        "a failing package is not a failing run: {:?}",
        first.events
    );
    let order: Vec<String> = built(&first);
    let pos = |j: &str| {
        order
            .iter()
            .position(|x| x == j)
            .unwrap_or_else(|| panic!("{j} not built: {order:?}"))
    };
    assert!(
        pos("base 1.0") < pos("mid 1.0") && pos("mid 1.0") < pos("top 1.0"),
        "{order:?}"
    );
    assert!(order.contains(&"other 1.0".to_string()));
    let all = finished(&first);
    let broken = all.iter().find(|(j, _, _)| j == "broken 1.0").unwrap();
    assert!(!broken.1 && broken.2.contains("build-failed"), "{broken:?}");
    let blocked = all.iter().find(|(j, _, _)| j == "afterbroken 1.0").unwrap();
    assert!(
        !blocked.1 && blocked.2.contains("blocked: broken 1.0"),
        "{blocked:?}"
    );
    assert!(
        !first
            .events
            .iter()
            .any(|e| e["job"] == "afterbroken 1.0" && e["event"] == "step"),
        "afterbroken must not start"
    );
    let compat = compat(&channel);
    assert_eq!(
        compat["records"]["broken/1.0/any"]["verdict"],
        "build-failed"
    );
    assert!(compat["records"]["broken/1.0/any"]["evidence"]["log_tail"]
        .as_str()
        .unwrap()
        .contains("cannot build this"));

    // Nothing changed: nothing builds.
    let again = build(&root, &channel, &cache, &[]);
    assert!(again.ok);
    assert!(built(&again).is_empty(), "rebuilt: {:?}", built(&again));
    assert!(
        !again.events.iter().any(|e| e["event"] == "step"),
        "a no-op build ran steps"
    );
    let reused = finished(&again)
        .iter()
        .filter(|(_, ok, s)| *ok && s == "up to date")
        .count();
    assert_eq!(reused, 4, "{:?}", finished(&again));
    assert!(again.stdout.contains("reused"));

    // Change mid: mid and top rebuild, base and other are reused.
    std::fs::write(root.join("mid/data.txt"), "mid v2\n").unwrap();
    let changed = build(&root, &channel, &cache, &[]);
    assert!(changed.ok);
    let mut rebuilt = built(&changed);
    rebuilt.sort();
    assert_eq!(rebuilt, vec!["mid 1.0".to_string(), "top 1.0".to_string()]);

    // --force rebuilds everything that can build.
    let forced = build(&root, &channel, &cache, &["--force"]);
    assert_eq!(built(&forced).len(), 4, "{:?}", finished(&forced));
}

#[test]
fn a_dependency_cycle_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recipes");
    // Each needs what the other produces, at build time.
    for (name, other) in [("egg", "hen"), ("hen", "egg")] {
        write_recipe(&root, name, &format!("package:\n  name: {name}\n  version: \"1.0\"\nbuild:\n  script:\n    - echo {name} > $PREFIX/{name}.txt\nrequirements:\n  run: [{other}]\n"));
    }
    let channel = dir.path().join("channel");
    let run = build(&root, &channel, &dir.path().join("cache"), &[]);
    assert!(
        !run.ok,
        "a cycle must not end successfully: {:?}",
        run.events
    );
    let out = run_plan(&root, &channel);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cycle") && err.contains("egg 1.0") && err.contains("hen 1.0"),
        "{err}"
    );
    assert!(built(&run).is_empty(), "{:?}", finished(&run));
}

fn run_plan(root: &Path, channel: &Path) -> std::process::Output {
    run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .arg("plan")
        .arg(root)
        .arg("--channel")
        .arg(channel))
}

/// The one package of a channel's linux-64 subdir: (file name, bytes).
fn only_package(channel: &Path) -> (String, Vec<u8>) {
    let subdir = channel.join(ftforge_channels::platform());
    let files: Vec<_> = std::fs::read_dir(&subdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conda"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    (
        files[0].file_name().unwrap().to_string_lossy().into_owned(),
        std::fs::read(&files[0]).unwrap(),
    )
}

#[test]
fn an_unchanged_recipe_rebuilds_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recipes");
    let recipe_dir = write_recipe(
        &root,
        "stamp",
        "package:\n  name: stamp\n  version: \"1.0\"\nbuild:\n  script:\n    - mkdir -p $PREFIX/bin $PREFIX/share\n    - cc -O2 -o $PREFIX/bin/stamp $RECIPE_DIR/stamp.c\n    - echo hello > $PREFIX/share/stamp.txt\n",
    );
    // A compiled program that embeds the build date (__DATE__ / __TIME__ follow
    // SOURCE_DATE_EPOCH) and a text file: both must come out the same.
    std::fs::write(
        recipe_dir.join("stamp.c"),
        "#include <stdio.h>\nint main(void) { puts(\"built \" __DATE__ \" \" __TIME__); return 0; }\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let mut packages = Vec::new();
    for (i, pause) in [(0, false), (1, true)] {
        if pause {
            // A second later: a clock-dependent timestamp would differ.
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let channel = dir.path().join(format!("channel{i}"));
        let run = build(&root, &channel, &cache, &["--force"]);
        assert!(run.ok, "{:?}", run.events);
        packages.push(only_package(&channel));
    }
    assert_eq!(packages[0].0, packages[1].0);
    assert!(
        packages[0].1 == packages[1].1,
        "two builds of an unchanged recipe gave different bytes ({} vs {} bytes)",
        packages[0].1.len(),
        packages[1].1.len()
    );
}

/// A build judged by other code (another judging digest in its stored report) is not
/// rebuilt, but its tests run again; judged by this code, it is simply reused.
#[test]
fn builds_judged_by_other_code_are_judged_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recipes");
    write_recipe(
        &root,
        "judged",
        "package:\n  name: judged\n  version: \"1.0\"\nbuild:\n  script:\n    - mkdir -p $PREFIX/share && echo ok > $PREFIX/share/judged.txt\ntests:\n  - script:\n      - test -f $PREFIX/share/judged.txt\n",
    );
    let channel = dir.path().join("channel");
    let cache = dir.path().join("cache");
    let summary = |run: &Run| finished(run)[0].2.clone();
    let first = build(&root, &channel, &cache, &[]);
    assert!(first.ok, "{:?}", first.events);
    assert!(
        summary(&first).starts_with("built"),
        "{:?}",
        finished(&first)
    );
    let (name, bytes) = only_package(&channel);

    let reused = build(&root, &channel, &cache, &[]);
    assert_eq!(summary(&reused), "up to date");

    // As if the stored verdicts had been made by an older ftforge.
    let reports: Vec<_> = std::fs::read_dir(channel.join("ftforge/builds"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(reports.len(), 1);
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reports[0]).unwrap()).unwrap();
    report["outputs"][0]["judged_with"] = "an older judge".into();
    std::fs::write(&reports[0], serde_json::to_vec(&report).unwrap()).unwrap();

    let again = build(&root, &channel, &cache, &[]);
    assert!(again.ok, "{:?}", again.events);
    assert!(
        summary(&again).starts_with("judged again"),
        "{:?}",
        finished(&again)
    );
    // The same file, not rebuilt; the report now carries this code's digest.
    assert_eq!(only_package(&channel), (name, bytes));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reports[0]).unwrap()).unwrap();
    assert_ne!(report["outputs"][0]["judged_with"], "an older judge");
    assert_eq!(report["outputs"][0]["tests"][0]["passed"], true, "{report}");
    assert_eq!(summary(&build(&root, &channel, &cache, &[])), "up to date");
}
