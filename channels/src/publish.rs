//! Publishing `.conda` files into a channel: copy the artifact, add its record to the
//! subdir's repodata under a lock (incremental: nothing else is re-read), refuse to
//! silently replace a different build with the same name.

use std::path::{Path, PathBuf};

use rattler_conda_types::package::{IndexJson, PackageFile};
use rattler_conda_types::PackageRecord;
use rattler_digest::{compute_file_digest, Md5, Sha256};

use crate::layout::{io_err, Channel, ChannelError};

/// What happened to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublishOutcome {
    Added,
    /// The same file was already there.
    Unchanged,
    /// A different file of the same name was replaced (`--force`).
    Replaced,
}

impl PublishOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            PublishOutcome::Added => "added",
            PublishOutcome::Unchanged => "unchanged",
            PublishOutcome::Replaced => "replaced",
        }
    }
}

/// The same words as the JSON form (`added`, `unchanged`, `replaced`); honours width.
impl std::fmt::Display for PublishOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Published {
    pub filename: String,
    pub subdir: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub outcome: PublishOutcome,
}

/// Reads `info/index.json` and hashes of a package file into a repodata record.
pub fn record_for(package: &Path) -> Result<(PackageRecord, String), ChannelError> {
    let bad = |message: String| ChannelError::BadPackage {
        path: package.to_path_buf(),
        message,
    };
    let filename = package
        .file_name()
        .and_then(|f| f.to_str())
        .filter(|f| f.ends_with(".conda") || f.ends_with(".tar.bz2"))
        .ok_or_else(|| bad("the file name must end in .conda or .tar.bz2".into()))?
        .to_string();
    let index_json = read_index_json(package).map_err(bad)?;
    let size = fs_err::metadata(package)
        .map_err(|e| ChannelError::Io {
            action: "read",
            path: package.into(),
            source: e,
        })?
        .len();
    let sha256 = compute_file_digest::<Sha256>(package).map_err(io_err("hash", package))?;
    let md5 = compute_file_digest::<Md5>(package).map_err(io_err("hash", package))?;
    let record = PackageRecord::from_index_json(index_json, Some(size), Some(sha256), Some(md5))
        .map_err(|e| bad(e.to_string()))?;
    Ok((record, filename))
}

fn read_index_json(package: &Path) -> Result<IndexJson, String> {
    let bytes = rattler_package_streaming::seek::read_package_file_content(
        fs_err::File::open(package).map_err(|e| e.to_string())?,
        rattler_conda_types::package::CondaArchiveType::try_from(package)
            .ok_or_else(|| "unknown archive type".to_string())?,
        IndexJson::package_path(),
    )
    .map_err(|e| e.to_string())?;
    IndexJson::from_str(&String::from_utf8_lossy(&bytes)).map_err(|e| e.to_string())
}

impl Channel {
    /// Publishes packages: each is copied into its subdir and added to the repodata.
    /// Same content is a no-op; different content under the same name is refused
    /// unless `force`.
    pub fn publish(
        &self,
        packages: &[PathBuf],
        force: bool,
    ) -> Result<Vec<Published>, ChannelError> {
        // Read every package first (hashing is the slow part and needs no lock), then
        // take each subdir's lock once: one read and one write of its repodata per call.
        let mut by_subdir: std::collections::BTreeMap<String, Vec<(&Path, PackageRecord, String)>> =
            Default::default();
        for package in packages {
            let (record, filename) = record_for(package)?;
            by_subdir.entry(record.subdir.clone()).or_default().push((
                package.as_path(),
                record,
                filename,
            ));
        }
        let mut out = Vec::new();
        for (subdir, items) in by_subdir {
            out.extend(self.publish_into(&subdir, items, force)?);
        }
        self.ensure_noarch()?;
        Ok(out)
    }

    fn publish_into(
        &self,
        subdir: &str,
        items: Vec<(&Path, PackageRecord, String)>,
        force: bool,
    ) -> Result<Vec<Published>, ChannelError> {
        let _lock = self.lock_subdir(subdir)?;
        let mut repodata = self.read_repodata(subdir)?;
        let mut changed = false;
        let mut out = Vec::new();
        for (package, record, filename) in items {
            let sha256 = hex::encode(record.sha256.expect("record_for hashes"));
            let size = record.size.unwrap_or_default();
            let key = filename.parse().map_err(|_| ChannelError::BadPackage {
                path: package.to_path_buf(),
                message: format!("`{filename}` is not name-version-build.conda"),
            })?;
            let dest = self.subdir_path(subdir).join(&filename);
            let existing = repodata
                .conda_packages
                .get(&key)
                .or_else(|| repodata.packages.get(&key));
            let outcome = match existing.and_then(|r| r.sha256) {
                Some(old) if hex::encode(old) == sha256 && dest.is_file() => {
                    PublishOutcome::Unchanged
                }
                Some(old) if !force => {
                    // What was published before this conflict stays published.
                    if changed {
                        self.write_repodata(subdir, &repodata)?;
                    }
                    return Err(ChannelError::Conflict {
                        subdir: subdir.to_string(),
                        filename,
                        existing: hex::encode(old),
                        new: sha256,
                    });
                }
                Some(_) => PublishOutcome::Replaced,
                None => PublishOutcome::Added,
            };
            if outcome != PublishOutcome::Unchanged {
                if dest != package {
                    let tmp = tempfile::NamedTempFile::new_in(self.subdir_path(subdir))
                        .map_err(io_err("create a file in", &dest))?;
                    fs_err::copy(package, tmp.path()).map_err(|e| ChannelError::Io {
                        action: "copy",
                        path: package.into(),
                        source: e,
                    })?;
                    crate::layout::persist_readable(tmp, &dest)?;
                }
                if filename.ends_with(".conda") {
                    repodata.conda_packages.insert(key, record);
                } else {
                    repodata.packages.insert(key, record);
                }
                changed = true;
            }
            out.push(Published {
                filename,
                subdir: subdir.to_string(),
                path: dest,
                sha256,
                size,
                outcome,
            });
        }
        if changed {
            self.write_repodata(subdir, &repodata)?;
        }
        Ok(out)
    }

    /// Conda clients expect `noarch/repodata.json` in every channel.
    fn ensure_noarch(&self) -> Result<(), ChannelError> {
        if !self.repodata_path("noarch").is_file() {
            let _lock = self.lock_subdir("noarch")?;
            if !self.repodata_path("noarch").is_file() {
                self.write_repodata("noarch", &crate::layout::empty_repodata("noarch"))?;
            }
        }
        Ok(())
    }

    /// Rebuilds every subdir's repodata from the package files present.
    pub fn index(&self) -> Result<Vec<(String, usize)>, ChannelError> {
        let mut summary = Vec::new();
        let mut subdirs: Vec<String> = fs_err::read_dir(&self.root)
            .map_err(|e| ChannelError::Io {
                action: "read",
                path: self.root.clone(),
                source: e,
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            // Not hidden ones: `.ftforge-uploads` (the server's incoming files) is no subdir.
            .filter(|name| !name.starts_with('.') && (name == "noarch" || name.contains('-')))
            .collect();
        if !subdirs.iter().any(|s| s == "noarch") {
            subdirs.push("noarch".into());
        }
        subdirs.sort();
        for subdir in subdirs {
            let _lock = self.lock_subdir(&subdir)?;
            let mut repodata = crate::layout::empty_repodata(&subdir);
            let dir = self.subdir_path(&subdir);
            let mut files: Vec<PathBuf> = fs_err::read_dir(&dir)
                .map_err(|e| ChannelError::Io {
                    action: "read",
                    path: dir.clone(),
                    source: e,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.to_string_lossy().ends_with(".conda")
                        || p.to_string_lossy().ends_with(".tar.bz2")
                })
                .collect();
            files.sort();
            for file in &files {
                let (record, filename) = record_for(file)?;
                let key = filename.parse().map_err(|_| ChannelError::BadPackage {
                    path: file.clone(),
                    message: "not name-version-build".into(),
                })?;
                if filename.ends_with(".conda") {
                    repodata.conda_packages.insert(key, record);
                } else {
                    repodata.packages.insert(key, record);
                }
            }
            self.write_repodata(&subdir, &repodata)?;
            summary.push((subdir, files.len()));
        }
        Ok(summary)
    }
}
