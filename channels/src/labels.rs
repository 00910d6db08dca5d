//! Labels: `<channel>/label/<name>/<subdir>/repodata.json` views of the main channel.
//! `freethreading` holds the free-threaded interpreters and only the extension builds
//! whose verdict keeps the GIL off; `gil` holds the GIL twins and their builds. Label
//! directories hard-link the main channel's files (no copies).

use std::path::Path;

use rattler_conda_types::{PackageRecord, RepoData};

use crate::compat::{CompatData, Verdict};
use crate::layout::{empty_repodata, io_err, Channel, ChannelError};

/// The labels ftforge maintains.
pub const LABELS: [&str; 2] = ["freethreading", "gil"];

/// The interpreter ABI tag a record is built for, from its build string or its
/// `python_abi` dependency (`cp314t`); `None` for packages not tied to one ABI.
pub fn record_abi(record: &PackageRecord) -> Option<String> {
    let name = record.name.as_normalized();
    if name == "python" || name == "python_abi" {
        return record
            .build
            .as_str()
            .rsplit('_')
            .next()
            .filter(|t| t.starts_with("cp"))
            .map(String::from);
    }
    record.depends.iter().find_map(|d| {
        let mut words = d.split_whitespace();
        (words.next() == Some("python_abi"))
            .then(|| words.last()?.rsplit('_').next().map(String::from))?
    })
}

/// Whether `record` belongs in `label`, given the channel's verdicts.
pub fn belongs(label: &str, record: &PackageRecord, compat: &CompatData) -> bool {
    let name = record.name.as_normalized();
    let freethreading = label == "freethreading";
    match name {
        "python-freethreading" => return freethreading,
        "python-gil" => return !freethreading,
        _ => {}
    }
    let Some(abi) = record_abi(record) else {
        // noarch packages and anything without an ABI serve both.
        return true;
    };
    if abi.ends_with('t') != freethreading {
        return false;
    }
    if name == "python" || name == "python_abi" {
        return true;
    }
    match compat
        .get(name, &record.version.as_str(), &abi)
        .map(|r| r.verdict)
    {
        Some(v) if freethreading => v.is_gil_free(),
        Some(v) => matches!(v, Verdict::Ok | Verdict::Verified | Verdict::PurePython),
        // Not judged (a package published by hand): only the GIL label takes it.
        None => !freethreading,
    }
}

impl Channel {
    pub fn label_root(&self, label: &str) -> Channel {
        Channel::new(self.root.join("label").join(label))
    }

    /// Rebuilds every label from the main repodata and `compat.json`.
    pub fn update_labels(&self) -> Result<(), ChannelError> {
        let compat = self.read_compat()?;
        for subdir in self.subdirs() {
            let main = self.read_repodata(&subdir)?;
            for label in LABELS {
                let view = self.label_root(label);
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
        assert_eq!(record_abi(&ext).as_deref(), Some("cp314t"));
        assert!(belongs("freethreading", &ext, &compat(Verdict::Verified)));
        assert!(!belongs(
            "freethreading",
            &ext,
            &compat(Verdict::GilReenabled)
        ));
        assert!(!belongs("gil", &ext, &compat(Verdict::Verified)));
        let py = record("python", "h1_0_cp314t", &["python_abi 3.14.* *_cp314t"]);
        assert!(belongs("freethreading", &py, &CompatData::default()));
        assert!(!belongs("gil", &py, &CompatData::default()));
        let gil_py = record("python", "h1_100_cp314", &[]);
        assert!(belongs("gil", &gil_py, &CompatData::default()));
        let noarch = record("sortedcontainers", "pyh1_0", &["python"]);
        assert!(
            belongs("freethreading", &noarch, &CompatData::default())
                && belongs("gil", &noarch, &CompatData::default())
        );
        assert!(!belongs(
            "gil",
            &record("python-freethreading", "h_0", &[]),
            &CompatData::default()
        ));
    }
}
