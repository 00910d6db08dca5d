//! Verdict records of jobs: from a judged package, from a build that failed for reasons
//! of the package itself, and for variants the recipe skips or a failed dependency blocks.

use ftforge_channels::{CompatRecord, Verdict};
use ftforge_interpreter::PythonAbi;
use rattler_conda_types::RepoDataRecord;

use super::BuildError;
use crate::job::Job;
use crate::recipe::RenderedOutput;

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn compat_record(
    output: &RenderedOutput,
    abi: Option<&PythonAbi>,
    verdict: Verdict,
    reason: &str,
    evidence: serde_json::Value,
    record: Option<&RepoDataRecord>,
) -> CompatRecord {
    CompatRecord {
        package: output.name.clone(),
        version: output.version.clone(),
        abi: abi.copied(),
        python: abi.map(|a| a.py_ver()).unwrap_or_default(),
        freethreading: abi.is_some_and(|a| a.freethreading),
        verdict,
        stable_abi: None,
        filename: record.map(|r| r.identifier.to_string()),
        subdir: record.map(|r| r.package_record.subdir.clone()),
        reason: reason.to_string(),
        evidence,
        recorded_at: now(),
    }
}

/// The evidence of a build that failed: the error, its causes, the failing command's
/// log and what the log says the build lacked (docs/compat.md).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FailureEvidence {
    #[serde(with = "ftforge_channels::abi_tag::column")]
    pub abi: Option<PythonAbi>,
    pub error: String,
    /// The error's causes, outermost first.
    pub chain: Vec<String>,
    /// The failing command's full log, when a command failed.
    pub log: Option<std::path::PathBuf>,
    /// Its last lines.
    pub log_tail: String,
    pub seconds: f64,
    /// What the build lacked, read from the log (`kind` `other` when nothing known was
    /// found; records made before the diagnosis existed read as `other`).
    #[serde(default)]
    pub diagnosis: crate::diagnose::Diagnosis,
}

/// The verdict of a build that failed for reasons of the package itself (it did not
/// build, its sources are gone, its tests failed), with the failing step's evidence.
/// `None` for interpreter recipes and tool errors.
pub fn failure_record(job: &Job, error: &BuildError, seconds: f64) -> Option<CompatRecord> {
    if !error.is_package_failure() {
        return None;
    }
    // An interpreter that does not build is an error of the distribution, not a verdict
    // on a package (its python_abi and metapackages are not judged either).
    if job.builds_interpreter() {
        return None;
    }
    let output = job.outputs().find(|o| !o.is_interpreter())?;
    let diagnosis = error
        .log_tail()
        .map(|(log, tail)| crate::diagnose::diagnose_file(log, tail))
        .unwrap_or_default();
    let (log, log_tail) = error
        .log_tail()
        .map(|(l, t)| (Some(l.to_path_buf()), t.to_string()))
        .unwrap_or((None, String::new()));
    let evidence = FailureEvidence {
        abi: job.abi,
        error: error.to_string(),
        chain: std::iter::successors(std::error::Error::source(error), |e| e.source())
            .map(|e| e.to_string())
            .collect(),
        log,
        log_tail,
        seconds,
        diagnosis,
    };
    let what = match error {
        BuildError::Script { source, .. } => format!("{} failed ({})", source.what, source.status),
        other => other.to_string(),
    };
    // The reason names what was missing (`…: missing C header lber.h (install …)`).
    let reason = evidence.diagnosis.reason(&what);
    let evidence = serde_json::to_value(evidence).unwrap_or_default();
    Some(compat_record(
        output,
        job.abi.as_ref(),
        Verdict::BuildFailed,
        &reason,
        evidence,
        None,
    ))
}

/// Why the recipe skips this variant (`extra.ftforge.skip_reason`).
#[derive(serde::Deserialize, Default)]
struct SkipNote {
    #[serde(default)]
    ftforge: SkipReason,
}

#[derive(serde::Deserialize, Default)]
struct SkipReason {
    #[serde(default)]
    skip_reason: Option<String>,
}

/// The verdict of a variant the recipe skips.
pub fn skipped_record(job: &Job) -> Option<CompatRecord> {
    let abi = job.abi?;
    let output = job.rendered.outputs.iter().find(|o| o.skipped)?;
    let reason = serde_json::from_value::<SkipNote>(job.rendered.extra.clone())
        .unwrap_or_default()
        .ftforge
        .skip_reason
        .unwrap_or_else(|| "the recipe skips this variant".to_string());
    Some(compat_record(
        output,
        Some(&abi),
        Verdict::Skipped,
        &reason,
        serde_json::json!({"abi": abi.tag()}),
        None,
    ))
}

/// A `skipped` record for a job that could not run (a job it depends on failed).
pub fn blocked_record(job: &Job, reason: &str) -> Option<CompatRecord> {
    let mut record = skipped_record(job).or_else(|| {
        let abi = job.abi?;
        let output = job.judged_output()?;
        Some(compat_record(
            output,
            Some(&abi),
            Verdict::Skipped,
            "",
            serde_json::json!({"abi": abi.tag()}),
            None,
        ))
    })?;
    record.reason = reason.to_string();
    Some(record)
}
