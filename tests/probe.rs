//! `ftforge probe` on a real interpreter: the free-threaded CPython of the shared
//! channel, installed by py-rattler. The JSON report has typed outcomes
//! (`{"status": "ok", …}`) and the conditions it was measured under; the table says how
//! each figure was measured.

mod common;

use std::path::Path;

use common::*;
use ftforge_interpreter::probes::{ProbeOutcome, ProbeReport};

/// A free-threaded 3.14 environment installed by py-rattler from the shared channel.
fn free_threaded_env() -> tempfile::TempDir {
    let channel = interpreter_channel();
    let dir = tempfile::Builder::new()
        .prefix("probe-env-")
        .tempdir()
        .unwrap();
    py_rattler_install(
        channel.to_str().unwrap(),
        dir.path(),
        &["python-freethreading 3.14.*"],
    );
    dir
}

/// `ftforge probe` with short probes on `prefix`.
fn probe(prefix: &Path, extra: &[&str]) -> std::process::Output {
    run(ftforge()
        .args(["probe", "--threads", "2", "--scaling-seconds", "0.3"])
        .args(["--latency-seconds", "0.5", "--race-seconds", "1"])
        .args(["--module", "_decimal", "--module", "no_such_module"])
        .args(extra)
        .arg("--prefix")
        .arg(prefix)
        .env("NO_COLOR", "1"))
}

#[test]
fn probe_reports_typed_figures_and_how_they_were_measured() {
    let env = free_threaded_env();

    let out = probe(env.path(), &["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("\"Ok\"") && !stdout.contains("\"Err\""),
        "no Rust Result wrappers in the report:\n{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let r = &json[0];
    assert_eq!(r["version"], "3.14.7", "{r}");
    assert_eq!(r["gil_enabled_at_start"], false, "{r}");
    assert!(
        r["python"]
            .as_str()
            .unwrap()
            .starts_with(env.path().to_str().unwrap()),
        "{r}"
    );

    let scaling = &r["scaling"];
    assert_eq!(scaling["status"], "ok", "{scaling}");
    assert_eq!(scaling["gil_enabled"], false);
    assert_eq!(scaling["ratio"]["1"], 1.0);
    assert!(scaling["ratio"]["2"].as_f64().unwrap() > 0.0, "{scaling}");
    assert!(scaling["cpu_seconds"].as_f64().unwrap() > 0.0, "{scaling}");
    assert_eq!(r["latency"]["status"], "ok", "{r}");
    assert_eq!(r["latency"]["burners"], 2);
    let race = &r["env_race"];
    assert_eq!(race["status"], "ok", "{race}");
    assert_eq!(race["limit_seconds"], 1.0);
    let sub = &r["subinterpreters"];
    assert_eq!(sub["status"], "ok", "{sub}");
    assert_eq!(sub["modules"]["no_such_module"]["ok"], false, "{sub}");
    assert!(sub["modules"]["_decimal"]["ok"].is_boolean(), "{sub}");

    // How it was measured.
    let c = &r["conditions"];
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(c["usable_cores"], cores, "{c}");
    assert!(c["load_at_start"].as_f64().unwrap() >= 0.0, "{c}");
    assert!(c["load_at_end"].as_f64().unwrap() >= 0.0, "{c}");
    assert!(c["other_busy_cores"].as_f64().unwrap() >= 0.0, "{c}");
    assert!(
        c.get("competing_jobs").is_some_and(|j| j.is_null()),
        "ftforge probe on its own does not know of other jobs: {c}"
    );

    // The library reads it back as typed fields.
    let typed: Vec<ProbeReport> = serde_json::from_str(&stdout).unwrap();
    assert!(matches!(typed[0].scaling, ProbeOutcome::Ok(_)));
    assert_eq!(
        typed[0].conditions.as_ref().unwrap().usable_cores as u64,
        cores
    );

    let out = probe(env.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("thread scaling") && table.contains("1: 1.00×"),
        "{table}"
    );
    assert!(table.contains("not: no_such_module"), "{table}");
    let measured = table
        .lines()
        .find(|l| l.starts_with("measured"))
        .unwrap_or_else(|| panic!("no measured row:\n{table}"));
    let on_cores = if cores == 1 {
        "on 1 core".to_string()
    } else {
        format!("on {cores} cores")
    };
    assert!(measured.contains(&on_cores), "{measured}");
    assert!(measured.contains("other processes busy on"), "{measured}");
    assert!(
        text(&out.stderr).contains("probing "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn probing_an_environment_without_python_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(ftforge().args(["probe", "--prefix"]).arg(dir.path()));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("no python in {}/bin", dir.path().display())),
        "{stderr}"
    );
}
