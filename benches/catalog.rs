//! The catalog on this machine: `ftforge check -r recipes/catalog/compiled-top.txt
//! --python 3.14t --python 3.14` into a channel that starts with only the interpreters,
//! then the figures: packages, verdicts per interpreter, builds, failures by cause and
//! wall time; then the same check again (everything reused). Run: `cargo bench --bench
//! catalog` (hours on 2 cores: the list holds numpy, pandas, scipy, grpcio, …).
//! `FTFORGE_CATALOG` names another list (e.g. recipes/catalog/smoke.txt),
//! `FTFORGE_CATALOG_CHANNEL` a channel to keep (and resume) between runs,
//! `FTFORGE_CATALOG_LOG` a file that gets check's progress and errors (stderr), and
//! `FTFORGE_CATALOG_PYTHON` the interpreters (default `3.14t,3.14`; `3.15t,3.15` adds
//! the release candidate, built into the channel's `label/python_rc` when missing).

#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use ftforge_builder::build::{BuildReport, FailureEvidence};
use ftforge_builder::diagnose::diagnose_file;
use ftforge_channels::{Channel, Verdict};
use ftforge_interpreter::PythonAbi;
use serde::Deserialize;
use support::*;

/// The fields of `ftforge check --json` (docs/check.md, schema 1) the figures use.
#[derive(Deserialize)]
struct Report {
    schema_version: u32,
    targets: Vec<Target>,
    unresolved: Vec<serde_json::Value>,
    built: usize,
    reused: usize,
    exit_code: u8,
}

#[derive(Deserialize)]
struct Target {
    python: String,
    #[serde(with = "ftforge_channels::abi_tag")]
    abi: PythonAbi,
    answer: String,
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    verdict: Option<Verdict>,
    reason: String,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let list = std::env::var_os("FTFORGE_CATALOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("recipes/catalog/compiled-top.txt"));
    let keep = std::env::var_os("FTFORGE_CATALOG_CHANNEL").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let channel = keep.unwrap_or_else(|| tmp.path().join("channel"));
    if !channel.join("compat.json").is_file() {
        // The interpreters only: the shared test channel's python packages.
        let out = std::process::Command::new("cp")
            .arg("-a")
            .arg(test_channel())
            .arg(&channel)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let compat = Channel::new(&channel).compat_path();
        let mut data = Channel::new(&channel).read_compat().unwrap();
        data.records.clear();
        std::fs::write(&compat, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
    }
    let pythons = std::env::var("FTFORGE_CATALOG_PYTHON").unwrap_or_else(|_| "3.14t,3.14".into());
    let run = || {
        let started = Instant::now();
        let mut check = ftforge();
        check.args(["check", "--json"]);
        for python in pythons.split(',') {
            check.args(["--python", python.trim()]);
        }
        let out = check
            .arg("-r")
            .arg(&list)
            .arg("--channel")
            .arg(&channel)
            .current_dir(repo_root())
            .output()
            .unwrap();
        let wall = started.elapsed().as_secs_f64();
        if let Some(log) = std::env::var_os("FTFORGE_CATALOG_LOG") {
            // Appended: the first and the second check, one after the other.
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            file.write_all(&out.stderr).unwrap();
        }
        let report: Report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "check printed no report ({e}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(report.schema_version, 1);
        (report, wall)
    };
    let (report, wall) = run();
    let compat = Channel::new(&channel).read_compat().unwrap();

    println!("catalog: {}", list.display());
    for target in &report.targets {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for p in &target.packages {
            let key = p
                .verdict
                .map(|v| v.to_string())
                .unwrap_or_else(|| "no verdict".into());
            *counts.entry(key).or_default() += 1;
        }
        println!(
            "{}: {} packages (closure) — {}",
            target.python,
            target.packages.len(),
            counts
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("  {}", target.answer.chars().take(300).collect::<String>());
    }
    // Failures by cause: build failures by what the log says stopped them (the log read
    // again by this build's diagnosis, so a catalog resumed across versions counts
    // alike; the record's own when the log is gone); the other failing verdicts by
    // verdict.
    let mut causes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut no_verdict = Vec::new();
    for target in &report.targets {
        for p in &target.packages {
            let Some(verdict) = p.verdict else {
                let reason = p.reason.lines().next().unwrap_or_default();
                no_verdict.push(format!(
                    "{} {} ({}): {}",
                    p.name,
                    p.version,
                    target.python,
                    reason.chars().take(240).collect::<String>()
                ));
                continue;
            };
            if verdict.is_gil_free() || verdict == Verdict::Ok {
                continue;
            }
            let record = compat.get(&p.name, &p.version, Some(&target.abi));
            let cause = match (verdict, record) {
                (Verdict::BuildFailed, Some(r)) => {
                    match serde_json::from_value::<FailureEvidence>(r.evidence.clone()) {
                        Ok(evidence) => {
                            let diagnosis = match &evidence.log {
                                Some(log) if log.is_file() => {
                                    diagnose_file(log, &evidence.log_tail)
                                }
                                _ => evidence.diagnosis,
                            };
                            format!("build-failed: {}", diagnosis.cause.kind())
                        }
                        Err(_) => "build-failed: unknown".into(),
                    }
                }
                (v, _) => v.to_string(),
            };
            causes
                .entry(cause)
                .or_default()
                .push(format!("{} {} ({})", p.name, p.version, target.python));
        }
    }
    println!("failures by cause:");
    for (cause, packages) in &causes {
        println!(
            "  {cause:<40} {:>3}  {}",
            packages.len(),
            packages.join(", ")
        );
    }
    if !no_verdict.is_empty() {
        println!("no verdict (an error of ftforge or its inputs stopped the job):");
        for line in &no_verdict {
            println!("  {line}");
        }
    }
    println!(
        "unresolved requirements: {} · verdicts built: {} · reused: {} · exit {}",
        report.unresolved.len(),
        report.built,
        report.reused,
        report.exit_code
    );
    println!("wall time: {wall:.0} s on {} cores", cores());
    build_times(&channel);
    let (again, noop) = run();
    println!(
        "second check: {noop:.1} s, {} built, {} reused",
        again.built, again.reused
    );
}

/// The job time of the package builds whose reports the channel keeps (every run into a
/// kept channel, so a catalog resumed across sessions counts whole; builds for an
/// interpreter only: the interpreters, the C libraries it started with and `noarch`
/// builds left out), and the longest of them.
fn build_times(channel: &std::path::Path) {
    let mut builds: Vec<(f64, String)> = std::fs::read_dir(channel.join("ftforge/builds"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<BuildReport>(&bytes).ok())
        .filter(|r| r.variant.get("python").is_some() && r.job.split(' ').next() != Some("python"))
        .map(|r| (r.duration_secs, r.job))
        .collect();
    builds.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total: f64 = builds.iter().map(|b| b.0).sum();
    println!(
        "package builds in the channel: {} successful, {:.0} min of job time; longest: {}",
        builds.len(),
        total / 60.0,
        builds
            .iter()
            .take(6)
            .map(|(secs, job)| format!("{job} {secs:.0} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
