//! Extension packages rebuilt against our interpreters, judged from evidence: real
//! sdists from PyPI built for all four variants, verdicts read back from the channel's
//! compat.json, noarch packages installed into both interpreters by py-rattler, and a
//! recipe ftforge has never seen built from a temporary folder.

mod common;

use std::process::Command;

use common::*;

fn verdict<'a>(
    compat: &'a serde_json::Value,
    package: &str,
    version: &str,
    abi: &str,
) -> &'a serde_json::Value {
    let key = format!("{package}/{version}/{abi}");
    let record = &compat["records"][&key];
    assert!(
        record.is_object(),
        "no verdict for {key} in {}",
        serde_json::to_string_pretty(&compat["records"]).unwrap()
    );
    record
}

#[test]
fn markupsafe_is_gil_free_pyyaml_reenables_the_gil_sortedcontainers_is_pure_python() {
    let channel = channel_with(
        &[
            "recipes/markupsafe",
            GIL_REENABLING_RECIPE,
            "recipes/sortedcontainers",
        ],
        &[],
    );
    let compat = compat(&channel);
    let markupsafe = shipped_version("markupsafe");

    for abi in ["cp313t", "cp314t"] {
        let m = verdict(&compat, "markupsafe", &markupsafe, abi);
        // markupsafe's recipe declares a stress snippet: a passing run is `verified`.
        assert_eq!(m["verdict"], "verified", "markupsafe {abi}: {m}");
        let imports = m["evidence"]["imports"].as_array().unwrap();
        assert!(
            imports
                .iter()
                .any(|i| i["module"] == "markupsafe._speedups" && i["gil_after"] == false),
            "{m}"
        );

        let y = verdict(&compat, "pyyaml", "6.0.2", abi);
        assert_eq!(y["verdict"], "gil-reenabled", "pyyaml {abi}: {y}");
        let culprit = y["evidence"]["imports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["module"] == "yaml._yaml")
            .unwrap();
        assert_eq!(culprit["gil_after"], true);
        let warning = culprit["warnings"].to_string();
        assert!(
            warning.contains("global interpreter lock") && warning.contains("yaml._yaml"),
            "{warning}"
        );
        // The stress run forced the GIL off anyway and is kept separately.
        assert_eq!(y["evidence"]["stress"]["python_gil"], "0", "{y}");
        assert!(y["evidence"]["stress"]["passed"].is_boolean());
    }
    for abi in ["cp313", "cp314"] {
        for package in [("markupsafe", markupsafe.as_str()), ("pyyaml", "6.0.2")] {
            let r = verdict(&compat, package.0, package.1, abi);
            // Both recipes declare a stress snippet, run on the GIL builds too.
            assert_eq!(r["verdict"], "verified", "{package:?} {abi}: {r}");
        }
    }
    for abi in ["cp313t", "cp314t", "cp313", "cp314"] {
        assert_eq!(
            verdict(
                &compat,
                "sortedcontainers",
                &shipped_version("sortedcontainers"),
                abi
            )["verdict"],
            "pure-python"
        );
    }

    // Build strings show the ABI; run-exports pin python_abi and the python minor version.
    let linux: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(channel.join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    let ms = linux["packages.conda"]
        .as_object()
        .unwrap()
        .values()
        .find(|r| r["name"] == "markupsafe" && r["build"].as_str().unwrap().starts_with("py314th"))
        .expect("markupsafe py314t build");
    let depends = ms["depends"].to_string();
    assert!(
        depends.contains("python_abi 3.14.* *_cp314t")
            && depends.contains("python >=3.14,<3.15.0a0"),
        "{depends}"
    );
    // noarch: python is one package for every interpreter: each verdict judged the same file,
    // a noarch: python package of the channel. (The shared test channel may also hold
    // files of earlier recipe versions, so the file is found by the verdicts' name.)
    let noarch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(channel.join("noarch/repodata.json")).unwrap(),
    )
    .unwrap();
    let sorted = shipped_version("sortedcontainers");
    let judged: std::collections::BTreeSet<String> = ["cp313", "cp313t", "cp314", "cp314t"]
        .iter()
        .map(|abi| {
            let r = verdict(&compat, "sortedcontainers", &sorted, abi);
            r["filename"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string()
        })
        .collect();
    assert_eq!(
        judged.len(),
        1,
        "one file for every interpreter: {judged:?}"
    );
    let file = judged.first().unwrap();
    let record = &noarch["packages.conda"][file.as_str()];
    assert_eq!(
        record["name"], "sortedcontainers",
        "{file} in noarch/: {record}"
    );
    assert_eq!(record["noarch"], "python");

    // py-rattler puts the noarch package into each interpreter's own site-packages (CEP 17).
    for (meta, site) in [
        (
            "python-freethreading 3.14.7.*",
            "lib/python3.14t/site-packages",
        ),
        ("python-gil 3.14.7.*", "lib/python3.14/site-packages"),
    ] {
        let prefix = tempfile::tempdir().unwrap();
        py_rattler_install(
            channel.to_str().unwrap(),
            prefix.path(),
            &[meta, "sortedcontainers", "markupsafe"],
        );
        assert!(
            prefix
                .path()
                .join(site)
                .join("sortedcontainers/__init__.py")
                .is_file(),
            "{meta}: not in {site}"
        );
        let python = prefix.path().join("bin/python");
        let out = run(Command::new(python).args([
            "-c",
            "import sys, sortedcontainers, markupsafe; print(sys._is_gil_enabled())",
        ]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let expected = if meta.contains("freethreading") {
            "False"
        } else {
            "True"
        };
        assert_eq!(text(&out.stdout).trim(), expected);
    }

    // --fail-on turns a verdict into a failing exit code (the verdicts come from compat.json).
    let strict = run(ftforge()
        .args([
            "build",
            GIL_REENABLING_RECIPE,
            "--python",
            "3.14",
            "--variant",
            "freethreading",
            "--fail-on",
            "gil-reenabled",
            "--channel",
        ])
        .arg(&channel)
        .current_dir(repo_root()));
    assert_eq!(strict.status.code(), Some(3), "{}", text(&strict.stderr));
    assert!(text(&strict.stderr).contains("pyyaml 6.0.2 cp314t: gil-reenabled"));
}

#[test]
fn a_recipe_never_seen_builds_from_any_folder_and_failures_are_verdicts() {
    let channel = interpreter_channel();
    let dir = tempfile::tempdir().unwrap();
    // A real sdist ftforge ships no recipe for.
    let mmh3 = dir.path().join("mmh3");
    std::fs::create_dir(&mmh3).unwrap();
    std::fs::write(
        mmh3.join("recipe.yaml"),
        r#"schema_version: 1
context:
  version: "5.1.0"
package:
  name: mmh3
  version: ${{ version }}
source:
  url: mirror://pypi/packages/source/m/mmh3/mmh3-${{ version }}.tar.gz
  sha256: 136e1e670500f177f49ec106a4ebf0adf20d18d96990cc36ea492c651d2b406c
build:
  script: ${{ PYTHON }} -m pip install . --no-deps -vv
requirements:
  host: [python, pip]
  run: [python]
tests:
  - python:
      imports: [mmh3]
      pip_check: false
"#,
    )
    .unwrap();
    // A package whose build fails: a result to record, not an error of ftforge.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("recipe.yaml"), "package: {name: broken, version: \"1.0\"}\nbuild:\n  script:\n    - echo compiling the impossible\n    - exit 7\nrequirements:\n  host: [python]\n").unwrap();
    // A `noarch: python` recipe whose build compiles an extension module (as mypyc
    // builds do though the sdist shows no C): refused, not published for every Python.
    let noarch = dir.path().join("noarchc");
    std::fs::create_dir(&noarch).unwrap();
    std::fs::write(noarch.join("recipe.yaml"), "package: {name: noarchc, version: \"1.0\"}\nbuild:\n  noarch: python\nrequirements:\n  host: [python]\n  run: [python]\n").unwrap();
    std::fs::write(
        noarch.join("build.sh"),
        r#"set -euo pipefail
mkdir -p "$SP_DIR/noarchc"
touch "$SP_DIR/noarchc/__init__.py"
cat > speedups.c <<'C'
#include <Python.h>
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_speedups"};
PyMODINIT_FUNC PyInit__speedups(void) { return PyModuleDef_Init(&def); }
C
include=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("include"))')
suffix=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
cc -shared -fPIC -I"$include" speedups.c -o "$SP_DIR/noarchc/_speedups$suffix"
"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("variants.yaml"), "python: [\"3.14.* *_cp314t\"]\nis_freethreading: [true]\nzip_keys: [[python, is_freethreading]]\n").unwrap();

    // The channel given as a relative path, from its parent directory, as users type it.
    let started = std::time::SystemTime::now();
    let out = run(ftforge()
        .args(["build"])
        .arg(&mmh3)
        .arg(&broken)
        .arg(&noarch)
        .arg("--channel")
        .arg(channel.file_name().unwrap())
        .current_dir(channel.parent().unwrap()));
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "a failing package is not a failing run:\n{stderr}"
    );
    let compat = compat(&channel);
    let m = verdict(&compat, "mmh3", "5.1.0", "cp314t");
    // mmh3 5.1.0's module does not declare free-threading support (the catalog's mmh3
    // 5.3.1 does): it turns the GIL back on.
    assert_eq!(m["verdict"], "gil-reenabled", "{m}");
    assert!(
        m["reason"].as_str().unwrap().contains("mmh3"),
        "the reason names the module: {m}"
    );
    assert!(
        !m["evidence"]["modules"].as_array().unwrap().is_empty(),
        "mmh3 has a C extension: {m}"
    );
    let b = verdict(&compat, "broken", "1.0", "cp314t");
    assert_eq!(b["verdict"], "build-failed");
    assert!(
        b["evidence"]["log_tail"]
            .as_str()
            .unwrap()
            .contains("compiling the impossible"),
        "{b}"
    );
    assert!(std::path::Path::new(b["evidence"]["log"].as_str().unwrap()).is_file());
    let n = verdict(&compat, "noarchc", "1.0", "cp314t");
    assert_eq!(n["verdict"], "build-failed", "{n}");
    let reason = n["reason"].as_str().unwrap();
    assert!(
        reason.contains("noarch: python") && reason.contains("noarchc._speedups"),
        "{n}"
    );
    // Not published by this run (the shared test channel may hold one from earlier).
    assert!(
        !std::fs::read_dir(channel.join("noarch"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("noarchc-")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= started)),
        "the noarch package with an extension module was published"
    );
}

#[test]
fn shipped_recipes_parse_and_render_with_rattler_build() {
    let script = r#"
import pathlib, sys
import rattler_build as rb
root = pathlib.Path(sys.argv[1])
shared = rb.VariantConfig.from_file(str(root / "variants.yaml"))
count = 0
for recipe in sorted(root.glob("*/recipe.yaml")):
    own = recipe.parent / "variants.yaml"
    config = rb.VariantConfig.from_file(str(own)) if own.exists() else shared
    rendered = rb.Stage0Recipe.from_file(str(recipe)).render(config)
    assert rendered, recipe
    count += len(rendered)
    print(recipe.parent.name, len(rendered))
print("rendered", count)
"#;
    let out = run(Command::new(host_python())
        .arg("-c")
        .arg(script)
        .arg(repo_root().join("recipes")));
    assert!(
        out.status.success(),
        "rattler-build rejected a recipe:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    for name in [
        "python",
        "markupsafe",
        "pyyaml",
        "msgpack",
        "ujson",
        "psutil",
        "cffi",
        "zstandard",
        "regex",
        "sortedcontainers",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{stdout}"
        );
    }
}

/// A `noarch: python` package is built once but judged on every interpreter it is
/// offered for: one that imports on 3.14 and not on 3.13 gets a verdict of each.
#[test]
fn noarch_packages_are_judged_on_each_interpreter() {
    let channel = interpreter_channel();
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("onlynew");
    std::fs::create_dir(&recipe).unwrap();
    std::fs::write(
        recipe.join("onlynew.py"),
        "import sys\nif sys.version_info < (3, 14):\n    raise ImportError(f\"onlynew needs Python 3.14, this is {sys.version_info[:2]}\")\n",
    )
    .unwrap();
    std::fs::write(
        recipe.join("recipe.yaml"),
        "package: {name: onlynew, version: \"1.0\"}\nbuild:\n  noarch: python\n  script:\n    - mkdir -p $SP_DIR && cp $RECIPE_DIR/onlynew.py $SP_DIR/\nrequirements:\n  host: [python]\n  run: [python]\ntests:\n  - python:\n      imports: [onlynew]\n      pip_check: false\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("variants.yaml"),
        "python: [\"3.14.* *_cp314t\", \"3.13.* *_cp313t\"]\nis_freethreading: [true, true]\nzip_keys: [[python, is_freethreading]]\n",
    )
    .unwrap();
    let out = run(ftforge()
        .args(["build"])
        .arg(&recipe)
        .arg("--channel")
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let compat = compat(&channel);
    let new = verdict(&compat, "onlynew", "1.0", "cp314t");
    let old = verdict(&compat, "onlynew", "1.0", "cp313t");
    assert_eq!(new["verdict"], "pure-python", "{new}");
    assert_eq!(old["verdict"], "import-failed", "{old}");
    assert!(old["reason"].as_str().unwrap().contains("onlynew"), "{old}");
    // One file serves both.
    assert_eq!(new["filename"], old["filename"], "{new}\n{old}");
}
