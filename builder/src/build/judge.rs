//! The judge stage: a package is installed with its interpreter into a fresh prefix at
//! another path and tested there. An interpreter must pass its facts probe to be
//! published; an extension package gets a verdict from the evidence. The same stage
//! judges a freshly built package, a reused one whose verdict was made by other code,
//! and a `noarch: python` package on every interpreter it is offered for.

use std::path::{Path, PathBuf};

use ftforge_channels::CompatRecord;
use ftforge_interpreter::InterpreterFacts;
use rattler_conda_types::{PrefixRecord, RepoDataRecord};

use super::key::JUDGING_DIGEST;
use super::records::compat_record;
use super::{BuildError, Workspace};
use crate::env;
use crate::recipe::RenderedOutput;
use crate::testing::{self, TestKind, TestOutcome};
use crate::verdict::{self, Assessment, StressConfig};

/// What judging one output found.
#[derive(Debug)]
pub(crate) struct Judged {
    pub tests: Vec<TestOutcome>,
    pub interpreter: Option<InterpreterFacts>,
    /// Where an interpreter was installed for its tests (its health probes run there
    /// once the session is quiet).
    pub test_env: Option<PathBuf>,
    pub assessment: Option<Assessment>,
    pub compat: Option<CompatRecord>,
}

/// Files of an installed package, relative to the prefix, from its `conda-meta` record
/// (a package judged without its file list would look like pure Python: an error).
fn installed_files(prefix: &Path, record: &RepoDataRecord) -> Result<Vec<String>, BuildError> {
    let package = &record.package_record;
    let meta = prefix.join("conda-meta").join(format!(
        "{}-{}-{}.json",
        package.name.as_normalized(),
        package.version,
        package.build
    ));
    let installed = PrefixRecord::from_path(&meta).map_err(|source| BuildError::Io {
        action: "read the installed record",
        path: meta.clone(),
        source,
    })?;
    Ok(installed
        .files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect())
}

/// Fails with every failed test listed, when one failed.
fn gate_on_tests(
    job: &crate::job::Job<'_>,
    output: &RenderedOutput,
    tests: &[TestOutcome],
    log: &Path,
) -> Result<(), BuildError> {
    let failures: Vec<String> = tests
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("  ✗ {}: {}", t.kind, t.detail.as_deref().unwrap_or("")))
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    Err(BuildError::Tests {
        job: job.name.clone(),
        output: output.name.clone(),
        failures,
        log: log.to_path_buf(),
    })
}

/// Installs `record` (a package file) with the job's interpreter, runs the recipe's
/// tests and, for interpreters, the facts probe; judges extension packages. `available`
/// holds `record` and its siblings first, then the channel.
pub(crate) async fn judge_output(
    ws: &Workspace<'_>,
    output: &RenderedOutput,
    record: &RepoDataRecord,
    available: &[RepoDataRecord],
    stress: &StressConfig,
    left_to_pip: &[env::LeftToPip],
) -> Result<Judged, BuildError> {
    let job = ws.job;
    let abi = job.abi;
    let interpreter_output = output.is_interpreter();
    let judged = abi.is_some()
        && !interpreter_output
        && output.noarch != Some(crate::recipe::NoArch::Generic);
    let mut result = Judged {
        tests: Vec::new(),
        interpreter: None,
        test_env: None,
        assessment: None,
        compat: None,
    };
    if output.tests.is_empty() && !interpreter_output && !judged {
        return Ok(result);
    }
    let test_env = testing::test_prefix(&ws.work, &output.name);
    let log = ws.logs.join(format!("test-{}.log", output.name));
    let exact = format!(
        "{} =={} {}",
        record.package_record.name.as_normalized(),
        record.package_record.version,
        record.package_record.build
    );
    let mut specs = Vec::new();
    if let (Some(abi), false) = (abi, interpreter_output) {
        specs.push(format!("python {}.* *_{}", abi.py_ver(), abi.tag()));
    }
    specs.push(exact);
    // `available` lists the job's own packages first: they replace the channel's copies
    // of the same file names.
    let env_records = env::solve(&specs, available, env::Unmatched::Refuse)
        .map_err(|source| BuildError::Env {
            job: job.name.clone(),
            what: format!("the test environment of {}", output.name),
            source,
        })?
        .records;
    testing::install(&test_env, env_records, &ws.settings.package_cache)
        .await
        .map_err(|e| BuildError::Install {
            job: job.name.clone(),
            what: format!("{} for testing", output.name),
            message: crate::source::root_cause(&e),
        })?;
    result.tests = testing::run_recipe_tests(
        &output.tests,
        &test_env,
        &ws.work,
        &log,
        &job.name,
        ws.reporter,
    )
    .await;
    // A package that gets no verdict (a C library, a noarch: generic package) is
    // published only when its tests pass, as conda-build does.
    if !judged && !interpreter_output {
        gate_on_tests(job, output, &result.tests, &log)?;
    }
    if let (true, Some(abi)) = (interpreter_output, abi) {
        match testing::probe_interpreter(&abi, &test_env).await {
            Ok((facts, problems)) => {
                result.tests.push(TestOutcome {
                    kind: TestKind::InterpreterFacts,
                    passed: problems.is_empty(),
                    detail: (!problems.is_empty()).then(|| problems.join("\n")),
                });
                result.interpreter = Some(facts);
                result.test_env = Some(test_env.clone());
            }
            Err(e) => result.tests.push(TestOutcome {
                kind: TestKind::InterpreterFacts,
                passed: false,
                detail: Some(e.to_string()),
            }),
        }
        gate_on_tests(job, output, &result.tests, &log)?;
    }
    if let (true, Some(abi)) = (judged, abi) {
        let files = installed_files(&test_env, record)?;
        // Shared objects without a module init function are libraries, not modules.
        let (modules, libraries): (Vec<_>, Vec<_>) = verdict::modules_of(&files, &abi)
            .into_iter()
            .partition(|m| {
                ftforge_interpreter::extensions::defines_module_init(
                    &test_env.join(&m.path),
                    &m.name,
                ) != Some(false)
            });
        let extras = verdict::declared_extras(&test_env, &files);
        let mut a =
            verdict::assess(&abi, &test_env, &modules, &result.tests, &extras, stress).await;
        a.evidence.left_to_pip = left_to_pip.to_vec();
        a.evidence.judged_with = Some(JUDGING_DIGEST.into());
        a.evidence.shared_libraries = libraries.into_iter().map(|m| m.path).collect();
        let evidence = a.evidence.to_value();
        let mut compat = compat_record(
            output,
            Some(&abi),
            a.verdict,
            &a.reason,
            evidence,
            Some(record),
        );
        compat.stable_abi = ftforge_interpreter::extensions::shared_stable_abi(&a.evidence.modules);
        result.compat = Some(compat);
        result.assessment = Some(a);
    }
    Ok(result)
}
