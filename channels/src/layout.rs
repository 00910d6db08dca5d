//! Where things live in a channel directory and how its repodata is read and written
//! (atomically: readers see the old file or the new one, never half of one).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use rattler_conda_types::RepoData;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ChannelError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid repodata: {source}")]
    #[diagnostic(help("`ftforge index --channel DIR` rebuilds it from the packages"))]
    BadRepodata {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} is not a readable conda package: {message}")]
    BadPackage { path: PathBuf, message: String },
    #[error("{filename} is already in {subdir} with different content (sha256 {existing} there, {new} here)")]
    #[diagnostic(help(
        "a published build is immutable: bump the build number, or pass --force to replace it"
    ))]
    Conflict {
        subdir: String,
        filename: String,
        existing: String,
        new: String,
    },
}

pub(crate) fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> ChannelError + use<> {
    let path = path.to_path_buf();
    move |source| ChannelError::Io {
        action,
        path,
        source,
    }
}

/// A channel directory.
#[derive(Debug, Clone)]
pub struct Channel {
    pub root: PathBuf,
}

impl Channel {
    /// A channel at `root` (made absolute: package URLs are `file://` URLs).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            root: std::path::absolute(&root).unwrap_or(root),
        }
    }

    pub fn subdir_path(&self, subdir: &str) -> PathBuf {
        self.root.join(subdir)
    }

    pub fn repodata_path(&self, subdir: &str) -> PathBuf {
        self.subdir_path(subdir).join("repodata.json")
    }

    /// Subdirectories that hold a `repodata.json`.
    pub fn subdirs(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("repodata.json").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }

    /// Reads a subdir's repodata, or an empty one when there is none yet.
    pub fn read_repodata(&self, subdir: &str) -> Result<RepoData, ChannelError> {
        let path = self.repodata_path(subdir);
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| ChannelError::BadRepodata { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(empty_repodata(subdir)),
            Err(e) => Err(ChannelError::Io {
                action: "read",
                path,
                source: e,
            }),
        }
    }

    /// Writes `repodata.json` and `repodata.json.zst` of a subdir atomically.
    pub fn write_repodata(&self, subdir: &str, repodata: &RepoData) -> Result<(), ChannelError> {
        let dir = self.subdir_path(subdir);
        fs_err::create_dir_all(&dir).map_err(|e| ChannelError::Io {
            action: "create",
            path: dir.clone(),
            source: e,
        })?;
        let json =
            serde_json::to_vec_pretty(repodata).map_err(|source| ChannelError::BadRepodata {
                path: self.repodata_path(subdir),
                source,
            })?;
        let zst = zstd::encode_all(&json[..], 3).map_err(io_err("compress", &dir))?;
        write_atomically(&dir.join("repodata.json.zst"), &zst)?;
        write_atomically(&dir.join("repodata.json"), &json)?;
        Ok(())
    }

    /// Holds the subdir's publish lock (an advisory file lock) until dropped.
    pub fn lock_subdir(&self, subdir: &str) -> Result<File, ChannelError> {
        self.lock_dir(&self.subdir_path(subdir))
    }

    /// Holds the advisory lock of a directory of the channel until dropped.
    pub fn lock_dir(&self, dir: &Path) -> Result<File, ChannelError> {
        fs_err::create_dir_all(dir).map_err(|e| ChannelError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source: e,
        })?;
        let path = dir.join(".ftforge.lock");
        lock_file(&path).map_err(|(action, source)| ChannelError::Io {
            action,
            path,
            source,
        })
    }
}

/// Opens (creating) `path` and holds an exclusive advisory lock on it until the file
/// is dropped; the error says which step failed.
pub fn lock_file(path: &Path) -> Result<File, (&'static str, std::io::Error)> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| ("open", e))?;
    file.lock().map_err(|e| ("lock", e))?;
    Ok(file)
}

/// A repodata with no packages for `subdir`.
pub fn empty_repodata(subdir: &str) -> RepoData {
    serde_json::from_value(serde_json::json!({
        "info": {"subdir": subdir},
        "packages": {},
        "packages.conda": {},
        "repodata_version": 1
    }))
    .expect("a static empty repodata parses")
}

/// Writes through a temporary file in the same directory and renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ChannelError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err("create a file in", dir))?;
    tmp.write_all(bytes).map_err(io_err("write", tmp.path()))?;
    tmp.as_file().sync_data().map_err(io_err("sync", path))?;
    persist_readable(tmp, path)
}

/// Renames a finished temporary file into place, readable by everyone (0644) like any
/// file a web server or another user's conda client must read.
pub fn persist_readable(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), ChannelError> {
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io_err("set permissions of", path))?;
    tmp.persist(path).map_err(|e| ChannelError::Io {
        action: "write",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}
