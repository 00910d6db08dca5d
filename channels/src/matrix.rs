//! The compatibility matrix as data: packages × interpreter variants, each cell a
//! verdict with its evidence, every version built (newest first) with each package's
//! "GIL-free since" per free-threaded ABI, the interpreters' own probe results, and a
//! summary. The JSON form is a stable interface (docs/compat.md); the binary renders
//! the rest.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::str::FromStr;

use ftforge_interpreter::extensions::ModuleAbi;
use ftforge_interpreter::PythonAbi;
use serde::{Deserialize, Serialize};

use crate::compat::{CompatData, Severity, Verdict};

/// 2: rows of one package newest first (PEP 440), `history`, and a summary counted per
/// package (its newest version) rather than per row.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matrix {
    pub schema_version: u32,
    pub channel: String,
    /// Interpreter ABI tags, newest first, free-threaded before GIL (`cp314t`, `cp314`, …).
    pub variants: Vec<String>,
    /// Facts and probe results of the channel's interpreters, by ABI tag, as stored in
    /// `compat.json` (the probe as `ftforge_interpreter::probes::ProbeReport`).
    pub interpreters: BTreeMap<String, serde_json::Value>,
    /// One row per (package, version) selected: by package name, each package's
    /// versions newest first (PEP 440 order).
    pub packages: Vec<Row>,
    /// Per package with a selected row, by name: every version the channel has a
    /// verdict for and since when it keeps the GIL off.
    pub history: Vec<PackageHistory>,
    pub summary: Summary,
    /// Every verdict with its meaning.
    pub legend: Vec<LegendEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub version: String,
    /// By ABI tag; variants without a verdict are absent.
    pub cells: BTreeMap<String, Cell>,
}

/// What the channel knows about a package across its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageHistory {
    pub name: String,
    /// The newest version with a verdict (`versions[0]`).
    pub newest: String,
    /// Every version with a verdict on any ABI, newest first (PEP 440 order), whether
    /// or not a `--filter` selected its row.
    pub versions: Vec<String>,
    /// By free-threaded ABI tag on which the package has at least one verdict:
    /// [`gil_free_since`] over its versions' verdicts there.
    pub gil_free_since: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub verdict: Verdict,
    pub reason: String,
    /// `abi3t` when the package is one stable-ABI file for many interpreters (PEP 803).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_abi: Option<ModuleAbi>,
    /// Modules that do not load in a subinterpreter (`None` when that probe did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subinterpreter_failures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub evidence: serde_json::Value,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Packages (names) with a selected row.
    pub packages: usize,
    /// Selected rows (package versions).
    pub versions: usize,
    /// The free-threaded variant the headline numbers are for (the newest).
    pub headline_variant: Option<String>,
    pub usable_free_threaded: usize,
    pub reenable_gil: usize,
    pub build_failed: usize,
    /// Verdict counts per variant. Like the headline numbers these count packages,
    /// each by its newest selected version with a verdict on that variant.
    pub per_variant: BTreeMap<String, BTreeMap<String, usize>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegendEntry {
    pub verdict: Verdict,
    pub meaning: String,
    /// [`Verdict::severity`]: how views colour the verdict.
    pub severity: Severity,
}

impl Cell {
    /// The verdict as views print it: `gil-free`, or `gil-free abi3t` for a package
    /// built once for the stable ABI.
    pub fn label(&self) -> String {
        match self.stable_abi {
            Some(abi) => format!("{} {abi}", self.verdict),
            None => self.verdict.to_string(),
        }
    }
}

pub fn meaning(v: Verdict) -> &'static str {
    match v {
        Verdict::BuildFailed => "did not build for this interpreter",
        Verdict::ImportFailed => "built, but a module does not import",
        Verdict::TestsFailed => "built and imports, but the recipe's own tests fail",
        Verdict::GilReenabled => "imports, but importing it turns the GIL back on",
        Verdict::StressFailed => "crashed, raised, hung or was wrong under thread stress",
        Verdict::GilFree => "every extension module imports with the GIL off",
        Verdict::Verified => "GIL-free, and tests and thread stress pass",
        Verdict::PurePython => "no compiled code",
        Verdict::Skipped => "not built for this interpreter (the recipe says why)",
        Verdict::Ok => "builds and imports (GIL interpreter)",
    }
}

/// Column order: newest interpreter first, free-threaded before GIL, `any` last.
fn variant_order(abi: &Option<PythonAbi>) -> (bool, std::cmp::Reverse<(u32, u32)>, bool) {
    match abi {
        Some(abi) => (
            false,
            std::cmp::Reverse((abi.major, abi.minor)),
            !abi.freethreading,
        ),
        None => (true, std::cmp::Reverse((0, 0)), true),
    }
}

/// PEP 440 order, newest first: `1.10` before `1.9`. Versions that do not parse come
/// after those that do, in reverse string order.
pub fn newest_first(a: &str, b: &str) -> Ordering {
    match (
        pep440_rs::Version::from_str(a),
        pep440_rs::Version::from_str(b),
    ) {
        (Ok(a), Ok(b)) => b.cmp(&a),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => b.cmp(a),
    }
}

/// Does this verdict of a free-threaded build keep the GIL off? `None` for a verdict
/// that says nothing about it (`skipped`: not built).
pub fn keeps_gil_off(verdict: Verdict) -> Option<bool> {
    match verdict {
        Verdict::Skipped => None,
        v => Some(v.is_gil_free()),
    }
}

/// "GIL-free since": the oldest version V such that V and every newer version keep
/// the GIL off, from the verdicts of one package on ONE free-threaded ABI, one per
/// built version, in any order (sorted here by PEP 440, [`newest_first`]).
///
/// `gil-free`, `verified` and `pure-python` keep it off; `skipped` is ignored (as is a
/// version without a verdict: leave it out); any other verdict (`build-failed`,
/// `import-failed`, `tests-failed`, `stress-failed`, `gil-reenabled`) ends the run.
/// `None` when the newest version that is not skipped does not keep it off (or there
/// is none). Only verdicts of versions actually built count — never changelogs.
pub fn gil_free_since<'a>(
    verdicts: impl IntoIterator<Item = (&'a str, Verdict)>,
) -> Option<String> {
    let mut verdicts: Vec<(&str, Verdict)> = verdicts.into_iter().collect();
    verdicts.sort_by(|a, b| newest_first(a.0, b.0));
    let mut since = None;
    for (version, verdict) in verdicts {
        match keeps_gil_off(verdict) {
            None => continue,
            Some(true) => since = Some(version),
            Some(false) => break,
        }
    }
    since.map(str::to_string)
}

/// Does a `--filter` entry (`name` or `name==version` / `name version`) select a row?
fn selected(filter: &[String], name: &str, version: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            let f = f.trim();
            let (fname, fversion) = match f.split_once("==").or_else(|| f.split_once(' ')) {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (f, None),
            };
            fname.eq_ignore_ascii_case(name) && fversion.is_none_or(|v| same_version(v, version))
        })
}

/// Equal as PEP 440 versions (`1.0` == `1.0.0`), or as text when either does not parse.
fn same_version(a: &str, b: &str) -> bool {
    match (
        pep440_rs::Version::from_str(a),
        pep440_rs::Version::from_str(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl Matrix {
    /// The matrix of `compat`'s records selected by `filter` (`name` selects every
    /// version of the package, `name==version` one); `history` is computed from all of
    /// a selected package's records, whatever the filter.
    pub fn build(compat: &CompatData, channel: &str, filter: &[String]) -> Matrix {
        let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
        let mut abis: Vec<Option<PythonAbi>> = compat
            .interpreters
            .keys()
            .filter_map(|tag| tag.parse().ok())
            .map(Some)
            .collect();
        for record in compat.records.values() {
            if !abis.contains(&record.abi) {
                abis.push(record.abi);
            }
            if !selected(filter, &record.package, &record.version) {
                continue;
            }
            let row = rows
                .entry((record.package.clone(), record.version.clone()))
                .or_insert_with(|| Row {
                    name: record.package.clone(),
                    version: record.version.clone(),
                    cells: BTreeMap::new(),
                });
            row.cells.insert(
                record.abi_column(),
                Cell {
                    verdict: record.verdict,
                    reason: record.reason.clone(),
                    stable_abi: record.stable_abi,
                    subinterpreter_failures: record
                        .evidence
                        .pointer("/subinterpreters/modules")
                        .and_then(|m| m.as_object())
                        .map(|m| {
                            m.iter()
                                .filter(|(_, r)| r["ok"] != true)
                                .map(|(name, _)| name.clone())
                                .collect()
                        }),
                    filename: record.filename.clone(),
                    evidence: record.evidence.clone(),
                    recorded_at: record.recorded_at.clone(),
                },
            );
        }
        abis.sort_by_key(variant_order);
        let headline = abis
            .iter()
            .flatten()
            .find(|a| a.freethreading)
            .map(PythonAbi::tag);
        let variants: Vec<String> = abis
            .iter()
            .map(|a| crate::abi_tag::column_text(a.as_ref()))
            .collect();
        let free_threaded: Vec<PythonAbi> = abis
            .iter()
            .flatten()
            .filter(|a| a.freethreading)
            .copied()
            .collect();
        let mut packages: Vec<Row> = rows.into_values().collect();
        packages.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then_with(|| newest_first(&a.version, &b.version))
        });
        let history = histories(compat, &packages, &free_threaded);
        let mut summary = Summary {
            packages: history.len(),
            versions: packages.len(),
            headline_variant: headline.clone(),
            ..Default::default()
        };
        for variant in &variants {
            for cell in newest_cells(&packages, variant) {
                *summary
                    .per_variant
                    .entry(variant.clone())
                    .or_default()
                    .entry(cell.verdict.to_string())
                    .or_default() += 1;
            }
        }
        if let Some(headline) = &headline {
            for cell in newest_cells(&packages, headline) {
                match cell.verdict {
                    v if v.is_gil_free() => summary.usable_free_threaded += 1,
                    Verdict::GilReenabled => summary.reenable_gil += 1,
                    Verdict::BuildFailed => summary.build_failed += 1,
                    _ => {}
                }
            }
        }
        Matrix {
            schema_version: SCHEMA_VERSION,
            channel: channel.to_string(),
            variants,
            interpreters: compat.interpreters.clone(),
            packages,
            history,
            summary,
            legend: Verdict::ALL
                .iter()
                .map(|v| LegendEntry {
                    verdict: *v,
                    meaning: meaning(*v).to_string(),
                    severity: v.severity(),
                })
                .collect(),
        }
    }

    /// One line answering "can I go free-threaded with these packages?" for the newest
    /// free-threaded variant. A bare `name` is judged by its NEWEST version with a
    /// verdict on that variant (older versions are history); `name==version` by that
    /// version. A blocked version that a newer one fixed says since when it is fixed.
    pub fn answer(&self, wanted: &[String]) -> String {
        let Some(variant) = &self.summary.headline_variant else {
            return "the channel has no free-threaded interpreter".into();
        };
        let mut blockers = Vec::new();
        for want in wanted {
            // Rows are newest first within a package: the first with a cell is judged.
            let judged = self
                .packages
                .iter()
                .filter(|r| selected(std::slice::from_ref(want), &r.name, &r.version))
                .find_map(|r| r.cells.get(variant).map(|c| (r, c)));
            match judged {
                Some((_, c)) if c.verdict.is_gil_free() => {}
                Some((r, c)) => {
                    let fixed = self
                        .history_of(&r.name)
                        .and_then(|h| h.gil_free_since.get(variant).cloned().flatten())
                        .filter(|since| newest_first(since, &r.version) == Ordering::Less)
                        .map(|since| format!(" ({} {since} and later keep the GIL off)", r.name))
                        .unwrap_or_default();
                    blockers.push(format!(
                        "{} {} is {} on {variant}: {}{fixed}",
                        r.name, r.version, c.verdict, c.reason
                    ))
                }
                None => blockers.push(format!("{want} has no {variant} build in this channel")),
            }
        }
        if blockers.is_empty() {
            format!("all {} usable free-threaded on {variant}", wanted.len())
        } else {
            format!(
                "{} of {} block free-threading on {variant}:\n  {}",
                blockers.len(),
                wanted.len(),
                blockers.join("\n  ")
            )
        }
    }

    /// The history of package `name`, if it has a selected row.
    pub fn history_of(&self, name: &str) -> Option<&PackageHistory> {
        self.history.iter().find(|h| h.name == name)
    }
}

/// For each package, the cell on `variant` of its newest row that has one (`rows`
/// sorted by name, newest first).
fn newest_cells<'a>(rows: &'a [Row], variant: &str) -> Vec<&'a Cell> {
    let mut out = Vec::new();
    let mut done: Option<&str> = None;
    for row in rows {
        if done == Some(row.name.as_str()) {
            continue;
        }
        if let Some(cell) = row.cells.get(variant) {
            out.push(cell);
            done = Some(row.name.as_str());
        }
    }
    out
}

/// The history of every package with a row, from all of its records in `compat`.
fn histories(
    compat: &CompatData,
    rows: &[Row],
    free_threaded: &[PythonAbi],
) -> Vec<PackageHistory> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let records: Vec<&crate::compat::CompatRecord> = compat
                .records
                .values()
                .filter(|r| r.package == name)
                .collect();
            let mut versions: Vec<String> = records.iter().map(|r| r.version.clone()).collect();
            versions.sort_by(|a, b| newest_first(a, b));
            versions.dedup();
            let gil_free_since = free_threaded
                .iter()
                .filter_map(|abi| {
                    let on_abi: Vec<(&str, Verdict)> = records
                        .iter()
                        .filter(|r| r.abi.as_ref() == Some(abi))
                        .map(|r| (r.version.as_str(), r.verdict))
                        .collect();
                    (!on_abi.is_empty()).then(|| (abi.tag(), gil_free_since(on_abi)))
                })
                .collect();
            PackageHistory {
                name: name.to_string(),
                newest: versions.first().cloned().unwrap_or_default(),
                versions,
                gil_free_since,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::CompatRecord;

    fn rec(package: &str, abi: &str, verdict: Verdict) -> CompatRecord {
        CompatRecord::sample(package, abi, verdict)
    }

    fn data() -> CompatData {
        let mut d = CompatData::default();
        for r in [
            rec("a", "cp314t", Verdict::Verified),
            rec("a", "cp314", Verdict::Ok),
            rec("b", "cp314t", Verdict::GilReenabled),
            rec("c", "cp314t", Verdict::BuildFailed),
            rec("c", "cp313t", Verdict::GilFree),
        ] {
            d.records.insert(r.key(), r);
        }
        d
    }

    #[test]
    fn variants_newest_first_free_threaded_first_and_a_summary() {
        let m = Matrix::build(&data(), "ch", &[]);
        assert_eq!(m.variants, vec!["cp314t", "cp314", "cp313t"]);
        assert_eq!(m.packages.len(), 3);
        assert_eq!(m.summary.headline_variant.as_deref(), Some("cp314t"));
        assert_eq!(
            (
                m.summary.usable_free_threaded,
                m.summary.reenable_gil,
                m.summary.build_failed
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn filter_answers() {
        let m = Matrix::build(&data(), "ch", &["a".into()]);
        assert_eq!(m.packages.len(), 1);
        assert_eq!(
            m.answer(&["a".into()]),
            "all 1 usable free-threaded on cp314t"
        );
        let m = Matrix::build(&data(), "ch", &["a".into(), "b".into(), "zz".into()]);
        let answer = m.answer(&["a".into(), "b".into(), "zz".into()]);
        assert!(answer.starts_with("2 of 3 block"), "{answer}");
        assert!(
            answer.contains("b 1.0 is gil-reenabled") && answer.contains("zz has no cp314t build"),
            "{answer}"
        );
    }

    fn versioned(package: &str, version: &str, abi: &str, verdict: Verdict) -> CompatRecord {
        CompatRecord {
            version: version.into(),
            ..CompatRecord::sample(package, abi, verdict)
        }
    }

    #[test]
    fn pep440_order_newest_first() {
        let mut v = vec![
            "6.0.2",
            "6.0.10",
            "6.0.3",
            "6.0.3rc1",
            "not a version",
            "6.0.9",
        ];
        v.sort_by(|a, b| newest_first(a, b));
        assert_eq!(
            v,
            [
                "6.0.10",
                "6.0.9",
                "6.0.3",
                "6.0.3rc1",
                "6.0.2",
                "not a version"
            ]
        );
    }

    #[test]
    fn gil_free_since_the_oldest_of_the_newest_run() {
        use Verdict::*;
        // In any order; 6.0.10 > 6.0.3 > 6.0.2 by PEP 440 (not as strings).
        assert_eq!(
            gil_free_since([
                ("6.0.10", GilFree),
                ("6.0.2", GilReenabled),
                ("6.0.3", Verified)
            ]),
            Some("6.0.3".into())
        );
        // Skipped versions are ignored, they neither extend nor break the run.
        assert_eq!(
            gil_free_since([
                ("3", Skipped),
                ("2", PurePython),
                ("1.5", Skipped),
                ("1", GilFree)
            ]),
            Some("1".into())
        );
        // Every breaking verdict ends the run.
        for breaking in [
            BuildFailed,
            ImportFailed,
            TestsFailed,
            StressFailed,
            GilReenabled,
            Ok,
        ] {
            assert_eq!(
                gil_free_since([("3", GilFree), ("2", breaking), ("1", GilFree)]),
                Some("3".into()),
                "{breaking}"
            );
            // The newest regressed: not GIL-free at all.
            assert_eq!(
                gil_free_since([("3", breaking), ("2", GilFree)]),
                None,
                "{breaking}"
            );
        }
        assert_eq!(gil_free_since([("1", Skipped)]), None);
        assert_eq!(gil_free_since(std::iter::empty()), None);
    }

    fn versions() -> CompatData {
        let mut d = CompatData::default();
        for r in [
            versioned("pyyaml", "6.0.2", "cp314t", Verdict::GilReenabled),
            versioned("pyyaml", "6.0.2", "cp314", Verdict::Ok),
            versioned("pyyaml", "6.0.10", "cp314t", Verdict::GilFree),
            versioned("pyyaml", "6.0.3", "cp314t", Verdict::GilFree),
            versioned("pyyaml", "6.0.3", "cp313t", Verdict::GilReenabled),
            versioned("ujson", "5.10.0", "cp314t", Verdict::GilFree),
            versioned("ujson", "5.11.0", "cp314t", Verdict::GilReenabled),
        ] {
            d.records.insert(r.key(), r);
        }
        d
    }

    #[test]
    fn versions_newest_first_with_history_and_per_package_summary() {
        let m = Matrix::build(&versions(), "ch", &[]);
        let rows: Vec<String> = m
            .packages
            .iter()
            .map(|r| format!("{} {}", r.name, r.version))
            .collect();
        assert_eq!(
            rows,
            [
                "pyyaml 6.0.10",
                "pyyaml 6.0.3",
                "pyyaml 6.0.2",
                "ujson 5.11.0",
                "ujson 5.10.0"
            ]
        );
        assert_eq!(
            m.history[0],
            PackageHistory {
                name: "pyyaml".into(),
                newest: "6.0.10".into(),
                versions: vec!["6.0.10".into(), "6.0.3".into(), "6.0.2".into()],
                gil_free_since: [
                    ("cp314t".to_string(), Some("6.0.3".to_string())),
                    ("cp313t".to_string(), None)
                ]
                .into(),
            }
        );
        assert_eq!(m.history[1].gil_free_since["cp314t"], None);
        // Counted per package, by its newest version.
        assert_eq!((m.summary.packages, m.summary.versions), (2, 5));
        assert_eq!(
            (m.summary.usable_free_threaded, m.summary.reenable_gil),
            (1, 1)
        );
        assert_eq!(m.summary.per_variant["cp314"]["ok"], 1);

        // A bare name is judged by its newest version; a pinned old one says what fixed it.
        assert_eq!(
            m.answer(&["pyyaml".into()]),
            "all 1 usable free-threaded on cp314t"
        );
        let answer = m.answer(&["pyyaml==6.0.2".into(), "ujson".into()]);
        assert!(
            answer.contains("pyyaml 6.0.2 is gil-reenabled on cp314t: gil-reenabled because (pyyaml 6.0.3 and later keep the GIL off)"),
            "{answer}"
        );
        assert!(answer.contains("ujson 5.11.0 is gil-reenabled"), "{answer}");

        // A filter selects rows, the history still comes from every version.
        let m = Matrix::build(&versions(), "ch", &["pyyaml==6.0.2".into()]);
        assert_eq!(m.packages.len(), 1);
        assert_eq!(m.history.len(), 1);
        assert_eq!(
            m.history[0].gil_free_since["cp314t"].as_deref(),
            Some("6.0.3")
        );
        assert_eq!(m.summary.reenable_gil, 1);
    }
}
