//! Python 3.15 and the free-threaded stable ABI, end to end: `ftforge build
//! recipes/python --python 3.15` builds the release candidate 3.15.0rc2 free-threaded
//! and with the GIL into `label/python_rc` (never main); py-rattler installs each from
//! that label and the interpreter runs with the right GIL state. A C extension written
//! for abi3t (PEP 803) is built once and judged on both 3.15 interpreters from
//! fresh-process imports; a `.abi3.so` module on cp315t is reported with the
//! interpreter's own error; `python.version_independent` on a build that is not abi3t
//! fails with the modules it found.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The release-candidate interpreters, built once into the test cache (reused from the
/// build cache on later runs): a channel of their own, so the other tests' channel
/// keeps the default set.
fn rc_channel() -> PathBuf {
    static BUILD: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut done = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = done.as_ref() {
        return found.clone();
    }
    let channel = test_cache().join("channel-rc");
    let out = run(ftforge()
        .args(["build", "recipes/python", "--python", "3.15", "--channel"])
        .arg(&channel)
        .current_dir(repo_root()));
    assert!(
        out.status.success(),
        "the 3.15 interpreter build failed:\n{}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    *done = Some(channel.clone());
    channel
}

fn repodata(channel: &Path, subdir: &str) -> serde_json::Value {
    match std::fs::read_to_string(channel.join(subdir).join("repodata.json")) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(_) => serde_json::json!({"packages.conda": {}}),
    }
}

/// (file name, record) of every package named `name` in a subdir.
fn records(channel: &Path, subdir: &str, name: &str) -> Vec<(String, serde_json::Value)> {
    repodata(channel, subdir)["packages.conda"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["name"] == name)
        .map(|(f, r)| (f.clone(), r.clone()))
        .collect()
}

/// Runs `code` with the environment's `python`; returns stdout.
fn python_in(prefix: &Path, code: &str) -> String {
    let out = run(Command::new(prefix.join("bin/python"))
        .args(["-c", code])
        .env_remove("PYTHON_GIL"));
    assert!(
        out.status.success(),
        "{code}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "the full set: builds the 3.15.0rc2 pair and its C libraries (about 10 minutes); cargo test --test python315 -- --ignored"]
fn release_candidates_go_to_python_rc_and_run_with_the_right_gil_state() {
    let channel = rc_channel();
    let label = channel.join("label/python_rc");
    // Main offers no release candidate; the label has both builds and their python_abi.
    for subdir in ["linux-64", "noarch"] {
        for name in ["python", "python_abi", "python-freethreading", "python-gil"] {
            let in_main: Vec<String> = records(&channel, subdir, name)
                .into_iter()
                .filter(|(_, r)| r["version"].as_str().unwrap().starts_with("3.15"))
                .map(|(f, _)| f)
                .collect();
            assert!(in_main.is_empty(), "main lists {in_main:?}");
        }
    }
    let pythons = records(&label, "linux-64", "python");
    for tag in ["cp315t", "cp315"] {
        let found: Vec<_> = pythons
            .iter()
            .filter(|(_, r)| r["build"].as_str().unwrap().ends_with(&format!("_{tag}")))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one python *_{tag} in label/python_rc: {pythons:?}"
        );
        assert_eq!(found[0].1["version"], "3.15.0rc2");
    }
    let abis = records(&label, "noarch", "python_abi");
    assert!(
        abis.iter()
            .any(|(_, r)| r["version"] == "3.15" && r["build"] == "8_cp315t"),
        "{abis:?}"
    );

    let label_url = label.to_string_lossy().into_owned();
    for (spec, gil) in [
        ("python 3.15.* *_cp315t", "False"),
        ("python 3.15.* *_cp315", "True"),
    ] {
        let prefix = tempfile::tempdir().unwrap();
        py_rattler_install(&label_url, prefix.path(), &[spec]);
        let said = python_in(
            prefix.path(),
            "import sys, platform; print(platform.python_version(), sys._is_gil_enabled())",
        );
        assert_eq!(said, format!("3.15.0rc2 {gil}"), "{spec}");
    }

    // Without --python, a build of the python recipe leaves the release candidate out.
    let out = run(ftforge()
        .args(["plan", "recipes/python", "--json", "--channel"])
        .arg(&channel)
        .current_dir(repo_root()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(!plan.contains("3.15"), "{plan}");
    assert!(plan.contains("3.14.7"), "{plan}");
}

#[test]
#[ignore = "the full set: builds the 3.15.0rc2 pair and its C libraries (about 10 minutes); cargo test --test python315 -- --ignored"]
fn an_abi3t_package_is_built_once_and_judged_on_every_315_interpreter() {
    let work = tempfile::tempdir().unwrap();
    let source = rc_channel();
    let channel = work.path().join("channel");
    let out = run(Command::new("cp").arg("-a").arg(&source).arg(&channel));
    assert!(out.status.success(), "cp -a: {}", text(&out.stderr));
    let recipes = work.path().join("recipes");
    counter_recipe(&recipes, "abi3t-counter", "abi3t", true, 0, 0);
    counter_recipe(&recipes, "abi3-named", "abi3", false, 0, 0);
    counter_recipe(&recipes, "not-abi3t", "version", true, 0, 0);

    let out = run(ftforge()
        .arg("build")
        .arg(&recipes)
        .args(["--python", "3.15", "--json", "--channel"])
        .arg(&channel)
        .current_dir(work.path()));
    let stderr = text(&out.stderr);
    // not-abi3t fails on purpose: the build exits non-zero with its verdict recorded.
    assert!(
        stderr.contains("abi3t-counter"),
        "{stderr}\n{}",
        text(&out.stdout)
    );
    let label = channel.join("label/python_rc");

    // Built once: one file, for every interpreter from 3.15 on, GIL or not.
    let files = records(&label, "linux-64", "abi3t-counter");
    assert_eq!(files.len(), 1, "{files:?}\n{stderr}");
    let (filename, record) = &files[0];
    assert!(filename.contains("-abi3t_h"), "{filename}");
    assert_eq!(
        record["depends"],
        serde_json::json!(["python >=3.15.0rc2"]),
        "no python_abi pin: {record}"
    );
    assert!(
        records(&channel, "linux-64", "abi3t-counter").is_empty(),
        "not in main"
    );

    let compat = compat(&channel);
    let verdict =
        |package: &str, abi: &str| compat["records"][format!("{package}/1.0.0/{abi}")].clone();
    for abi in ["cp315t", "cp315"] {
        let r = verdict("abi3t-counter", abi);
        assert_eq!(r["stable_abi"], "abi3t", "{abi}: {r}");
        assert_eq!(
            r["filename"],
            filename.as_str(),
            "{abi}: judged the one file"
        );
        let evidence = &r["evidence"];
        assert_eq!(evidence["modules"][0]["abi"], "abi3t", "{evidence}");
        assert_eq!(evidence["imports"][0]["module"], "abi3t_counter._counter");
        assert_eq!(evidence["imports"][0]["imported"], true, "{evidence}");
    }
    let ft = verdict("abi3t-counter", "cp315t");
    // The fixture declares no stress snippet.
    assert_eq!(ft["verdict"], "gil-free", "{ft}");
    assert_eq!(ft["evidence"]["imports"][0]["gil_after"], false);
    assert_eq!(verdict("abi3t-counter", "cp315")["verdict"], "ok");

    // A plain `.abi3.so` is not loadable free-threaded: the interpreter's own words.
    let abi3 = verdict("abi3-named", "cp315t");
    assert_eq!(abi3["verdict"], "import-failed", "{abi3}");
    let reason = abi3["reason"].as_str().unwrap();
    assert!(
        reason.contains("ModuleNotFoundError: No module named 'abi3_named._counter'")
            && reason.contains("does not load `.abi3.so`"),
        "{reason}"
    );
    assert_eq!(verdict("abi3-named", "cp315")["verdict"], "ok");

    // version_independent on a build that is not abi3t: refused, with what it built.
    let wrong = verdict("not-abi3t", "cp315t");
    assert_eq!(wrong["verdict"], "build-failed", "{wrong}");
    let reason = wrong["reason"].as_str().unwrap();
    assert!(
        reason.contains("version_independent") && reason.contains("not_abi3t._counter (version)"),
        "{reason}"
    );
    assert!(records(&label, "linux-64", "not-abi3t").is_empty());

    // Installed by py-rattler from the label into each interpreter, it works.
    let label_url = label.to_string_lossy().into_owned();
    for (interp, gil) in [
        ("python 3.15.* *_cp315t", "False"),
        ("python 3.15.* *_cp315", "True"),
    ] {
        let prefix = tempfile::tempdir().unwrap();
        py_rattler_install(&label_url, prefix.path(), &[interp, "abi3t-counter"]);
        let said = python_in(
            prefix.path(),
            "import sys, abi3t_counter; print(abi3t_counter.add(2, 3), sys._is_gil_enabled())",
        );
        assert_eq!(said, format!("5 {gil}"), "{interp}");
    }

    // The matrix has the 3.15 columns and marks the abi3t cells.
    let out = run(ftforge()
        .args(["matrix", "--format", "markdown", "--channel"])
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.contains("cp315t") && md.contains("cp315 "), "{md}");
    let row = md
        .lines()
        .find(|l| l.contains("abi3t-counter"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(row.contains("abi3t"), "{row}");
    assert!(
        row.matches("abi3t").count() >= 3,
        "both cells marked: {row}"
    );
}
