//! Channels end to end: publishing (concurrent, idempotent, refusing changed builds),
//! labels, `ftforge serve`, installs by py-rattler and by `ftforge install` from a
//! directory and over HTTP, the GIL policy, and every way a package or repodata can be
//! bad (tampered, escaping paths, malformed JSON, an interrupted install).

mod common;

use std::process::Command;

use common::*;

fn install(prefix: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(ftforge()
        .arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args(args))
}

fn python_gil_after_import(prefix: &std::path::Path, module: &str) -> String {
    let code = format!("import sys, {module}; print(sys._is_gil_enabled())");
    let out = run(Command::new(prefix.join("bin/python")).args(["-c", &code]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn clients_install_from_the_channel_and_the_gil_policy_explains_itself() {
    let channel = channel_with(&["markupsafe", "pyyaml"], &["--python", "3.14"]);
    let served = serve(&channel);
    let dir = tempfile::tempdir().unwrap();

    // py-rattler, from the directory and over HTTP.
    for (i, source) in [channel.to_string_lossy().to_string(), served.url.clone()]
        .iter()
        .enumerate()
    {
        let prefix = dir.path().join(format!("pyrattler-{i}"));
        py_rattler_install(
            source,
            &prefix,
            &["python-freethreading 3.14.*", "markupsafe"],
        );
        assert_eq!(
            python_gil_after_import(&prefix, "markupsafe"),
            "False",
            "py-rattler from {source}"
        );
    }

    // Our installer over HTTP, the --free-threaded shorthand.
    let ours = dir.path().join("ours");
    let out = install(
        &ours,
        &[
            "-c",
            &served.url,
            "--free-threaded",
            "python-freethreading 3.14.*",
            "markupsafe",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("free-threaded"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(python_gil_after_import(&ours, "markupsafe"), "False");

    // The freethreading label simply does not have pyyaml.
    let label = format!("{}/label/freethreading", served.url);
    let out = install(
        &dir.path().join("label"),
        &["-c", &label, "python-freethreading 3.14.*", "pyyaml"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pyyaml"),
        "{}",
        text(&out.stderr)
    );
    let gil_label = channel.join("label/gil/linux-64/repodata.json");
    assert!(std::fs::read_to_string(gil_label)
        .unwrap()
        .contains("pyyaml-6.0.2-py314h"));

    // Main channel, default policy: refused, with the verdict, the evidence and the way out.
    let refused = dir.path().join("refused");
    let out = install(
        &refused,
        &[
            "-c",
            channel.to_str().unwrap(),
            "python-freethreading 3.14.*",
            "pyyaml",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pyyaml 6.0.2 (cp314t): gil-reenabled"),
        "{stderr}"
    );
    assert!(
        stderr.contains("yaml._yaml") && stderr.contains("--gil-policy warn"),
        "{stderr}"
    );
    assert!(
        !refused.exists(),
        "a refused install must not create the prefix"
    );

    // --gil-policy warn installs it and says so.
    let warned = dir.path().join("warned");
    let out = install(
        &warned,
        &[
            "-c",
            channel.to_str().unwrap(),
            "--gil-policy",
            "warn",
            "python-freethreading 3.14.*",
            "pyyaml",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: pyyaml"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(python_gil_after_import(&warned, "yaml"), "True");
}

#[test]
fn tampered_packages_unsafe_archives_and_malformed_repodata_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = dir.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let good = make_package(
        &pkgs,
        "hello",
        "1.0",
        "0",
        "noarch",
        &[("share/hello.txt", "hi")],
    );
    let channel = dir.path().join("channel");
    let out = run(ftforge().arg("publish").arg(&good).arg("-c").arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Tampered after indexing: same size, one byte changed.
    let published = channel.join("noarch/hello-1.0-0.conda");
    let mut bytes = std::fs::read(&published).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 0xff;
    std::fs::write(&published, &bytes).unwrap();
    let prefix = dir.path().join("env");
    let out = install(&prefix, &["-c", channel.to_str().unwrap(), "hello"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sha256 mismatch"),
        "{}",
        text(&out.stderr)
    );
    assert!(!prefix.join("share/hello.txt").exists());

    // Escaping paths and links are refused before extraction.
    for (i, entries) in [
        vec![("../escaped.txt", "x")],
        vec![("share/link", "->../../../etc/passwd")],
        vec![("share/abs", "->/etc/passwd")],
    ]
    .into_iter()
    .enumerate()
    {
        let bad_channel = dir.path().join(format!("bad-{i}"));
        let bad = make_package(&pkgs, "evil", "1.0", &format!("{i}"), "noarch", &entries);
        let out = run(ftforge()
            .arg("publish")
            .arg(&bad)
            .arg("-c")
            .arg(&bad_channel));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let prefix = dir.path().join(format!("evil-env-{i}"));
        let out = install(&prefix, &["-c", bad_channel.to_str().unwrap(), "evil"]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{entries:?} was installed");
        assert!(stderr.contains("outside the environment"), "{stderr}");
        assert!(!dir.path().join("escaped.txt").exists());
    }

    // Malformed repodata: a clear error naming the file, no panic.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("noarch")).unwrap();
    std::fs::write(broken.join("noarch/repodata.json"), "{\"packages\": [1, 2").unwrap();
    let out = install(
        &dir.path().join("env-broken"),
        &["-c", broken.to_str().unwrap(), "hello"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("repodata.json") && stderr.contains("not valid repodata"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn concurrent_publishers_lose_nothing_and_changed_builds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    let mut batches = Vec::new();
    for p in 0..8 {
        let batch = dir.path().join(format!("batch-{p}"));
        std::fs::create_dir(&batch).unwrap();
        let files: Vec<_> = (0..50)
            .map(|i| {
                make_package(
                    &batch,
                    &format!("pkg-{p}"),
                    &format!("1.{i}"),
                    "0",
                    "linux-64",
                    &[("share/x", "x")],
                )
            })
            .collect();
        batches.push(files);
    }
    let children: Vec<_> = batches
        .iter()
        .map(|files| {
            Command::new(env!("CARGO_BIN_EXE_ftforge"))
                .arg("publish")
                .args(files)
                .arg("-c")
                .arg(&channel)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let repodata: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(channel.join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(repodata["packages.conda"].as_object().unwrap().len(), 400);

    // Same content again: a no-op. Different content under the same name: refused.
    let again = run(ftforge()
        .arg("publish")
        .arg(&batches[0][0])
        .arg("-c")
        .arg(&channel));
    assert!(
        again.status.success() && text(&again.stdout).starts_with("unchanged"),
        "{}",
        text(&again.stdout)
    );
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let changed = make_package(
        &other,
        "pkg-0",
        "1.0",
        "0",
        "linux-64",
        &[("share/x", "different")],
    );
    let refused = run(ftforge()
        .arg("publish")
        .arg(&changed)
        .arg("-c")
        .arg(&channel));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("different content"),
        "{}",
        text(&refused.stderr)
    );
    let forced = run(ftforge()
        .arg("publish")
        .arg(&changed)
        .arg("-c")
        .arg(&channel)
        .arg("--force"));
    assert!(
        forced.status.success() && text(&forced.stdout).starts_with("replaced"),
        "{}",
        text(&forced.stdout)
    );
}

#[test]
fn an_interrupted_install_is_rolled_back_by_the_next_one() {
    let channel = interpreter_channel();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("env");
    // Kill the install while it links (the interpreter has thousands of files).
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .env("FTFORGE_CACHE_DIR", test_cache())
        .args(["install", "--prefix"])
        .arg(&prefix)
        .args([
            "-c",
            channel.to_str().unwrap(),
            "python-freethreading 3.14.*",
        ])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = prefix.join("conda-meta/ftforge-transaction.journal");
    let started = std::time::Instant::now();
    while !journal.exists() && started.elapsed() < std::time::Duration::from_secs(60) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the install ended ({status}) before it started linking; run it by hand to see why"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let interrupted = journal.exists();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        interrupted,
        "the install finished before it could be interrupted"
    );
    assert!(journal.exists(), "the killed install left its journal");
    // Whatever was left: the next install recovers and completes.
    let out = install(
        &prefix,
        &[
            "-c",
            channel.to_str().unwrap(),
            "python-freethreading 3.14.*",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!journal.exists());
    assert_eq!(python_gil_after_import(&prefix, "json"), "False");
    // Every file belongs to a package record.
    let mut owned = std::collections::HashSet::new();
    for record in std::fs::read_dir(prefix.join("conda-meta"))
        .unwrap()
        .flatten()
    {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(record.path()).unwrap()).unwrap_or_default();
        for f in v["files"].as_array().into_iter().flatten() {
            owned.insert(f.as_str().unwrap().to_string());
        }
    }
    let mut stray = Vec::new();
    for entry in walk(&prefix) {
        let rel = entry
            .strip_prefix(&prefix)
            .unwrap()
            .to_string_lossy()
            .to_string();
        // CACHEDIR.TAG marks every rattler prefix (backup exclusion), owned by none.
        if !rel.starts_with("conda-meta")
            && rel != "CACHEDIR.TAG"
            && !rel.contains("__pycache__")
            && !owned.contains(&rel)
        {
            stray.push(rel);
        }
    }
    assert!(
        stray.is_empty(),
        "files without a package record: {:?}",
        &stray[..stray.len().min(10)]
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
