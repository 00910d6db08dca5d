//! The compiler cache of build scripts: ccache, when the machine has it, shared by every
//! build, so the second interpreter's build of a package (3.14 after 3.14t) compiles
//! again only what depends on Python — a C++ core such as grpcio's comes from the cache.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Compiler names build systems call (setuptools takes `CC` from sysconfig, CMake and
/// meson `cc`/`c++`): each is a link to ccache in [`CompilerCache::shims`], which runs
/// the next program of that name on PATH.
/// Only the names the machine has a compiler for get a link, so `command -v clang` in a
/// build script still says whether there is a clang.
const COMPILERS: &[&str] = &["cc", "c++", "gcc", "g++", "clang", "clang++"];

/// ccache as the build scripts use it.
#[derive(Debug, Clone)]
pub struct CompilerCache {
    /// The ccache program.
    pub program: PathBuf,
    /// Where its objects are kept (`CCACHE_DIR`).
    pub dir: PathBuf,
    /// Directory of compiler-named links to `program`, first on the build script's PATH.
    pub shims: PathBuf,
}

impl CompilerCache {
    /// ccache from PATH with its cache under `cache_dir` (the user's `CCACHE_DIR` when
    /// set), unless `FTFORGE_COMPILER_CACHE` is `off` (or `0`) or the user disabled ccache
    /// (`CCACHE_DISABLE`); None when there is no ccache or its links cannot be made (then
    /// builds run without it).
    pub fn from_env(cache_dir: &Path) -> Option<Self> {
        if std::env::var("FTFORGE_COMPILER_CACHE").is_ok_and(|v| v == "off" || v == "0")
            || std::env::var_os("CCACHE_DISABLE").is_some()
        {
            return None;
        }
        let program = crate::toolchain::program_on_path("ccache")?;
        let dir = std::env::var_os("CCACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| cache_dir.join("compiler-cache"));
        // ccache refuses a relative CCACHE_DIR, and a relative PATH entry would move
        // with the build script's directory.
        let dir = std::path::absolute(dir).ok()?;
        let shims = std::path::absolute(cache_dir.join("compiler-cache-bin")).ok()?;
        let names: Vec<&str> = COMPILERS
            .iter()
            .copied()
            .filter(|name| crate::toolchain::program_on_path(name).is_some())
            .collect();
        Self::make_shims(&program, &shims, &names).ok()?;
        Some(Self {
            program,
            dir,
            shims,
        })
    }

    /// The links `names` to `program` in `shims` (kept when they point there already;
    /// several processes and threads may make them at once: each renames its own link
    /// into place), and no other link of [`COMPILERS`].
    fn make_shims(program: &Path, shims: &Path, names: &[&str]) -> std::io::Result<()> {
        std::fs::create_dir_all(shims)?;
        for name in COMPILERS.iter().filter(|n| !names.contains(n)) {
            match std::fs::remove_file(shims.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        for name in names {
            let link = shims.join(name);
            if std::fs::read_link(&link).is_ok_and(|target| target == program) {
                continue;
            }
            let tmp = shims.join(format!(
                ".{name}.{}.{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(program, &tmp)?;
            std::fs::rename(&tmp, &link)?;
        }
        Ok(())
    }

    /// The variables of a build script under `work_root` (absolute, symlinks resolved,
    /// as the compiler sees the paths): paths below it are hashed relative to the
    /// compiler's directory (`CCACHE_BASEDIR`) and the directory itself is not hashed
    /// (`CCACHE_NOHASHDIR`), so builds of one package in two work directories share
    /// objects; debug information may then name the other build's directory.
    pub fn env(&self, work_root: &Path) -> Vec<(&'static str, OsString)> {
        vec![
            ("CCACHE_DIR", self.dir.clone().into()),
            ("CCACHE_BASEDIR", work_root.into()),
            ("CCACHE_NOHASHDIR", "true".into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_link_the_compiler_names_to_ccache_and_are_made_again_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let program = tmp.path().join("ccache");
        std::fs::write(&program, "").unwrap();
        let shims = tmp.path().join("bin");
        CompilerCache::make_shims(&program, &shims, COMPILERS).unwrap();
        CompilerCache::make_shims(&program, &shims, COMPILERS).unwrap();
        for name in COMPILERS {
            assert_eq!(std::fs::read_link(shims.join(name)).unwrap(), program);
        }
        assert_eq!(std::fs::read_dir(&shims).unwrap().count(), COMPILERS.len());
        // A compiler gone from the machine loses its link.
        CompilerCache::make_shims(&program, &shims, &["cc", "gcc"]).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&shims)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["cc", "gcc"]);
    }
}
