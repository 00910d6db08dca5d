//! An sdist's metadata: `PKG-INFO` (core metadata, RFC 822 headers), `pyproject.toml`
//! (`[build-system]`, `[project]`, `[tool.maturin]`), the egg-info's `requires.txt`
//! and `top_level.txt`; and PEP 508 markers evaluated for the interpreters ftforge
//! ships.

use std::collections::BTreeSet;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree, Requirement};
use serde::Deserialize;

use super::sdist::Sdist;
use super::GenerateError;

/// One interpreter markers are evaluated for (CPython on this machine's Linux).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetInterpreter {
    /// `3.14.7`
    pub full_version: String,
}

impl TargetInterpreter {
    /// `3.14`
    pub fn minor(&self) -> String {
        self.full_version
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The interpreters ftforge ships (`recipes/python/variants.yaml`, compiled in),
    /// oldest first, each version once (free-threaded or not does not enter markers).
    pub fn shipped() -> Vec<TargetInterpreter> {
        #[derive(Deserialize)]
        struct Variants {
            python: Vec<String>,
        }
        let text = include_str!("../../../recipes/python/variants.yaml");
        let parsed: Variants =
            serde_yaml::from_str(text).expect("the shipped interpreter variants parse");
        let mut versions: Vec<Version> = parsed
            .python
            .iter()
            .filter_map(|v| Version::from_str(v).ok())
            .collect();
        versions.sort();
        versions.dedup();
        versions
            .into_iter()
            .map(|v| TargetInterpreter {
                full_version: v.to_string(),
            })
            .collect()
    }

    /// The PEP 508 marker environment: CPython on Linux on this machine's architecture.
    pub fn marker_environment(&self) -> Result<MarkerEnvironment, GenerateError> {
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &self.full_version,
            os_name: "posix",
            platform_machine: std::env::consts::ARCH,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &self.full_version,
            python_version: &self.minor(),
            sys_platform: "linux",
        })
        .map_err(|e| GenerateError::Target {
            version: self.full_version.clone(),
            message: e.to_string(),
        })
    }
}

/// For which of the target interpreters something holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "for", content = "python")]
pub enum Applies {
    All,
    /// Only these Python versions (`3.13`, …), a proper non-empty subset.
    Some(Vec<String>),
    Never,
}

impl Applies {
    /// Evaluates a marker for every target.
    pub fn of_marker(
        marker: &MarkerTree,
        targets: &[(TargetInterpreter, MarkerEnvironment)],
    ) -> Self {
        Self::from_flags(
            targets
                .iter()
                .map(|(t, env)| (t, marker.evaluate(env, &[])))
                .collect(),
        )
    }

    /// Whether a `Requires-Python` admits each target.
    pub fn of_requires_python(
        specifiers: &VersionSpecifiers,
        targets: &[(TargetInterpreter, MarkerEnvironment)],
    ) -> Self {
        Self::from_flags(
            targets
                .iter()
                .map(|(t, _)| {
                    let ok = Version::from_str(&t.full_version)
                        .map(|v| specifiers.contains(&v))
                        .unwrap_or(true);
                    (t, ok)
                })
                .collect(),
        )
    }

    fn from_flags(flags: Vec<(&TargetInterpreter, bool)>) -> Self {
        let yes: Vec<String> = flags
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(t, _)| t.minor())
            .collect();
        if yes.len() == flags.len() {
            Applies::All
        } else if yes.is_empty() {
            Applies::Never
        } else {
            Applies::Some(yes)
        }
    }

    /// Holds for the interpreter `minor` (`3.14`).
    pub fn holds_for(&self, minor: &str) -> bool {
        match self {
            Applies::All => true,
            Applies::Some(versions) => versions.iter().any(|v| v == minor),
            Applies::Never => false,
        }
    }

    /// The recipe condition for `Some`: `python is startingwith("3.13.")` (the variant
    /// value `3.13.* *_cp313t` starts with it; rattler-build and ftforge both have
    /// minijinja's `startingwith` test).
    pub fn condition(versions: &[String]) -> String {
        versions
            .iter()
            .map(|v| format!("python is startingwith(\"{v}.\")"))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// The fields of core metadata recipe generation uses.
#[derive(Debug, Default, Clone)]
pub struct CoreMetadata {
    pub metadata_version: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub summary: Option<String>,
    pub license: Option<String>,
    pub license_expression: Option<String>,
    pub classifiers: Vec<String>,
    pub home_page: Option<String>,
    /// `(label, url)` from `Project-URL: label, url`.
    pub project_urls: Vec<(String, String)>,
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    /// Fields marked `Dynamic` (Metadata 2.2): their sdist values may not be final.
    pub dynamic: Vec<String>,
}

impl CoreMetadata {
    /// Parses `PKG-INFO` (RFC 822 headers; the body is the description).
    pub fn parse(text: &str, sdist: &str) -> Result<Self, GenerateError> {
        let (headers, _) =
            mailparse::parse_headers(text.as_bytes()).map_err(|e| GenerateError::Metadata {
                sdist: sdist.to_string(),
                file: "PKG-INFO".into(),
                message: e.to_string(),
            })?;
        let mut meta = CoreMetadata::default();
        for header in headers {
            let value = header.get_value().trim().to_string();
            let one = || (!value.is_empty()).then(|| value.clone());
            match header.get_key().to_ascii_lowercase().as_str() {
                "metadata-version" => meta.metadata_version = one(),
                "name" => meta.name = one(),
                "version" => meta.version = one(),
                "summary" => meta.summary = one(),
                // Kept with its line breaks: a pasted license text is not a license name.
                "license" => {
                    meta.license = one().map(|_| {
                        String::from_utf8_lossy(header.get_value_raw())
                            .trim()
                            .to_string()
                    })
                }
                "license-expression" => meta.license_expression = one(),
                "classifier" => meta.classifiers.push(value),
                "home-page" => meta.home_page = one().filter(|v| v != "UNKNOWN"),
                "project-url" => {
                    if let Some((label, url)) = value.split_once(',') {
                        meta.project_urls
                            .push((label.trim().to_string(), url.trim().to_string()));
                    }
                }
                "requires-dist" => meta.requires_dist.push(value),
                "requires-python" => meta.requires_python = one(),
                "dynamic" => meta.dynamic.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        Ok(meta)
    }

    /// An SPDX expression for `about.license` (rattler-build accepts nothing else):
    /// `License-Expression`; else `License` when it is one (not a license's name or
    /// pasted text); else the package's only `License ::` classifier when it names
    /// exactly one SPDX license ([`CLASSIFIER_SPDX`]). `None` otherwise.
    pub fn license(&self) -> Option<String> {
        let spdx = |s: &str| {
            let s = s.trim();
            (!s.is_empty() && spdx::Expression::parse(s).is_ok()).then(|| s.to_string())
        };
        if let Some(expr) = self.license_expression.as_deref().and_then(spdx) {
            return Some(expr);
        }
        if let Some(license) = self.license.as_deref().and_then(spdx) {
            return Some(license);
        }
        let classifiers: Vec<&str> = self
            .classifiers
            .iter()
            .filter_map(|c| c.strip_prefix("License ::"))
            .map(|c| c.rsplit("::").next().unwrap_or(c).trim())
            .collect();
        match classifiers.as_slice() {
            [one] => CLASSIFIER_SPDX
                .iter()
                .find(|(name, _)| name == one)
                .map(|(_, id)| id.to_string()),
            _ => None,
        }
    }

    /// `Home-page`, else the `Project-URL` labelled homepage/home/source/repository.
    pub fn homepage(&self) -> Option<String> {
        self.home_page
            .clone()
            .or_else(|| self.url_labelled(&["homepage", "home", "source", "repository"]))
    }

    /// The first `Project-URL` whose label (PEP 753 normalized: lower case, no
    /// punctuation or spaces) is one of `labels`, in that order of preference.
    pub fn url_labelled(&self, labels: &[&str]) -> Option<String> {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        labels.iter().find_map(|wanted| {
            self.project_urls
                .iter()
                .find(|(l, _)| norm(l) == *wanted)
                .map(|(_, u)| u.clone())
        })
    }

    pub fn is_dynamic(&self, field: &str) -> bool {
        self.dynamic.iter().any(|d| d == field)
    }
}

/// Trove license classifiers that name exactly one SPDX license (ambiguous ones such
/// as "BSD License" or "Apache Software License" are not here).
pub const CLASSIFIER_SPDX: [(&str, &str); 12] = [
    ("MIT License", "MIT"),
    ("MIT No Attribution License (MIT-0)", "MIT-0"),
    ("ISC License (ISCL)", "ISC"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("Python Software Foundation License", "PSF-2.0"),
    ("The Unlicense (Unlicense)", "Unlicense"),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
    ("zlib/libpng License", "Zlib"),
    ("GNU General Public License v2 (GPLv2)", "GPL-2.0-only"),
    ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
    (
        "GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
    ),
    (
        "GNU Lesser General Public License v3 (LGPLv3)",
        "LGPL-3.0-only",
    ),
];

/// The parts of `pyproject.toml` generation reads.
#[derive(Debug, Default, Deserialize)]
pub struct PyProject {
    #[serde(rename = "build-system")]
    pub build_system: Option<BuildSystem>,
    pub project: Option<ProjectTable>,
    pub tool: Option<ToolTable>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BuildSystem {
    pub requires: Option<Vec<String>>,
    #[serde(rename = "build-backend")]
    pub build_backend: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ProjectTable {
    pub dependencies: Option<Vec<String>>,
    #[serde(default)]
    pub dynamic: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ToolTable {
    pub maturin: Option<MaturinTable>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MaturinTable {
    #[serde(rename = "module-name")]
    pub module_name: Option<String>,
    /// Packages maturin installs besides the module's own (`python-packages`).
    #[serde(rename = "python-packages", default)]
    pub python_packages: Vec<String>,
}

impl PyProject {
    pub fn parse(text: &str, sdist: &str) -> Result<Self, GenerateError> {
        toml::from_str(text).map_err(|e| GenerateError::Metadata {
            sdist: sdist.to_string(),
            file: "pyproject.toml".into(),
            message: e.to_string(),
        })
    }

    /// `[build-system] requires`, or setuptools' legacy defaults when the table or
    /// the key is absent (PEP 518).
    pub fn build_requires(&self) -> (Vec<String>, bool) {
        match self.build_system.as_ref().and_then(|b| b.requires.clone()) {
            Some(r) => (r, false),
            None => (vec!["setuptools".into(), "wheel".into()], true),
        }
    }

    pub fn build_backend(&self) -> Option<&str> {
        self.build_system
            .as_ref()
            .and_then(|b| b.build_backend.as_deref())
    }
}

/// Where the run requirements were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequirementsSource {
    /// `Requires-Dist` in PKG-INFO.
    PkgInfo,
    /// `[project] dependencies` in pyproject.toml.
    Pyproject,
    /// The egg-info's `requires.txt`.
    RequiresTxt,
    /// None of them lists any.
    None,
}

/// The run requirements as written (PEP 508 strings): PKG-INFO's `Requires-Dist`;
/// if it has none, a static `[project] dependencies`; if none, the egg-info's
/// `requires.txt` (its unnamed section and `[:marker]` sections).
pub fn run_requirement_texts(
    meta: &CoreMetadata,
    pyproject: &PyProject,
    sdist: &Sdist,
) -> (Vec<String>, RequirementsSource) {
    if !meta.requires_dist.is_empty() {
        return (meta.requires_dist.clone(), RequirementsSource::PkgInfo);
    }
    if let Some(project) = &pyproject.project {
        if let Some(deps) = &project.dependencies {
            if !project.dynamic.iter().any(|d| d == "dependencies") && !deps.is_empty() {
                return (deps.clone(), RequirementsSource::Pyproject);
            }
        }
    }
    if let Some((_, text)) = sdist.find_text(|p| p.ends_with(".egg-info/requires.txt")) {
        let reqs = requires_txt(text);
        if !reqs.is_empty() {
            return (reqs, RequirementsSource::RequiresTxt);
        }
    }
    (Vec::new(), RequirementsSource::None)
}

/// setuptools' `requires.txt`: lines before any section, and `[:MARKER]` sections as
/// `REQ; MARKER`; `[extra]` and `[extra:MARKER]` sections are extras (left out).
fn requires_txt(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut section: Option<Option<String>> = Some(None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = match name.split_once(':') {
                Some(("", marker)) => Some(Some(marker.to_string())),
                _ => None,
            };
            continue;
        }
        match &section {
            Some(None) => out.push(line.to_string()),
            Some(Some(marker)) => out.push(format!("{line}; {marker}")),
            None => {}
        }
    }
    out
}

/// Parses PEP 508 strings read from `file` of the sdist.
pub fn parse_requirements(
    texts: &[String],
    sdist: &str,
    file: &str,
) -> Result<Vec<Requirement>, GenerateError> {
    texts
        .iter()
        .map(|t| {
            Requirement::from_str(t).map_err(|e| GenerateError::Metadata {
                sdist: sdist.to_string(),
                file: file.to_string(),
                message: format!("`{t}` is not a PEP 508 requirement: {e}"),
            })
        })
        .collect()
}

/// Folders packages are commonly kept in below the sdist's top (`package_dir`,
/// maturin's `python-source`).
pub const SOURCE_ROOTS: [&str; 3] = ["src", "lib", "python"];

/// Folders that are never installed (compared lower-case); any folder whose name
/// starts with `test` counts too (`tests`, `testing`, `test cases`, `testdata`).
const NOT_INSTALLED: [&str; 10] = [
    "docs",
    "doc",
    "examples",
    "example",
    "benchmarks",
    "benchmark",
    "bench",
    "build",
    "tools",
    "scripts",
];

fn uninstalled_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("test") || NOT_INSTALLED.contains(&lower.as_str())
}

/// Whether a path lies in a folder that is never installed (tests, docs, examples).
pub fn in_uninstalled_folder(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts.iter().any(|p| uninstalled_name(p))
}

/// How the import names were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportsSource {
    /// The egg-info's `top_level.txt`.
    TopLevelTxt,
    /// Folders with `__init__.py` at the top of the sdist or under `src/`, `lib/` or
    /// `python/` (and, for maturin, `[tool.maturin] module-name` or Cargo.toml's
    /// `[lib] name`; for meson, its top-level `extension_module`s; else a single
    /// `src/NAME.py`, or a top-level `NAME.py` named like the project).
    Folders,
    /// Nothing found.
    None,
}

/// The top-level import names of what the sdist installs.
pub fn import_names(
    sdist: &Sdist,
    pyproject: &PyProject,
    project: &str,
) -> (Vec<String>, ImportsSource) {
    let valid = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    if let Some((_, text)) = sdist.find_text(|p| p.ends_with(".egg-info/top_level.txt")) {
        let names: BTreeSet<String> = text
            .lines()
            .map(str::trim)
            .filter(|n| valid(n))
            .map(String::from)
            .collect();
        // top_level.txt also lists modules generated at build time (pynacl's cffi-made
        // `_sodium`, which lands inside `nacl/`): keep the names with Python sources in
        // the sdist; the judge imports every extension module the package installs.
        let has_source = |name: &String| {
            std::iter::once("").chain(SOURCE_ROOTS).any(|root| {
                let at = |rest: String| {
                    let path = if root.is_empty() {
                        rest
                    } else {
                        format!("{root}/{rest}")
                    };
                    sdist.files.contains(&path)
                };
                at(format!("{name}/__init__.py")) || at(format!("{name}.py"))
            })
        };
        let sourced: BTreeSet<String> = names.iter().filter(|n| has_source(n)).cloned().collect();
        let names = if sourced.is_empty() { names } else { sourced };
        if !names.is_empty() {
            return (names.into_iter().collect(), ImportsSource::TopLevelTxt);
        }
    }
    // Package folders under the first of src/, lib/, python/ that has any (a src
    // layout installs only from there), else at the top.
    let packages_in = |root: &str| -> BTreeSet<String> {
        sdist
            .files
            .iter()
            .filter_map(|f| {
                let rel = if root.is_empty() {
                    f.as_str()
                } else {
                    f.strip_prefix(root)?.strip_prefix('/')?
                };
                let (dir, file) = rel.split_once('/')?;
                (file == "__init__.py" && valid(dir) && !uninstalled_name(dir))
                    .then(|| dir.to_string())
            })
            .collect()
    };
    let mut names = SOURCE_ROOTS
        .iter()
        .map(|r| packages_in(r))
        .find(|found| !found.is_empty())
        .unwrap_or_else(|| packages_in(""));
    // maturin: the extension module's name (`rpds.rpds` → `rpds`), else Cargo.toml's
    // `[lib] name` when there is no Python package folder.
    let maturin = pyproject.tool.as_ref().and_then(|t| t.maturin.as_ref());
    if let Some((module, maturin)) = maturin.and_then(|m| m.module_name.as_deref().map(|n| (n, m)))
    {
        // maturin installs the module's top package and `python-packages`, not every
        // folder of its python-source (cryptography's `src/_cffi_src` is build-only).
        if let Some(top) = module.split('.').next().filter(|t| valid(t)) {
            names = std::iter::once(top.to_string())
                .chain(maturin.python_packages.iter().filter(|p| valid(p)).cloned())
                .collect();
        }
    } else if names.is_empty() {
        if let Some(name) = sdist.text("Cargo.toml").and_then(cargo_lib_name) {
            if valid(&name) {
                names.insert(name);
            }
        }
    }
    // meson-python: the extension modules a top-level meson.build builds
    // (`extension_module('siphash24', …)`), when there is no package folder.
    if names.is_empty() {
        if let Some(meson) = sdist.text("meson.build") {
            names.extend(
                super::meson_extension_modules(meson)
                    .into_iter()
                    .filter(|n| valid(n)),
            );
        }
    }
    // A single-module distribution: `src/NAME.py`, or `NAME.py` at the top when it is
    // named like the project.
    if names.is_empty() {
        let wanted = crate::pypi::normalize_name(project).replace('-', "_");
        // `src/NAME.py` named like the project is the module (flit's rule); the other
        // files beside it are then test helpers and the like.
        if sdist.files.iter().any(|f| *f == format!("src/{wanted}.py")) {
            return (vec![wanted], ImportsSource::Folders);
        }
        for file in &sdist.files {
            if let Some(module) = file
                .strip_prefix("src/")
                .and_then(|m| m.strip_suffix(".py"))
                .filter(|m| !m.contains('/'))
                .or_else(|| file.strip_suffix(".py").filter(|m| *m == wanted))
            {
                if valid(module) && !uninstalled_name(module) && !module.contains("_test") {
                    names.insert(module.to_string());
                }
            }
        }
    }
    let source = if names.is_empty() {
        ImportsSource::None
    } else {
        ImportsSource::Folders
    };
    (names.into_iter().collect(), source)
}

fn cargo_lib_name(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Cargo {
        lib: Option<Lib>,
    }
    #[derive(Deserialize)]
    struct Lib {
        name: Option<String>,
    }
    toml::from_str::<Cargo>(text).ok()?.lib?.name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<(TargetInterpreter, MarkerEnvironment)> {
        ["3.13.5", "3.14.7"]
            .iter()
            .map(|v| {
                let t = TargetInterpreter {
                    full_version: v.to_string(),
                };
                let env = t.marker_environment().unwrap();
                (t, env)
            })
            .collect()
    }

    fn applies(req: &str) -> Applies {
        let r = Requirement::<pep508_rs::VerbatimUrl>::from_str(req).unwrap();
        Applies::of_marker(&r.marker, &targets())
    }

    #[test]
    fn markers_are_evaluated_for_each_shipped_interpreter() {
        assert_eq!(applies("a"), Applies::All);
        assert_eq!(applies("a; sys_platform == 'linux'"), Applies::All);
        assert_eq!(applies("a; sys_platform == 'win32'"), Applies::Never);
        assert_eq!(applies("a; extra == 'test'"), Applies::Never);
        assert_eq!(applies("a; python_version < '3.11'"), Applies::Never);
        assert_eq!(
            applies("a; python_version < '3.14'"),
            Applies::Some(vec!["3.13".into()])
        );
        assert_eq!(
            applies("a; python_full_version >= '3.14.1'"),
            Applies::Some(vec!["3.14".into()])
        );
        assert_eq!(
            applies("a; platform_python_implementation == 'PyPy'"),
            Applies::Never
        );
        assert_eq!(
            Applies::condition(&["3.13".into(), "3.15".into()]),
            "python is startingwith(\"3.13.\") or python is startingwith(\"3.15.\")"
        );
    }

    #[test]
    fn shipped_targets_come_from_the_interpreter_variants() {
        let shipped = TargetInterpreter::shipped();
        assert!(shipped.len() >= 2, "{shipped:?}");
        assert!(shipped.iter().any(|t| t.minor() == "3.14"), "{shipped:?}");
    }

    #[test]
    fn pkg_info_fields() {
        let text = "Metadata-Version: 2.4\nName: Demo_Pkg\nVersion: 1.0\nSummary: A demo\nLicense: Permission is hereby granted,\n        free of charge, to any person\nClassifier: License :: OSI Approved :: MIT License\nProject-URL: Source Code, https://example.org/src\nProject-URL: Home-page, https://example.org\nRequires-Dist: idna>=2.5\nRequires-Dist: pytest; extra == \"test\"\nDynamic: license\n\nLong description.\nRequires-Dist: not-a-header\n";
        let meta = CoreMetadata::parse(text, "demo").unwrap();
        assert_eq!(meta.name.as_deref(), Some("Demo_Pkg"));
        assert_eq!(meta.license().as_deref(), Some("MIT"));
        let named = |license: &str, classifiers: &[&str]| CoreMetadata {
            license: Some(license.into()),
            classifiers: classifiers.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            named("BSD-3-Clause", &[]).license().as_deref(),
            Some("BSD-3-Clause")
        );
        assert_eq!(
            named("BSD", &["License :: OSI Approved :: BSD License"]).license(),
            None
        );
        assert_eq!(
            named(
                "Apache 2.0",
                &["License :: OSI Approved :: Apache Software License"]
            )
            .license(),
            None
        );
        assert_eq!(meta.homepage().as_deref(), Some("https://example.org"));
        assert_eq!(
            meta.url_labelled(&["sourcecode"]).as_deref(),
            Some("https://example.org/src")
        );
        assert_eq!(meta.requires_dist.len(), 2);
        assert!(meta.is_dynamic("license"));
    }

    #[test]
    fn requires_txt_sections() {
        let text = "attrs>=20\n\n[:python_version < \"3.11\"]\ntomli\n\n[test]\npytest\n\n[test:sys_platform == \"win32\"]\ncolorama\n";
        assert_eq!(
            requires_txt(text),
            vec!["attrs>=20", "tomli; python_version < \"3.11\""]
        );
    }

    #[test]
    fn import_names_from_folders_and_top_level() {
        let mut sdist = Sdist {
            files: vec![
                "src/idna/__init__.py".into(),
                "src/idna/core.py".into(),
                "tests/__init__.py".into(),
                "docs/conf.py".into(),
            ],
            ..Default::default()
        };
        let none = PyProject::default();
        assert_eq!(
            import_names(&sdist, &none, "idna"),
            (vec!["idna".to_string()], ImportsSource::Folders)
        );
        sdist.texts.insert(
            "src/idna.egg-info/top_level.txt".into(),
            "idna\n_idna_speed\n".into(),
        );
        // `_idna_speed` has no Python source: made at build time, left to the judge.
        assert_eq!(
            import_names(&sdist, &none, "idna"),
            (vec!["idna".to_string()], ImportsSource::TopLevelTxt)
        );
        sdist.files.push("src/_idna_speed.py".into());
        assert_eq!(
            import_names(&sdist, &none, "idna").0,
            vec!["_idna_speed".to_string(), "idna".to_string()]
        );
        let single = Sdist {
            files: vec!["six.py".into(), "setup.py".into(), "test_six.py".into()],
            ..Default::default()
        };
        assert_eq!(
            import_names(&single, &none, "six").0,
            vec!["six".to_string()]
        );
        // maturin installs the module's package, not every folder of python-source.
        let crypto = Sdist {
            files: vec![
                "src/cryptography/__init__.py".into(),
                "src/_cffi_src/__init__.py".into(),
            ],
            ..Default::default()
        };
        let maturin = PyProject::parse(
            "[tool.maturin]\npython-source = \"src\"\nmodule-name = \"cryptography.hazmat.bindings._rust\"\n",
            "cryptography.tar.gz",
        )
        .unwrap();
        assert_eq!(
            import_names(&crypto, &maturin, "cryptography").0,
            vec!["cryptography".to_string()]
        );
        // flit's src/NAME.py beside test helpers (typing-extensions 4.16).
        let flit = Sdist {
            files: vec![
                "src/typing_extensions.py".into(),
                "src/_typed_dict_test_helper.py".into(),
                "src/test_typing_extensions.py".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            import_names(&flit, &none, "typing-extensions").0,
            vec!["typing_extensions".to_string()]
        );
        assert!(in_uninstalled_folder("tests/c_files/x.c"));
        assert!(!in_uninstalled_folder("src/pkg/x.c"));
    }
}
