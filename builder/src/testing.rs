//! Testing built packages the way users get them: install into a fresh prefix at a
//! different path with rattler's installer (so relocation is exercised), then run the
//! recipe's tests and, for the interpreter itself, the facts probe. Also the one way
//! ftforge runs a probe process: to its end or its time limit, with both pipes read
//! while it runs, and its last stdout line read as the report.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ftforge_channels::ChannelError;
use ftforge_interpreter::{
    relocation_problems, InterpreterFacts, PythonAbi, FACTS_SCRIPT, REQUIRED_STDLIB_MODULES,
};
use rattler_conda_types::RepoDataRecord;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::progress::{Reporter, Step};
use crate::recipe::{Script, TestSpec};
use crate::script::{run_logged, CommandFailed};

/// How long the facts probe may take.
const FACTS_LIMIT: Duration = Duration::from_secs(300);

/// Why a test environment could not be made or probed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TestingError {
    #[error("cannot read the package {}: {source}", path.display())]
    Package {
        path: PathBuf,
        #[source]
        source: ChannelError,
    },
    #[error("{} is not an absolute path (package URLs need one)", path.display())]
    RelativePath { path: PathBuf },
    #[error("`{name}` is not a conda package file name")]
    FileName { name: String },
    #[error("cannot clear {}: {source}", prefix.display())]
    Clear {
        prefix: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot link the environment into {}", prefix.display())]
    Link {
        prefix: PathBuf,
        #[source]
        source: ftforge_channels::transaction::TransactionError,
    },
    #[error("{} did not report its facts: {source}", python.display())]
    FactsNotRun {
        python: PathBuf,
        #[source]
        source: ChildFailure,
    },
    #[error("{} did not report its facts ({source}); stderr:\n{stderr}", python.display())]
    FactsUnreadable {
        python: PathBuf,
        #[source]
        source: serde_json::Error,
        stderr: String,
    },
}

/// Which test of a package an outcome belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TestKind {
    /// `tests[].python.imports`: `import MODULE` in a fresh process.
    Import(String),
    /// `tests[].script`: the N-th entry (from 1) of the recipe's `tests:` list.
    Script(usize),
    /// `tests[].python.pip_check` (on unless `false`): `python -m pip check`.
    PipCheck,
    /// The interpreter facts probe (interpreter packages only).
    InterpreterFacts,
}

impl fmt::Display for TestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestKind::Import(module) => write!(f, "import {module}"),
            TestKind::Script(index) => write!(f, "script #{index}"),
            TestKind::PipCheck => f.write_str("pip check"),
            TestKind::InterpreterFacts => f.write_str("interpreter facts"),
        }
    }
}

impl TestKind {
    /// Reads the `name` of a test outcome written before outcomes carried their kind
    /// (build reports and `compat.json` schema 1): the only place a name is parsed.
    fn from_schema1_name(name: &str) -> Option<TestKind> {
        if let Some(module) = name.strip_prefix("import ") {
            return Some(TestKind::Import(module.to_string()));
        }
        if let Some(index) = name.strip_prefix("script #") {
            return index.parse().ok().map(TestKind::Script);
        }
        match name {
            "pip check" => Some(TestKind::PipCheck),
            "interpreter facts" => Some(TestKind::InterpreterFacts),
            _ => None,
        }
    }
}

/// The result of one test of one package.
///
/// In JSON: `{"kind": "import", "module": "yaml", "name": "import yaml", "passed":
/// true}`; `kind` is `import` (with `module`), `script` (with `index`), `pip-check` or
/// `interpreter-facts`; `name` is the same test in words, for readers (never parsed
/// back); `detail` says how a failing test failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "OutcomeJson", try_from = "OutcomeRead")]
pub struct TestOutcome {
    pub kind: TestKind,
    pub passed: bool,
    pub detail: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum KindJson {
    Import { module: String },
    Script { index: usize },
    PipCheck,
    InterpreterFacts,
}

#[derive(Serialize)]
struct OutcomeJson {
    #[serde(flatten)]
    kind: KindJson,
    name: String,
    passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OutcomeRead {
    Typed {
        #[serde(flatten)]
        kind: KindJson,
        passed: bool,
        #[serde(default)]
        detail: Option<String>,
    },
    /// Schema 1: only a name.
    Named {
        name: String,
        passed: bool,
        #[serde(default)]
        detail: Option<String>,
    },
}

impl From<TestOutcome> for OutcomeJson {
    fn from(outcome: TestOutcome) -> Self {
        let name = outcome.kind.to_string();
        let kind = match outcome.kind {
            TestKind::Import(module) => KindJson::Import { module },
            TestKind::Script(index) => KindJson::Script { index },
            TestKind::PipCheck => KindJson::PipCheck,
            TestKind::InterpreterFacts => KindJson::InterpreterFacts,
        };
        OutcomeJson {
            kind,
            name,
            passed: outcome.passed,
            detail: outcome.detail,
        }
    }
}

impl TryFrom<OutcomeRead> for TestOutcome {
    type Error = String;
    fn try_from(read: OutcomeRead) -> Result<Self, String> {
        Ok(match read {
            OutcomeRead::Typed {
                kind,
                passed,
                detail,
            } => TestOutcome {
                kind: match kind {
                    KindJson::Import { module } => TestKind::Import(module),
                    KindJson::Script { index } => TestKind::Script(index),
                    KindJson::PipCheck => TestKind::PipCheck,
                    KindJson::InterpreterFacts => TestKind::InterpreterFacts,
                },
                passed,
                detail,
            },
            OutcomeRead::Named {
                name,
                passed,
                detail,
            } => TestOutcome {
                kind: TestKind::from_schema1_name(&name)
                    .ok_or_else(|| format!("`{name}` is not a test ftforge runs"))?,
                passed,
                detail,
            },
        })
    }
}

/// A package file with its repodata record (a `file://` URL).
pub fn local_record(package: &Path) -> Result<RepoDataRecord, TestingError> {
    let (record, filename) =
        ftforge_channels::publish::record_for(package).map_err(|source| TestingError::Package {
            path: package.to_path_buf(),
            source,
        })?;
    let url = url::Url::from_file_path(package).map_err(|()| TestingError::RelativePath {
        path: package.to_path_buf(),
    })?;
    Ok(RepoDataRecord {
        package_record: record,
        identifier: filename
            .parse()
            .map_err(|_| TestingError::FileName { name: filename })?,
        url,
        channel: None,
    })
}

/// Installs `records` into a new prefix with rattler's installer.
pub async fn install(
    prefix: &Path,
    records: Vec<RepoDataRecord>,
    package_cache: &Path,
) -> Result<(), TestingError> {
    if prefix.exists() {
        std::fs::remove_dir_all(prefix).map_err(|source| TestingError::Clear {
            prefix: prefix.to_path_buf(),
            source,
        })?;
    }
    ftforge_channels::transaction::link(prefix, records, package_cache)
        .await
        .map_err(|source| TestingError::Link {
            prefix: prefix.to_path_buf(),
            source,
        })
}

/// Runs the recipe's tests against an installed prefix, as users run them: with the
/// prefix activated and `PYTHON_GIL` unset (see [`activate`]).
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
            outcomes.push(outcome(TestKind::Script(i + 1), result));
        }
        if let Some(python) = &test.python {
            for module in &python.imports {
                let code = format!("import {module}");
                let result =
                    run_in_prefix(prefix, "python", &["-c", &code], log, job, reporter).await;
                outcomes.push(outcome(TestKind::Import(module.clone()), result));
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
                outcomes.push(outcome(TestKind::PipCheck, result));
            }
        }
    }
    outcomes
}

fn outcome(kind: TestKind, result: Result<(), CommandFailed>) -> TestOutcome {
    match result {
        Ok(()) => TestOutcome {
            kind,
            passed: true,
            detail: None,
        },
        Err(e) => TestOutcome {
            kind,
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

/// Sets PATH, PREFIX and CONDA_PREFIX for a command run inside `prefix`, and removes
/// what would make its Python differ from a user's: `PYTHONHOME`, `PYTHONPATH` and
/// `PYTHON_GIL` (unset: the interpreter decides, as it does for users).
pub fn activate(cmd: &mut tokio::process::Command, prefix: &Path) {
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", prefix.join("bin").display()))
        .env("PREFIX", prefix)
        .env("CONDA_PREFIX", prefix)
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHON_GIL");
}

/// [`activate`], with `python_path` (empty for none) as `PYTHONPATH`: the folders
/// vendored code expects on `sys.path` (`verdict::import_module`).
pub fn activate_with_path(cmd: &mut tokio::process::Command, prefix: &Path, python_path: &OsStr) {
    activate(cmd, prefix);
    if !python_path.is_empty() {
        cmd.env("PYTHONPATH", python_path);
    }
}

/// Why a probe process gave no report.
#[derive(Debug, thiserror::Error)]
pub enum ChildFailure {
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot wait for {}: {source}", program.display())]
    Wait {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("hung: no result within {} s", limit.as_secs())]
    Hung { limit: Duration },
    /// It ended without printing a report: how it ended and its last stderr lines.
    #[error("{0}")]
    NoReport(String),
}

/// A probe process that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Finished {
    /// Its last stdout line, read as `T`; otherwise how it ended.
    pub fn report<T: serde::de::DeserializeOwned>(&self) -> Result<T, ChildFailure> {
        self.stdout
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .ok_or_else(|| ChildFailure::NoReport(self.ending()))
    }

    /// How it ended (exit code or signal) and the last lines of its stderr.
    pub fn ending(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(6)..].join(" | ");
        let how = match (self.status.code(), self.status.signal()) {
            (_, Some(sig)) => format!("crashed (signal {sig})"),
            (Some(code), _) => format!("exit code {code}"),
            _ => "ended abnormally".into(),
        };
        if tail.is_empty() {
            how
        } else {
            format!("{how}: {tail}")
        }
    }
}

/// Runs `cmd` to its end, feeding it `input` on stdin; both output pipes are read while
/// it runs (a chatty child never stalls), and it is killed after `limit`.
pub async fn run_probe(
    mut cmd: tokio::process::Command,
    input: Option<&str>,
    limit: Duration,
) -> Result<Finished, ChildFailure> {
    let program = PathBuf::from(cmd.as_std().get_program());
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| ChildFailure::Spawn {
        program: program.clone(),
        source,
    })?;
    let stdin = child.stdin.take();
    let feed = async move {
        if let (Some(mut pipe), Some(text)) = (stdin, input) {
            // A child that exits without reading its stdin is judged by how it ended.
            let _ = pipe.write_all(text.as_bytes()).await;
        }
    };
    let (_, waited) = tokio::join!(feed, tokio::time::timeout(limit, child.wait_with_output()));
    let out = waited
        .map_err(|_| ChildFailure::Hung { limit })?
        .map_err(|source| ChildFailure::Wait { program, source })?;
    Ok(Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs the interpreter facts probe in `prefix` and returns the facts and every problem.
pub async fn probe_interpreter(
    abi: &PythonAbi,
    prefix: &Path,
) -> Result<(InterpreterFacts, Vec<String>), TestingError> {
    let python = prefix.join(abi.executable());
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg("-I")
        .arg("-c")
        .arg(FACTS_SCRIPT)
        .args(REQUIRED_STDLIB_MODULES);
    activate(&mut cmd, prefix);
    let finished =
        run_probe(cmd, None, FACTS_LIMIT)
            .await
            .map_err(|source| TestingError::FactsNotRun {
                python: python.clone(),
                source,
            })?;
    let facts = InterpreterFacts::parse(&finished.stdout).map_err(|source| {
        TestingError::FactsUnreadable {
            python: python.clone(),
            source,
            stderr: finished.stderr.trim().to_string(),
        }
    })?;
    let mut problems = facts.problems(abi, &prefix.to_string_lossy());
    problems.extend(relocation_problems(abi, prefix));
    Ok((facts, problems))
}

/// A short prefix path for a test environment (never the build prefix).
pub fn test_prefix(work: &Path, output: &str) -> PathBuf {
    work.join(format!("test-{output}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_carry_their_kind_and_read_schema_1_names() {
        let outcome = TestOutcome {
            kind: TestKind::Import("yaml".into()),
            passed: true,
            detail: None,
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "import", "module": "yaml", "name": "import yaml", "passed": true})
        );
        assert_eq!(
            serde_json::from_value::<TestOutcome>(json).unwrap(),
            outcome
        );
        for (kind, json) in [
            (
                TestKind::Script(2),
                serde_json::json!({"kind": "script", "index": 2, "name": "script #2", "passed": false, "detail": "x"}),
            ),
            (
                TestKind::PipCheck,
                serde_json::json!({"kind": "pip-check", "name": "pip check", "passed": false, "detail": "x"}),
            ),
            (
                TestKind::InterpreterFacts,
                serde_json::json!({"kind": "interpreter-facts", "name": "interpreter facts", "passed": false, "detail": "x"}),
            ),
        ] {
            let outcome = TestOutcome {
                kind,
                passed: false,
                detail: Some("x".into()),
            };
            assert_eq!(serde_json::to_value(&outcome).unwrap(), json);
            assert_eq!(
                serde_json::from_value::<TestOutcome>(json).unwrap(),
                outcome
            );
        }
        // Build reports written before the kind existed still read (and are reused).
        for (name, kind) in [
            ("import ssl", TestKind::Import("ssl".into())),
            ("script #1", TestKind::Script(1)),
            ("pip check", TestKind::PipCheck),
            ("interpreter facts", TestKind::InterpreterFacts),
        ] {
            let read: TestOutcome =
                serde_json::from_value(serde_json::json!({"name": name, "passed": true})).unwrap();
            assert_eq!(read.kind, kind);
        }
        assert!(serde_json::from_value::<TestOutcome>(
            serde_json::json!({"name": "something else", "passed": true})
        )
        .is_err());
    }

    #[tokio::test]
    async fn a_probe_printing_more_than_a_pipe_holds_does_not_stall() {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("head -c 300000 /dev/zero | tr '\\0' x; echo; cat; echo; echo '{\"n\": 1}'");
        let started = Instant::now();
        let finished = run_probe(cmd, Some("fed"), Duration::from_secs(20))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(finished.stdout.contains("fed"));
        let report: serde_json::Value = finished.report().unwrap();
        assert_eq!(report["n"], 1);
    }

    #[tokio::test]
    async fn a_probe_that_hangs_or_crashes_says_so() {
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("30");
        let hung = run_probe(cmd, None, Duration::from_millis(300)).await;
        assert!(matches!(hung, Err(ChildFailure::Hung { .. })), "{hung:?}");
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg("echo oops >&2; kill -SEGV $$");
        let finished = run_probe(cmd, None, Duration::from_secs(10)).await.unwrap();
        let err = finished.report::<serde_json::Value>().unwrap_err();
        assert_eq!(err.to_string(), "crashed (signal 11): oops");
    }
}
