//! CPython ABI tags (`cp314t`, `cp313`) and everything derived from them: directory
//! layout, executable names, build-string prefixes and conda match specs.

use std::fmt;
use std::str::FromStr;

/// The ABI of one CPython interpreter variant: `major.minor`, free-threaded or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PythonAbi {
    pub major: u32,
    pub minor: u32,
    /// Built with `--disable-gil` (PEP 703); the ABI tag carries a `t`.
    pub freethreading: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AbiError {
    #[error("`{0}` is not a CPython ABI tag (expected e.g. `cp314t` or `cp313`)")]
    BadTag(String),
    #[error("`{0}` does not start with a Python version `MAJOR.MINOR`")]
    BadVersion(String),
}

impl PythonAbi {
    pub fn new(major: u32, minor: u32, freethreading: bool) -> Self {
        Self {
            major,
            minor,
            freethreading,
        }
    }

    /// From a version string (`3.14.7`, `3.14`, `3.14.*`) and the free-threading flag.
    pub fn from_version(version: &str, freethreading: bool) -> Result<Self, AbiError> {
        let mut parts = version.trim().split('.');
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| p.parse().ok());
        match (major, minor) {
            (Some(major), Some(minor)) => Ok(Self::new(major, minor, freethreading)),
            _ => Err(AbiError::BadVersion(version.to_string())),
        }
    }

    /// From a variant value of the `python` key, as conda-forge writes it:
    /// `3.14.* *_cp314t` (the build-string glob carries the ABI), or a bare version
    /// (`3.14`), in which case `freethreading` decides.
    pub fn from_variant_spec(spec: &str, freethreading: bool) -> Result<Self, AbiError> {
        let mut words = spec.split_whitespace();
        let version = words.next().unwrap_or_default();
        if let Some(build_glob) = words.next() {
            if let Some(pos) = build_glob.rfind("cp") {
                let tag: PythonAbi = build_glob[pos..].trim_end_matches('*').parse()?;
                return Ok(tag);
            }
        }
        Self::from_version(version, freethreading)
    }

    /// `cp314t` / `cp314`.
    pub fn tag(&self) -> String {
        format!("cp{}{}{}", self.major, self.minor, self.abiflags())
    }

    /// `3.14`.
    pub fn py_ver(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// `t` for free-threaded builds, empty otherwise (sysconfig's `ABIFLAGS`).
    pub fn abiflags(&self) -> &'static str {
        if self.freethreading {
            "t"
        } else {
            ""
        }
    }

    /// `python3.14t`: the directory name under `lib/` and the executable name.
    pub fn versioned_name(&self) -> String {
        format!("python{}{}", self.py_ver(), self.abiflags())
    }

    /// `lib/python3.14t` relative to the prefix.
    pub fn stdlib_dir(&self) -> String {
        format!("lib/{}", self.versioned_name())
    }

    /// `lib/python3.14t/site-packages` relative to the prefix (CEP 17's
    /// `python_site_packages_path` for the free-threaded build).
    pub fn site_packages_dir(&self) -> String {
        format!("{}/site-packages", self.stdlib_dir())
    }

    /// `bin/python3.14t` relative to the prefix.
    pub fn executable(&self) -> String {
        format!("bin/{}", self.versioned_name())
    }

    /// `py314t`: the prefix of extension packages' build strings.
    pub fn build_string_prefix(&self) -> String {
        format!("py{}{}{}", self.major, self.minor, self.abiflags())
    }

    /// `python_abi 3.14.* *_cp314t`: the spec that pins a package to this ABI.
    pub fn python_abi_spec(&self) -> String {
        format!("python_abi {}.* *_{}", self.py_ver(), self.tag())
    }

    /// `python >=3.14,<3.15.0a0`: the version range of this ABI.
    pub fn python_range_spec(&self) -> String {
        format!(
            "python >={}.{},<{}.{}.0a0",
            self.major,
            self.minor,
            self.major,
            self.minor + 1
        )
    }

    /// `python >=3.15.0rc2,<3.16.0a0`: this ABI's range from a pre-release on.
    pub fn python_range_spec_from(&self, version: &str) -> String {
        format!("python >={version},<{}.{}.0a0", self.major, self.minor + 1)
    }

    /// The environment variables conda-build and rattler-build give build scripts for
    /// this interpreter in `prefix`. `SP_DIR` is the free-threaded site-packages on
    /// `t` builds (the bug of rattler-build#2698 / conda-build#5563 is not repeated).
    pub fn build_env(&self, prefix: &std::path::Path) -> Vec<(String, String)> {
        let p = |rel: String| prefix.join(rel).to_string_lossy().into_owned();
        vec![
            ("PYTHON".into(), p(self.executable())),
            ("PY_VER".into(), self.py_ver()),
            ("PY3K".into(), "1".into()),
            ("PY_ABIFLAGS".into(), self.abiflags().into()),
            ("ABIFLAGS".into(), self.abiflags().into()),
            (
                "PY_FREETHREADING".into(),
                if self.freethreading { "1" } else { "0" }.into(),
            ),
            ("SP_DIR".into(), p(self.site_packages_dir())),
            ("STDLIB_DIR".into(), p(self.stdlib_dir())),
        ]
    }

    /// Whether this interpreter loads extension modules built for `module`, as its
    /// import system decides from the file suffix (CPython's `_PyImport_DynLoadFiletab`):
    /// free-threaded builds take `.abi3t.so` (3.15 on) but never `.abi3.so`; GIL builds
    /// take `.abi3.so`, and `.abi3t.so` from 3.15 on (PEP 803: abi3t is a subset of
    /// abi3 that both builds can load). `Version` modules are the caller's to match.
    pub fn loads(&self, module: crate::extensions::ModuleAbi) -> bool {
        use crate::extensions::ModuleAbi;
        match module {
            ModuleAbi::Version => true,
            ModuleAbi::Abi3 => !self.freethreading,
            ModuleAbi::Abi3t => self.has_abi3t(),
        }
    }

    /// CPython 3.15 or later: the stable ABI for free-threaded builds (abi3t) exists.
    pub fn has_abi3t(&self) -> bool {
        (self.major, self.minor) >= (3, 15)
    }

    /// `freethreading` / `gil`: the variant's short name on the command line and in labels.
    pub fn variant_name(&self) -> &'static str {
        if self.freethreading {
            "freethreading"
        } else {
            "gil"
        }
    }
}

/// A pre-release version of CPython (`3.15.0rc2`, `3.15.0b1`, `3.15.0a7`): PEP 440's
/// `a`/`b`/`rc` (and `dev`) segments are the only letters a CPython version has.
pub fn is_prerelease(version: &str) -> bool {
    version.bytes().any(|b| b.is_ascii_alphabetic())
}

impl FromStr for PythonAbi {
    type Err = AbiError;
    fn from_str(tag: &str) -> Result<Self, AbiError> {
        let bad = || AbiError::BadTag(tag.to_string());
        let digits = tag.strip_prefix("cp").ok_or_else(bad)?;
        let (digits, freethreading) = match digits.strip_suffix('t') {
            Some(d) => (d, true),
            None => (digits, false),
        };
        if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let major = digits[..1].parse().map_err(|_| bad())?;
        let minor = digits[1..].parse().map_err(|_| bad())?;
        Ok(Self::new(major, minor, freethreading))
    }
}

impl fmt::Display for PythonAbi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        for tag in ["cp314t", "cp314", "cp313t", "cp313", "cp310"] {
            assert_eq!(tag.parse::<PythonAbi>().unwrap().tag(), tag);
        }
        assert!("py314".parse::<PythonAbi>().is_err());
        assert!("cp3x".parse::<PythonAbi>().is_err());
        assert!("cp".parse::<PythonAbi>().is_err());
    }

    #[test]
    fn variant_specs() {
        let ft = PythonAbi::from_variant_spec("3.14.* *_cp314t", false).unwrap();
        assert_eq!(ft, PythonAbi::new(3, 14, true));
        let gil = PythonAbi::from_variant_spec("3.13.* *_cp313", true).unwrap();
        assert_eq!(gil, PythonAbi::new(3, 13, false));
        let bare = PythonAbi::from_variant_spec("3.14.7", true).unwrap();
        assert_eq!(bare, PythonAbi::new(3, 14, true));
        assert!(PythonAbi::from_variant_spec("latest", true).is_err());
    }

    #[test]
    fn pre_releases_are_told_from_finals() {
        assert!(
            is_prerelease("3.15.0rc2") && is_prerelease("3.15.0b1") && is_prerelease("3.15.0a7")
        );
        assert!(!is_prerelease("3.14.7") && !is_prerelease("3.15.0") && !is_prerelease("3.15.*"));
    }

    #[test]
    fn which_interpreters_load_stable_abi_modules() {
        use crate::extensions::ModuleAbi::*;
        let (t314, t315) = (PythonAbi::new(3, 14, true), PythonAbi::new(3, 15, true));
        let (g314, g315) = (PythonAbi::new(3, 14, false), PythonAbi::new(3, 15, false));
        assert!(!t314.loads(Abi3) && !t315.loads(Abi3));
        assert!(!t314.loads(Abi3t) && t315.loads(Abi3t));
        assert!(g314.loads(Abi3) && g315.loads(Abi3));
        assert!(!g314.loads(Abi3t) && g315.loads(Abi3t));
        assert!(PythonAbi::new(3, 16, true).loads(Abi3t));
    }

    #[test]
    fn layout_of_the_free_threaded_build() {
        let abi = PythonAbi::new(3, 14, true);
        assert_eq!(abi.site_packages_dir(), "lib/python3.14t/site-packages");
        assert_eq!(abi.executable(), "bin/python3.14t");
        assert_eq!(abi.build_string_prefix(), "py314t");
        assert_eq!(abi.python_abi_spec(), "python_abi 3.14.* *_cp314t");
        assert_eq!(abi.python_range_spec(), "python >=3.14,<3.15.0a0");
        assert_eq!(
            PythonAbi::new(3, 15, true).python_range_spec_from("3.15.0rc2"),
            "python >=3.15.0rc2,<3.16.0a0"
        );
        let gil = PythonAbi::new(3, 13, false);
        assert_eq!(gil.site_packages_dir(), "lib/python3.13/site-packages");
        assert_eq!(gil.variant_name(), "gil");
        let env: std::collections::HashMap<_, _> = abi
            .build_env(std::path::Path::new("/p"))
            .into_iter()
            .collect();
        assert_eq!(env["SP_DIR"], "/p/lib/python3.14t/site-packages");
        assert_eq!(env["PYTHON"], "/p/bin/python3.14t");
        assert_eq!(env["PY_VER"], "3.14");
    }
}
