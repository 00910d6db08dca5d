//! What a source distribution holds, read straight from its archive (`.tar.gz`,
//! `.tar.bz2`, `.zip`) without unpacking it: the file list and the few small files
//! recipe generation reads (PKG-INFO, pyproject.toml, egg-info, setup.py, Cargo.toml,
//! meson.build, CMakeLists.txt, each `.pyx`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::GenerateError;

/// Files kept in memory, by path relative to the sdist's top directory.
const MAX_KEPT_FILE: u64 = 1 << 20;

/// The contents of an sdist (paths relative to its single top-level directory).
#[derive(Debug, Default)]
pub struct Sdist {
    /// The archive's file name (for messages).
    pub filename: String,
    /// Every regular file.
    pub files: Vec<String>,
    /// The text of the files generation reads (see [`keeps`]).
    pub texts: BTreeMap<String, String>,
}

/// Which files' text is kept: metadata and build files at the top (the egg-info also
/// under `src/`, `lib/` or `python/`),
/// and the head of Cython sources (for `language = c++`).
fn keeps(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let depth = path.matches('/').count();
    match name {
        "PKG-INFO" | "pyproject.toml" | "setup.py" | "Cargo.toml" | "meson.build"
        | "CMakeLists.txt" => depth == 0,
        "top_level.txt" | "requires.txt" => {
            let parent = path.rsplit('/').nth(1).unwrap_or_default();
            parent.ends_with(".egg-info")
                && (depth == 1
                    || (depth == 2
                        && super::metadata::SOURCE_ROOTS
                            .iter()
                            .any(|r| path.starts_with(&format!("{r}/")))))
        }
        _ => name.ends_with(".pyx") || name.ends_with(".pyx.in"),
    }
}

impl Sdist {
    /// Reads the archive at `path`; `filename` tells its kind.
    pub fn read(path: &Path, filename: &str) -> Result<Self, GenerateError> {
        let lower = filename.to_ascii_lowercase();
        let fail = |message: String| GenerateError::Archive {
            path: PathBuf::from(filename),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| GenerateError::Io {
            action: "read",
            path: path.into(),
            source: e,
        })?;
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        if lower.ends_with(".zip") {
            let mut zip = zip::ZipArchive::new(file).map_err(|e| fail(e.to_string()))?;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| fail(e.to_string()))?;
                if !entry.is_file() {
                    continue;
                }
                let name = entry.name().map_err(|e| fail(e.to_string()))?.to_string();
                let text = read_text(&name, entry.size(), &mut entry)?;
                entries.push((name, text));
            }
        } else {
            if lower.ends_with(".tar.bz2") {
                return Err(fail(
                    "bzip2 sdists are not read; the index lists no .tar.gz or .zip for it".into(),
                ));
            }
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
            for entry in archive.entries().map_err(|e| fail(e.to_string()))? {
                let mut entry = entry.map_err(|e| fail(e.to_string()))?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let name = entry
                    .path()
                    .map_err(|e| fail(e.to_string()))?
                    .to_string_lossy()
                    .into_owned();
                let size = entry.size();
                let text = read_text(&name, size, &mut entry)?;
                entries.push((name, text));
            }
        }
        // Everything sits under one directory (`name-version/`): strip it.
        let top = entries
            .first()
            .and_then(|(n, _)| n.split_once('/').map(|(t, _)| t.to_string()))
            .filter(|t| entries.iter().all(|(n, _)| n.starts_with(&format!("{t}/"))));
        let mut sdist = Sdist {
            filename: filename.to_string(),
            ..Default::default()
        };
        for (name, text) in entries {
            let rel = match &top {
                Some(t) => name[t.len() + 1..].to_string(),
                None => name.trim_start_matches("./").to_string(),
            };
            if rel.is_empty() {
                continue;
            }
            if let Some(text) = text {
                if keeps(&rel) {
                    sdist.texts.insert(rel.clone(), text);
                }
            }
            sdist.files.push(rel);
        }
        sdist.files.sort();
        Ok(sdist)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.texts.get(path).map(String::as_str)
    }

    /// The first kept file whose path satisfies `pred` (sorted order).
    pub fn find_text(&self, pred: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
        self.texts
            .iter()
            .find(|(p, _)| pred(p))
            .map(|(p, t)| (p.as_str(), t.as_str()))
    }
}

/// Reads an entry's text when generation may need it (by name, from the full path
/// below the top directory: `keeps` is applied again after stripping it).
fn read_text(
    name: &str,
    size: u64,
    reader: &mut dyn Read,
) -> Result<Option<String>, GenerateError> {
    let rel = name.split_once('/').map(|(_, r)| r).unwrap_or(name);
    if size > MAX_KEPT_FILE || !(keeps(rel) || keeps(name)) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    reader
        .take(MAX_KEPT_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| GenerateError::Archive {
            path: PathBuf::from(name),
            message: e.to_string(),
        })?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_metadata_and_build_files() {
        assert!(keeps("PKG-INFO"));
        assert!(!keeps("sub/PKG-INFO"));
        assert!(keeps("src/markupsafe.egg-info/top_level.txt"));
        assert!(keeps("markupsafe.egg-info/requires.txt"));
        assert!(!keeps("docs/x.egg-info/top_level.txt"));
        assert!(keeps("src/frozenlist/_frozenlist.pyx"));
        assert!(!keeps("src/markupsafe/_speedups.c"));
    }

    #[test]
    fn reads_a_tar_gz_sdist_without_its_top_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo-1.0.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(gz);
        for (name, body) in [
            ("demo-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: demo\n"),
            ("demo-1.0/src/demo/__init__.py", ""),
            ("demo-1.0/src/demo/_speed.c", "int x;"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, body.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        let sdist = Sdist::read(&path, "demo-1.0.tar.gz").unwrap();
        assert_eq!(
            sdist.files,
            vec!["PKG-INFO", "src/demo/__init__.py", "src/demo/_speed.c"]
        );
        assert!(sdist.text("PKG-INFO").unwrap().contains("Name: demo"));
        assert!(sdist.text("src/demo/_speed.c").is_none());
    }
}
