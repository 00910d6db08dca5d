//! Labels: `<channel>/label/<name>/<subdir>/repodata.json` views of the main channel.
//! `freethreading` holds the free-threaded interpreters and only the builds whose
//! verdicts keep the GIL off (a `noarch: python` package: all its free-threaded
//! verdicts); `gil` holds the GIL twins and their usable builds. Label directories
//! hard-link the main channel's files (no copies). `python_rc` is not a view: packages
//! built with or for a pre-release interpreter (`python 3.15.0rc2`) are published into
//! `<channel>/label/python_rc/` only (conda-forge's label for release candidates), so
//! `main` never offers a release candidate.

use std::path::Path;

use ftforge_interpreter::PythonAbi;
use rattler_conda_types::{PackageRecord, RepoData};

use crate::compat::{CompatData, Verdict};
use crate::layout::{empty_repodata, io_err, Channel, ChannelError};

/// The labels ftforge maintains: the two views of the main channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Free-threaded interpreters and the builds that keep the GIL off.
    Freethreading,
    /// The GIL interpreters and their usable builds.
    Gil,
}

impl Label {
    pub const ALL: [Label; 2] = [Label::Freethreading, Label::Gil];

    /// The label's directory name (`<channel>/label/<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Freethreading => "freethreading",
            Label::Gil => "gil",
        }
    }
}

/// The label that holds what was built with or for a pre-release interpreter.
pub const PRERELEASE_LABEL: &str = "python_rc";

/// The interpreter ABI a record is built for, from its build string or its
/// `python_abi` dependency (`… *_cp314t`); `None` for packages not tied to one ABI.
pub fn record_abi(record: &PackageRecord) -> Option<PythonAbi> {
    let name = record.name.as_normalized();
    if name == "python" || name == "python_abi" {
        return record.build.as_str().rsplit('_').next()?.parse().ok();
    }
    record.depends.iter().find_map(|d| {
        let mut words = d.split_whitespace();
        (words.next() == Some("python_abi"))
            .then(|| words.last()?.rsplit('_').next()?.parse().ok())?
    })
}

/// Whether `record` belongs in `label`, given the channel's verdicts.
pub fn belongs(label: Label, record: &PackageRecord, compat: &CompatData) -> bool {
    let name = record.name.as_normalized();
    let freethreading = label == Label::Freethreading;
    match name {
        "python-freethreading" => return freethreading,
        "python-gil" => return !freethreading,
        _ => {}
    }
    let Some(abi) = record_abi(record) else {
        // One file for several interpreters (`noarch: python`, or a stable-ABI build
        // such as abi3t): judged on each of them.
        if record.noarch.is_python() || judged_per_interpreter(record, compat) {
            return noarch_python_belongs(freethreading, record, compat);
        }
        // Packages not tied to Python (libraries, data, noarch: generic) serve both.
        return true;
    };
    if abi.freethreading != freethreading {
        return false;
    }
    if name == "python" || name == "python_abi" {
        return true;
    }
    match compat
        .get(name, &record.version.as_str(), Some(&abi))
        .map(|r| r.verdict)
    {
        Some(v) if freethreading => v.is_gil_free(),
        Some(v) => usable_with_the_gil(v),
        // Not judged (a package published by hand): only the GIL label takes it.
        None => !freethreading,
    }
}

/// The GIL label's verdicts.
fn usable_with_the_gil(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Ok | Verdict::Verified | Verdict::PurePython
    )
}

/// Whether the channel holds verdicts of `record`'s name and version for particular
/// interpreters (a package not tied to one ABI that was judged on several).
fn judged_per_interpreter(record: &PackageRecord, compat: &CompatData) -> bool {
    let prefix = format!(
        "{}/{}/",
        record.name.as_normalized(),
        record.version.as_str()
    );
    compat
        .records
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .any(|(_, r)| r.abi.is_some())
}

/// A `noarch: python` package (or an abi3t one) is one file for several interpreters,
/// judged on each of them (one verdict per ABI). `skipped` verdicts say nothing either way. The
/// free-threaded label takes it when at least one free-threaded verdict is recorded
/// for its version and every one is usable free-threaded; the GIL label takes it
/// unless one of its GIL verdicts is not usable (none recorded: published by hand).
fn noarch_python_belongs(freethreading: bool, record: &PackageRecord, compat: &CompatData) -> bool {
    let prefix = format!(
        "{}/{}/",
        record.name.as_normalized(),
        record.version.as_str()
    );
    let verdicts: Vec<Verdict> = compat
        .records
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .map(|(_, r)| r)
        .filter(|r| r.freethreading == freethreading && r.verdict != Verdict::Skipped)
        .map(|r| r.verdict)
        .collect();
    if freethreading {
        !verdicts.is_empty() && verdicts.iter().all(Verdict::is_gil_free)
    } else {
        verdicts.into_iter().all(usable_with_the_gil)
    }
}

impl Channel {
    pub fn label_root(&self, label: &str) -> Channel {
        Channel::new(self.root.join("label").join(label))
    }

    /// The channels a build reads packages from: this one, then its `python_rc` label.
    pub fn with_prerelease_label(&self) -> [Channel; 2] {
        [self.clone(), self.label_root(PRERELEASE_LABEL)]
    }

    /// Where a package published with `label` (`None`: main) lies.
    pub fn published_path(
        &self,
        label: Option<&str>,
        subdir: &str,
        filename: &str,
    ) -> std::path::PathBuf {
        match label {
            Some(label) => self.label_root(label).subdir_path(subdir).join(filename),
            None => self.subdir_path(subdir).join(filename),
        }
    }

    /// Every interpreter (`python` package) of the channel and of its `python_rc`
    /// label: its ABI and version (`cp315t`, `3.15.0rc2`). Unreadable subdirs are skipped.
    pub fn interpreters(&self) -> Vec<(PythonAbi, String)> {
        let mut out = Vec::new();
        for channel in self.with_prerelease_label() {
            for subdir in channel.subdirs() {
                let Ok(repodata) = channel.read_repodata(&subdir) else {
                    continue;
                };
                for record in repodata
                    .conda_packages
                    .values()
                    .chain(repodata.packages.values())
                {
                    if record.name.as_normalized() == "python" {
                        if let Some(abi) = record_abi(record) {
                            out.push((abi, record.version.as_str().into_owned()));
                        }
                    }
                }
            }
        }
        out
    }

    /// Rebuilds every label from the main repodata and `compat.json`.
    pub fn update_labels(&self) -> Result<(), ChannelError> {
        let compat = self.read_compat()?;
        for subdir in self.subdirs() {
            let main = self.read_repodata(&subdir)?;
            for label in Label::ALL {
                let view = self.label_root(label.as_str());
                let _lock = view.lock_subdir(&subdir)?;
                let mut repodata: RepoData = empty_repodata(&subdir);
                for (key, record) in &main.conda_packages {
                    if belongs(label, record, &compat) {
                        link_into(
                            &self.subdir_path(&subdir).join(key.to_string()),
                            &view.subdir_path(&subdir),
                        )?;
                        repodata.conda_packages.insert(key.clone(), record.clone());
                    }
                }
                prune(&view.subdir_path(&subdir), &repodata)?;
                view.write_repodata(&subdir, &repodata)?;
            }
        }
        Ok(())
    }
}

/// Hard-links a package file into a label's subdir (idempotent).
fn link_into(file: &Path, dir: &Path) -> Result<(), ChannelError> {
    let Some(name) = file.file_name() else {
        return Ok(());
    };
    let target = dir.join(name);
    if target.exists() {
        let same = std::fs::metadata(&target)
            .ok()
            .zip(std::fs::metadata(file).ok())
            .is_some_and(|(a, b)| {
                use std::os::unix::fs::MetadataExt;
                a.ino() == b.ino() && a.dev() == b.dev()
            });
        if same {
            return Ok(());
        }
        std::fs::remove_file(&target).map_err(io_err("replace", &target))?;
    }
    std::fs::hard_link(file, &target).map_err(io_err("hard-link", &target))
}

/// Removes package links a label no longer lists.
fn prune(dir: &Path, repodata: &RepoData) -> Result<(), ChannelError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let listed: std::collections::HashSet<String> = repodata
        .conda_packages
        .keys()
        .map(|k| k.to_string())
        .collect();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".conda") && !listed.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(io_err("remove", &entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::CompatRecord;

    fn record(name: &str, build: &str, depends: &[&str]) -> PackageRecord {
        let mut r: PackageRecord = serde_json::from_value(serde_json::json!({
            "name": name, "version": "1.0", "build": build, "build_number": 0, "subdir": "linux-64",
            "depends": depends,
        }))
        .unwrap();
        r.depends = depends.iter().map(|s| s.to_string()).collect();
        r
    }

    fn compat(verdict: Verdict) -> CompatData {
        let mut data = CompatData::default();
        let record = CompatRecord::sample("ext", "cp314t", verdict);
        data.records.insert(record.key(), record);
        data
    }

    #[test]
    fn free_threaded_label_takes_only_gil_free_builds() {
        let ext = record(
            "ext",
            "py314th1_0",
            &["python_abi 3.14.* *_cp314t", "python >=3.14,<3.15.0a0"],
        );
        assert_eq!(record_abi(&ext), Some(PythonAbi::new(3, 14, true)));
        assert!(belongs(
            Label::Freethreading,
            &ext,
            &compat(Verdict::Verified)
        ));
        assert!(!belongs(
            Label::Freethreading,
            &ext,
            &compat(Verdict::GilReenabled)
        ));
        assert!(!belongs(Label::Gil, &ext, &compat(Verdict::Verified)));
        let py = record("python", "h1_0_cp314t", &["python_abi 3.14.* *_cp314t"]);
        assert!(belongs(Label::Freethreading, &py, &CompatData::default()));
        assert!(!belongs(Label::Gil, &py, &CompatData::default()));
        let gil_py = record("python", "h1_100_cp314", &[]);
        assert!(belongs(Label::Gil, &gil_py, &CompatData::default()));
        // Not tied to Python (no python_abi, not noarch: python): both labels.
        let library = record("libffi", "h1_0", &[]);
        assert!(
            belongs(Label::Freethreading, &library, &CompatData::default())
                && belongs(Label::Gil, &library, &CompatData::default())
        );
        assert!(!belongs(
            Label::Gil,
            &record("python-freethreading", "h_0", &[]),
            &CompatData::default()
        ));
    }

    fn noarch_python(name: &str) -> PackageRecord {
        let mut r = record(name, "pyh1_0", &["python >=3.9"]);
        r.noarch = serde_json::from_value(serde_json::json!("python")).unwrap();
        r
    }

    fn verdicts(package: &str, per_abi: &[(&str, Verdict)]) -> CompatData {
        let mut data = CompatData::default();
        for (abi, verdict) in per_abi {
            let record = CompatRecord::sample(package, abi, *verdict);
            data.records.insert(record.key(), record);
        }
        // Another package's verdicts (a longer name with the same start) do not count.
        let other =
            CompatRecord::sample(&format!("{package}-extra"), "cp314t", Verdict::GilReenabled);
        data.records.insert(other.key(), other);
        data
    }

    /// A package for several interpreters without `python_abi` (a stable-ABI build)
    /// follows the verdicts recorded for each interpreter, like a noarch one.
    #[test]
    fn stable_abi_packages_follow_their_per_interpreter_verdicts() {
        let st = record("st", "abi3t_h1_0", &["python >=3.15"]);
        assert_eq!(record_abi(&st), None);
        let judged = verdicts(
            "st",
            &[("cp315t", Verdict::GilReenabled), ("cp315", Verdict::Ok)],
        );
        assert!(!belongs(Label::Freethreading, &st, &judged));
        assert!(belongs(Label::Gil, &st, &judged));
        let good = verdicts(
            "st",
            &[("cp315t", Verdict::GilFree), ("cp315", Verdict::Ok)],
        );
        assert!(belongs(Label::Freethreading, &st, &good) && belongs(Label::Gil, &st, &good));
        // Never judged: a package not tied to one interpreter serves both.
        let other = verdicts("unrelated", &[("cp315t", Verdict::GilReenabled)]);
        assert!(belongs(Label::Freethreading, &st, &other) && belongs(Label::Gil, &st, &other));
    }

    #[test]
    fn noarch_python_packages_follow_their_per_interpreter_verdicts() {
        let sc = noarch_python("sc");
        let both = |data: &CompatData| {
            (
                belongs(Label::Freethreading, &sc, data),
                belongs(Label::Gil, &sc, data),
            )
        };
        // Judged pure-python everywhere: both labels.
        let all_good = verdicts(
            "sc",
            &[
                ("cp314t", Verdict::PurePython),
                ("cp313t", Verdict::PurePython),
                ("cp314", Verdict::PurePython),
            ],
        );
        assert_eq!(both(&all_good), (true, true));
        // Fails to import on one free-threaded interpreter: not in the free-threaded label.
        let one_bad = verdicts(
            "sc",
            &[
                ("cp314t", Verdict::PurePython),
                ("cp313t", Verdict::ImportFailed),
                ("cp314", Verdict::PurePython),
            ],
        );
        assert_eq!(both(&one_bad), (false, true));
        // Its tests fail with the GIL: not in the GIL label, still free-threaded.
        let gil_bad = verdicts(
            "sc",
            &[
                ("cp314t", Verdict::PurePython),
                ("cp314", Verdict::TestsFailed),
            ],
        );
        assert_eq!(both(&gil_bad), (true, false));
        // A skipped interpreter says nothing either way.
        let skipped = verdicts(
            "sc",
            &[
                ("cp314t", Verdict::PurePython),
                ("cp313t", Verdict::Skipped),
            ],
        );
        assert_eq!(both(&skipped), (true, true));
        // Never judged free-threaded (published by hand): only the GIL label.
        assert_eq!(both(&CompatData::default()), (false, true));
        assert_eq!(
            both(&verdicts("sc", &[("cp313t", Verdict::Skipped)])),
            (false, true)
        );
        // Verdicts of another version do not count.
        let mut other_version = sc.clone();
        other_version.version = "2.0".parse().unwrap();
        assert!(!belongs(Label::Freethreading, &other_version, &all_good));
    }
}
