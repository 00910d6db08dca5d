//! Generated recipes: a rattler-build v1 `recipe.yaml` for any project on the package
//! index, read from its sdist (build requirements, run requirements with markers
//! evaluated for the shipped interpreters, compiled languages, import names, about).
//! `ftforge recipe new` writes one; `ftforge check` generates them internally;
//! `ftforge recipe update` moves an existing recipe to a newer sdist (`update.rs`).
//! The rules are documented in docs/recipes.md, "Generated recipes".

pub mod metadata;
pub mod names;
pub mod sdist;
pub mod update;
mod write;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Operator, VersionSpecifiers};
use pep508_rs::{MarkerEnvironment, Requirement, VersionOrUrl};
use rattler_conda_types::{MatchSpec, ParseStrictness};

use crate::progress::Reporter;
use crate::pypi::{self, IndexError, SdistRelease};
use crate::recipe::RecipeError;
use crate::source::{SourceCache, SourceError};

pub use metadata::{Applies, ImportsSource, RequirementsSource, TargetInterpreter};
pub use names::{CondaName, NameMap};
pub use sdist::Sdist;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GenerateError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] SourceError),
    #[error("cannot read the sdist {path}: {message}")]
    Archive { path: PathBuf, message: String },
    #[error("{sdist}: {file}: {message}")]
    Metadata {
        sdist: String,
        file: String,
        message: String,
    },
    #[error("{path}: {message}")]
    #[diagnostic(help(
        "a name table maps PyPI names to conda names, one `pypi-name: conda-name` per line (`~` leaves a requirement out)"
    ))]
    NameTable { path: PathBuf, message: String },
    #[error("cannot evaluate markers for Python {version}: {message}")]
    Target { version: String, message: String },
    #[error("{sdist} requires Python {requires_python}; none of the interpreters recipes are built for ({targets}) satisfies it")]
    NoInterpreter {
        sdist: String,
        requires_python: String,
        targets: String,
    },
    #[error("{path} exists")]
    #[diagnostic(help("pass --force to replace it, or -o to write somewhere else"))]
    Exists { path: PathBuf },
    #[error("the name tables leave out {project} itself")]
    #[diagnostic(help(
        "a `~` entry leaves a requirement out; the package's own name needs a conda name"
    ))]
    ProjectLeftOut { project: String },
    #[error(
        "the generated recipe does not render with ftforge's renderer (a bug of `recipe new`)"
    )]
    #[diagnostic(help("the recipe text was:\n{yaml}"))]
    Render {
        #[source]
        source: Box<RecipeError>,
        yaml: String,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How recipes are generated.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Interpreters markers and `Requires-Python` are evaluated for.
    pub targets: Vec<TargetInterpreter>,
    /// PyPI → conda names (see [`NameMap::for_recipe`]).
    pub names: NameMap,
    /// conda names known to be installable next to the package (e.g. the channel's);
    /// `pip_check` is on only when every run requirement is among them.
    pub available: BTreeSet<String>,
    /// Written into the header comment: what generated the file, and when. Pass a
    /// fixed time (e.g. the sdist's upload time) to get byte-identical recipes.
    pub generated_by: String,
    pub generated_at: jiff::Timestamp,
}

impl GenerateOptions {
    /// The shipped interpreters, the given names, generated now by `generated_by`.
    pub fn new(names: NameMap, generated_by: impl Into<String>) -> Self {
        Self {
            targets: TargetInterpreter::shipped(),
            names,
            available: BTreeSet::new(),
            generated_by: generated_by.into(),
            generated_at: jiff::Timestamp::now(),
        }
    }
}

/// A compiled language found in the sdist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Language {
    C,
    Cxx,
    Rust,
    Fortran,
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Language::C => "C",
            Language::Cxx => "C++",
            Language::Rust => "Rust",
            Language::Fortran => "Fortran",
        })
    }
}

impl Language {
    /// The argument of `compiler()` in the recipe.
    pub fn compiler(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cxx => "cxx",
            Language::Rust => "rust",
            Language::Fortran => "fortran",
        }
    }
}

/// One requirement as it goes into the recipe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dependency {
    /// The PEP 508 requirement as the sdist states it.
    pub pypi: String,
    /// The PyPI project name (PEP 503-normalized).
    pub pypi_name: String,
    /// The conda package name.
    pub conda: String,
    /// The conda match spec written into the recipe (`typing-extensions >=4.0`).
    pub spec: String,
    /// Version specifiers a conda spec cannot express (`===`), left out of `spec`.
    pub dropped_specifiers: Option<String>,
    /// For which of the target interpreters it applies (`All` or `Some`).
    #[serde(flatten)]
    pub applies: Applies,
}

/// A requirement of the sdist that is not in the recipe, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    pub pypi: String,
    pub reason: LeftOutReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeftOutReason {
    /// Only with an extra (`extra == "test"`).
    Extra,
    /// Its marker is false for every target interpreter.
    MarkerFalse,
    /// A name table maps it to `~`.
    NameTable,
    /// It names the package itself (an extra pulling in other extras).
    ItselfOrPython,
}

impl std::fmt::Display for LeftOutReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeftOutReason::Extra => "only with an extra",
            LeftOutReason::MarkerFalse => "marker false for every shipped interpreter",
            LeftOutReason::NameTable => "left out by a pypi-names.yaml entry",
            LeftOutReason::ItselfOrPython => "names the package itself or python",
        })
    }
}

/// `about:` of a generated recipe.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GeneratedAbout {
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub documentation: Option<String>,
    pub license: Option<String>,
    pub summary: Option<String>,
}

/// A recipe generated from an sdist, with what it was decided from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeneratedRecipe {
    /// The conda package name (also the recipe folder's name).
    pub name: String,
    /// The project's name on the index.
    pub pypi_name: String,
    /// The version as the sdist's file name writes it.
    pub version: String,
    pub sdist: String,
    pub sha256: String,
    /// `mirror://pypi/…` with `${{ version }}` in the file name.
    pub source_url: String,
    pub build_backend: Option<String>,
    /// No `[build-system] requires`: setuptools' legacy defaults were used.
    pub legacy_setuptools: bool,
    pub languages: Vec<Language>,
    pub noarch: bool,
    /// Why the recipe is not `noarch: python` (empty when it is).
    pub not_noarch_because: Vec<String>,
    /// Python versions (`3.13`) `Requires-Python` excludes: skipped variants.
    pub skip_python: Vec<String>,
    pub host: Vec<Dependency>,
    pub run: Vec<Dependency>,
    pub run_source: RequirementsSource,
    pub left_out: Vec<LeftOut>,
    pub imports: Vec<String>,
    pub imports_source: ImportsSource,
    pub pip_check: bool,
    pub about: GeneratedAbout,
    /// Things a reviewer should know (dynamic metadata, version mismatch, …).
    pub notes: Vec<String>,
    pub targets: Vec<TargetInterpreter>,
    pub generated_by: String,
    pub generated_at: String,
    /// The `recipe.yaml` text.
    #[serde(skip)]
    pub yaml: String,
}

/// Resolves `requirement` on `index`, generates the recipe and writes it to
/// `output_dir/<conda name>/recipe.yaml` (refusing to replace one unless
/// `overwrite`). The name tables are the shipped one, `output_dir/pypi-names.yaml`
/// and `output_dir/<name>/pypi-names.yaml`.
#[allow(clippy::too_many_arguments)]
pub async fn recipe_new(
    client: &reqwest::Client,
    cache: &SourceCache,
    index: &str,
    requirement: &Requirement,
    pre: bool,
    output_dir: &Path,
    overwrite: bool,
    generated_by: &str,
    reporter: &dyn Reporter,
) -> Result<(GeneratedRecipe, PathBuf), GenerateError> {
    let release = pypi::resolve(client, index, requirement, pre).await?;
    let (names, folder) = NameMap::for_recipe(output_dir, &release.project)?;
    let target = output_dir.join(&folder).join("recipe.yaml");
    if target.exists() && !overwrite {
        return Err(GenerateError::Exists { path: target });
    }
    let options = GenerateOptions::new(names, generated_by);
    let recipe = generate(client, cache, &release, &options, reporter).await?;
    let path = recipe.write(&output_dir.join(&folder), overwrite)?;
    Ok((recipe, path))
}

/// Downloads the release's sdist into the source cache (verified against the index's
/// sha256) and generates its recipe.
pub async fn generate(
    client: &reqwest::Client,
    cache: &SourceCache,
    release: &SdistRelease,
    options: &GenerateOptions,
    reporter: &dyn Reporter,
) -> Result<GeneratedRecipe, GenerateError> {
    let job = format!("{}-{}", release.project, release.version_text);
    let sdist = fetch_sdist(client, cache, release, reporter).await?;
    let recipe = GeneratedRecipe::from_sdist(&sdist, release, options)?;
    for note in &recipe.notes {
        reporter.note(&job, note);
    }
    Ok(recipe)
}

/// Downloads the release's sdist into the source cache (verified against the index's
/// sha256) and reads what generation needs from it.
pub async fn fetch_sdist(
    client: &reqwest::Client,
    cache: &SourceCache,
    release: &SdistRelease,
    reporter: &dyn Reporter,
) -> Result<Sdist, GenerateError> {
    let job = format!("{}-{}", release.project, release.version_text);
    let path = cache
        .fetch(
            std::slice::from_ref(&release.url),
            &release.sha256,
            client,
            &job,
            reporter,
        )
        .await?;
    Sdist::read(&path, &release.filename)
}

impl NameMap {
    /// The tables for one recipe written into `output_dir`: the shipped one, then
    /// `output_dir/pypi-names.yaml` (which give the recipe folder's name), then
    /// `output_dir/<folder>/pypi-names.yaml`. Returns the map and the folder name.
    pub fn for_recipe(
        output_dir: &Path,
        project: &str,
    ) -> Result<(NameMap, String), GenerateError> {
        let mut names = NameMap::for_folder(output_dir)?;
        let folder = match names.conda_name(project) {
            CondaName::Name(n) => n,
            CondaName::LeftOut => {
                return Err(GenerateError::ProjectLeftOut {
                    project: project.into(),
                })
            }
        };
        names.merge_file(&output_dir.join(&folder).join(names::TABLE_FILE))?;
        Ok((names, folder))
    }
}

impl GeneratedRecipe {
    /// Decides the recipe from an sdist's contents (no network).
    pub fn from_sdist(
        sdist: &Sdist,
        release: &SdistRelease,
        options: &GenerateOptions,
    ) -> Result<Self, GenerateError> {
        let label = sdist.filename.clone();
        let name = match options.names.conda_name(&release.project) {
            CondaName::Name(n) => n,
            CondaName::LeftOut => {
                return Err(GenerateError::ProjectLeftOut {
                    project: release.project.clone(),
                })
            }
        };
        let targets: Vec<(TargetInterpreter, MarkerEnvironment)> = options
            .targets
            .iter()
            .map(|t| t.marker_environment().map(|env| (t.clone(), env)))
            .collect::<Result<_, _>>()?;
        let mut notes = Vec::new();

        let meta = match sdist.text("PKG-INFO") {
            Some(text) => metadata::CoreMetadata::parse(text, &label)?,
            None => {
                notes.push("the sdist has no PKG-INFO: about and run requirements come from pyproject.toml or the egg-info only".into());
                metadata::CoreMetadata::default()
            }
        };
        if let Some(v) = &meta.version {
            if pep440_rs::Version::from_str(v).ok().as_ref() != Some(&release.version) {
                notes.push(format!(
                    "PKG-INFO says version {v}, the file name {}",
                    release.version_text
                ));
            }
        }
        if meta.is_dynamic("requires-dist") {
            notes.push("PKG-INFO marks Requires-Dist as dynamic: the built wheel may require more than the recipe's run requirements".into());
        }
        let pyproject = match sdist.text("pyproject.toml") {
            Some(text) => metadata::PyProject::parse(text, &label)?,
            None => metadata::PyProject::default(),
        };

        // Requires-Python → skipped variants.
        let mut skip_python = Vec::new();
        let requires_python = meta
            .requires_python
            .clone()
            .or_else(|| release.requires_python.clone());
        if let Some(text) = &requires_python {
            match VersionSpecifiers::from_str(text) {
                Ok(specs) => match Applies::of_requires_python(&specs, &targets) {
                    Applies::All => {}
                    Applies::Never => {
                        return Err(GenerateError::NoInterpreter {
                            sdist: label,
                            requires_python: text.clone(),
                            targets: options
                                .targets
                                .iter()
                                .map(|t| t.full_version.clone())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })
                    }
                    Applies::Some(ok) => {
                        skip_python = targets
                            .iter()
                            .map(|(t, _)| t.minor())
                            .filter(|m| !ok.contains(m))
                            .collect();
                    }
                },
                Err(e) => notes.push(format!(
                    "Requires-Python `{text}` does not parse ({e}); not used"
                )),
            }
        }

        let mut left_out = Vec::new();
        let own = pypi::normalize_name(&release.project);

        // Host: python, pip, then [build-system] requires.
        let (build_texts, legacy) = pyproject.build_requires();
        let build_reqs = metadata::parse_requirements(&build_texts, &label, "pyproject.toml")?;
        let mut host = vec![];
        for req in &build_reqs {
            if let Some(dep) = dependency(req, &options.names, &targets, &own, &mut left_out) {
                add_dependency(&mut host, dep);
            }
        }

        // Run: Requires-Dist (or its fallbacks), without extras, markers evaluated.
        let (run_texts, run_source) = metadata::run_requirement_texts(&meta, &pyproject, sdist);
        let run_file = match run_source {
            RequirementsSource::Pyproject => "pyproject.toml",
            RequirementsSource::RequiresTxt => "requires.txt",
            _ => "PKG-INFO",
        };
        let run_reqs = metadata::parse_requirements(&run_texts, &label, run_file)?;
        let mut run = vec![];
        for req in &run_reqs {
            if let Some(dep) = dependency(req, &options.names, &targets, &own, &mut left_out) {
                add_dependency(&mut run, dep);
            }
        }

        let build_names: Vec<String> = build_reqs.iter().map(|r| r.name.to_string()).collect();
        let languages = detect_languages(sdist, &build_names);
        let mut not_noarch_because = Vec::new();
        if !languages.is_empty() {
            let cython = sdist
                .files
                .iter()
                .any(|f| f.ends_with(".pyx") && !metadata::in_uninstalled_folder(f));
            let mypyc = compiles_with_mypyc(sdist, &build_names);
            not_noarch_because.push(format!(
                "the {} {} sources{}",
                if mypyc { "build writes" } else { "sdist has" },
                languages
                    .iter()
                    .map(Language::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if cython {
                    " (Cython .pyx among them)"
                } else if mypyc {
                    " (mypyc compiles the Python modules)"
                } else {
                    ""
                }
            ));
        }
        if host.iter().chain(&run).any(|d| d.applies != Applies::All) {
            not_noarch_because
                .push("its requirements differ between the shipped interpreters".into());
        }
        if !skip_python.is_empty() {
            not_noarch_because.push(format!(
                "Requires-Python excludes Python {}",
                skip_python.join(", ")
            ));
        }
        let noarch = not_noarch_because.is_empty();

        let (imports, imports_source) = metadata::import_names(sdist, &pyproject, &release.project);
        if imports.is_empty() {
            notes.push("no import name found in the sdist: the recipe has no import test".into());
        }
        let pip_check = run.iter().all(|d| options.available.contains(&d.conda));
        let license = meta.license();
        if license.is_none() {
            notes.push(format!(
                "no SPDX license in the metadata (License: {}); about.license left out",
                meta.license
                    .as_deref()
                    .map(|l| l.lines().next().unwrap_or_default().to_string())
                    .unwrap_or_else(|| "none".into())
            ));
        }

        let about = GeneratedAbout {
            homepage: meta.homepage(),
            repository: meta.url_labelled(&["source", "sourcecode", "repository", "code"]),
            documentation: meta.url_labelled(&["documentation", "docs"]),
            license,
            summary: meta.summary.clone(),
        };

        let mut recipe = GeneratedRecipe {
            name,
            pypi_name: release.project.clone(),
            version: release.version_text.clone(),
            sdist: release.filename.clone(),
            sha256: release.sha256.clone(),
            source_url: write::source_url(release),
            build_backend: pyproject.build_backend().map(String::from),
            legacy_setuptools: legacy,
            languages: languages.into_iter().collect(),
            noarch,
            not_noarch_because,
            skip_python,
            host,
            run,
            run_source,
            left_out,
            imports,
            imports_source,
            pip_check,
            about,
            notes,
            targets: options.targets.clone(),
            generated_by: options.generated_by.clone(),
            generated_at: options
                .generated_at
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
            yaml: String::new(),
        };
        recipe.yaml = write::recipe_yaml(&recipe);
        Ok(recipe)
    }

    /// Writes `recipe.yaml` into `folder` after checking it loads and renders with
    /// ftforge's renderer for every variant it is built for.
    pub fn write(&self, folder: &Path, overwrite: bool) -> Result<PathBuf, GenerateError> {
        let target = folder.join("recipe.yaml");
        if target.exists() && !overwrite {
            return Err(GenerateError::Exists { path: target });
        }
        std::fs::create_dir_all(folder).map_err(|e| GenerateError::Io {
            action: "create",
            path: folder.into(),
            source: e,
        })?;
        let staged = folder.join(".recipe.yaml.new");
        std::fs::write(&staged, &self.yaml).map_err(|e| GenerateError::Io {
            action: "write",
            path: staged.clone(),
            source: e,
        })?;
        let checked = check_renders(&staged);
        if let Err(source) = checked {
            let _ = std::fs::remove_file(&staged);
            return Err(GenerateError::Render {
                source,
                yaml: self.yaml.clone(),
            });
        }
        std::fs::rename(&staged, &target).map_err(|e| GenerateError::Io {
            action: "write",
            path: target.clone(),
            source: e,
        })?;
        Ok(target)
    }
}

/// Loads a recipe file and renders it for each of its variants.
pub(crate) fn check_renders(path: &Path) -> Result<(), Box<RecipeError>> {
    let recipe = crate::recipe::Recipe::load(path).map_err(Box::new)?;
    for variant in recipe.variant_combinations() {
        recipe.render(&variant).map_err(Box::new)?;
    }
    Ok(())
}

/// Adds `dep` unless the list has the same name for the same interpreters: one name
/// with complementary markers (`cffi>=1; python_version < "3.14"` and `cffi>=2;
/// python_version >= "3.14"`) stays one entry per interpreter set.
fn add_dependency(list: &mut Vec<Dependency>, dep: Dependency) {
    if !list
        .iter()
        .any(|d| d.conda == dep.conda && d.applies == dep.applies)
    {
        list.push(dep);
    }
}

/// One requirement → a recipe dependency, or a `LeftOut` entry.
fn dependency(
    req: &Requirement,
    names: &NameMap,
    targets: &[(TargetInterpreter, MarkerEnvironment)],
    own: &str,
    left_out: &mut Vec<LeftOut>,
) -> Option<Dependency> {
    let text = req.to_string();
    let mut leave = |reason| {
        left_out.push(LeftOut {
            pypi: text.clone(),
            reason,
        });
        None
    };
    // Extras: a marker that holds for no target without extras, but does with some.
    let applies = Applies::of_marker(&req.marker, targets);
    if applies == Applies::Never {
        return leave(if !req.marker.evaluate_extras(&[]) {
            LeftOutReason::Extra
        } else {
            LeftOutReason::MarkerFalse
        });
    }
    let pypi_name = req.name.to_string();
    if pypi_name == own || pypi_name == "python" {
        return leave(LeftOutReason::ItselfOrPython);
    }
    let conda = match names.conda_name(&pypi_name) {
        CondaName::Name(n) => n,
        CondaName::LeftOut => return leave(LeftOutReason::NameTable),
    };
    let (spec, dropped_specifiers) = conda_spec(&conda, req);
    Some(Dependency {
        pypi: text,
        pypi_name,
        conda,
        spec,
        dropped_specifiers,
        applies,
    })
}

/// A conda match spec for `name` with the requirement's version specifiers:
/// `==V.*` becomes `V.*`, `~=X.Y` becomes `>=X.Y,X.*`; what conda cannot express
/// (`===`) is returned separately. Validated with rattler's parser.
pub fn conda_spec(name: &str, req: &Requirement) -> (String, Option<String>) {
    let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &req.version_or_url else {
        return (name.to_string(), None);
    };
    let mut parts = Vec::new();
    let mut dropped = Vec::new();
    for s in specifiers.iter() {
        match s.operator() {
            Operator::EqualStar => parts.push(format!("{}.*", s.version())),
            Operator::ExactEqual => dropped.push(s.to_string()),
            Operator::TildeEqual => {
                let release = s.version().release();
                if release.len() >= 2 {
                    let prefix: Vec<String> = release[..release.len() - 1]
                        .iter()
                        .map(u64::to_string)
                        .collect();
                    parts.push(format!(">={}", s.version()));
                    parts.push(format!("{}.*", prefix.join(".")));
                } else {
                    dropped.push(s.to_string());
                }
            }
            _ => parts.push(s.to_string()),
        }
    }
    if parts.is_empty() {
        return (
            name.to_string(),
            (!dropped.is_empty()).then(|| dropped.join(",")),
        );
    }
    let spec = format!("{name} {}", parts.join(","));
    if MatchSpec::from_str(&spec, ParseStrictness::Strict).is_ok() {
        (spec, (!dropped.is_empty()).then(|| dropped.join(",")))
    } else {
        dropped.extend(parts);
        (name.to_string(), Some(dropped.join(",")))
    }
}

/// Compiled languages of an sdist. A build system that declares its languages is
/// believed: a top-level meson.build's `project('x', 'c', 'cython')` (meson-python),
/// a top-level CMakeLists.txt's `project(x LANGUAGES C CXX)` under scikit-build(-core)
/// (CMake's default: C and C++). Otherwise its files, outside tests/docs/examples:
/// `.c` → C; `.cc .cpp .cxx` → C++; `.pyx` → C (C++ when it says `language = c++`);
/// `.rs` or a `Cargo.toml` → Rust; `.f .f90 …` → Fortran; and with none of these, cffi
/// in the build requirements or `cffi_modules` / `Extension(` in setup.py → C.
pub fn detect_languages(sdist: &Sdist, build_requires: &[String]) -> BTreeSet<Language> {
    if let Some(meson) = sdist.text("meson.build") {
        return meson_languages(meson);
    }
    if let Some(cmake) = sdist.text("CMakeLists.txt") {
        if build_requires
            .iter()
            .any(|r| r == "scikit-build-core" || r == "scikit-build")
        {
            return cmake_languages(cmake);
        }
    }
    let mut out = BTreeSet::new();
    for file in &sdist.files {
        if metadata::in_uninstalled_folder(file) {
            continue;
        }
        let name = file.rsplit('/').next().unwrap_or(file);
        if name == "Cargo.toml" {
            out.insert(Language::Rust);
            continue;
        }
        let Some((_, ext)) = name.rsplit_once('.') else {
            continue;
        };
        match ext.to_ascii_lowercase().as_str() {
            "c" => {
                out.insert(Language::C);
            }
            "cc" | "cpp" | "cxx" | "c++" => {
                out.insert(Language::Cxx);
            }
            "pyx" | "in" if name.ends_with(".pyx") || name.ends_with(".pyx.in") => {
                let cxx = sdist.text(file).is_some_and(|t| {
                    let t = t.replace(' ', "");
                    t.contains("language=c++")
                });
                out.insert(if cxx { Language::Cxx } else { Language::C });
            }
            "rs" => {
                out.insert(Language::Rust);
            }
            "f" | "f90" | "f95" | "f03" | "f08" | "for" => {
                out.insert(Language::Fortran);
            }
            _ => {}
        }
    }
    if out.is_empty() {
        let setup = sdist.text("setup.py").unwrap_or_default();
        if build_requires.iter().any(|r| r == "cffi")
            || setup.contains("cffi_modules")
            || setup.contains("Extension(")
            || compiles_with_mypyc(sdist, build_requires)
        {
            out.insert(Language::C);
        }
    }
    out
}

/// Whether the build compiles the project's Python to C extension modules with mypyc
/// (pytokens, black: `mypy` among the build requirements and `mypycify` in setup.py;
/// the C is written at build time, so the sdist shows none).
pub fn compiles_with_mypyc(sdist: &Sdist, build_requires: &[String]) -> bool {
    build_requires.iter().any(|r| r == "mypy")
        && sdist
            .text("setup.py")
            .is_some_and(|t| t.contains("mypycify"))
}

/// The text inside the first `project(` … `)` of a build file (`project` matched
/// case-insensitively, as CMake does).
fn project_call(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let start = lower
        .match_indices("project(")
        .find(|(i, _)| {
            *i == 0
                || !lower.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && lower.as_bytes()[i - 1] != b'_'
        })?
        .0
        + "project(".len();
    let end = start + text[start..].find(')')?;
    Some(&text[start..end])
}

fn language_named(name: &str) -> Option<Language> {
    match name.to_ascii_lowercase().as_str() {
        "c" | "cython" | "objc" => Some(Language::C),
        "cpp" | "cxx" | "objcpp" | "cuda" => Some(Language::Cxx),
        "rust" => Some(Language::Rust),
        "fortran" => Some(Language::Fortran),
        _ => None,
    }
}

/// Languages of meson's `project('name', 'c', ['cpp'], …)`: the quoted positional
/// arguments after the name, up to the first `keyword:`.
pub fn meson_languages(meson: &str) -> BTreeSet<Language> {
    let mut out = BTreeSet::new();
    let Some(args) = project_call(meson) else {
        return out;
    };
    let mut strings = Vec::new();
    let mut chars = args.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            let rest = &args[i + 1..];
            let Some(len) = rest.find('\'') else { break };
            strings.push(&rest[..len]);
            for _ in 0..=len {
                chars.next();
            }
        } else if c.is_alphabetic() {
            let word: String = args[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if args[i + word.len()..].trim_start().starts_with(':') {
                break;
            }
            for _ in 1..word.chars().count() {
                chars.next();
            }
        }
    }
    out.extend(strings.iter().skip(1).filter_map(|s| language_named(s)));
    out
}

/// Languages of CMake's `project(name [VERSION v] [LANGUAGES] C CXX …)`: the words after
/// `LANGUAGES` (or, without it, right after the name) up to the next keyword; C and
/// C++ when none are named (CMake's default).
pub fn cmake_languages(cmake: &str) -> BTreeSet<Language> {
    const KEYWORDS: [&str; 4] = ["VERSION", "DESCRIPTION", "HOMEPAGE_URL", "LANGUAGES"];
    let mut out = BTreeSet::new();
    if let Some(args) = project_call(cmake) {
        let words: Vec<&str> = args.split_whitespace().collect();
        let start = words
            .iter()
            .position(|w| w.eq_ignore_ascii_case("LANGUAGES"))
            .map(|i| i + 1)
            .unwrap_or(1);
        out.extend(
            words
                .iter()
                .skip(start)
                .take_while(|w| !KEYWORDS.contains(&w.to_ascii_uppercase().as_str()))
                .filter_map(|w| language_named(w)),
        );
    }
    if out.is_empty() {
        out.extend([Language::C, Language::Cxx]);
    }
    out
}

/// Extension modules a top-level meson.build builds (`extension_module('name', …)`).
pub fn meson_extension_modules(meson: &str) -> Vec<String> {
    meson
        .match_indices("extension_module(")
        .filter_map(|(i, m)| {
            let rest = meson[i + m.len()..].trim_start();
            let rest = rest.strip_prefix('\'')?;
            Some(rest[..rest.find('\'')?].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests;
