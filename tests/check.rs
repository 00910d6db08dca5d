//! `ftforge check` on real sdists ftforge has no recipe for, against the shared
//! interpreters: a package that keeps the GIL off, a pure-Python one whose run
//! dependency turns it back on (the answer names the dependency), exit codes, the
//! `--json` document, a second check that builds nothing, a requirements file, an
//! unresolvable requirement, and `--history` across pyyaml 6.0.2 → 6.0.3.

mod common;

use std::path::Path;

use common::{ftforge, interpreter_channel_copy, repo_root, run, text};
use serde_json::Value;

fn check(channel: &Path, args: &[&str]) -> (i32, String, String) {
    let out = run(ftforge()
        .arg("check")
        .args(args)
        .arg("--channel")
        .arg(channel)
        .current_dir(repo_root()));
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn json(channel: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, stdout, stderr) = check(channel, &all);
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check --json printed no JSON ({e}):\n{stdout}\n{stderr}"));
    (code, value, stderr)
}

fn package<'a>(target: &'a Value, name: &str) -> &'a Value {
    target["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the answer: {target:#}"))
}

#[test]
fn check_answers_for_a_stack_names_the_dependency_and_reuses_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = interpreter_channel_copy(tmp.path());

    // A C extension that declares it keeps the GIL off.
    let (code, stdout, stderr) = check(&channel, &["mmh3==5.3.1", "--python", "3.14t"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().next().unwrap(),
        "3.14t: the GIL stays off with mmh3 5.3.1",
        "{stdout}\n{stderr}"
    );

    // A pure-Python package whose run requirement turns the GIL back on.
    let (code, report, stderr) = json(
        &channel,
        &["jsonschema==4.17.3", "mmh3==5.3.1", "--python", "3.14t"],
    );
    assert_eq!(code, 3, "{report:#}\n{stderr}");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["exit_code"], 3);
    let target = &report["targets"][0];
    assert_eq!(target["python"], "3.14t");
    assert_eq!(target["abi"], "cp314t");
    assert_eq!(target["outcome"], "gil-turns-on");
    let answer = target["answer"].as_str().unwrap();
    assert!(
        answer.starts_with("3.14t: the GIL turns back on — pyrsistent 0.20.0 (pvectorc, required by jsonschema 4.17.3)"),
        "{answer}"
    );
    assert_eq!(package(target, "jsonschema")["verdict"], "pure-python");
    assert_eq!(package(target, "jsonschema")["how"], "built");
    assert_eq!(package(target, "pyrsistent")["verdict"], "gil-reenabled");
    assert_eq!(package(target, "pyrsistent")["gil_enabled_by"], "pvectorc");
    assert_eq!(
        package(target, "pyrsistent")["requested_by"][0],
        "jsonschema 4.17.3"
    );
    assert_eq!(package(target, "attrs")["verdict"], "pure-python");
    assert_eq!(package(target, "mmh3")["how"], "reused");
    let built = report["built"].as_u64().unwrap();
    assert!(
        built >= 3,
        "jsonschema, attrs and pyrsistent were built: {report:#}"
    );

    // The dependency asked for directly: the answer does not say "required by".
    let (code, stdout, _) = check(&channel, &["pyrsistent==0.20.0", "--python", "3.14t"]);
    assert_eq!(code, 3, "{stdout}");
    assert_eq!(
        stdout.lines().next().unwrap(),
        "3.14t: the GIL turns back on — pyrsistent 0.20.0 (pvectorc)"
    );

    // Asked again (from a requirements file), nothing is built and the answer stands.
    let reqs = tmp.path().join("requirements.txt");
    std::fs::write(
        &reqs,
        "# my stack\njsonschema==4.17.3\nmmh3==5.3.1  # hashing\n",
    )
    .unwrap();
    let (code, again, stderr) = json(&channel, &["-r", reqs.to_str().unwrap()]);
    assert_eq!(code, 3, "{again:#}\n{stderr}");
    assert_eq!(again["built"], 0, "{again:#}");
    assert_eq!(again["reused"], 4, "{again:#}");
    assert_eq!(again["targets"][0]["answer"], target["answer"]);
    assert!(
        again["requested"][1]["origin"]
            .as_str()
            .unwrap()
            .ends_with("requirements.txt:3"),
        "{again:#}"
    );

    // No answer: a project the index does not have.
    let (code, stdout, _) = check(
        &channel,
        &["ftforge-no-such-project-for-tests", "--python", "3.14t"],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.starts_with("3.14t: no answer"), "{stdout}");
    assert!(stdout.contains("not resolved:"), "{stdout}");

    // Input errors name the file and line.
    std::fs::write(&reqs, "mmh3\n--index-url http://127.0.0.1:9/simple\n").unwrap();
    let (code, _, stderr) = check(&channel, &["-r", reqs.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("requirements.txt:2"), "{stderr}");
    let (code, _, stderr) = check(&channel, &["mmh3", "--python", "3.14x"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("3.14x"), "{stderr}");
}

#[test]
fn history_finds_the_release_since_which_the_gil_stays_off() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = interpreter_channel_copy(tmp.path());
    // pyyaml 6.0.2 turns the GIL on on cp314t; 6.0.3 declared free-threading support.
    let (code, report, stderr) = json(
        &channel,
        &["pyyaml<=6.0.3", "--history", "2", "--python", "3.14t"],
    );
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let history = &report["history"][0];
    assert_eq!(history["package"], "pyyaml");
    let versions: Vec<(&str, &str)> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["verdict"].as_str().unwrap_or("none"),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("6.0.3", "gil-free"), ("6.0.2", "gil-reenabled")],
        "{report:#}"
    );
    assert_eq!(history["gil_free_since"], "6.0.3");

    // The answer for the old release points to the evidence for the newer one.
    let (code, stdout, stderr) = check(&channel, &["pyyaml==6.0.2", "--python", "3.14t"]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().next().unwrap(),
        "3.14t: the GIL turns back on — pyyaml 6.0.2 (yaml._yaml); pyyaml 6.0.3 and later keep it off",
        "{stdout}"
    );
}

/// The catalog's smoke subset (recipes/catalog/smoke.txt: newest releases, so only the
/// shape of the answer is fixed): every package gets a verdict on both interpreters.
#[test]
fn the_catalog_smoke_subset_gets_an_answer_for_every_package() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = interpreter_channel_copy(tmp.path());
    let list = repo_root().join("recipes/catalog/smoke.txt");
    let (code, report, stderr) = json(
        &channel,
        &[
            "-r",
            list.to_str().unwrap(),
            "--python",
            "3.14t",
            "--python",
            "3.14",
        ],
    );
    assert!(code == 0 || code == 3, "{report:#}\n{stderr}");
    assert_eq!(report["targets"].as_array().unwrap().len(), 2);
    for target in report["targets"].as_array().unwrap() {
        let python = target["python"].as_str().unwrap();
        assert!(
            target["answer"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{python}: ")),
            "{target:#}"
        );
        for p in target["packages"].as_array().unwrap() {
            assert!(p["verdict"].is_string(), "{python}: no verdict for {p:#}");
        }
    }
    assert!(
        report["unresolved"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
}

/// A hand-written recipe (`--recipes`) that changes without a new version — here its
/// import test — is built again, not answered from the verdict of the old recipe; an
/// unchanged one is reused.
#[test]
fn a_changed_hand_written_recipe_is_checked_again() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = interpreter_channel_copy(tmp.path());
    let recipes = tmp.path().join("recipes");
    let out = run(ftforge()
        .args(["recipe", "new", "idna==3.10", "-o"])
        .arg(&recipes));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args = ["idna==3.10", "--python", "3.14t", "--recipes"];
    let mut args: Vec<&str> = args.to_vec();
    let dir = recipes.to_str().unwrap();
    args.push(dir);

    let (code, report, stderr) = json(&channel, &args);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let idna = package(&report["targets"][0], "idna");
    assert_eq!(idna["recipe_kind"], "shipped", "{idna}");
    assert_eq!(
        (&idna["how"], &idna["verdict"]),
        (&"built".into(), &"pure-python".into()),
        "{idna}"
    );

    let (_, report, stderr) = json(&channel, &args);
    assert_eq!(
        package(&report["targets"][0], "idna")["how"],
        "reused",
        "{report:#}\n{stderr}"
    );
    assert_eq!(report["built"], 0, "{report:#}");

    // The same version, a recipe that now also imports a module idna does not have.
    let recipe = recipes.join("idna/recipe.yaml");
    let yaml = std::fs::read_to_string(&recipe).unwrap();
    let changed = yaml.replacen(
        "        - idna\n",
        "        - idna\n        - idna.no_such_module\n",
        1,
    );
    assert_ne!(
        changed, yaml,
        "the generated recipe's import list changed shape:\n{yaml}"
    );
    std::fs::write(&recipe, changed).unwrap();
    let (code, report, stderr) = json(&channel, &args);
    let idna = package(&report["targets"][0], "idna");
    assert_eq!(
        (&idna["how"], &idna["verdict"]),
        (&"built".into(), &"import-failed".into()),
        "{report:#}\n{stderr}"
    );
    assert_eq!(code, 3);
}
