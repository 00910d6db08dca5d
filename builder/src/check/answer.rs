//! The answer of a check, per interpreter: the closure's verdicts and one first line
//! that answers the question ("the GIL stays off with all 7 packages", or which package
//! and version turns it back on, and which later version keeps it off when the channel
//! has that evidence). This is the `--json` schema (docs/check.md).

use std::path::PathBuf;
use std::str::FromStr;

use ftforge_channels::matrix::{gil_free_since, newest_first};
use ftforge_channels::{CompatData, CompatRecord, Verdict};
use ftforge_interpreter::PythonAbi;
use pep440_rs::Version;
use serde::Serialize;

use super::closure::{Closure, RecipeKind, Unresolved};
use super::input::python_label;
use crate::verdict::Evidence;

/// Version of the `--json` document; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    pub channel: PathBuf,
    /// The requirements as given, with where each was written.
    pub requested: Vec<Requested>,
    /// One answer per `--python`, in the order given.
    pub targets: Vec<TargetAnswer>,
    /// Requirements that could not be resolved to an sdist or a recipe.
    pub unresolved: Vec<Unresolved>,
    /// With `--history N`: each requested package's releases, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// (package, interpreter) verdicts decided by builds of this run.
    pub built: usize,
    /// Verdicts the channel already had.
    pub reused: usize,
    pub seconds: f64,
    /// 0: usable everywhere asked; 3: some package is not; 1: no answer for some.
    pub exit_code: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Requested {
    pub requirement: String,
    pub origin: String,
}

#[derive(Debug, Serialize)]
pub struct TargetAnswer {
    /// `3.14t`
    pub python: String,
    #[serde(with = "ftforge_channels::abi_tag")]
    pub abi: PythonAbi,
    pub outcome: Outcome,
    /// The first line: the answer in words.
    pub answer: String,
    /// The closure on this interpreter, requested packages first.
    pub packages: Vec<PackageResult>,
}

/// The answer for one interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Free-threaded: every package keeps the GIL off (or is pure Python).
    GilStaysOff,
    /// Free-threaded: importing some package turns the GIL back on.
    GilTurnsOn,
    /// Some package does not build, import, pass its tests or survive threads.
    NotUsable,
    /// GIL interpreter: every package builds and imports.
    Works,
    /// Some package has no verdict (not resolvable, or a tool error).
    Unknown,
}

impl Outcome {
    /// The process exit code this outcome asks for.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::GilStaysOff | Outcome::Works => 0,
            Outcome::GilTurnsOn | Outcome::NotUsable => 3,
            Outcome::Unknown => 1,
        }
    }
}

/// How a verdict came to be in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// The channel had it.
    Reused,
    /// Built (or judged) by this run.
    Built,
    /// Not built: a dependency could not be resolved, or an error stopped it.
    NotBuilt,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageResult {
    pub name: String,
    pub pypi_name: String,
    pub version: String,
    pub requested_by: Vec<String>,
    pub recipe: PathBuf,
    pub recipe_kind: RecipeKind,
    pub how: How,
    /// `None` when there is no verdict (see `reason`).
    pub verdict: Option<Verdict>,
    pub reason: String,
    /// The module whose import turned the GIL on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gil_enabled_by: Option<String>,
    /// The oldest later version the channel has evidence keeps the GIL off (with every
    /// built version after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub later_keeps_gil_off: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub package: String,
    pub python: String,
    #[serde(with = "ftforge_channels::abi_tag")]
    pub abi: PythonAbi,
    /// Newest first.
    pub versions: Vec<HistoryVersion>,
    /// Free-threaded interpreters: the oldest version from which every built version
    /// keeps the GIL off; `None` when the newest does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gil_free_since: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HistoryVersion {
    pub version: String,
    pub verdict: Option<Verdict>,
    pub reason: String,
}

/// How one verdict counts toward the answer on `abi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Good,
    GilOn,
    Bad,
    Unknown,
}

pub fn standing(verdict: Option<Verdict>) -> Standing {
    match verdict {
        None => Standing::Unknown,
        Some(v) if v.is_gil_free() || v == Verdict::Ok => Standing::Good,
        Some(Verdict::GilReenabled) => Standing::GilOn,
        Some(_) => Standing::Bad,
    }
}

/// What a bad verdict means, in the words of the answer line.
fn failing(verdict: Verdict, abi: &PythonAbi) -> String {
    match verdict {
        Verdict::BuildFailed => "does not build".into(),
        Verdict::ImportFailed => "does not import".into(),
        Verdict::TestsFailed => "fails its tests".into(),
        Verdict::StressFailed => "fails under thread stress".into(),
        Verdict::Skipped => format!("is not built for {}", python_label(abi)),
        other => other.to_string(),
    }
}

/// The module whose import turned the GIL on, from the record's evidence.
pub fn gil_enabled_by(record: &CompatRecord) -> Option<String> {
    let evidence = Evidence::from_value(&record.evidence).ok()?;
    evidence
        .imports
        .iter()
        .find(|i| i.reenabled_gil())
        .map(|i| i.module.clone())
}

/// Versions of `package` newest first with their verdicts on `abi`, as the channel has
/// them.
pub fn versions_on(compat: &CompatData, package: &str, abi: &PythonAbi) -> Vec<(String, Verdict)> {
    let mut found: Vec<(String, Verdict)> = compat
        .records
        .values()
        .filter(|r| r.package == package && r.abi.as_ref() == Some(abi))
        .map(|r| (r.version.clone(), r.verdict))
        .collect();
    found.sort_by(|a, b| newest_first(&a.0, &b.0));
    found
}

/// The oldest version newer than `version` from which the channel's evidence says the
/// GIL stays off on `abi`.
pub fn later_keeps_gil_off(
    compat: &CompatData,
    package: &str,
    version: &str,
    abi: &PythonAbi,
) -> Option<String> {
    let current = Version::from_str(version).ok()?;
    let newer: Vec<(String, Verdict)> = versions_on(compat, package, abi)
        .into_iter()
        .filter(|(v, _)| Version::from_str(v).is_ok_and(|v| v > current))
        .collect();
    gil_free_since(newer.iter().map(|(v, verdict)| (v.as_str(), *verdict)))
}

/// The first line for one interpreter, and its outcome.
pub fn answer_line(
    abi: &PythonAbi,
    packages: &[PackageResult],
    closure: &Closure,
) -> (Outcome, String) {
    let label = python_label(abi);
    let of = |s: Standing| -> Vec<&PackageResult> {
        packages
            .iter()
            .filter(|p| standing(p.verdict) == s)
            .collect()
    };
    let (gil_on, bad, unknown) = (
        of(Standing::GilOn),
        of(Standing::Bad),
        of(Standing::Unknown),
    );
    let via = |p: &PackageResult| {
        let direct = closure.roots.iter().any(|(root, link)| {
            !root.history_only
                && matches!(link.to, super::closure::Node::Member(m)
                    if closure.members[m].name == p.name && closure.members[m].version == p.version)
        });
        if direct || p.requested_by.is_empty() {
            String::new()
        } else {
            format!(", required by {}", p.requested_by.join(", "))
        }
    };
    let bad_text = |p: &PackageResult| {
        format!(
            "{} {} {} ({}{})",
            p.name,
            p.version,
            p.verdict.map(|v| failing(v, abi)).unwrap_or_default(),
            p.reason,
            via(p)
        )
    };
    if !gil_on.is_empty() {
        let mut parts: Vec<String> = gil_on
            .iter()
            .map(|p| {
                let module = p.gil_enabled_by.as_deref().unwrap_or("an extension module");
                let mut text = format!("{} {} ({module}{})", p.name, p.version, via(p));
                if let Some(later) = &p.later_keeps_gil_off {
                    text.push_str(&format!("; {} {later} and later keep it off", p.name));
                }
                text
            })
            .collect();
        if !bad.is_empty() {
            parts.push(format!(
                "also not usable: {}",
                bad.iter()
                    .map(|p| bad_text(p))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        return (
            Outcome::GilTurnsOn,
            format!("{label}: the GIL turns back on — {}", parts.join("; ")),
        );
    }
    if !bad.is_empty() {
        return (
            Outcome::NotUsable,
            format!(
                "{label}: not usable — {}",
                bad.iter()
                    .map(|p| bad_text(p))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    if !unknown.is_empty() || packages.is_empty() {
        return (
            Outcome::Unknown,
            format!(
                "{label}: no answer for {} of {} package(s) — {}",
                unknown.len(),
                packages.len(),
                unknown
                    .iter()
                    .map(|p| format!("{} {}: {}", p.name, p.version, p.reason))
                    .chain(packages.is_empty().then(|| "nothing resolved".to_string()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
    }
    let all = match packages {
        [one] => format!("{} {}", one.name, one.version),
        _ => format!("all {} packages", packages.len()),
    };
    if abi.freethreading {
        (
            Outcome::GilStaysOff,
            format!("{label}: the GIL stays off with {all}"),
        )
    } else {
        let verb = if packages.len() == 1 {
            "builds and imports"
        } else {
            "build and import"
        };
        (Outcome::Works, format!("{label}: {all} {verb}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_of_each_verdict() {
        assert_eq!(standing(Some(Verdict::PurePython)), Standing::Good);
        assert_eq!(standing(Some(Verdict::Ok)), Standing::Good);
        assert_eq!(standing(Some(Verdict::GilReenabled)), Standing::GilOn);
        assert_eq!(standing(Some(Verdict::ImportFailed)), Standing::Bad);
        assert_eq!(standing(None), Standing::Unknown);
    }
}
