//! End to end: `ftforge build recipes/python` builds CPython 3.14.7 and 3.13.5,
//! free-threaded and with the GIL, from the real tarballs; py-rattler (an independent
//! conda client) installs each at another path, and the installed interpreter is
//! checked there: GIL state, sysconfig, relocation, pip and the stdlib extensions.

mod common;

use std::path::Path;

use common::*;
use ftforge_interpreter::{
    relocation_problems, InterpreterFacts, PythonAbi, FACTS_SCRIPT, REQUIRED_STDLIB_MODULES,
};

const VARIANTS: &[(&str, &str, bool)] = &[
    ("3.14.7", "cp314t", true),
    ("3.14.7", "cp314", false),
    ("3.13.5", "cp313t", true),
    ("3.13.5", "cp313", false),
];

fn repodata(channel: &Path, subdir: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(channel.join(subdir).join("repodata.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn find<'a>(
    repodata: &'a serde_json::Value,
    name: &str,
    build_suffix: &str,
) -> Vec<(&'a String, &'a serde_json::Value)> {
    repodata["packages.conda"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["name"] == name && r["build"].as_str().unwrap().ends_with(build_suffix))
        .collect()
}

#[test]
fn interpreters_build_relocate_and_run_with_the_right_gil_state() {
    let (channel, reports) = interpreter_build();

    let linux = repodata(&channel, "linux-64");
    let noarch = repodata(&channel, "noarch");
    // Every output this build produced (or reused), by file name.
    let built: Vec<String> = reports
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["filename"].as_str().unwrap().to_string())
        })
        .collect();
    for &(version, tag, freethreading) in VARIANTS {
        let abi: PythonAbi = tag.parse().unwrap();
        // The python package: build string, features, site-packages path, pins.
        let pythons: Vec<_> = find(&linux, "python", &format!("_{tag}"))
            .into_iter()
            .filter(|(f, _)| built.contains(f))
            .collect();
        assert_eq!(pythons.len(), 1, "one python *_{tag} built: {built:?}");
        let (filename, record) = pythons[0];
        assert_eq!(record["version"], version);
        assert!(filename.ends_with(".conda"));
        let expected_number = if freethreading { 0 } else { 100 };
        assert_eq!(record["build_number"], expected_number, "{record}");
        assert!(record["build"]
            .as_str()
            .unwrap()
            .ends_with(&format!("_{expected_number}_{tag}")));
        assert_eq!(record["python_site_packages_path"], abi.site_packages_dir());
        let depends: Vec<&str> = record["depends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(
            depends.contains(&abi.python_abi_spec().as_str()),
            "{depends:?}"
        );
        if freethreading {
            assert_eq!(record["track_features"], "py_freethreading");
        } else {
            assert!(
                record.get("track_features").is_none_or(|t| t == ""),
                "{record}"
            );
        }
        // python_abi and the metapackage.
        let abis = find(&noarch, "python_abi", &format!("_{tag}"));
        assert_eq!(abis.len(), 1, "python_abi *_{tag}");
        assert_eq!(abis[0].1["version"], abi.py_ver());
        assert_eq!(
            abis[0].1["constrains"][0],
            format!("python {}.* *_{tag}", abi.py_ver())
        );
        let meta = if freethreading {
            "python-freethreading"
        } else {
            "python-gil"
        };
        assert!(noarch["packages.conda"]
            .as_object()
            .unwrap()
            .values()
            .any(|r| r["name"] == meta && r["version"] == version));

        // An independent conda client installs it somewhere else; the facts hold there.
        let prefix = tempfile::Builder::new()
            .prefix("pyrattler-env-")
            .tempdir()
            .unwrap();
        let spec = format!("python =={version} {}", record["build"].as_str().unwrap());
        let installed =
            py_rattler_install(channel.to_str().unwrap(), prefix.path(), &[spec.as_str()]);
        let names: Vec<&str> = installed["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"python") && names.contains(&"python_abi"),
            "{installed}"
        );
        check_installed_interpreter(&abi, prefix.path());
    }

    // The second build reuses everything.
    let again = run(ftforge()
        .args(["build", "recipes/python", "--channel"])
        .arg(&channel)
        .current_dir(repo_root()));
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("reused"),
        "{}",
        text(&again.stdout)
    );
    assert!(
        !text(&again.stderr).contains("configure"),
        "{}",
        text(&again.stderr)
    );
    // Reused interpreters keep their stored probes: a no-op build measures nothing.
    assert!(
        !text(&again.stderr).contains("probing"),
        "{}",
        text(&again.stderr)
    );
}

fn check_installed_interpreter(abi: &PythonAbi, prefix: &Path) {
    let python = prefix.join(abi.executable());
    let out = run(std::process::Command::new(&python)
        .arg("-I")
        .arg("-c")
        .arg(FACTS_SCRIPT)
        .args(REQUIRED_STDLIB_MODULES)
        .env_remove("PYTHON_GIL")
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", prefix.join("bin").display()),
        ));
    assert!(
        out.status.success(),
        "{} failed: {}",
        python.display(),
        text(&out.stderr)
    );
    let facts = InterpreterFacts::parse(&text(&out.stdout)).unwrap();
    let mut problems = facts.problems(abi, &prefix.to_string_lossy());
    problems.extend(relocation_problems(abi, prefix));
    assert!(
        problems.is_empty(),
        "{abi} installed by py-rattler at {}:\n{}",
        prefix.display(),
        problems.join("\n")
    );
    assert_eq!(facts.gil_enabled, !abi.freethreading);
    // Extension builds on the user's machine call the compilers sysconfig names: names
    // looked up on PATH (and through a compiler cache), never the build machine's paths.
    let compilers = run(std::process::Command::new(&python).args([
        "-I",
        "-c",
        "import sysconfig; print(*(sysconfig.get_config_var(v).split()[0] for v in ('CC', 'CXX', 'LDSHARED', 'LDCXXSHARED')))",
    ]));
    assert!(compilers.status.success(), "{}", text(&compilers.stderr));
    assert_eq!(text(&compilers.stdout).trim(), "gcc g++ gcc g++", "{abi}");
    // `python -m pip` and the pip script both work from the new location.
    let pip = run(std::process::Command::new(prefix.join("bin/pip3")).arg("--version"));
    assert!(
        pip.status.success(),
        "pip3 --version: {}",
        text(&pip.stderr)
    );
    assert!(
        text(&pip.stdout).contains(&prefix.to_string_lossy().to_string()),
        "{}",
        text(&pip.stdout)
    );
}
