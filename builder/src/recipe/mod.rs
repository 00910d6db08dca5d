//! Recipes in rattler-build's v1 format: loading (`recipe.yaml` with spans), rendering
//! for one variant, and the outputs a rendered recipe produces.

mod error;
mod model;
mod pin;
mod render;
mod unsupported;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use marked_yaml::{Node, Span};
use rattler_conda_types::package::EntryPoint;
use sha1::{Digest, Sha1};

use crate::job::{FREETHREADING_KEY, INTERPRETER_PACKAGE, PYTHON_KEY};

pub use error::{RecipeError, SourceFile};
pub use model::*;
pub use pin::{Pin, PinBound, PinFunction};
pub use render::{default_compiler, default_stdlib, jinja_environment, Rendered, Renderer};

use crate::variants::{io_error, parse_yaml, Variant, VariantConfig, VariantValue};

/// The platform ftforge builds for (`linux-64` here).
pub fn target_platform() -> &'static str {
    ftforge_channels::platform()
}

/// A recipe file as loaded, before any variant is applied.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The directory holding `recipe.yaml` (and `build.sh`, patches, `variants.yaml`).
    pub dir: PathBuf,
    pub file: SourceFile,
    root: Node,
    pub variants: VariantConfig,
}

/// A recipe rendered for one variant.
#[derive(Debug, Clone)]
pub struct RenderedRecipe {
    pub variant: Variant,
    pub sources: Vec<Source>,
    pub outputs: Vec<RenderedOutput>,
    /// The fully rendered recipe, stored in the package's `info/recipe/`.
    pub rendered: serde_json::Value,
    pub extra: serde_json::Value,
    /// sha256 over every file of the recipe folder when it was rendered.
    pub recipe_digest: String,
}

/// One package a rendered recipe produces.
#[derive(Debug, Clone)]
pub struct RenderedOutput {
    pub name: String,
    pub version: String,
    pub build_string: String,
    pub build_number: u64,
    pub noarch: Option<NoArch>,
    /// Built once for every interpreter from 3.15 on as an abi3t package (PEP 803):
    /// `build.python.version_independent: true` on a 3.15+ variant. Before 3.15 the
    /// key changes nothing (one package per interpreter, docs/recipes.md).
    pub abi3t: bool,
    pub script: Option<Script>,
    pub requirements: Requirements,
    pub tests: Vec<TestSpec>,
    pub about: About,
    pub site_packages_path: Option<String>,
    pub track_features: Vec<String>,
    pub skipped: bool,
    /// The variant values this output's hash was computed from (`hash_input.json`).
    pub hash_input: BTreeMap<String, String>,
    /// `build.python.entry_points`: console scripts (`name = module:function`).
    pub entry_points: Vec<EntryPoint>,
    /// `pin_compatible(…)` entries of `run` / `run_constraints`, applied to the host
    /// environment's package when the output is packaged (they are not in
    /// `requirements.run` / `run_constraints`).
    pub pin_compatible: Vec<PinCompatible>,
    /// Where each entry of `requirements.build` is in the recipe (same order).
    pub build_spans: Vec<Option<Span>>,
    /// `build.dynamic_linking`: rpaths and the overlinking check (`linkage.rs`).
    pub dynamic_linking: DynamicLinking,
}

/// A `pin_compatible(…)` requirement of an output.
#[derive(Debug, Clone)]
pub struct PinCompatible {
    pub pin: Pin,
    /// From `run_constraints` (a constraint) rather than `run` (a dependency).
    pub constraint: bool,
    pub span: Option<Span>,
}

impl RenderedOutput {
    pub fn subdir(&self) -> &'static str {
        if self.noarch.is_some() {
            "noarch"
        } else {
            target_platform()
        }
    }

    /// `name-version-build` (the archive's stem).
    pub fn dist_name(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.build_string)
    }
}

impl Recipe {
    /// Loads `recipe.yaml` from a recipe directory (or the file itself), with the
    /// variants files that apply to it.
    pub fn load(path: &Path) -> Result<Self, RecipeError> {
        let file_path = if path.is_dir() {
            path.join("recipe.yaml")
        } else {
            path.to_path_buf()
        };
        let file = SourceFile::read(&file_path).map_err(|e| io_error(&file_path, e))?;
        let root = parse_yaml(&file)?;
        if root.as_mapping().is_none() {
            return Err(file.error(
                Some(root.span()),
                "a recipe is a YAML mapping (context, package, source, build, …)",
            ));
        }
        let dir = file_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let variants = VariantConfig::discover(&dir)?;
        Ok(Self {
            dir,
            file,
            root,
            variants,
        })
    }

    /// sha256 over every file of the recipe folder (names and contents).
    pub fn content_digest(&self) -> String {
        tree_digest(&self.dir)
    }

    /// The time, in milliseconds since the epoch, packages of this recipe carry
    /// (`index.json`'s timestamp, file times in the archive, `SOURCE_DATE_EPOCH` for
    /// build scripts), so that an unchanged recipe gives byte-identical packages:
    /// `SOURCE_DATE_EPOCH` if set, else the newest modification time among the recipe
    /// folder's files (a changed recipe gives a newer build, which solvers prefer over
    /// an older build of the same version and build number).
    pub fn timestamp_millis(&self) -> i64 {
        if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
        {
            return epoch * 1000;
        }
        walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .max()
            .unwrap_or(0)
    }

    /// The variant keys this recipe refers to: by name anywhere in its text, and
    /// `<lang>_compiler[_version]` / `<lang>_stdlib[_version]` for each
    /// `compiler('<lang>')` / `stdlib('<lang>')` it calls.
    pub fn used_variant_keys(&self) -> Vec<String> {
        let implied = implied_variant_keys(&self.file.text);
        self.variants
            .keys
            .keys()
            .filter(|k| mentions_word(&self.file.text, k) || implied.contains(*k))
            .cloned()
            .collect()
    }

    /// A located error in this recipe file.
    pub fn error(&self, span: Option<&Span>, message: impl Into<String>) -> RecipeError {
        self.file.error(span, message)
    }

    /// Every variant this recipe is built for.
    pub fn variant_combinations(&self) -> Vec<Variant> {
        self.variants.combinations(&self.used_variant_keys())
    }

    /// Renders the recipe for one variant.
    pub fn render(&self, variant: &Variant) -> Result<RenderedRecipe, RecipeError> {
        let env = jinja_environment();
        let mut renderer = Renderer {
            env: &env,
            file: &self.file,
            vars: BTreeMap::new(),
        };
        let platform = target_platform();
        for (k, v) in &variant.0 {
            let value = match v {
                VariantValue::Bool(b) => minijinja::Value::from(*b),
                VariantValue::String(s) => minijinja::Value::from(s.clone()),
            };
            renderer.vars.insert(k.clone(), value);
        }
        for (name, on) in [
            ("linux", platform.starts_with("linux")),
            ("osx", platform.starts_with("osx")),
            ("win", platform.starts_with("win")),
            ("unix", !platform.starts_with("win")),
        ] {
            renderer.vars.insert(name.into(), on.into());
        }
        // Build-script variables as rattler-build renders them: `${{ PYTHON }}` is `$PYTHON`.
        for name in [
            "PYTHON",
            "PREFIX",
            "SRC_DIR",
            "RECIPE_DIR",
            "SP_DIR",
            "PY_VER",
            "STDLIB_DIR",
            "BUILD_PREFIX",
        ] {
            renderer.vars.insert(name.into(), format!("${name}").into());
        }
        renderer
            .vars
            .insert("target_platform".into(), platform.into());
        renderer
            .vars
            .insert("build_platform".into(), platform.into());
        let recipe_digest = self.content_digest();
        let hash = variant_hash(variant, platform, &recipe_digest);
        renderer.vars.insert("hash".into(), hash.clone().into());

        let root = self.root.as_mapping().expect("checked at load");
        if let Some(context) = root.get_node("context") {
            renderer.render_context(context)?;
        }
        let rendered = renderer.render(&self.root)?;
        unsupported::refuse_unsupported(&self.file, &rendered)?;
        let json = rendered.to_json();
        let document: RecipeDocument = serde_path_to_error::deserialize(&json).map_err(|err| {
            let span = rendered.span_at(err.path());
            let inner = err.inner().to_string();
            let hint = if inner.contains("unknown field") {
                "rattler-build's v1 recipe format does not have this key here"
            } else {
                "see docs/recipes.md for the recipe format"
            };
            self.file
                .error(Some(&span), format!("{}: {inner}", err.path()))
                .with_help(hint)
        })?;

        let outputs = self.outputs(
            &document,
            variant,
            &hash,
            &recipe_digest,
            &rendered,
            &renderer,
        )?;
        Ok(RenderedRecipe {
            variant: variant.clone(),
            sources: document.source.clone(),
            outputs,
            rendered: json,
            extra: document.extra.clone(),
            recipe_digest,
        })
    }

    /// `build.skip` as rattler-build reads it: `true`/`false`, a condition (`win`,
    /// `python is startingwith("3.13.")`, evaluated with the variant's values like an
    /// `if:`), a number (non-zero skips), or a list of them, any of which skips the
    /// variant. Anything else is refused at its line.
    fn skipped(&self, node: Option<&Rendered>, renderer: &Renderer) -> Result<bool, RecipeError> {
        let one = |item: &Rendered| -> Result<bool, RecipeError> {
            match item {
                Rendered::Null(_) => Ok(false),
                Rendered::Scalar(serde_json::Value::Bool(b), _) => Ok(*b),
                Rendered::Scalar(serde_json::Value::Number(n), _) => {
                    Ok(n.as_f64().is_some_and(|n| n != 0.0))
                }
                Rendered::Scalar(serde_json::Value::String(expr), span) => {
                    renderer.condition(expr, span)
                }
                other => Err(self
                    .file
                    .error(
                        Some(other.span()),
                        "`skip` must be a condition or `true`/`false`",
                    )
                    .with_help("e.g. `skip: [win, python is startingwith(\"3.13.\")]`")),
            }
        };
        match node {
            None => Ok(false),
            Some(Rendered::Seq(items, _)) => {
                let mut skip = false;
                for item in items {
                    // Every item is evaluated, so a wrong one is reported wherever it is.
                    skip |= one(item)?;
                }
                Ok(skip)
            }
            Some(item) => one(item),
        }
    }

    fn outputs(
        &self,
        doc: &RecipeDocument,
        variant: &Variant,
        hash: &str,
        recipe_digest: &str,
        rendered: &Rendered,
        renderer: &Renderer,
    ) -> Result<Vec<RenderedOutput>, RecipeError> {
        let recipe_version = doc
            .recipe
            .as_ref()
            .and_then(|r| r.version.clone())
            .or_else(|| doc.package.as_ref().and_then(|p| p.version.clone()));
        let mut specs = Vec::new();
        if doc.outputs.is_empty() {
            let Some(package) = &doc.package else {
                return Err(self
                    .file
                    .error(
                        Some(rendered.span()),
                        "the recipe has neither `package:` nor `outputs:`",
                    )
                    .with_help("add `package: {name: …, version: …}`"));
            };
            specs.push(OutputSpec {
                package: package.clone(),
                build: doc.build.clone(),
                requirements: doc.requirements.clone(),
                tests: doc.tests.clone(),
                about: doc.about.clone(),
                section: Some(rendered),
                build_node: rendered.get("build"),
            });
        } else {
            let nodes = rendered
                .get("outputs")
                .map(Rendered::items)
                .unwrap_or_default();
            for (i, out) in doc.outputs.iter().enumerate() {
                let section = nodes.get(i);
                let (mut build, build_node) = match &out.build {
                    Some(b) => (b.clone(), section.and_then(|s| s.get("build"))),
                    None => (doc.build.clone(), rendered.get("build")),
                };
                build.number = build.number.or(doc.build.number);
                specs.push(OutputSpec {
                    package: out.package.clone(),
                    build,
                    requirements: out.requirements.clone().unwrap_or_default(),
                    tests: out.tests.clone().unwrap_or_default(),
                    about: out.about.clone().unwrap_or_else(|| doc.about.clone()),
                    section,
                    build_node,
                });
            }
        }
        let track_features = doc.extra.get("track_features").cloned().unwrap_or_default();

        // First every output's name, version and build string (pins need them all).
        let mut outputs = Vec::new();
        for spec in &specs {
            let OutputSpec {
                package,
                build,
                requirements,
                ..
            } = spec;
            let Some(version) = package.version.clone().or_else(|| recipe_version.clone()) else {
                return Err(self.file.error(
                    spec.section.map(Rendered::span),
                    format!("output `{}` has no version", package.name),
                ));
            };
            let build_number = build.number.unwrap_or(0);
            let noarch = build.noarch;
            let abi3t = noarch.is_none()
                && build
                    .python
                    .as_ref()
                    .is_some_and(|p| p.version_independent == Some(true))
                && crate::job::variant_abi(variant).is_some_and(|abi| abi.has_abi3t());
            let hash_input = hash_input(variant, noarch.is_some());
            let own_hash = if noarch.is_some() {
                noarch_hash(&hash_input, recipe_digest)
            } else {
                hash.to_string()
            };
            // An output's own `build:` without `skip` takes the top level's, as
            // rattler-build merges the top-level `build` into each output's.
            let skip = spec
                .build_node
                .and_then(|b| b.get("skip"))
                .or_else(|| rendered.get("build").and_then(|b| b.get("skip")));
            let skipped = self.skipped(skip, renderer)?;
            let build_string = build.string.clone().unwrap_or_else(|| {
                let py_prefix = match noarch {
                    Some(NoArch::Python) => "py".to_string(),
                    Some(NoArch::Generic) => String::new(),
                    // One file for 3.15t, 3.15, 3.16t…: no interpreter in its name.
                    None if abi3t => "abi3t_".to_string(),
                    None => python_build_prefix(variant, requirements),
                };
                format!("{py_prefix}h{own_hash}_{build_number}")
            });
            let features = match track_features.get(&package.name) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => vec![s.clone()],
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str())
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                _ => Vec::new(),
            };
            outputs.push(RenderedOutput {
                name: package.name.clone(),
                version,
                build_string,
                build_number,
                site_packages_path: build
                    .python
                    .as_ref()
                    .and_then(|p| p.site_packages_path.clone()),
                skipped,
                noarch,
                abi3t,
                script: build.script.clone(),
                requirements: requirements.clone(),
                tests: spec.tests.clone(),
                about: spec.about.clone(),
                track_features: features,
                hash_input,
                entry_points: Vec::new(),
                pin_compatible: Vec::new(),
                build_spans: Vec::new(),
                dynamic_linking: build.dynamic_linking.clone(),
            });
        }

        // Then what needs the others: pins, entry points, spans of build requirements.
        let siblings: Vec<(String, String, String)> = outputs
            .iter()
            .map(|o| (o.name.clone(), o.version.clone(), o.build_string.clone()))
            .collect();
        for (output, spec) in outputs.iter_mut().zip(&specs) {
            let reqs_node = spec.section.and_then(|s| s.get("requirements"));
            let list_node = |list: &str| reqs_node.and_then(|r| r.get(list));
            let exports_node = reqs_node.and_then(|r| r.get("run_exports"));
            let r = &mut output.requirements;
            for (list, items, node, compatible_allowed) in [
                ("build", &mut r.build, list_node("build"), false),
                ("host", &mut r.host, list_node("host"), false),
                ("run", &mut r.run, list_node("run"), true),
                (
                    "run_constraints",
                    &mut r.run_constraints,
                    list_node("run_constraints"),
                    true,
                ),
                (
                    "run_exports.weak",
                    &mut r.run_exports.weak,
                    exports_node.and_then(|e| e.get("weak")),
                    false,
                ),
                (
                    "run_exports.strong",
                    &mut r.run_exports.strong,
                    exports_node.and_then(|e| e.get("strong")),
                    false,
                ),
                (
                    "run_exports.noarch",
                    &mut r.run_exports.noarch,
                    exports_node.and_then(|e| e.get("noarch")),
                    false,
                ),
                (
                    "run_exports.weak_constraints",
                    &mut r.run_exports.weak_constraints,
                    exports_node.and_then(|e| e.get("weak_constraints")),
                    false,
                ),
                (
                    "run_exports.strong_constraints",
                    &mut r.run_exports.strong_constraints,
                    exports_node.and_then(|e| e.get("strong_constraints")),
                    false,
                ),
            ] {
                let mut kept = Vec::new();
                for (i, item) in std::mem::take(items).into_iter().enumerate() {
                    let span = node.and_then(|n| n.item(i)).map(|n| *n.span());
                    let located = |message: String| self.file.error(span.as_ref(), message);
                    match PinFunction::parse(&item) {
                        None => kept.push(item),
                        Some(Err(e)) => {
                            return Err(located(format!("a malformed pin: {e}")));
                        }
                        Some(Ok(PinFunction::Subpackage(pin))) => {
                            let Some((_, version, build)) =
                                siblings.iter().find(|(name, _, _)| *name == pin.name)
                            else {
                                let names: Vec<&str> =
                                    siblings.iter().map(|(n, _, _)| n.as_str()).collect();
                                return Err(located(format!(
                                    "pin_subpackage('{}'): the recipe has no output `{}`",
                                    pin.name, pin.name
                                ))
                                .with_help(format!("its outputs: {}", names.join(", "))));
                            };
                            kept.push(pin.apply(version, build).map_err(located)?);
                        }
                        Some(Ok(PinFunction::Compatible(pin))) => {
                            if !compatible_allowed {
                                return Err(located(format!(
                                    "pin_compatible('{}') in `requirements.{list}`: it pins to the host environment, so it belongs in `run` or `run_constraints`",
                                    pin.name
                                )));
                            }
                            output.pin_compatible.push(PinCompatible {
                                pin,
                                constraint: list == "run_constraints",
                                span,
                            });
                        }
                    }
                }
                *items = kept;
                if list == "build" {
                    output.build_spans = (0..items.len())
                        .map(|i| node.and_then(|n| n.item(i)).map(|n| *n.span()))
                        .collect();
                }
            }
            apply_variant_to_requirements(&mut output.requirements.host, variant);
            apply_variant_to_requirements(&mut output.requirements.build, variant);

            let python_node = spec.build_node.and_then(|b| b.get("python"));
            let entry_node = python_node.and_then(|p| p.get("entry_points"));
            let declared = spec
                .build
                .python
                .as_ref()
                .map(|p| p.entry_points.clone())
                .unwrap_or_default();
            for (i, text) in declared.iter().enumerate() {
                let span = entry_node.and_then(|n| n.item(i)).map(|n| *n.span());
                let entry = EntryPoint::from_str(text).map_err(|e| {
                    self.file
                        .error(
                            span.as_ref(),
                            format!("`{text}` is not an entry point: {e}"),
                        )
                        .with_help("write `command = package.module:function`")
                })?;
                output.entry_points.push(entry);
            }
            if let Some(variant_build) = &spec.build.variant {
                let keys_node = spec
                    .build_node
                    .and_then(|b| b.get("variant"))
                    .and_then(|v| v.get("use_keys"));
                for (i, key) in variant_build.use_keys.iter().enumerate() {
                    if !self.variants.keys.contains_key(key) {
                        let span = keys_node.and_then(|n| n.item(i)).map(|n| *n.span());
                        return Err(self
                            .file
                            .error(
                                span.as_ref(),
                                format!("`use_keys`: `{key}` is not a key of the variants files"),
                            )
                            .with_help(self.variants_help()));
                    }
                }
            }
        }
        Ok(outputs)
    }

    fn variants_help(&self) -> String {
        if self.variants.files.is_empty() {
            "no variants.yaml applies to this recipe (it is read from the recipe's folder and its parent)".into()
        } else {
            let files: Vec<String> = self
                .variants
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            format!("keys come from {}", files.join(", "))
        }
    }
}

/// One output before rendering its pins: its sections and where they are in the YAML.
struct OutputSpec<'a> {
    package: PackageMeta,
    build: Build,
    requirements: Requirements,
    tests: Vec<TestSpec>,
    about: About,
    /// The output's mapping (the whole recipe for a single-output recipe).
    section: Option<&'a Rendered>,
    /// The `build:` mapping this output's build came from.
    build_node: Option<&'a Rendered>,
}

/// `py314t` when the output is built against a python of a known ABI, else empty.
fn python_build_prefix(variant: &Variant, requirements: &Requirements) -> String {
    let uses_python = requirements
        .host
        .iter()
        .any(|r| r.split_whitespace().next() == Some(INTERPRETER_PACKAGE));
    if !uses_python {
        return String::new();
    }
    crate::job::variant_abi(variant)
        .map(|abi| abi.build_string_prefix())
        .unwrap_or_default()
}

/// A bare requirement whose name is a variant key gets the variant's value
/// (`python` → `python 3.14.* *_cp314t`), as rattler-build does.
fn apply_variant_to_requirements(reqs: &mut [String], variant: &Variant) {
    for req in reqs.iter_mut() {
        let name = req.trim();
        if !name.contains(' ') {
            if let Some(value) = variant.get_str(name) {
                if value.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    *req = format!("{name} {value}");
                }
            }
        }
    }
}

/// sha256 over every file under `root` (or of `root` itself), with its path relative
/// to `root`: a recipe folder, or a `path:` source.
pub fn tree_digest(root: &Path) -> String {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let mut hasher = sha2::Sha256::new();
    for path in files {
        if let Ok(bytes) = std::fs::read(&path) {
            sha2::Digest::update(
                &mut hasher,
                path.strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .as_bytes(),
            );
            sha2::Digest::update(&mut hasher, &bytes);
        }
    }
    hex::encode(sha2::Digest::finalize(hasher))
}

/// The variant's values that make a build string's hash; a noarch output's leaves out the
/// interpreter's.
fn hash_input(variant: &Variant, noarch: bool) -> BTreeMap<String, String> {
    variant
        .0
        .iter()
        .filter(|(k, _)| !(noarch && [PYTHON_KEY, FREETHREADING_KEY].contains(&k.as_str())))
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

fn short_hash(input: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_string(input).unwrap_or_default();
    let digest = Sha1::digest(json.as_bytes());
    hex::encode(digest)[..7].to_string()
}

/// The hash in a noarch output's build string: the variant keys that are not the
/// interpreter's, and the recipe's own files (as [`variant_hash`]: a changed noarch
/// recipe gets a new file name, never new bytes under a name already published).
fn noarch_hash(input: &BTreeMap<String, String>, recipe_digest: &str) -> String {
    let mut input = input.clone();
    input.insert("recipe".into(), recipe_digest.into());
    short_hash(&input)
}

/// The 7-hex-digit `${{ hash }}` of a build string: the variant and the recipe's own
/// files, so a changed recipe never reuses a file name a conda client may have cached
/// with other contents.
pub fn variant_hash(variant: &Variant, platform: &str, recipe_digest: &str) -> String {
    let mut input = hash_input(variant, false);
    input.insert("target_platform".into(), platform.into());
    input.insert("recipe".into(), recipe_digest.into());
    short_hash(&input)
}

/// `c_compiler`, `c_compiler_version`, … for every `compiler('c')` / `stdlib("c")` call
/// in the recipe's text.
fn implied_variant_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for function in ["compiler", "stdlib"] {
        let call = format!("{function}(");
        for (i, _) in text.match_indices(&call) {
            if text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = text[i + call.len()..].trim_start();
            let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            if let Some(lang) = rest[1..].split(quote).next() {
                keys.push(format!("{lang}_{function}"));
                keys.push(format!("{lang}_{function}_version"));
            }
        }
    }
    keys
}

fn mentions_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(dir: &Path, text: &str) -> Recipe {
        std::fs::write(dir.join("recipe.yaml"), text).unwrap();
        Recipe::load(dir).unwrap()
    }

    fn variant(pairs: &[(&str, VariantValue)]) -> Variant {
        Variant(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    const MULTI: &str = r#"
context:
  version: ${{ python }}
  py_ver: ${{ (python | split("."))[:2] | join(".") }}
  abi_tag: cp${{ py_ver | replace(".", "") }}${{ "t" if is_freethreading else "" }}
recipe:
  name: python-split
  version: ${{ version }}
source:
  - if: version == "3.14.7"
    then:
      url: [https://example.invalid/a.tar.xz, "mirror://debian/x.tar.xz"]
      sha256: 3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81
    else:
      path: ../src
build:
  number: 3
outputs:
  - package: {name: python}
    build:
      string: h${{ hash }}_${{ 3 if is_freethreading else 103 }}_${{ abi_tag }}
      number: ${{ 3 if is_freethreading else 103 }}
      python:
        site_packages_path: lib/python${{ py_ver }}t/site-packages
      script:
        file: build.sh
        env:
          FREETHREADING: ${{ "1" if is_freethreading else "0" }}
    requirements:
      run_exports:
        weak:
          - python_abi ${{ py_ver }}.* *_${{ abi_tag }}
        noarch: [python]
  - package: {name: python_abi, version: "${{ py_ver }}"}
    build: {noarch: generic, string: "8_${{ abi_tag }}"}
extra:
  track_features:
    python: ${{ "py_freethreading" if is_freethreading else "" }}
"#;

    /// `build.skip` is evaluated like rattler-build's: a condition, a bool or a list;
    /// anything else is refused at its line.
    #[test]
    fn skip_conditions_are_evaluated_per_variant() {
        let dir = tempfile::tempdir().unwrap();
        // Variant values as the shipped variants files give them.
        let v = |python: &str, ft: bool| {
            let t = if ft { "t" } else { "" };
            let tag = python.replace('.', "");
            variant(&[
                (
                    "python",
                    VariantValue::String(format!("{python}.* *_cp{tag}{t}")),
                ),
                ("is_freethreading", VariantValue::Bool(ft)),
            ])
        };
        let skipped = |skip: &str, variant: &Variant| -> bool {
            let r = recipe(
                dir.path(),
                &format!("package: {{name: p, version: '1'}}\nbuild:\n  skip: {skip}\n"),
            );
            r.render(variant).unwrap().outputs[0].skipped
        };
        for (skip, on_313, on_314t) in [
            ("[win, python is startingwith(\"3.13.\")]", true, false),
            ("[win, python == \"3.13\"]", false, false),
            ("${{ 1 if is_freethreading else 0 }}", false, true),
            ("is_freethreading", false, true),
            ("[\"not is_freethreading\"]", true, false),
            ("true", true, true),
            ("[false, win]", false, false),
            ("${{ python is startingwith('3.14.') }}", false, true),
        ] {
            assert_eq!(
                skipped(skip, &v("3.13", false)),
                on_313,
                "skip: {skip} on 3.13"
            );
            assert_eq!(
                skipped(skip, &v("3.14", true)),
                on_314t,
                "skip: {skip} on 3.14t"
            );
        }
        // The top level's skip holds for outputs, with or without a `build:` of their own,
        // unless theirs says otherwise.
        let multi = recipe(
            dir.path(),
            "recipe: {name: m, version: '1'}\nbuild:\n  skip: is_freethreading\noutputs:\n  - package: {name: a}\n    build: {number: 1}\n  - package: {name: b}\n  - package: {name: c}\n    build: {skip: false}\n",
        );
        let skips = |variant: &Variant| -> Vec<bool> {
            let rendered = multi.render(variant).unwrap();
            rendered.outputs.iter().map(|o| o.skipped).collect()
        };
        assert_eq!(skips(&v("3.14", true)), [true, true, false]);
        assert_eq!(skips(&v("3.14", false)), [false, false, false]);

        std::fs::write(
            dir.path().join("recipe.yaml"),
            "package: {name: p, version: '1'}\nbuild:\n  skip:\n    - [3]\n",
        )
        .unwrap();
        let err = Recipe::load(dir.path())
            .unwrap()
            .render(&v("3.14", true))
            .unwrap_err();
        assert!(err.to_string().contains("must be a condition"), "{err}");
        assert_eq!((err.line, err.column), (4, 7), "{err:?}");
    }

    /// `noarch` is `python` or `generic`; another value is refused at its line, not
    /// written into the package's index.json.
    #[test]
    fn an_unknown_noarch_kind_is_refused_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: p, version: '1'}\nbuild:\n  noarch: pyhton\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown variant `pyhton`"), "{text}");
        assert!(
            text.contains("`python`") && text.contains("`generic`"),
            "{text}"
        );
        assert_eq!(err.line, 3, "{err:?}");
        for (kind, subdir, prefix) in [("python", "noarch", "pyh"), ("generic", "noarch", "h")] {
            let r = recipe(
                dir.path(),
                &format!("package: {{name: p, version: '1'}}\nbuild:\n  noarch: {kind}\n"),
            );
            let out = &r.render(&Variant::default()).unwrap().outputs[0];
            assert_eq!(out.noarch.map(NoArch::as_str), Some(kind));
            assert_eq!(out.subdir(), subdir);
            assert!(out.build_string.starts_with(prefix), "{}", out.build_string);
        }
    }

    /// A noarch output's file name changes with the recipe, like any other output's.
    #[test]
    fn a_changed_noarch_recipe_gets_a_new_build_string() {
        let dir = tempfile::tempdir().unwrap();
        let v = variant(&[
            ("python", VariantValue::String("3.14".into())),
            ("is_freethreading", VariantValue::Bool(true)),
        ]);
        let build_string = |script: &str| {
            recipe(
                dir.path(),
                &format!("package: {{name: p, version: '1'}}\nbuild:\n  noarch: python\n  script: {script}\n"),
            )
            .render(&v)
            .unwrap()
            .outputs[0]
            .build_string
            .clone()
        };
        let a = build_string("echo a");
        assert!(a.starts_with("pyh") && a.ends_with("_0"), "{a}");
        assert_ne!(a, build_string("echo b"));
        assert_eq!(a, build_string("echo a"));
    }

    #[test]
    fn renders_a_multi_output_recipe_per_variant() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(dir.path(), MULTI);
        let ft = r
            .render(&variant(&[
                ("python", VariantValue::String("3.14.7".into())),
                ("is_freethreading", VariantValue::Bool(true)),
            ]))
            .unwrap();
        assert_eq!(ft.outputs.len(), 2);
        let py = &ft.outputs[0];
        assert_eq!(py.version, "3.14.7");
        assert!(
            py.build_string.ends_with("_3_cp314t"),
            "{}",
            py.build_string
        );
        assert!(py.build_string.starts_with('h'));
        assert_eq!(py.build_number, 3);
        assert_eq!(
            py.site_packages_path.as_deref(),
            Some("lib/python3.14t/site-packages")
        );
        assert_eq!(py.track_features, vec!["py_freethreading".to_string()]);
        assert_eq!(
            py.requirements.run_exports.weak,
            vec!["python_abi 3.14.* *_cp314t".to_string()]
        );
        let abi = &ft.outputs[1];
        assert_eq!(
            (abi.name.as_str(), abi.version.as_str()),
            ("python_abi", "3.14")
        );
        assert_eq!(abi.build_string, "8_cp314t");
        assert_eq!(abi.subdir(), "noarch");
        assert_eq!(ft.sources[0].url.len(), 2);

        let gil = r
            .render(&variant(&[
                ("python", VariantValue::String("3.13.5".into())),
                ("is_freethreading", VariantValue::Bool(false)),
            ]))
            .unwrap();
        assert!(gil.outputs[0].build_string.ends_with("_103_cp313"));
        assert!(gil.outputs[0].track_features.is_empty());
        assert_eq!(gil.sources[0].path.as_deref(), Some("../src"));
    }

    #[test]
    fn unknown_keys_point_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package:\n  name: x\n  version: 1\nbuild:\n  numbr: 1\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!(err.line, 5, "{err}");
        assert!(
            err.message.contains("unknown field `numbr`"),
            "{}",
            err.message
        );
        assert!(err.to_string().contains("recipe.yaml:5:"), "{err}");
    }

    #[test]
    fn undefined_variables_are_errors_with_help() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "context:\n  v: 1\npackage:\n  name: x\n  version: ${{ verison }}\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!(err.line, 5);
        assert!(
            err.help.as_deref().unwrap_or("").contains("v"),
            "{:?}",
            err.help
        );
    }

    #[test]
    fn bare_python_gets_the_variant_and_the_build_string_shows_the_abi() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: ext, version: \"1.0\"}\nrequirements:\n  host: [python, pip]\n  run: [python]\n",
        );
        let out = r
            .render(&variant(&[
                ("python", VariantValue::String("3.14.* *_cp314t".into())),
                ("is_freethreading", VariantValue::Bool(true)),
            ]))
            .unwrap();
        let o = &out.outputs[0];
        assert_eq!(o.requirements.host[0], "python 3.14.* *_cp314t");
        assert!(o.build_string.starts_with("py314th"), "{}", o.build_string);
        assert!(o.build_string.ends_with("_0"));
    }

    #[test]
    fn compilers_render_as_rattler_build_renders_them() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: x, version: \"1\"}\nrequirements:\n  build:\n    - ${{ compiler('c') }}\n    - ${{ compiler(\"cxx\") }}\n    - ${{ compiler('rust') }}\n    - ${{ stdlib('c') }}\n    - cmake\n",
        );
        let out = r.render(&Variant::default()).unwrap();
        let o = &out.outputs[0];
        let p = target_platform();
        assert_eq!(
            o.requirements.build,
            vec![
                format!("gcc_{p}"),
                format!("gxx_{p}"),
                format!("rust_{p}"),
                format!("sysroot_{p}"),
                "cmake".to_string()
            ]
        );
        let lines: Vec<usize> = o
            .build_spans
            .iter()
            .map(|s| s.unwrap().start().unwrap().line())
            .collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8]);

        std::fs::write(
            dir.path().join("variants.yaml"),
            "c_compiler: [clang]\nc_compiler_version: [\"15\"]\nc_stdlib_version: [\"2.17\"]\n",
        )
        .unwrap();
        let r = Recipe::load(dir.path()).unwrap();
        let keys = r.used_variant_keys();
        assert!(keys.contains(&"c_compiler".to_string()), "{keys:?}");
        let variants = r.variant_combinations();
        assert_eq!(variants.len(), 1);
        let out = r.render(&variants[0]).unwrap();
        assert_eq!(
            out.outputs[0].requirements.build[0],
            format!("clang_{p} =15")
        );
        assert_eq!(
            out.outputs[0].requirements.build[3],
            format!("sysroot_{p} =2.17")
        );
    }

    #[test]
    fn an_explicit_build_number_zero_overrides_the_top_level_one() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "recipe: {name: split, version: \"1\"}\nbuild:\n  number: 100\noutputs:\n  - package: {name: a}\n    build: {number: 0}\n  - package: {name: b}\n    build: {noarch: generic}\n  - package: {name: c}\n",
        );
        let out = r.render(&Variant::default()).unwrap();
        let numbers: Vec<u64> = out.outputs.iter().map(|o| o.build_number).collect();
        assert_eq!(numbers, vec![0, 100, 100]);
        assert!(
            out.outputs[0].build_string.ends_with("_0"),
            "{}",
            out.outputs[0].build_string
        );
    }

    const PINS: &str = r#"recipe: {name: split, version: "1.2.3"}
outputs:
  - package: {name: libfoo}
    build: {string: h1234_0}
    requirements:
      run_exports:
        weak:
          - ${{ pin_subpackage('libfoo', upper_bound='x.x') }}
  - package: {name: foo}
    requirements:
      host: [numpy]
      run:
        - ${{ pin_subpackage('libfoo', exact=True) }}
        - ${{ pin_subpackage('libfoo') }}
        - ${{ pin_compatible('numpy', lower_bound='x.x', upper_bound='x') }}
      run_constraints:
        - ${{ pin_compatible('numpy', exact=True) }}
"#;

    #[test]
    fn pins_take_the_sibling_outputs_version_and_build() {
        let dir = tempfile::tempdir().unwrap();
        let out = recipe(dir.path(), PINS)
            .render(&Variant::default())
            .unwrap();
        assert_eq!(
            out.outputs[0].requirements.run_exports.weak,
            vec!["libfoo >=1.2.3,<1.3.0a0".to_string()]
        );
        let foo = &out.outputs[1];
        assert_eq!(
            foo.requirements.run,
            vec![
                "libfoo ==1.2.3 h1234_0".to_string(),
                "libfoo >=1.2.3,<2.0a0".to_string()
            ]
        );
        assert!(foo.requirements.run_constraints.is_empty());
        let compatible: Vec<(&str, bool, bool, usize)> = foo
            .pin_compatible
            .iter()
            .map(|p| {
                (
                    p.pin.name.as_str(),
                    p.pin.exact,
                    p.constraint,
                    p.span.unwrap().start().unwrap().line(),
                )
            })
            .collect();
        assert_eq!(
            compatible,
            vec![("numpy", false, false, 15), ("numpy", true, true, 17)]
        );
        assert_eq!(
            foo.pin_compatible[0]
                .pin
                .apply("2.1.3", "py314h_0")
                .unwrap(),
            "numpy >=2.1,<3.0a0"
        );
    }

    #[test]
    fn pin_errors_point_at_the_pin() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: foo, version: \"1\"}\nrequirements:\n  run:\n    - ${{ pin_subpackage('bar') }}\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!((err.line, err.column), (4, 7), "{err}");
        assert!(err.message.contains("no output `bar`"), "{}", err.message);
        let r = recipe(
            dir.path(),
            "package: {name: foo, version: \"1\"}\nrequirements:\n  host:\n    - ${{ pin_compatible('bar') }}\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        let r = recipe(
            dir.path(),
            "package: {name: foo, version: \"1\"}\nrequirements:\n  run:\n    - ${{ pin_subpackage('foo', exact=True, upper_bound='x') }}\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("exact=True"), "{}", err.message);
        let r = recipe(
            dir.path(),
            "package: {name: foo, version: \"1\"}\nrequirements:\n  run:\n    - ${{ pin_subpackage('foo', max_pin='x') }}\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert!(err.message.contains("upper_bound"), "{}", err.message);
    }

    #[test]
    fn keys_ftforge_does_not_carry_out_are_refused_where_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "build:\n  files: [lib/]\n",
                "`build.files` is not supported",
                (5, 3),
            ),
            (
                "build:\n  python:\n    skip_pyc_compilation: [a.py]\n",
                "`build.python.skip_pyc_compilation`",
                (6, 5),
            ),
            (
                "build:\n  script:\n    interpreter: python\n    content: [print(1)]\n",
                "`build.script.interpreter`",
                (6, 5),
            ),
            (
                "build:\n  merge_build_and_host_envs: false\n",
                "merge_build_and_host_envs",
                (5, 3),
            ),
            (
                "build:\n  script:\n    file: build.sh\n    content: [echo]\n",
                "both `file` and `content`",
                (7, 5),
            ),
            (
                "tests:\n  - package_contents:\n      files: [bin/x]\n",
                "`tests[0].package_contents`",
                (5, 5),
            ),
            (
                "tests:\n  - python:\n      imports: [x]\n      python_version: [\"3.13\"]\n",
                "`tests[0].python.python_version`",
                (7, 7),
            ),
            (
                "source:\n  url: https://example.invalid/x.tgz\n  md5: 0123\n",
                "`source[0].md5`",
                (6, 3),
            ),
            (
                "source:\n  - path: src\n    use_gitignore: true\n",
                "`source[0].use_gitignore`",
                (6, 5),
            ),
            ("schema_version: 2\n", "`schema_version`", (4, 1)),
        ];
        for (tail, message, (line, column)) in cases {
            let text =
                format!("package: {{name: x, version: \"1\"}}\n# a comment\n# another\n{tail}");
            let err = recipe(dir.path(), &text)
                .render(&Variant::default())
                .unwrap_err();
            assert!(err.message.contains(message), "{tail}: {}", err.message);
            assert_eq!((err.line, err.column), (line, column), "{tail}: {err}");
            assert!(err.help.is_some(), "{tail}");
        }
        let multi = "recipe: {name: s, version: \"1\"}\noutputs:\n  - package: {name: a}\n    source: {path: x}\n";
        let err = recipe(dir.path(), multi)
            .render(&Variant::default())
            .unwrap_err();
        assert!(
            err.message.contains("`outputs[0].source`"),
            "{}",
            err.message
        );
        assert_eq!(err.line, 4);
        // What ftforge does anyway is accepted.
        let fine = "package: {name: x, version: \"1\"}\nbuild:\n  merge_build_and_host_envs: true\n  always_include_files: []\n  script:\n    interpreter: bash\n    content: [echo]\nsource:\n  - path: src\n    use_gitignore: false\nschema_version: 1\n";
        recipe(dir.path(), fine)
            .render(&Variant::default())
            .unwrap();
    }

    #[test]
    fn entry_points_and_use_keys_are_checked_where_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: x, version: \"1\"}\nbuild:\n  python:\n    entry_points:\n      - sc-hello = sortedcontainers:SortedList\n",
        );
        let out = r.render(&Variant::default()).unwrap();
        let e = &out.outputs[0].entry_points[0];
        assert_eq!(
            (e.command.as_str(), e.module.as_str(), e.function.as_str()),
            ("sc-hello", "sortedcontainers", "SortedList")
        );
        let r = recipe(
            dir.path(),
            "package: {name: x, version: \"1\"}\nbuild:\n  python:\n    entry_points:\n      - sc-hello = sortedcontainers\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!((err.line, err.column), (5, 9), "{err}");
        let r = recipe(
            dir.path(),
            "package: {name: x, version: \"1\"}\nbuild:\n  variant:\n    use_keys: [numpy]\n",
        );
        let err = r.render(&Variant::default()).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.message.contains("`numpy`"), "{}", err.message);
    }

    #[test]
    fn word_mentions() {
        assert!(mentions_word("x: ${{ python }}", "python"));
        assert!(!mentions_word("x: cpython_thing", "python"));
    }
}
