//! `ftforge recipe update` on copies of recipes (the shipped python recipe, the pyyaml
//! 6.0.2 fixture), against the package index pip is configured with: pyyaml 6.0.2 → 6.0.3 (the release after which cp314t keeps
//! the GIL off), its sha256 checked against an independent reading of the index, the
//! hand-written parts byte for byte, the result rendered by py-rattler-build;
//! `--dry-run` writes nothing; a recipe whose source is not an sdist is reported, not
//! failed; a `--to` naming no recipe stops before anything is written; an edit that
//! does not render leaves the file as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A temporary folder with copies of recipe folders (relative to the repository), each
/// named as its package: `tests/fixtures/pyyaml-6.0.2` becomes `pyyaml`.
fn copies(recipes: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for path in recipes {
        let from = repo_root().join(path);
        let folder = from.file_name().unwrap().to_string_lossy().into_owned();
        let name = folder.split_once('-').map_or(folder.as_str(), |(n, _)| n);
        let to = dir.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    dir
}

fn update(args: &[&str], path: &Path) -> Output {
    run(ftforge().args(["recipe", "update"]).arg(path).args(args))
}

/// Every file under `dir` with its text.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = walk(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, text(&bytes))
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The index's sdist file name and sha256 of `pin`, read by tests/support (Python's
/// urllib and json, not ftforge's code).
fn index_sdist(pin: &str) -> (String, String) {
    let out = run(Command::new(host_python())
        .arg(repo_root().join("tests/support/index_sdist.py"))
        .arg(pin));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    (
        json[pin]["filename"].as_str().unwrap().to_string(),
        json[pin]["sha256"].as_str().unwrap().to_string(),
    )
}

#[test]
fn pyyaml_moves_to_6_0_3_keeping_its_hand_written_parts() {
    let dir = copies(&[GIL_REENABLING_RECIPE]);
    let recipe = dir.path().join("pyyaml/recipe.yaml");
    let original = std::fs::read_to_string(&recipe).unwrap();
    assert!(original.contains("version: \"6.0.2\""), "{original}");
    let (filename, sha) = index_sdist("pyyaml==6.0.3");
    assert_eq!(filename, "pyyaml-6.0.3.tar.gz");

    // --dry-run: says what would change, writes nothing.
    let before = snapshot(dir.path());
    let out = update(
        &["--to", "pyyaml==6.0.3", "--dry-run", "--json"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let entry = &json[0];
    assert_eq!(
        (
            &entry["name"],
            &entry["version"],
            &entry["status"],
            &entry["to"],
            &entry["sha256"],
            &entry["written"]
        ),
        (
            &"pyyaml".into(),
            &"6.0.2".into(),
            &"updated".into(),
            &"6.0.3".into(),
            &serde_json::Value::from(sha.as_str()),
            &false.into()
        ),
        "{json}"
    );
    assert_eq!(snapshot(dir.path()), before, "--dry-run wrote something");

    // The update itself.
    let out = update(&["--to", "pyyaml==6.0.3"], &dir.path().join("pyyaml"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some(format!("pyyaml 6.0.2 → 6.0.3 (sha256 {sha})").as_str()),
        "{stdout}"
    );
    let updated = std::fs::read_to_string(&recipe).unwrap();
    // Only the version and sha256 lines changed; lines added are new requirements the
    // output names.
    let old_lines: Vec<&str> = original.lines().collect();
    let added: Vec<&str> = updated.lines().filter(|l| !old_lines.contains(l)).collect();
    let removed: Vec<&str> = old_lines
        .iter()
        .copied()
        .filter(|l| !updated.lines().any(|u| u == *l))
        .collect();
    assert_eq!(
        removed,
        [
            "  version: \"6.0.2\"",
            "  sha256: d584d9ec91ad65861cc08d42e834324ef890a082e591037abe114850ff7bbc3e"
        ],
        "{updated}"
    );
    assert_eq!(
        &added[..2],
        ["  version: \"6.0.3\"", &format!("  sha256: {sha}")],
        "{updated}"
    );
    for line in &added[2..] {
        let spec = line.trim_start().trim_start_matches("- ");
        assert!(
            stdout.contains(&format!("host: added {spec}"))
                || stdout.contains(&format!("run: added {spec}")),
            "{line} added without saying so:\n{stdout}"
        );
    }
    // Everything else is byte for byte: the stress snippet, tests, about.
    let tail = |s: &str| s[s.find("\ntests:").unwrap()..].to_string();
    assert_eq!(tail(&updated), tail(&original));
    let files: Vec<PathBuf> = walk(dir.path());
    assert_eq!(
        files,
        std::slice::from_ref(&recipe),
        "a staged file was left behind"
    );

    // rattler-build itself renders the result: the new version and sdist.
    let script = r#"
import json, sys
import rattler_build as rb
config = rb.VariantConfig.from_file(sys.argv[2])
rendered = rb.Stage0Recipe.from_file(sys.argv[1]).render(config)
print(json.dumps([r.recipe.to_dict() for r in rendered]))
"#;
    let out = run(Command::new(host_python())
        .arg("-c")
        .arg(script)
        .arg(&recipe)
        .arg(repo_root().join("recipes/variants.yaml")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rendered: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let rendered = rendered.as_array().unwrap();
    assert!(!rendered.is_empty());
    for r in rendered {
        assert_eq!(r["package"]["version"], "6.0.3");
        assert_eq!(r["source"][0]["sha256"], sha.as_str());
        let url = r["source"][0]["url"].as_str().unwrap();
        assert!(url.ends_with(&format!("/{filename}")), "{url}");
        assert_eq!(
            r["extra"]["ftforge"]["stress"]["threads"], 8,
            "the stress settings survive"
        );
    }

    // Asked again: nothing to do.
    let out = update(&["--to", "pyyaml==6.0.3"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "pyyaml 6.0.3 (as --to asks)");
    assert_eq!(std::fs::read_to_string(&recipe).unwrap(), updated);
}

#[test]
fn other_sources_are_reported_and_bad_targets_stop_the_run() {
    let dir = copies(&["recipes/python", GIL_REENABLING_RECIPE]);
    let before = snapshot(dir.path());
    // A --to that names no recipe: an error before anything is written.
    let out = update(&["--to", "numpy==2.0"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`--to numpy==2.0` names no recipe"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(dir.path()), before);

    // The interpreter's source is not an sdist on the index: reported, exit 0.
    let out = update(&["--dry-run", "--json"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let python = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "python")
        .unwrap();
    assert_eq!(python["status"], "not-updatable", "{json}");
    assert_eq!(python["reason"], "source is not an sdist on the index");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn an_update_that_does_not_render_leaves_the_recipe_unchanged() {
    let dir = copies(&[GIL_REENABLING_RECIPE]);
    let recipe = dir.path().join("pyyaml/recipe.yaml");
    // A recipe that renders for 6.0.2 only.
    let original = std::fs::read_to_string(&recipe).unwrap().replace(
        "  license: MIT",
        "  license: ${{ \"MIT\" if version == \"6.0.2\" else no_such_function() }}",
    );
    std::fs::write(&recipe, &original).unwrap();
    let out = update(&["--to", "pyyaml==6.0.3", "--json"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(json[0]["status"], "error", "{json}");
    assert_eq!(
        json[0]["error"],
        format!(
            "the updated {} does not render; the file is left unchanged",
            recipe.display()
        ),
        "{json}"
    );
    assert!(
        text(&out.stderr).contains("no_such_function is unknown"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&recipe).unwrap(), original);
    assert_eq!(walk(dir.path()), [recipe], "a staged file was left behind");
}
