//! `ftforge recipe new` on real sdists from the package index pip is configured with,
//! one per build backend (setuptools with C, Cython, meson-python, scikit-build-core,
//! maturin, flit, hatchling): the sha256 is checked against an independent reading of
//! the index, every recipe is rendered by py-rattler-build and by ftforge's own
//! renderer (`ftforge plan`), and the pure-Python one is built with `ftforge build`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::*;

struct Case {
    requirement: &'static str,
    /// The recipe folder and conda package name.
    name: &'static str,
    version: &'static str,
    /// A host requirement that names the build backend (or Cython).
    backend: &'static str,
    compiled: bool,
    /// A compiler package rattler-build renders `compiler(…)` to (`gcc`, `gxx`, `rust`).
    compilers: &'static [&'static str],
    imports: &'static [&'static str],
    /// Run requirements (conda names) besides python.
    run: &'static [&'static str],
}

const CASES: &[Case] = &[
    // setuptools with a C extension.
    Case {
        requirement: "markupsafe==3.0.2",
        name: "markupsafe",
        version: "3.0.2",
        backend: "setuptools",
        compiled: true,
        compilers: &["gcc"],
        imports: &["markupsafe"],
        run: &[],
    },
    // Cython (setuptools), its egg-info under lib/.
    Case {
        requirement: "PyYAML==6.0.3",
        name: "pyyaml",
        version: "6.0.3",
        backend: "cython",
        compiled: true,
        compilers: &["gcc"],
        imports: &["_yaml", "yaml"],
        run: &[],
    },
    // meson-python with Cython; the import name from meson.build.
    Case {
        requirement: "siphash24==1.9",
        name: "siphash24",
        version: "1.9",
        backend: "meson-python",
        compiled: true,
        compilers: &["gcc"],
        imports: &["siphash24"],
        run: &[],
    },
    // scikit-build-core (CMake, `LANGUAGES C CXX`).
    Case {
        requirement: "pyzmq==27.3.0",
        name: "pyzmq",
        version: "27.3.0",
        backend: "scikit-build-core",
        compiled: true,
        compilers: &["gcc", "gxx"],
        imports: &["zmq"],
        run: &[],
    },
    // maturin (Rust).
    Case {
        requirement: "rpds-py==0.22.3",
        name: "rpds-py",
        version: "0.22.3",
        backend: "maturin",
        compiled: true,
        compilers: &["gcc", "rust"],
        imports: &["rpds"],
        run: &[],
    },
    // flit, pure Python.
    Case {
        requirement: "idna==3.10",
        name: "idna",
        version: "3.10",
        backend: "flit-core",
        compiled: false,
        compilers: &[],
        imports: &["idna"],
        run: &[],
    },
    // hatchling, pure Python, two top-level packages under src/.
    Case {
        requirement: "attrs==25.3.0",
        name: "attrs",
        version: "25.3.0",
        backend: "hatchling",
        compiled: false,
        compilers: &[],
        imports: &["attr", "attrs"],
        run: &[],
    },
    // setuptools, pure Python, run requirements (extras left out).
    Case {
        requirement: "requests==2.32.3",
        name: "requests",
        version: "2.32.3",
        backend: "setuptools",
        compiled: false,
        compilers: &[],
        imports: &["requests"],
        run: &["charset-normalizer", "idna", "urllib3", "certifi"],
    },
];

/// The recipes of every case, generated once per test binary into
/// `target/recipe-new-tests/`:
/// (folder, `recipe new --json` output by name).
fn generated() -> (PathBuf, BTreeMap<String, serde_json::Value>) {
    static DONE: Mutex<Option<(PathBuf, BTreeMap<String, serde_json::Value>)>> = Mutex::new(None);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = done.as_ref() {
        return found.clone();
    }
    // Kept after the run for inspection; replaced by the next run.
    let dir = repo_root().join("target").join("recipe-new-tests");
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = BTreeMap::new();
    for case in CASES {
        let run = run(ftforge()
            .args(["recipe", "new", case.requirement, "--json", "-o"])
            .arg(&dir));
        assert!(
            run.status.success(),
            "recipe new {} failed:\n{}",
            case.requirement,
            text(&run.stderr)
        );
        let json: serde_json::Value = serde_json::from_str(&text(&run.stdout))
            .unwrap_or_else(|e| panic!("recipe new --json printed no JSON ({e})"));
        assert_eq!(
            Path::new(json["path"].as_str().unwrap()),
            dir.join(case.name).join("recipe.yaml")
        );
        out.insert(case.name.to_string(), json);
    }
    *done = Some((dir.clone(), out.clone()));
    (dir, out)
}

/// The index's sdist file name and sha256 for each case, read by tests/support.
fn index_sdists() -> serde_json::Value {
    let pins: Vec<String> = CASES
        .iter()
        .map(|c| format!("{}=={}", c.name, c.version))
        .collect();
    let out = run(Command::new(host_python())
        .arg(repo_root().join("tests/support/index_sdist.py"))
        .args(&pins));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_str(&text(&out.stdout)).unwrap()
}

#[test]
fn generated_recipes_for_seven_build_backends_render_with_rattler_build() {
    let (dir, generated) = generated();
    let index = index_sdists();
    let script = r#"
import json, pathlib, sys
import rattler_build as rb
root = pathlib.Path(sys.argv[1])
config = rb.VariantConfig.from_file(sys.argv[2])
out = {}
for recipe in sorted(root.glob("*/recipe.yaml")):
    rendered = rb.Stage0Recipe.from_file(str(recipe)).render(config)
    out[recipe.parent.name] = [dict(r.recipe.to_dict(), variant=r.variant) for r in rendered]
print(json.dumps(out))
"#;
    let out = run(Command::new(host_python())
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .arg(repo_root().join("recipes/variants.yaml")));
    assert!(
        out.status.success(),
        "rattler-build rejected a generated recipe:\n{}",
        text(&out.stderr)
    );
    let rendered: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();

    for case in CASES {
        let pin = format!("{}=={}", case.name, case.version);
        let expected = &index[&pin];
        let sha = expected["sha256"].as_str().unwrap_or_else(|| {
            panic!("the index lists no .tar.gz for {pin}: {index}");
        });
        let filename = expected["filename"].as_str().unwrap();
        let yaml = std::fs::read_to_string(dir.join(case.name).join("recipe.yaml")).unwrap();
        // The header says where the recipe came from.
        let header: String = yaml.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(
            header.contains("Generated by `ftforge recipe new")
                && header.contains(filename)
                && header.contains(sha),
            "{yaml}"
        );

        // rattler-build renders every interpreter of the shipped variants.yaml (ftforge
        // leaves 3.15 out until it is asked for or released; rattler-build has no such rule).
        let variants = rendered[case.name].as_array().unwrap();
        let shipped = std::fs::read_to_string(repo_root().join("recipes/variants.yaml")).unwrap();
        let interpreters = shipped
            .lines()
            .find(|l| l.starts_with("python:"))
            .map(|l| l.matches('"').count() / 2)
            .unwrap();
        assert!(interpreters >= 4, "{shipped}");
        assert_eq!(variants.len(), interpreters, "{}: {variants:?}", case.name);
        for r in variants {
            let what = format!("{} ({})", case.name, r["variant"]);
            assert_eq!(r["package"]["name"], case.name, "{what}");
            assert_eq!(r["package"]["version"], case.version, "{what}");
            assert_eq!(r["source"][0]["sha256"], sha, "{what}");
            let url = r["source"][0]["url"].as_str().unwrap();
            assert!(
                url.starts_with("mirror://pypi/") && url.ends_with(&format!("/{filename}")),
                "{what}: {url}"
            );
            let noarch = r["build"]["noarch"].as_str();
            if case.compiled {
                assert_eq!(noarch, None, "{what} has compiled code");
            } else {
                assert_eq!(noarch, Some("python"), "{what} is pure Python");
            }
            let build: Vec<&str> = r["requirements"]["build"]
                .as_array()
                .map(|b| b.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(build.is_empty(), !case.compiled, "{what}: {build:?}");
            for compiler in case.compilers {
                assert!(
                    build.iter().any(|b| b.starts_with(compiler)),
                    "{what}: no {compiler} in {build:?}"
                );
            }
            let names = |key: &str| -> Vec<String> {
                r["requirements"][key]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|s| s.as_str())
                            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let host = names("host");
            assert!(
                host.contains(&case.backend.to_string()) && host.contains(&"python".to_string()),
                "{what}: host {host:?} lacks {}",
                case.backend
            );
            let run = names("run");
            let mut expected_run = vec!["python".to_string()];
            expected_run.extend(case.run.iter().map(|s| s.to_string()));
            assert_eq!(run, expected_run, "{what}");
            let imports: Vec<&str> = r["tests"][0]["python"]["imports"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s.as_str())
                .collect();
            assert_eq!(imports, case.imports, "{what}");
            assert!(
                r["about"]["summary"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{what}"
            );
        }

        // The library's account agrees with the file.
        let json = &generated[case.name];
        assert_eq!(json["sha256"], sha);
        assert_eq!(json["noarch"], !case.compiled, "{}", case.name);
    }
    // Extras are left out, and said so.
    let requests = &generated["requests"];
    assert!(
        requests["left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["pypi"].as_str().unwrap().starts_with("pysocks") && l["reason"] == "extra"),
        "{requests}"
    );
}

#[test]
fn generated_recipes_render_with_ftforge_plan() {
    let (dir, _) = generated();
    let channel = tempfile::tempdir().unwrap();
    let out = run(ftforge()
        .args(["plan", "--json", "--channel"])
        .arg(channel.path())
        .arg(&dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    for case in CASES {
        let mut abis: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["job"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{} {} ", case.name, case.version))
            })
            .map(|r| r["abi"].as_str().unwrap())
            .collect();
        abis.sort();
        assert_eq!(
            abis,
            ["cp313", "cp313t", "cp314", "cp314t"],
            "{}: {rows}",
            case.name
        );
    }
}

#[test]
fn recipe_new_refuses_to_overwrite_and_names_what_the_index_has() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(ftforge()
        .args(["recipe", "new", "idna==3.10", "-o"])
        .arg(dir.path()));
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(
        text(&first.stdout).trim(),
        dir.path().join("idna/recipe.yaml").display().to_string()
    );
    let again = run(ftforge()
        .args(["recipe", "new", "idna==3.10", "-o"])
        .arg(dir.path()));
    assert!(!again.status.success());
    let err = text(&again.stderr);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    let forced = run(ftforge()
        .args(["recipe", "new", "idna==3.10", "--force", "-o"])
        .arg(dir.path()));
    assert!(forced.status.success(), "{}", text(&forced.stderr));

    let missing = run(ftforge()
        .args(["recipe", "new", "idna==0.0.1", "-o"])
        .arg(dir.path()));
    assert!(!missing.status.success());
    let err = text(&missing.stderr);
    assert!(
        err.contains("idna==0.0.1") && err.contains("releases with one: 3."),
        "{err}"
    );
}

/// The generated recipe of a pure-Python project builds with `ftforge build` unchanged
/// and is judged on each interpreter (the shared channel's interpreters).
#[test]
fn generated_pure_python_recipe_builds_with_ftforge_build() {
    let channel = interpreter_channel();
    let dir = tempfile::tempdir().unwrap();
    let recipes = dir.path().join("recipes");
    let out = run(ftforge()
        .args(["recipe", "new", "idna==3.10", "-o"])
        .arg(&recipes));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = run(ftforge()
        .arg("build")
        .arg(recipes.join("idna"))
        .args(["--python", "3.14", "--channel"])
        .arg(&channel));
    assert!(
        out.status.success(),
        "ftforge build of the generated recipe failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let compat = compat(&channel);
    let mut files = Vec::new();
    for abi in ["cp314t", "cp314"] {
        let record = &compat["records"][format!("idna/3.10/{abi}")];
        assert_eq!(record["verdict"], "pure-python", "{abi}: {record}");
        let file = record["filename"].as_str().unwrap().to_string();
        assert!(channel.join("noarch").join(&file).is_file(), "{record}");
        files.push(file);
    }
    // One noarch package, judged on both interpreters.
    assert_eq!(files[0], files[1]);
}
