//! Linking packages into a prefix so that a killed install leaves nothing half-done
//! behind: a journal lists the files the prefix had before; if an install dies, the
//! next one removes every file that is neither in that list nor owned by a package
//! record in `conda-meta/`, so the prefix is as it was plus only complete packages.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rattler_conda_types::RepoDataRecord;

const JOURNAL: &str = "conda-meta/ftforge-transaction.journal";

fn files_under(prefix: &Path) -> HashSet<PathBuf> {
    walkdir(prefix)
        .into_iter()
        .filter_map(|p| p.strip_prefix(prefix).ok().map(Path::to_path_buf))
        .collect()
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(walkdir(&path)),
            Ok(_) => out.push(path),
            Err(_) => {}
        }
    }
    out
}

/// Files owned by the package records in `conda-meta/`.
fn owned_files(prefix: &Path) -> HashSet<PathBuf> {
    let mut owned = HashSet::new();
    for record in walkdir(&prefix.join("conda-meta")) {
        if record.extension().is_none_or(|e| e != "json") {
            continue;
        }
        owned.insert(record.strip_prefix(prefix).unwrap_or(&record).to_path_buf());
        let Ok(bytes) = std::fs::read(&record) else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        for file in value["files"].as_array().into_iter().flatten() {
            if let Some(f) = file.as_str() {
                owned.insert(PathBuf::from(f));
            }
        }
    }
    owned
}

/// Finishes what an interrupted install left: removes files that were not there before
/// it and belong to no complete package. Returns how many files were removed.
pub fn recover(prefix: &Path) -> Result<usize, String> {
    let journal = prefix.join(JOURNAL);
    let Ok(bytes) = std::fs::read(&journal) else {
        return Ok(0);
    };
    let before: HashSet<PathBuf> = serde_json::from_slice::<Vec<PathBuf>>(&bytes)
        .map_err(|e| format!("{}: {e}", journal.display()))?
        .into_iter()
        .collect();
    let owned = owned_files(prefix);
    let mut removed = 0;
    for file in files_under(prefix) {
        if file == Path::new(JOURNAL) || before.contains(&file) || owned.contains(&file) {
            continue;
        }
        let full = prefix.join(&file);
        std::fs::remove_file(&full)
            .map_err(|e| format!("cannot remove {}: {e}", full.display()))?;
        removed += 1;
    }
    std::fs::remove_file(&journal)
        .map_err(|e| format!("cannot remove {}: {e}", journal.display()))?;
    Ok(removed)
}

/// Links `records` (local, already verified files) into `prefix` under a journal.
pub async fn link(
    prefix: &Path,
    records: Vec<RepoDataRecord>,
    package_cache: &Path,
) -> Result<(), String> {
    recover(prefix)?;
    let meta = prefix.join("conda-meta");
    std::fs::create_dir_all(&meta).map_err(|e| format!("cannot create {}: {e}", meta.display()))?;
    let before: Vec<PathBuf> = files_under(prefix).into_iter().collect();
    let journal = prefix.join(JOURNAL);
    let tmp = journal.with_extension("journal-tmp");
    std::fs::write(&tmp, serde_json::to_vec(&before).unwrap_or_default())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &journal)
        .map_err(|e| format!("cannot write {}: {e}", journal.display()))?;
    forget_stale_cache_entries(package_cache, &records);
    let shas: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| Some((cache_entry_name(r), hex::encode(r.package_record.sha256?))))
        .collect();
    rattler::install::Installer::new()
        .with_package_cache(rattler_cache::package_cache::PackageCache::new(
            package_cache,
        ))
        .install(prefix, records)
        .await
        .map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            message
        })?;
    std::fs::remove_file(&journal)
        .map_err(|e| format!("cannot remove {}: {e}", journal.display()))?;
    let marks = package_cache.join(MARKS);
    if std::fs::create_dir_all(&marks).is_ok() {
        for (name, sha) in shas {
            let _ = std::fs::write(marks.join(name), sha);
        }
    }
    Ok(())
}

/// Where ftforge notes the sha256 each package-cache entry was extracted from.
const MARKS: &str = ".ftforge-sha256";

fn cache_entry_name(record: &RepoDataRecord) -> String {
    let name = record.identifier.to_string();
    name.trim_end_matches(".conda")
        .trim_end_matches(".tar.bz2")
        .to_string()
}

/// A package rebuilt under the same file name has other contents than the extracted
/// entry rattler's cache keeps by name: drop entries whose recorded sha256 differs (or
/// was never recorded by us), so the installer extracts the package at hand.
fn forget_stale_cache_entries(package_cache: &Path, records: &[RepoDataRecord]) {
    for record in records {
        let Some(sha) = record.package_record.sha256.map(hex::encode) else {
            continue;
        };
        let name = cache_entry_name(record);
        let entry = package_cache.join(&name);
        if !entry.exists() {
            continue;
        }
        let noted =
            std::fs::read_to_string(package_cache.join(MARKS).join(&name)).unwrap_or_default();
        if noted.trim() != sha {
            let _ = std::fs::remove_dir_all(&entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_removes_orphans_and_keeps_owned_and_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("conda-meta")).unwrap();
        std::fs::create_dir_all(p.join("lib")).unwrap();
        std::fs::write(p.join("lib/old.txt"), "was there").unwrap();
        std::fs::write(
            p.join(JOURNAL),
            serde_json::to_vec(&vec![PathBuf::from("lib/old.txt")]).unwrap(),
        )
        .unwrap();
        std::fs::write(p.join("lib/complete.py"), "").unwrap();
        std::fs::write(
            p.join("conda-meta/a-1-0.json"),
            r#"{"files": ["lib/complete.py"]}"#,
        )
        .unwrap();
        std::fs::write(p.join("lib/half.py"), "").unwrap();
        assert_eq!(recover(p).unwrap(), 1);
        assert!(p.join("lib/old.txt").exists() && p.join("lib/complete.py").exists());
        assert!(!p.join("lib/half.py").exists() && !p.join(JOURNAL).exists());
        assert_eq!(recover(p).unwrap(), 0);
    }
}
