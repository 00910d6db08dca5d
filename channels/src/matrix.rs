//! The compatibility matrix as data: packages × interpreter variants, each cell a
//! verdict with its evidence, the interpreters' own probe results, and a summary. The
//! JSON form is a stable interface (docs/compat.md); the binary renders the rest.

use std::collections::BTreeMap;

use ftforge_interpreter::PythonAbi;
use serde::{Deserialize, Serialize};

use crate::compat::{CompatData, Severity, Verdict};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matrix {
    pub schema_version: u32,
    pub channel: String,
    /// Interpreter ABI tags, newest first, free-threaded before GIL (`cp314t`, `cp314`, …).
    pub variants: Vec<String>,
    /// Facts and probe results of the channel's interpreters, by ABI tag, as stored in
    /// `compat.json` (the probe as `ftforge_interpreter::probes::ProbeReport`).
    pub interpreters: BTreeMap<String, serde_json::Value>,
    pub packages: Vec<Row>,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub verdict: Verdict,
    pub reason: String,
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
    pub packages: usize,
    /// The free-threaded variant the headline numbers are for (the newest).
    pub headline_variant: Option<String>,
    pub usable_free_threaded: usize,
    pub reenable_gil: usize,
    pub build_failed: usize,
    /// Verdict counts per variant.
    pub per_variant: BTreeMap<String, BTreeMap<String, usize>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegendEntry {
    pub verdict: Verdict,
    pub meaning: String,
    /// [`Verdict::severity`]: how views colour the verdict.
    pub severity: Severity,
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

/// Does a `--filter` entry (`name` or `name==version` / `name version`) select a row?
fn selected(filter: &[String], name: &str, version: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            let f = f.trim();
            let (fname, fversion) = match f.split_once("==").or_else(|| f.split_once(' ')) {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (f, None),
            };
            fname.eq_ignore_ascii_case(name) && fversion.is_none_or(|v| v == version)
        })
}

impl Matrix {
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
        let packages: Vec<Row> = rows.into_values().collect();
        let mut summary = Summary {
            packages: packages.len(),
            headline_variant: headline.clone(),
            ..Default::default()
        };
        for row in &packages {
            for (abi, cell) in &row.cells {
                *summary
                    .per_variant
                    .entry(abi.clone())
                    .or_default()
                    .entry(cell.verdict.to_string())
                    .or_default() += 1;
            }
            if let Some(cell) = headline.as_ref().and_then(|h| row.cells.get(h)) {
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
    /// free-threaded variant.
    pub fn answer(&self, wanted: &[String]) -> String {
        let Some(variant) = &self.summary.headline_variant else {
            return "the channel has no free-threaded interpreter".into();
        };
        let mut blockers = Vec::new();
        for want in wanted {
            let rows: Vec<&Row> = self
                .packages
                .iter()
                .filter(|r| selected(std::slice::from_ref(want), &r.name, &r.version))
                .collect();
            let usable = rows.iter().find(|r| {
                r.cells
                    .get(variant)
                    .is_some_and(|c| c.verdict.is_gil_free())
            });
            if usable.is_some() {
                continue;
            }
            match rows
                .iter()
                .find_map(|r| r.cells.get(variant).map(|c| (r, c)))
            {
                Some((r, c)) => blockers.push(format!(
                    "{} {} is {} on {variant}: {}",
                    r.name, r.version, c.verdict, c.reason
                )),
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
}
