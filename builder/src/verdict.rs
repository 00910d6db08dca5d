//! Deciding a package's compatibility verdict from evidence gathered on an installed
//! environment: every extension module imported in a fresh process (GIL state and
//! warnings captured), thread-stress runs, and the recipe's own tests.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ftforge_channels::Verdict;
use ftforge_interpreter::extensions::{
    extension_modules, import_race_snippet, ExtensionModule, ImportResult, StressResult,
    IMPORT_PROBE, STRESS_HARNESS,
};
use ftforge_interpreter::PythonAbi;
use tokio::io::AsyncWriteExt;

use crate::testing::{activate, TestOutcome};

/// A recipe's thread-stress declaration (`extra.ftforge.stress`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StressConfig {
    /// Python run by every thread at once; without one, the imports themselves race.
    #[serde(default)]
    pub snippet: Option<String>,
    #[serde(default = "default_threads")]
    pub threads: u32,
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_threads() -> u32 {
    8
}
fn default_rounds() -> u32 {
    10
}
fn default_timeout() -> u64 {
    120
}

impl Default for StressConfig {
    fn default() -> Self {
        Self {
            snippet: None,
            threads: default_threads(),
            rounds: default_rounds(),
            timeout_secs: default_timeout(),
        }
    }
}

impl StressConfig {
    pub fn from_extra(extra: &serde_json::Value) -> Result<Self, String> {
        match extra.pointer("/ftforge/stress") {
            None | Some(serde_json::Value::Null) => Ok(Self::default()),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| format!("extra.ftforge.stress: {e}"))
            }
        }
    }
}

/// A verdict, its one-line reason and the evidence behind it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Assessment {
    pub verdict: Verdict,
    pub reason: String,
    pub evidence: serde_json::Value,
}

/// The extension modules among a package's files (paths relative to the prefix).
pub fn modules_of(files: &[String], abi: &PythonAbi) -> Vec<ExtensionModule> {
    extension_modules(files.iter().map(String::as_str), &abi.site_packages_dir())
}

/// Gathers the evidence on `prefix` (where the package and its interpreter are
/// installed) and decides the verdict.
pub async fn assess(
    abi: &PythonAbi,
    prefix: &Path,
    modules: &[ExtensionModule],
    tests: &[TestOutcome],
    stress: &StressConfig,
) -> Assessment {
    let python = prefix.join(abi.executable());
    let mut imports = Vec::new();
    for module in modules {
        imports.push(import_one(&python, prefix, &module.name).await);
    }
    let declared = stress.snippet.is_some();
    let snippet = stress
        .snippet
        .clone()
        .unwrap_or_else(|| import_race_snippet(modules));
    // Free-threaded builds are stressed with the GIL forced off, even when an import
    // would turn it on: a maintainer sees whether the code itself would survive.
    let python_gil = abi.freethreading.then(|| "0".to_string());
    let stress_result = if modules.is_empty() && !declared {
        None
    } else {
        Some(
            run_stress(
                &python,
                prefix,
                &snippet,
                declared,
                stress,
                python_gil.as_deref(),
            )
            .await,
        )
    };
    // Whether each module also loads in a subinterpreter (PEP 684/734): recorded, not judged.
    let subinterpreters = if modules.is_empty() {
        None
    } else {
        Some(subinterpreter_imports(&python, prefix, modules).await)
    };
    let evidence = serde_json::json!({
        "abi": abi.tag(),
        "modules": modules,
        "imports": imports,
        "stress": stress_result,
        "tests": tests,
        "subinterpreters": subinterpreters,
    });
    let (verdict, reason) = decide(
        abi,
        modules,
        &imports,
        stress_result.as_ref(),
        declared,
        tests,
    );
    Assessment {
        verdict,
        reason,
        evidence,
    }
}

/// The decision table (documented in docs/compat.md).
pub fn decide(
    abi: &PythonAbi,
    modules: &[ExtensionModule],
    imports: &[ImportResult],
    stress: Option<&StressResult>,
    stress_declared: bool,
    tests: &[TestOutcome],
) -> (Verdict, String) {
    if let Some(failed) = imports.iter().find(|i| !i.imported) {
        let abi3 = modules.iter().any(|m| m.name == failed.module && m.abi3);
        let note = if abi3 && abi.freethreading {
            " (an abi3 module: free-threaded CPython cannot load the limited API)"
        } else {
            ""
        };
        return (
            Verdict::ImportFailed,
            format!(
                "import {} failed: {}{note}",
                failed.module,
                failed.error.as_deref().unwrap_or("?")
            ),
        );
    }
    if let Some(failed) = tests
        .iter()
        .find(|t| !t.passed && t.name.starts_with("import "))
    {
        return (
            Verdict::ImportFailed,
            format!("recipe test `{}` failed", failed.name),
        );
    }
    if modules.is_empty() {
        return (Verdict::PurePython, "no compiled extension modules".into());
    }
    if abi.freethreading {
        if let Some(culprit) = imports.iter().find(|i| i.reenabled_gil()) {
            let said = culprit
                .gil_warning()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            return (
                Verdict::GilReenabled,
                format!("importing {} turned the GIL on{said}", culprit.module),
            );
        }
        if let Some(s) = stress.filter(|s| !s.passed) {
            return (
                Verdict::StressFailed,
                format!(
                    "{}: {}",
                    s.snippet_source,
                    s.failure.as_deref().unwrap_or("failed")
                ),
            );
        }
        if let Some(failed) = tests.iter().find(|t| !t.passed) {
            return (
                Verdict::StressFailed,
                format!("recipe test `{}` failed with the GIL off", failed.name),
            );
        }
    } else if let Some(failed) = tests.iter().find(|t| !t.passed) {
        return (
            Verdict::ImportFailed,
            format!("recipe test `{}` failed", failed.name),
        );
    }
    let n = modules.len();
    let stress_ok = stress.is_some_and(|s| s.passed);
    match (abi.freethreading, stress_declared && stress_ok) {
        (true, true) => (
            Verdict::Verified,
            format!("{n} module(s) keep the GIL off; tests and thread stress pass"),
        ),
        (true, false) => (
            Verdict::GilFree,
            format!("{n} module(s) import with the GIL off"),
        ),
        (false, true) => (
            Verdict::Verified,
            format!("{n} module(s) import; tests and thread stress pass"),
        ),
        (false, false) => (Verdict::Ok, format!("{n} module(s) import")),
    }
}

async fn subinterpreter_imports(
    python: &Path,
    prefix: &Path,
    modules: &[ExtensionModule],
) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-c")
        .arg(ftforge_interpreter::probes::SUBINTERPRETERS)
        .args(modules.iter().map(|m| m.name.clone()))
        .current_dir(prefix)
        .kill_on_drop(true);
    activate(&mut cmd, prefix);
    match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Ok(Ok(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or_else(|| serde_json::json!({"error": describe_exit(&out.status, &String::from_utf8_lossy(&out.stderr))}))
        }
        Ok(Err(e)) => serde_json::json!({"error": e.to_string()}),
        Err(_) => serde_json::json!({"error": "no result within 120 s"}),
    }
}

async fn import_one(python: &Path, prefix: &Path, module: &str) -> ImportResult {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-c")
        .arg(IMPORT_PROBE)
        .arg(module)
        .current_dir(prefix)
        .kill_on_drop(true);
    activate(&mut cmd, prefix);
    let failed = |error: String| ImportResult {
        module: module.to_string(),
        imported: false,
        error: Some(error),
        gil_before: false,
        gil_after: false,
        warnings: Vec::new(),
        seconds: 0.0,
    };
    match tokio::time::timeout(Duration::from_secs(120), cmd.output()).await {
        Err(_) => failed("the import did not finish within 120 s".into()),
        Ok(Err(e)) => failed(format!("cannot run {}: {e}", python.display())),
        Ok(Ok(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout
                .lines()
                .last()
                .map(serde_json::from_str::<ImportResult>)
            {
                Some(Ok(result)) => result,
                _ => failed(describe_exit(
                    &out.status,
                    &String::from_utf8_lossy(&out.stderr),
                )),
            }
        }
    }
}

async fn run_stress(
    python: &Path,
    prefix: &Path,
    snippet: &str,
    declared: bool,
    config: &StressConfig,
    python_gil: Option<&str>,
) -> StressResult {
    let started = Instant::now();
    let mut result = StressResult {
        python_gil: python_gil.map(String::from),
        snippet_source: if declared {
            "recipe stress snippet".into()
        } else {
            "import race".into()
        },
        threads: config.threads,
        rounds: config.rounds,
        passed: false,
        failure: None,
        errors: Vec::new(),
        seconds: 0.0,
    };
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-c")
        .arg(STRESS_HARNESS)
        .arg(config.threads.to_string())
        .arg(config.rounds.to_string())
        .current_dir(prefix)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    activate(&mut cmd, prefix);
    if let Some(value) = python_gil {
        cmd.env("PYTHON_GIL", value);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            result.failure = Some(format!("cannot run {}: {e}", python.display()));
            return result;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(snippet.as_bytes()).await;
    }
    let waited = tokio::time::timeout(
        Duration::from_secs(config.timeout_secs),
        child.wait_with_output(),
    )
    .await;
    result.seconds = started.elapsed().as_secs_f64();
    match waited {
        Err(_) => {
            result.failure = Some(format!("hung: no result within {} s", config.timeout_secs))
        }
        Ok(Err(e)) => result.failure = Some(format!("cannot wait: {e}")),
        Ok(Ok(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            {
                Some(report) if out.status.success() => {
                    let errors: Vec<String> = report["errors"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|e| e.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    let count = report["error_count"].as_u64().unwrap_or(0);
                    result.passed = count == 0;
                    if count > 0 {
                        result.failure = Some(format!("{count} thread(s) raised"));
                    }
                    result.errors = errors;
                }
                _ => {
                    result.failure = Some(describe_exit(
                        &out.status,
                        &String::from_utf8_lossy(&out.stderr),
                    ))
                }
            }
        }
    }
    result
}

fn describe_exit(status: &std::process::ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let how = match (status.code(), status.signal()) {
        (_, Some(sig)) => format!("crashed (signal {sig})"),
        (Some(code), _) => format!("exit code {code}"),
        _ => "ended abnormally".into(),
    };
    if tail.is_empty() {
        how
    } else {
        format!("{how}: {}", tail.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str) -> ExtensionModule {
        ExtensionModule {
            name: name.into(),
            path: format!("x/{name}.so"),
            abi3: false,
        }
    }

    fn import(name: &str, ok: bool, gil_after: bool) -> ImportResult {
        ImportResult {
            module: name.into(),
            imported: ok,
            error: (!ok).then(|| "ImportError: nope".into()),
            gil_before: false,
            gil_after,
            warnings: Vec::new(),
            seconds: 0.0,
        }
    }

    fn stress(passed: bool) -> StressResult {
        StressResult {
            python_gil: Some("0".into()),
            snippet_source: "recipe stress snippet".into(),
            threads: 8,
            rounds: 10,
            passed,
            failure: (!passed).then(|| "crashed (signal 11)".into()),
            errors: Vec::new(),
            seconds: 1.0,
        }
    }

    #[test]
    fn the_decision_table() {
        let ft = PythonAbi::new(3, 14, true);
        let gil = PythonAbi::new(3, 14, false);
        let m = [module("a._x")];
        assert_eq!(
            decide(&ft, &[], &[], None, false, &[]).0,
            Verdict::PurePython
        );
        assert_eq!(
            decide(&ft, &m, &[import("a._x", false, false)], None, false, &[]).0,
            Verdict::ImportFailed
        );
        assert_eq!(
            decide(
                &ft,
                &m,
                &[import("a._x", true, true)],
                Some(&stress(true)),
                false,
                &[]
            )
            .0,
            Verdict::GilReenabled
        );
        assert_eq!(
            decide(
                &ft,
                &m,
                &[import("a._x", true, false)],
                Some(&stress(false)),
                true,
                &[]
            )
            .0,
            Verdict::StressFailed
        );
        assert_eq!(
            decide(
                &ft,
                &m,
                &[import("a._x", true, false)],
                Some(&stress(true)),
                false,
                &[]
            )
            .0,
            Verdict::GilFree
        );
        assert_eq!(
            decide(
                &ft,
                &m,
                &[import("a._x", true, false)],
                Some(&stress(true)),
                true,
                &[]
            )
            .0,
            Verdict::Verified
        );
        assert_eq!(
            decide(
                &gil,
                &m,
                &[import("a._x", true, true)],
                Some(&stress(true)),
                false,
                &[]
            )
            .0,
            Verdict::Ok
        );
        assert_eq!(
            decide(
                &gil,
                &m,
                &[import("a._x", true, true)],
                Some(&stress(true)),
                true,
                &[]
            )
            .0,
            Verdict::Verified
        );
        let failing = [TestOutcome {
            name: "script #1".into(),
            passed: false,
            detail: None,
        }];
        assert_eq!(
            decide(
                &ft,
                &m,
                &[import("a._x", true, false)],
                Some(&stress(true)),
                true,
                &failing
            )
            .0,
            Verdict::StressFailed
        );
    }

    #[test]
    fn stress_config_from_extra() {
        let extra = serde_json::json!({"ftforge": {"stress": {"snippet": "x = 1", "threads": 4}}});
        let c = StressConfig::from_extra(&extra).unwrap();
        assert_eq!(
            (c.snippet.as_deref(), c.threads, c.rounds),
            (Some("x = 1"), 4, 10)
        );
        assert_eq!(
            StressConfig::from_extra(&serde_json::json!({})).unwrap(),
            StressConfig::default()
        );
        assert!(StressConfig::from_extra(
            &serde_json::json!({"ftforge": {"stress": {"threads": "many"}}})
        )
        .is_err());
    }
}
