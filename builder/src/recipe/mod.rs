//! Recipes in rattler-build's v1 format: loading (`recipe.yaml` with spans), rendering
//! for one variant, and the outputs a rendered recipe produces.

mod error;
mod model;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use marked_yaml::Node;
use sha1::{Digest, Sha1};

pub use error::{RecipeError, SourceFile};
pub use model::*;
pub use render::{jinja_environment, Rendered, Renderer};

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
    /// `python` or `generic` for noarch packages.
    pub noarch: Option<String>,
    pub script: Option<Script>,
    pub requirements: Requirements,
    pub tests: Vec<TestSpec>,
    pub about: About,
    pub site_packages_path: Option<String>,
    pub track_features: Vec<String>,
    pub skipped: bool,
    /// The variant values this output's hash was computed from (`hash_input.json`).
    pub hash_input: BTreeMap<String, String>,
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
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&self.dir)
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
                    path.strip_prefix(&self.dir)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .as_bytes(),
                );
                sha2::Digest::update(&mut hasher, &bytes);
            }
        }
        hex::encode(sha2::Digest::finalize(hasher))
    }

    /// The time packages of this recipe carry (`index.json`'s timestamp, file times in
    /// the archive, `SOURCE_DATE_EPOCH` for build scripts), so that an unchanged recipe
    /// gives byte-identical packages: `SOURCE_DATE_EPOCH` if set, else the newest
    /// modification time among the recipe folder's files.
    pub fn source_date_epoch(&self) -> i64 {
        if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse().ok())
        {
            return epoch;
        }
        walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .max()
            .unwrap_or(0)
    }

    /// The variant keys this recipe refers to (by name anywhere in its text).
    pub fn used_variant_keys(&self) -> Vec<String> {
        self.variants
            .keys
            .keys()
            .filter(|k| mentions_word(&self.file.text, k))
            .cloned()
            .collect()
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

        let outputs = self.outputs(&document, variant, &hash, &rendered)?;
        Ok(RenderedRecipe {
            variant: variant.clone(),
            sources: document.source.clone(),
            outputs,
            rendered: json,
            extra: document.extra.clone(),
            recipe_digest,
        })
    }

    fn outputs(
        &self,
        doc: &RecipeDocument,
        variant: &Variant,
        hash: &str,
        rendered: &Rendered,
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
            specs.push((
                package.clone(),
                doc.build.clone(),
                doc.requirements.clone(),
                doc.tests.clone(),
                doc.about.clone(),
            ));
        } else {
            for out in &doc.outputs {
                let mut build = out.build.clone().unwrap_or_else(|| doc.build.clone());
                if build.number == 0 {
                    build.number = doc.build.number;
                }
                specs.push((
                    out.package.clone(),
                    build,
                    out.requirements.clone().unwrap_or_default(),
                    out.tests.clone().unwrap_or_default(),
                    out.about.clone().unwrap_or_else(|| doc.about.clone()),
                ));
            }
        }
        let track_features = doc.extra.get("track_features").cloned().unwrap_or_default();
        let mut outputs = Vec::new();
        for (package, build, mut requirements, tests, about) in specs {
            let Some(version) = package.version.clone().or_else(|| recipe_version.clone()) else {
                return Err(self
                    .file
                    .error(None, format!("output `{}` has no version", package.name)));
            };
            apply_variant_to_requirements(&mut requirements.host, variant);
            apply_variant_to_requirements(&mut requirements.build, variant);
            let noarch = build.noarch.clone();
            let hash_input = hash_input(variant, noarch.as_deref());
            let own_hash = if noarch.is_some() {
                short_hash(&hash_input)
            } else {
                hash.to_string()
            };
            let build_string = build.string.clone().unwrap_or_else(|| {
                let py_prefix = match noarch.as_deref() {
                    Some("python") => "py".to_string(),
                    Some(_) => String::new(),
                    None => python_build_prefix(variant, &requirements),
                };
                format!("{py_prefix}h{own_hash}_{}", build.number)
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
                build_number: build.number,
                site_packages_path: build
                    .python
                    .as_ref()
                    .and_then(|p| p.site_packages_path.clone()),
                skipped: build.is_skipped(),
                noarch,
                script: build.script.clone(),
                requirements,
                tests,
                about,
                track_features: features,
                hash_input,
            });
        }
        Ok(outputs)
    }
}

/// `py314t` when the output is built against a python of a known ABI, else empty.
fn python_build_prefix(variant: &Variant, requirements: &Requirements) -> String {
    let uses_python = requirements
        .host
        .iter()
        .any(|r| r.split_whitespace().next() == Some("python"));
    if !uses_python {
        return String::new();
    }
    match variant.get_str("python") {
        Some(spec) => ftforge_interpreter::PythonAbi::from_variant_spec(
            &spec,
            variant.is_true("is_freethreading"),
        )
        .map(|abi| abi.build_string_prefix())
        .unwrap_or_default(),
        None => String::new(),
    }
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

fn hash_input(variant: &Variant, noarch: Option<&str>) -> BTreeMap<String, String> {
    variant
        .0
        .iter()
        .filter(|(k, _)| !(noarch.is_some() && matches!(k.as_str(), "python" | "is_freethreading")))
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

fn short_hash(input: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_string(input).unwrap_or_default();
    let digest = Sha1::digest(json.as_bytes());
    hex::encode(digest)[..7].to_string()
}

/// The 7-hex-digit `${{ hash }}` of a build string: the variant and the recipe's own
/// files, so a changed recipe never reuses a file name a conda client may have cached
/// with other contents.
pub fn variant_hash(variant: &Variant, platform: &str, recipe_digest: &str) -> String {
    let mut input = hash_input(variant, None);
    input.insert("target_platform".into(), platform.into());
    input.insert("recipe".into(), recipe_digest.into());
    short_hash(&input)
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
    fn word_mentions() {
        assert!(mentions_word("x: ${{ python }}", "python"));
        assert!(!mentions_word("x: cpython_thing", "python"));
    }
}
