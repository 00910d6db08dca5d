//! The compatibility verdicts (one vocabulary for the matrix, labels and the install
//! policy) and their evidence, stored in the channel as `compat.json`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ftforge_interpreter::extensions::ModuleAbi;
use ftforge_interpreter::PythonAbi;
use serde::{Deserialize, Serialize};

use crate::layout::{write_atomically, Channel, ChannelError};

/// What the evidence says about one package version on one interpreter variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The package did not build for this variant.
    BuildFailed,
    /// It built, but an extension module does not import.
    ImportFailed,
    /// It built and imports, but one of the recipe's own tests (a script, `pip check`)
    /// fails.
    TestsFailed,
    /// It imports, but importing an extension module turns the GIL back on.
    GilReenabled,
    /// Its thread-stress test crashed, raised, hung or gave a wrong result.
    StressFailed,
    /// Every extension module imports with the GIL still off.
    GilFree,
    /// GIL-free, and the recipe's tests and thread-stress tests pass with the GIL off.
    Verified,
    /// No compiled code: runs wherever Python runs.
    PurePython,
    /// The recipe skips this variant (with a reason).
    Skipped,
    /// GIL builds: it builds and imports.
    Ok,
}

impl Verdict {
    pub const ALL: [Verdict; 10] = [
        Verdict::BuildFailed,
        Verdict::ImportFailed,
        Verdict::TestsFailed,
        Verdict::GilReenabled,
        Verdict::StressFailed,
        Verdict::GilFree,
        Verdict::Verified,
        Verdict::PurePython,
        Verdict::Skipped,
        Verdict::Ok,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::BuildFailed => "build-failed",
            Verdict::ImportFailed => "import-failed",
            Verdict::TestsFailed => "tests-failed",
            Verdict::GilReenabled => "gil-reenabled",
            Verdict::StressFailed => "stress-failed",
            Verdict::GilFree => "gil-free",
            Verdict::Verified => "verified",
            Verdict::PurePython => "pure-python",
            Verdict::Skipped => "skipped",
            Verdict::Ok => "ok",
        }
    }

    /// Usable in a free-threaded environment without turning the GIL on.
    pub fn is_gil_free(&self) -> bool {
        matches!(
            self,
            Verdict::GilFree | Verdict::Verified | Verdict::PurePython
        )
    }

    /// How a reader should take this verdict: the one table every view (terminal
    /// colours, Markdown marks, the HTML page's classes) draws from.
    pub fn severity(&self) -> Severity {
        match self {
            Verdict::GilFree | Verdict::Verified | Verdict::PurePython | Verdict::Ok => {
                Severity::Good
            }
            Verdict::GilReenabled => Severity::Warn,
            Verdict::BuildFailed
            | Verdict::ImportFailed
            | Verdict::StressFailed
            | Verdict::TestsFailed => Severity::Bad,
            Verdict::Skipped => Severity::Neutral,
        }
    }
}

/// How good or bad a [`Verdict`] is for someone who wants to use the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Usable as it is (GIL-free, verified, pure Python, or fine on a GIL build).
    Good,
    /// Usable, at a cost: importing it turns the GIL back on.
    Warn,
    /// Not usable: it does not build, import, pass its tests or survive thread stress.
    Bad,
    /// No judgement: the recipe skips this interpreter.
    Neutral,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Good,
        Severity::Warn,
        Severity::Bad,
        Severity::Neutral,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Good => "good",
            Severity::Warn => "warn",
            Severity::Bad => "bad",
            Severity::Neutral => "neutral",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a verdict (one of: {})",
                    Verdict::ALL.map(|v| v.as_str()).join(", ")
                )
            })
    }
}

/// One verdict with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompatRecord {
    pub package: String,
    pub version: String,
    /// The interpreter ABI of the variant (`"cp314t"` in JSON), or `None` (`"any"`) for
    /// a package built without an interpreter variant.
    #[serde(with = "crate::abi_tag::column")]
    pub abi: Option<PythonAbi>,
    /// `3.14`: the ABI's version, kept in the JSON for readers of the file.
    pub python: String,
    /// The ABI is free-threaded, kept in the JSON for readers of the file.
    pub freethreading: bool,
    pub verdict: Verdict,
    /// The stable ABI every extension module of the package shares (`abi3t`: one file
    /// for every 3.15+ interpreter, PEP 803), when they share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_abi: Option<ModuleAbi>,
    /// The published file, when the build produced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<String>,
    /// One line saying why (the failing step, the module that re-enabled the GIL…).
    pub reason: String,
    /// Modules, import results, warnings, stress results, test results, log tails.
    pub evidence: serde_json::Value,
    pub recorded_at: String,
}

impl CompatRecord {
    pub fn key(&self) -> String {
        compat_key(&self.package, &self.version, self.abi.as_ref())
    }

    /// The ABI column: the tag, or `any`.
    pub fn abi_column(&self) -> String {
        crate::abi_tag::column_text(self.abi.as_ref())
    }

    /// A record of version 1.0 with an empty evidence, for tests of what reads verdicts.
    #[cfg(test)]
    pub(crate) fn sample(package: &str, abi: &str, verdict: Verdict) -> Self {
        let abi: PythonAbi = abi.parse().expect("an ABI tag");
        CompatRecord {
            package: package.into(),
            version: "1.0".into(),
            abi: Some(abi),
            python: abi.py_ver(),
            freethreading: abi.freethreading,
            verdict,
            stable_abi: None,
            filename: None,
            subdir: None,
            reason: format!("{verdict} because"),
            evidence: serde_json::json!({}),
            recorded_at: String::new(),
        }
    }
}

/// How `compat.json` keys a verdict: `package/version/abi` (`abi` is `any` for a
/// package built without an interpreter variant).
pub fn compat_key(package: &str, version: &str, abi: Option<&PythonAbi>) -> String {
    format!("{package}/{version}/{}", crate::abi_tag::column_text(abi))
}

/// The `schema_version` this code writes. Version 1 files (whose probe results carry
/// Rust's `Ok`/`Err` wrappers and whose evidence names tests by text) are read too.
pub const SCHEMA_VERSION: u32 = 2;

/// The `compat.json` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompatData {
    pub schema_version: u32,
    /// Keyed by `package/version/abi`.
    pub records: BTreeMap<String, CompatRecord>,
    /// Interpreter facts and probes, keyed by ABI tag (filled by builds of `python`).
    #[serde(default)]
    pub interpreters: BTreeMap<String, serde_json::Value>,
}

impl CompatData {
    /// The verdict of `package` `version` on `abi`, if one was recorded.
    pub fn get(
        &self,
        package: &str,
        version: &str,
        abi: Option<&PythonAbi>,
    ) -> Option<&CompatRecord> {
        self.records.get(&compat_key(package, version, abi))
    }
}

impl Channel {
    pub fn compat_path(&self) -> std::path::PathBuf {
        self.root.join("compat.json")
    }

    pub fn read_compat(&self) -> Result<CompatData, ChannelError> {
        let path = self.compat_path();
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| ChannelError::BadRepodata { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CompatData {
                schema_version: SCHEMA_VERSION,
                ..Default::default()
            }),
            Err(e) => Err(ChannelError::Io {
                action: "read",
                path,
                source: e,
            }),
        }
    }

    /// Adds or replaces verdicts (under the channel's lock, written atomically).
    pub fn record_compat(&self, records: Vec<CompatRecord>) -> Result<(), ChannelError> {
        self.update_compat(|data| {
            for record in records {
                data.records.insert(record.key(), record);
            }
        })
    }

    /// Stores what is known about an interpreter variant.
    pub fn record_interpreter(
        &self,
        abi: &str,
        facts: serde_json::Value,
    ) -> Result<(), ChannelError> {
        self.update_compat(|data| {
            data.interpreters.insert(abi.to_string(), facts);
        })
    }

    fn update_compat(&self, change: impl FnOnce(&mut CompatData)) -> Result<(), ChannelError> {
        fs_err::create_dir_all(&self.root).map_err(|e| ChannelError::Io {
            action: "create",
            path: self.root.clone(),
            source: e,
        })?;
        let _lock = self.lock_dir(&self.root)?;
        let mut data = self.read_compat()?;
        data.schema_version = SCHEMA_VERSION;
        change(&mut data);
        let json =
            serde_json::to_vec_pretty(&data).map_err(|source| ChannelError::BadRepodata {
                path: self.compat_path(),
                source,
            })?;
        write_atomically(&self.compat_path(), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_round_trip() {
        for v in Verdict::ALL {
            assert_eq!(v.as_str().parse::<Verdict>().unwrap(), v);
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        assert!("gil-ish"
            .parse::<Verdict>()
            .unwrap_err()
            .contains("gil-reenabled"));
    }

    #[test]
    fn severities_follow_usability() {
        for v in Verdict::ALL {
            let expected = if v.is_gil_free() || v == Verdict::Ok {
                Severity::Good
            } else {
                match v {
                    Verdict::GilReenabled => Severity::Warn,
                    Verdict::Skipped => Severity::Neutral,
                    _ => Severity::Bad,
                }
            };
            assert_eq!(v.severity(), expected, "{v}");
            assert_eq!(
                serde_json::to_value(v.severity()).unwrap(),
                v.severity().as_str()
            );
        }
    }

    #[test]
    fn version_1_files_are_read_and_rewritten_as_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let channel = Channel::new(dir.path());
        let v1 = serde_json::json!({
            "schema_version": 1,
            "records": {
                "tool/1.0/any": {"package": "tool", "version": "1.0", "abi": "any", "python": "",
                    "freethreading": false, "verdict": "ok", "reason": "", "evidence": {}, "recorded_at": ""},
                "ext/2.0/cp314t": {"package": "ext", "version": "2.0", "abi": "cp314t", "python": "3.14",
                    "freethreading": true, "verdict": "gil-free", "reason": "", "evidence": {"abi": "cp314t"},
                    "recorded_at": ""}
            },
            "interpreters": {"cp314t": {"probe": {"scaling": {"Ok": {"ratio": 1.9}}}}}
        });
        std::fs::write(channel.compat_path(), v1.to_string()).unwrap();
        let data = channel.read_compat().unwrap();
        assert_eq!(data.schema_version, 1);
        let ft = PythonAbi::new(3, 14, true);
        assert_eq!(
            data.get("ext", "2.0", Some(&ft)).unwrap().verdict,
            Verdict::GilFree
        );
        assert_eq!(data.get("tool", "1.0", None).unwrap().abi, None);
        channel
            .record_compat(vec![CompatRecord::sample("new", "cp313", Verdict::Ok)])
            .unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(channel.compat_path()).unwrap()).unwrap();
        assert_eq!(written["schema_version"], SCHEMA_VERSION);
        assert_eq!(written["records"]["tool/1.0/any"]["abi"], "any");
        assert_eq!(written["records"]["new/1.0/cp313"]["abi"], "cp313");
        assert_eq!(written["records"].as_object().unwrap().len(), 3);
    }

    #[test]
    fn records_accumulate_in_the_channel() {
        let dir = tempfile::tempdir().unwrap();
        let channel = Channel::new(dir.path());
        let rec = |pkg: &str, verdict| CompatRecord::sample(pkg, "cp314t", verdict);
        channel
            .record_compat(vec![rec("a", Verdict::GilFree)])
            .unwrap();
        channel
            .record_compat(vec![
                rec("b", Verdict::GilReenabled),
                rec("a", Verdict::Verified),
            ])
            .unwrap();
        let data = channel.read_compat().unwrap();
        assert_eq!(data.records.len(), 2);
        assert_eq!(data.records["a/1.0/cp314t"].verdict, Verdict::Verified);
    }
}
