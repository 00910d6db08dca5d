//! Build script: digests of the source files that decide what a package contains
//! (packaging) and what verdict it gets (judging). They are part of every build key and
//! verdict record, so a change to that code invalidates cached builds and verdicts
//! without anyone bumping a version by hand.

use std::path::{Path, PathBuf};

/// Code that decides the bytes of a package.
const PACKAGING: &[&str] = &[
    "src/build/mod.rs",
    "src/build/key.rs",
    "src/build/scripts.rs",
    "src/build/records.rs",
    "src/job.rs",
    "src/package.rs",
    "src/script.rs",
    "src/source.rs",
    "src/env.rs",
    "src/variants.rs",
    "src/recipe",
    "src/toolchain.rs",
    "src/compiler_cache.rs",
    "src/depends.rs",
    "src/linkage.rs",
    "../interpreter/src/abi.rs",
    "../channels/src/archive.rs",
];

/// Code that decides a verdict from an installed package. (`src/diagnose.rs`, which
/// words the reason of a failed build from its log, is in neither list: a failure is
/// not retried for a better wording, and a new wording must not send every verdict to
/// be judged again; `--force` rebuilds a failure.)
const JUDGING: &[&str] = &[
    "src/build/judge.rs",
    "src/testing.rs",
    "src/verdict.rs",
    "../interpreter/src/extensions.rs",
    "../interpreter/src/facts.rs",
    "../channels/src/compat.rs",
];

/// Code and data that decide what `check` and `recipe new` write into a generated recipe
/// (the PyPI → conda name table, the interpreters requirements are evaluated for). Kept
/// generated recipes of another generation are generated again.
const GENERATION: &[&str] = &[
    "src/generate",
    "src/check/closure.rs",
    "../recipes/pypi-names.yaml",
    "../recipes/python/variants.yaml",
];

fn files(entry: &Path) -> Vec<PathBuf> {
    if entry.is_dir() {
        let mut out: Vec<PathBuf> = std::fs::read_dir(entry)
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|p| files(&p))
            .collect();
        out.sort();
        out
    } else if entry.is_file() {
        vec![entry.to_path_buf()]
    } else {
        Vec::new()
    }
}

/// FNV-1a over names and contents (no dependencies in a build script; collisions are
/// not a security matter here, only staleness).
fn digest(list: &[&str]) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    };
    for entry in list {
        if Path::new(entry).exists() {
            println!("cargo:rerun-if-changed={entry}");
        }
        for file in files(Path::new(entry)) {
            feed(file.to_string_lossy().as_bytes());
            feed(&std::fs::read(&file).unwrap_or_default());
        }
    }
    format!("{hash:016x}")
}

fn main() {
    // New files in these folders change the lists above.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=src/build");
    println!("cargo:rerun-if-changed=src/generate");
    println!(
        "cargo:rustc-env=FTFORGE_PACKAGING_DIGEST={}",
        digest(PACKAGING)
    );
    println!("cargo:rustc-env=FTFORGE_JUDGING_DIGEST={}", digest(JUDGING));
    println!(
        "cargo:rustc-env=FTFORGE_GENERATION_DIGEST={}",
        digest(GENERATION)
    );
}
