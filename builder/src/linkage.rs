//! Dynamic linking of the ELF files a build adds: rpaths made `$ORIGIN`-relative (so a
//! package works wherever it is installed), every `DT_NEEDED` resolved inside the
//! package, its host packages or the C runtime (`overlinking_behavior: error`), and the
//! oldest glibc the files run on (the newest `GLIBC_x.y` symbol version they need),
//! which becomes a `__glibc >=x.y` dependency. docs/recipes.md, "Dynamic linking".

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use goblin::elf::Elf;

use crate::recipe::{DynamicLinking, OverlinkingBehavior};

/// Libraries of the C runtime (the glibc family): a package may need them from the
/// machine, and only them. The `__glibc` dependency says which glibc.
pub const C_RUNTIME: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
];

/// Whether `library` (a `DT_NEEDED` name) belongs to the C runtime.
pub fn is_c_runtime(library: &str) -> bool {
    C_RUNTIME.contains(&library)
}

/// A glibc symbol version (`GLIBC_2.34` → 2.34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct GlibcVersion {
    pub major: u32,
    pub minor: u32,
}

impl GlibcVersion {
    fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("GLIBC_")?;
        let mut parts = rest.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Self { major, minor })
    }

    /// The dependency a package needing this glibc declares.
    pub fn dependency(&self) -> String {
        format!("__glibc >={self}")
    }
}

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What one ELF file says about its linking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ElfLinks {
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH` and `DT_RUNPATH` entries, in order.
    pub rpaths: Vec<String>,
    /// The newest `GLIBC_x.y` version it needs.
    pub glibc: Option<GlibcVersion>,
}

/// Reads the dynamic linking of `path`; `None` for anything that is not a dynamically
/// linked ELF file (scripts, data, static archives, object files).
pub fn read_elf(path: &Path) -> Option<ElfLinks> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() < 64 {
        return None;
    }
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        std::fs::File::open(path)
            .ok()?
            .read_exact(&mut magic)
            .ok()?;
    }
    if &magic != b"\x7fELF" {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let elf = Elf::parse(&bytes).ok()?;
    elf.dynamic.as_ref()?;
    let mut glibc = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                if let Some(version) = elf
                    .dynstrtab
                    .get_at(aux.vna_name)
                    .and_then(GlibcVersion::parse)
                {
                    glibc = glibc.max(Some(version));
                }
            }
        }
    }
    let split = |entries: &[&str]| -> Vec<String> {
        entries
            .iter()
            .flat_map(|e| e.split(':'))
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect()
    };
    let mut rpaths = split(&elf.rpaths);
    rpaths.extend(split(&elf.runpaths));
    Some(ElfLinks {
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpaths,
        glibc,
    })
}

/// What relinking found: the glibc floor of the files and the libraries that resolve
/// nowhere a package may take them from.
#[derive(Debug, Clone, Default)]
pub struct Linkage {
    pub glibc: Option<GlibcVersion>,
    /// `file: needs LIB` lines for libraries found neither in the package, its host
    /// packages nor the C runtime (empty unless checked).
    pub overlinked: Vec<String>,
    /// ELF files whose rpath was rewritten.
    pub relinked: usize,
}

/// Errors of relinking: patchelf missing or failing.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{file}: patchelf is needed to rewrite its rpath to `{rpath}`, and it is not on PATH")]
    NoPatchelf { file: PathBuf, rpath: String },
    #[error("{file}: `patchelf --set-rpath {rpath}` failed: {message}")]
    Patchelf {
        file: PathBuf,
        rpath: String,
        message: String,
    },
}

impl LinkError {
    pub fn help(&self) -> &'static str {
        match self {
            LinkError::NoPatchelf { .. } => "install patchelf (on Debian: apt-get install patchelf); ftforge rewrites rpaths with it, as conda-build and rattler-build do",
            LinkError::Patchelf { .. } => "see patchelf's message; `build.dynamic_linking.rpaths` sets the directories the rpath points to",
        }
    }
}

/// The rpath entry, relative to `$ORIGIN`, that points from `file`'s folder to `dir`
/// (both relative to the prefix).
fn origin_relative(file: &Path, dir: &Path) -> String {
    let from: Vec<Component> = file
        .parent()
        .unwrap_or(Path::new(""))
        .components()
        .collect();
    let to: Vec<Component> = dir.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c.as_os_str());
    }
    if rel.as_os_str().is_empty() {
        "$ORIGIN".into()
    } else {
        format!("$ORIGIN/{}", rel.display())
    }
}

/// Rewrites the rpaths of the ELF files among `files` (relative to `prefix`): entries
/// inside the prefix and the recipe's `rpaths` (default `lib/`) become
/// `$ORIGIN`-relative, entries outside the prefix are dropped; then checks where each
/// `DT_NEEDED` resolves, and reads the glibc floor.
pub fn relink(
    prefix: &Path,
    files: &[PathBuf],
    config: &DynamicLinking,
) -> Result<Linkage, LinkError> {
    let mut linkage = Linkage::default();
    let prefix_str = prefix.to_string_lossy().into_owned();
    let configured: Vec<PathBuf> = config
        .rpaths
        .clone()
        .unwrap_or_else(|| vec!["lib/".into()])
        .iter()
        .map(|r| PathBuf::from(r.trim_end_matches('/')))
        .collect();
    for rel in files {
        let path = prefix.join(rel);
        let Some(links) = read_elf(&path) else {
            continue;
        };
        linkage.glibc = linkage.glibc.max(links.glibc);
        let needs_libraries = links.needed.iter().any(|n| !is_c_runtime(n));
        let mut dirs: Vec<PathBuf> = Vec::new();
        for entry in &links.rpaths {
            if let Some(inside) = entry.strip_prefix(&prefix_str) {
                dirs.push(PathBuf::from(inside.trim_start_matches('/')));
            } else if let Some(origin) = entry.strip_prefix("$ORIGIN") {
                let base = rel.parent().unwrap_or(Path::new(""));
                dirs.push(normalize(&base.join(origin.trim_start_matches('/'))));
            }
        }
        if needs_libraries {
            dirs.extend(configured.iter().cloned());
        }
        let mut seen = BTreeSet::new();
        dirs.retain(|d| seen.insert(d.clone()));
        let rpath = dirs
            .iter()
            .map(|d| origin_relative(rel, d))
            .collect::<Vec<_>>()
            .join(":");
        if rpath != links.rpaths.join(":") {
            set_rpath(&path, &rpath)?;
            linkage.relinked += 1;
        }
        if config.overlinking_behavior == OverlinkingBehavior::Error {
            for library in &links.needed {
                let found = is_c_runtime(library)
                    || config
                        .missing_dso_allowlist
                        .iter()
                        .any(|p| glob::Pattern::new(p).is_ok_and(|p| p.matches(library)))
                    || dirs.iter().any(|d| prefix.join(d).join(library).exists());
                if !found {
                    linkage
                        .overlinked
                        .push(format!("{}: needs {library}", rel.display()));
                }
            }
        }
    }
    Ok(linkage)
}

/// `a/b/../c` → `a/c` (lexically; rpaths are not resolved through symlinks).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn set_rpath(file: &Path, rpath: &str) -> Result<(), LinkError> {
    let mut cmd = Command::new("patchelf");
    if rpath.is_empty() {
        cmd.arg("--remove-rpath");
    } else {
        // DT_RPATH (not RUNPATH): it also applies to the libraries a library loads, and
        // LD_LIBRARY_PATH cannot override it — as conda-build sets it.
        cmd.args(["--force-rpath", "--set-rpath", rpath]);
    }
    let out = cmd.arg(file).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LinkError::NoPatchelf {
                file: file.into(),
                rpath: rpath.into(),
            }
        } else {
            LinkError::Patchelf {
                file: file.into(),
                rpath: rpath.into(),
                message: e.to_string(),
            }
        }
    })?;
    if !out.status.success() {
        return Err(LinkError::Patchelf {
            file: file.into(),
            rpath: rpath.into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_relative_paths() {
        assert_eq!(
            origin_relative(Path::new("bin/python3.14t"), Path::new("lib")),
            "$ORIGIN/../lib"
        );
        assert_eq!(
            origin_relative(Path::new("lib/libssl.so.3"), Path::new("lib")),
            "$ORIGIN"
        );
        assert_eq!(
            origin_relative(
                Path::new("lib/python3.14t/lib-dynload/_ssl.so"),
                Path::new("lib")
            ),
            "$ORIGIN/../.."
        );
    }

    #[test]
    fn glibc_versions_parse_and_order() {
        let v = |s| GlibcVersion::parse(s).unwrap();
        assert!(v("GLIBC_2.34") > v("GLIBC_2.4"));
        assert_eq!(v("GLIBC_2.2.5").to_string(), "2.2");
        assert_eq!(GlibcVersion::parse("GLIBC_PRIVATE"), None);
        assert_eq!(v("GLIBC_2.17").dependency(), "__glibc >=2.17");
    }

    /// The test binary itself: dynamically linked against the C runtime, with a glibc floor.
    #[test]
    fn reads_a_real_elf_file() {
        let exe = std::env::current_exe().unwrap();
        let links = read_elf(&exe).expect("the test binary is a dynamic ELF file");
        assert!(links.needed.iter().any(|n| n == "libc.so.6"), "{links:?}");
        assert!(links.glibc.is_some_and(|g| g.major == 2), "{links:?}");
        assert!(read_elf(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("Cargo.toml")
                .as_path()
        )
        .is_none());
    }
}
