//! Channels end to end: publishing (concurrent, idempotent, refusing changed builds),
//! labels, `ftforge serve`, installs by py-rattler and by `ftforge install` from a
//! directory and over HTTP, the GIL policy, installs into existing environments (they
//! keep their packages and interpreter ABI), and every way a package or repodata can be
//! bad (tampered, escaping paths, malformed JSON) or an install interrupted.

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
    let channel = channel_with(
        &["recipes/markupsafe", GIL_REENABLING_RECIPE],
        &["--python", "3.14"],
    );
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

    // The freethreading label simply does not have pyyaml 6.0.2 (the shared channel may
    // hold a newer pyyaml that keeps the GIL off, built by other tests).
    let label = format!("{}/label/freethreading", served.url);
    let out = install(
        &dir.path().join("label"),
        &["-c", &label, "python-freethreading 3.14.*", "pyyaml 6.0.2"],
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
            "pyyaml 6.0.2",
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
            "pyyaml 6.0.2",
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
    let (_, channel) = hello_channel(dir.path());
    let pkgs = dir.path().join("pkgs");

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

fn install_json(prefix: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = install(prefix, &[args, &["--json"]].concat());
    assert!(
        out.status.success(),
        "install {args:?} failed:\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(kind, name)` of every change an install reported.
fn changes(outcome: &serde_json::Value) -> Vec<(String, String)> {
    outcome["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The package records of a prefix, by file name, with their bytes.
fn records(prefix: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(prefix.join("conda-meta"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Everything a prefix holds: each path with its kind and the sha256 of its contents.
fn tree(prefix: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    fn visit(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let t = e.file_type().unwrap();
            let what = if t.is_dir() {
                visit(root, &p, out);
                "dir".to_string()
            } else if t.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()))
            };
            out.insert(rel, what);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    visit(prefix, prefix, &mut out);
    out
}

/// A channel holding the 3.14 interpreters of the shared channel (with their C
/// libraries) plus `extra` packages.
fn channel_with_interpreters_and(dir: &std::path::Path, extra: &[std::path::PathBuf]) -> String {
    let shared = interpreter_channel();
    let mut files: Vec<std::path::PathBuf> = extra.to_vec();
    for subdir in ["linux-64", "noarch"] {
        for e in std::fs::read_dir(shared.join(subdir)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conda")
                && [
                    "python-3.14",
                    "python_abi-3.14",
                    "python-freethreading-3.14",
                    "python-gil-3.14",
                ]
                .iter()
                .any(|p| name.starts_with(p))
            {
                files.push(e.path());
            }
        }
    }
    // And the C libraries the interpreters depend on.
    let files = common::with_dependencies(&shared, files);
    let channel = dir.join("channel");
    let out = run(ftforge()
        .arg("publish")
        .args(&files)
        .arg("-c")
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    channel.to_string_lossy().into_owned()
}

#[test]
fn a_second_install_keeps_the_environment_and_its_interpreter_abi() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = dir.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let extra = [
        make_package_depending(
            &pkgs,
            "hello",
            "1.0",
            "0",
            "noarch",
            &["python"],
            &[("share/hello.txt", "hello")],
        ),
        make_package_depending(
            &pkgs,
            "world",
            "1.0",
            "0",
            "noarch",
            &["python >=3.13"],
            &[("share/world.txt", "world")],
        ),
        // Only usable with the GIL build of 3.14.
        make_package_depending(
            &pkgs,
            "gilonly",
            "1.0",
            "0",
            "noarch",
            &["python_abi 3.14.* *_cp314"],
            &[("share/gilonly.txt", "gil")],
        ),
    ];
    let channel = channel_with_interpreters_and(dir.path(), &extra);

    // The scenario: a free-threaded environment, then one more package.
    let env = dir.path().join("env");
    let first = install_json(&env, &["-c", &channel, "--free-threaded", "hello"]);
    assert_eq!(first["abi"], "cp314t", "{first}");
    let second = install_json(&env, &["-c", &channel, "world"]);
    assert_eq!(
        changes(&second),
        [("install".to_string(), "world".to_string())],
        "only world is added: {second}"
    );
    assert_eq!(second["abi"], "cp314t");
    assert!(env.join("share/hello.txt").exists() && env.join("share/world.txt").exists());
    assert_eq!(python_gil_after_import(&env, "json"), "False");
    let asked: Vec<&str> = second["requested_specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for spec in ["python-freethreading", "hello", "world"] {
        assert!(asked.contains(&spec), "{asked:?}");
    }
    // What needs the GIL build cannot join it; the prefix is left alone.
    let before = records(&env);
    let out = install(&env, &["-c", &channel, "gilonly"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("python_abi"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(records(&env), before);

    // An environment made by another client (py-rattler: its records carry no requested
    // specs) keeps its packages and its ABI too; a request that only the other ABI
    // satisfies is refused with both ABIs named, unless the interpreter is asked for.
    let other = dir.path().join("other");
    py_rattler_install(&channel, &other, &["python 3.14.* *_cp314t", "hello"]);
    let before = records(&other);
    let out = install(&other, &["-c", &channel, "gilonly"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("free-threaded environment (cp314t)")
            && stderr.contains("switching it to cp314"),
        "{stderr}"
    );
    assert_eq!(
        records(&other),
        before,
        "a refused install changed the prefix"
    );
    let switched = install_json(
        &other,
        &["-c", &channel, "python 3.14.* *_cp314", "gilonly"],
    );
    assert_eq!(switched["abi"], "cp314", "{switched}");
    let kinds = changes(&switched);
    for expected in [
        ("change", "python"),
        ("change", "python_abi"),
        ("install", "gilonly"),
    ] {
        assert!(
            kinds.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{kinds:?}"
        );
    }
    assert!(!kinds.iter().any(|(k, _)| k == "remove"), "{kinds:?}");
    assert!(other.join("share/hello.txt").exists());
    assert_eq!(python_gil_after_import(&other, "json"), "True");
    // And from now on the GIL build is what it keeps.
    let more = install_json(&other, &["-c", &channel, "world"]);
    assert_eq!(
        changes(&more),
        [("install".to_string(), "world".to_string())]
    );
    assert_eq!(more["abi"], "cp314");
}

#[test]
fn an_interrupted_install_that_replaces_packages_leaves_the_old_environment_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = dir.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let channel = dir.path().join("channel");
    let publish = |files: &[std::path::PathBuf]| {
        let out = run(ftforge().arg("publish").args(files).arg("-c").arg(&channel));
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    publish(&[
        make_package(
            &pkgs,
            "hello",
            "1.0",
            "0",
            "noarch",
            &[
                ("share/hello.txt", "one"),
                ("share/only-in-1.txt", "1"),
                ("share/link", "->hello.txt"),
            ],
        ),
        make_package(
            &pkgs,
            "other",
            "1.0",
            "0",
            "noarch",
            &[("lib/other/data.txt", "o1")],
        ),
    ]);
    let env = dir.path().join("env");
    let ch = channel.to_str().unwrap();
    install_json(&env, &["-c", ch, "hello", "other"]);
    let old = tree(&env);
    assert_eq!(
        std::fs::read_to_string(env.join("share/hello.txt")).unwrap(),
        "one"
    );

    publish(&[
        make_package(
            &pkgs,
            "hello",
            "2.0",
            "0",
            "noarch",
            &[
                ("share/hello.txt", "two"),
                ("share/only-in-2.txt", "2"),
                ("share/link", "->only-in-2.txt"),
            ],
        ),
        make_package(
            &pkgs,
            "other",
            "2.0",
            "0",
            "noarch",
            &[("lib/other/data.txt", "o2"), ("lib/other/more.txt", "m")],
        ),
        make_package(
            &pkgs,
            "third",
            "1.0",
            "0",
            "noarch",
            &[("share/third.txt", "3")],
        ),
    ]);
    let upgrade = ["-c", ch, "hello >=2", "other >=2", "third"];
    // The test hook aborts the process (no cleanup) once one package is linked: the old
    // builds are unlinked by then, one new one is in, the rest are not.
    let out = run(ftforge()
        .env("FTFORGE_TEST_ABORT_AFTER_LINKED", "1")
        .arg("install")
        .arg("--prefix")
        .arg(&env)
        .args(upgrade));
    assert!(!out.status.success(), "the hook did not abort the install");
    assert!(
        env.join("conda-meta/ftforge-transaction").is_dir(),
        "the aborted install left no journal"
    );
    let half = tree(&env);
    assert_ne!(
        half.iter()
            .filter(|(p, _)| !p.starts_with("conda-meta/ftforge-transaction"))
            .collect::<Vec<_>>(),
        old.iter().collect::<Vec<_>>(),
        "the abort came before the install changed anything"
    );

    // The next command into the prefix recovers it first: exactly the old environment
    // (files, symlinks, records byte for byte), not a mix and not a loss.
    let out = install(&env, &["-c", ch, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("was rolled back"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(&env), old);
    assert_eq!(
        std::fs::read_to_string(env.join("share/hello.txt")).unwrap(),
        "one"
    );

    // The same install, not interrupted, upgrades in place.
    let done = install_json(&env, &upgrade);
    let mut kinds = changes(&done);
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("install".to_string(), "third".to_string()),
            ("upgrade".to_string(), "hello".to_string()),
            ("upgrade".to_string(), "other".to_string()),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(env.join("share/hello.txt")).unwrap(),
        "two"
    );
    assert!(!env.join("share/only-in-1.txt").exists());
    assert_eq!(
        std::fs::read_link(env.join("share/link")).unwrap(),
        std::path::Path::new("only-in-2.txt")
    );
    assert!(!env.join("conda-meta/ftforge-transaction").exists());
}

#[test]
fn a_killed_install_is_recovered_by_the_next_one() {
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
    let journal = prefix.join("conda-meta/ftforge-transaction/journal.json");
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
    // Whatever was left: the next install recovers it, then installs.
    let outcome = install_json(
        &prefix,
        &[
            "-c",
            channel.to_str().unwrap(),
            "python-freethreading 3.14.*",
        ],
    );
    assert!(
        ["rolled-back", "discarded", "completed"]
            .contains(&outcome["recovered"].as_str().unwrap_or("none")),
        "{outcome}"
    );
    assert!(!prefix.join("conda-meta/ftforge-transaction").exists());
    assert_eq!(python_gil_after_import(&prefix, "json"), "False");
    // Every file belongs to a package record.
    let mut owned = std::collections::HashSet::new();
    for (_, bytes) in records(&prefix) {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
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
