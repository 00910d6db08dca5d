//! How the pipeline reports progress without knowing about terminals: the binary
//! implements [`Reporter`] (indicatif bars, JSON lines, or nothing).

use std::fmt;

/// A phase of one build job.
/// Steps are ordered as a build goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Fetch,
    Extract,
    Configure,
    Compile,
    Install,
    Package,
    Test,
    Publish,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Step::Fetch => "fetch",
            Step::Extract => "extract",
            Step::Configure => "configure",
            Step::Compile => "compile",
            Step::Install => "install",
            Step::Package => "package",
            Step::Test => "test",
            Step::Publish => "publish",
        };
        f.write_str(name)
    }
}

/// Receives progress from the pipeline. Every method has a silent default.
pub trait Reporter: Send + Sync {
    /// A line worth telling the user (a mirror fallback, a cache hit).
    fn note(&self, _job: &str, _message: &str) {}
    /// `job` entered `step`.
    fn step(&self, _job: &str, _step: Step) {}
    /// Byte or item progress within the current step.
    fn progress(&self, _job: &str, _done: u64, _total: Option<u64>) {}
    /// The latest line of a running command's output.
    fn output(&self, _job: &str, _line: &str) {}
    /// Jobs finished so far out of all jobs of the session.
    fn overall(&self, _done: u64, _total: u64) {}
    /// `job` ended; `ok` tells whether it succeeded.
    fn finished(&self, _job: &str, _ok: bool, _summary: &str) {}
}

/// Reports nothing (library callers and tests).
pub struct Silent;
impl Reporter for Silent {}
