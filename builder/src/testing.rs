//! Testing built packages the way users get them: install into a fresh prefix at a
//! different path with rattler's installer (so relocation is exercised), then run the
//! recipe's tests and, for the interpreter itself, the facts probe.

use std::path::{Path, PathBuf};

use ftforge_interpreter::{
    relocation_problems, InterpreterFacts, PythonAbi, FACTS_SCRIPT, REQUIRED_STDLIB_MODULES,
};
use rattler_conda_types::RepoDataRecord;

use crate::progress::{Reporter, Step};
use crate::recipe::{Script, TestSpec};
use crate::script::{run_logged, CommandFailed};

/// The result of one test of one package.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TestOutcome {
    pub name: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A package file with its repodata record (a `file://` URL).
pub fn local_record(package: &Path) -> Result<RepoDataRecord, String> {
    let (record, filename) =
        ftforge_channels::publish::record_for(package).map_err(|e| e.to_string())?;
    let url = url::Url::from_file_path(package)
        .map_err(|_| format!("{} is not an absolute path", package.display()))?;
    Ok(RepoDataRecord {
        package_record: record,
        identifier: filename
            .parse()
            .map_err(|_| format!("bad package file name {filename}"))?,
        url,
        channel: None,
    })
}

/// Installs `records` into a new prefix with rattler's installer.
pub async fn install(
    prefix: &Path,
    records: Vec<RepoDataRecord>,
    package_cache: &Path,
) -> Result<(), String> {
    if prefix.exists() {
        std::fs::remove_dir_all(prefix)
            .map_err(|e| format!("cannot clear {}: {e}", prefix.display()))?;
    }
    ftforge_channels::transaction::link(prefix, records, package_cache)
        .await
        .map_err(|e| e.to_string())
}

/// Runs the recipe's tests against an installed prefix.
pub async fn run_recipe_tests(
    tests: &[TestSpec],
    prefix: &Path,
    work: &Path,
    log: &Path,
    job: &str,
    reporter: &dyn Reporter,
) -> Vec<TestOutcome> {
    reporter.step(job, Step::Test);
    let mut outcomes = Vec::new();
    for (i, test) in tests.iter().enumerate() {
        if let Some(script) = &test.script {
            let lines = match script {
                Script::Line(l) => vec![l.clone()],
                Script::Lines(ls) => ls.clone(),
                Script::Detailed(d) => d.content.clone().unwrap_or_default(),
            };
            let file = work.join(format!("test_script_{i}.sh"));
            let body = format!("set -euo pipefail\n{}\n", lines.join("\n"));
            let result = match std::fs::write(&file, body) {
                Ok(()) => {
                    run_in_prefix(
                        prefix,
                        "bash",
                        &[file.to_string_lossy().as_ref()],
                        log,
                        job,
                        reporter,
                    )
                    .await
                }
                Err(e) => Err(CommandFailed {
                    what: "write test script".into(),
                    status: e.to_string(),
                    log: log.into(),
                    tail: String::new(),
                }),
            };
            outcomes.push(outcome(format!("script #{}", i + 1), result));
        }
        if let Some(python) = &test.python {
            for module in &python.imports {
                let code = format!("import {module}");
                let result =
                    run_in_prefix(prefix, "python", &["-c", &code], log, job, reporter).await;
                outcomes.push(outcome(format!("import {module}"), result));
            }
            if python.pip_check.unwrap_or(true) {
                let result = run_in_prefix(
                    prefix,
                    "python",
                    &["-m", "pip", "check"],
                    log,
                    job,
                    reporter,
                )
                .await;
                outcomes.push(outcome("pip check".into(), result));
            }
        }
    }
    outcomes
}

fn outcome(name: String, result: Result<(), CommandFailed>) -> TestOutcome {
    match result {
        Ok(()) => TestOutcome {
            name,
            passed: true,
            detail: None,
        },
        Err(e) => TestOutcome {
            name,
            passed: false,
            detail: Some(format!("{} ({})\n{}", e.what, e.status, e.tail)),
        },
    }
}

/// Runs a program from `prefix/bin` (or the system) with the prefix activated.
async fn run_in_prefix(
    prefix: &Path,
    program: &str,
    args: &[&str],
    log: &Path,
    job: &str,
    reporter: &dyn Reporter,
) -> Result<(), CommandFailed> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    activate(&mut cmd, prefix);
    run_logged(
        cmd,
        &format!("{program} {}", args.join(" ")),
        log,
        job,
        reporter,
        false,
    )
    .await
}

/// Sets PATH, PREFIX and CONDA_PREFIX for a command run inside `prefix`.
pub fn activate(cmd: &mut tokio::process::Command, prefix: &Path) {
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", prefix.join("bin").display()))
        .env("PREFIX", prefix)
        .env("CONDA_PREFIX", prefix)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHON_GIL");
}

/// Runs the interpreter facts probe in `prefix` and returns the facts and every problem.
pub async fn probe_interpreter(
    abi: &PythonAbi,
    prefix: &Path,
) -> Result<(InterpreterFacts, Vec<String>), String> {
    let python = prefix.join(abi.executable());
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg("-I")
        .arg("-c")
        .arg(FACTS_SCRIPT)
        .args(REQUIRED_STDLIB_MODULES);
    activate(&mut cmd, prefix);
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let facts = InterpreterFacts::parse(&stdout).map_err(|e| {
        format!(
            "{} did not report its facts ({e}); stderr:\n{}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    let mut problems = facts.problems(abi, &prefix.to_string_lossy());
    problems.extend(relocation_problems(abi, prefix));
    Ok((facts, problems))
}

/// A short prefix path for a test environment (never the build prefix).
pub fn test_prefix(work: &Path, output: &str) -> PathBuf {
    work.join(format!("test-{output}"))
}
