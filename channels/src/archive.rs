//! Safety checks on package archives before anything is extracted into an
//! environment: no absolute paths, no `..`, no links pointing outside the prefix.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Why an archive is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{archive}: {problem}")]
pub struct UnsafeArchive {
    pub archive: String,
    pub problem: String,
}

/// A path inside a package that stays inside the prefix when joined to it.
fn stays_inside(path: &Path) -> bool {
    let mut depth = 0i32;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Checks every entry of a `.conda` (or `.tar.bz2`) package.
pub fn check(package: &Path) -> Result<(), UnsafeArchive> {
    let name = package.display().to_string();
    let refuse = |problem: String| UnsafeArchive {
        archive: name.clone(),
        problem,
    };
    let file = std::fs::File::open(package).map_err(|e| refuse(e.to_string()))?;
    if name.ends_with(".tar.bz2") {
        return check_tar(bzip2_reader(file), &refuse);
    }
    let mut outer =
        zip::ZipArchive::new(file).map_err(|e| refuse(format!("not a .conda archive: {e}")))?;
    for i in 0..outer.len() {
        let member = outer.by_index(i).map_err(|e| refuse(e.to_string()))?;
        let member_name = member.name().map(|n| n.to_string()).unwrap_or_default();
        if !member_name.ends_with(".tar.zst") {
            continue;
        }
        let decoder = zstd::stream::read::Decoder::new(member)
            .map_err(|e| refuse(format!("{member_name}: {e}")))?;
        check_tar(decoder, &refuse)?;
    }
    Ok(())
}

fn bzip2_reader(file: std::fs::File) -> impl Read {
    bzip2::read::BzDecoder::new(file)
}

fn check_tar(
    reader: impl Read,
    refuse: &dyn Fn(String) -> UnsafeArchive,
) -> Result<(), UnsafeArchive> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| refuse(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| refuse(e.to_string()))?;
        let path: PathBuf = entry
            .path()
            .map_err(|e| refuse(e.to_string()))?
            .into_owned();
        if !stays_inside(&path) {
            return Err(refuse(format!(
                "entry `{}` would be written outside the environment",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(|e| refuse(e.to_string()))?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let resolved = if kind.is_symlink() {
                path.parent().unwrap_or(Path::new("")).join(&target)
            } else {
                target.clone()
            };
            if target.is_absolute() || !stays_inside(&resolved) {
                return Err(refuse(format!(
                    "link `{}` -> `{}` points outside the environment",
                    path.display(),
                    target.display()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_paths() {
        assert!(stays_inside(Path::new("lib/python3.14t/x.py")));
        assert!(stays_inside(Path::new("bin/../lib/x")));
        assert!(!stays_inside(Path::new("../etc/passwd")));
        assert!(!stays_inside(Path::new("lib/../../x")));
        assert!(!stays_inside(Path::new("/etc/passwd")));
    }
}
