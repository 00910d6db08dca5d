//! The typed form of a rendered rattler-build v1 recipe (after `${{ }}` expressions and
//! `if/then/else` selectors are evaluated for one variant).

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};

/// Accepts a YAML string, number or bool as a string (`version: 2024` is a string).
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    Ok(match Any::deserialize(d)? {
        Any::S(s) => s,
        Any::I(i) => i.to_string(),
        Any::F(f) => f.to_string(),
        Any::B(b) => b.to_string(),
    })
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient_string(d).map(Some)
}

/// One string or a list of strings.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// One item or a list of items (`source:` may be a single mapping).
fn one_or_many_items<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(item) => vec![item],
        OneOrMany::Many(items) => items,
    })
}

fn one_or_many_items_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    one_or_many_items(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecipeDocument {
    #[serde(default)]
    pub schema_version: Option<u32>,
    #[serde(default)]
    pub context: serde_json::Value,
    #[serde(default)]
    pub package: Option<PackageMeta>,
    /// Multi-output recipes name themselves under `recipe:`.
    #[serde(default)]
    pub recipe: Option<RecipeMeta>,
    #[serde(default, deserialize_with = "one_or_many_items")]
    pub source: Vec<Source>,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub requirements: Requirements,
    #[serde(default)]
    pub tests: Vec<TestSpec>,
    #[serde(default)]
    pub about: About,
    #[serde(default)]
    pub outputs: Vec<OutputDocument>,
    #[serde(default)]
    pub extra: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageMeta {
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeMeta {
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDocument {
    pub package: PackageMeta,
    #[serde(default, deserialize_with = "one_or_many_items_opt")]
    pub source: Option<Vec<Source>>,
    #[serde(default)]
    pub build: Option<Build>,
    #[serde(default)]
    pub requirements: Option<Requirements>,
    #[serde(default)]
    pub tests: Option<Vec<TestSpec>>,
    #[serde(default)]
    pub about: Option<About>,
}

/// A `source:` entry: a URL (with mirrors) checked by sha256, or a local path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default, deserialize_with = "one_or_many")]
    pub url: Vec<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub target_directory: Option<String>,
    #[serde(default)]
    pub patches: Vec<String>,
    #[serde(default)]
    pub use_gitignore: Option<bool>,
}

/// `build.noarch`: the two kinds conda knows. Any other value is refused at its line
/// (serde names the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoArch {
    /// Python files linked into whichever site-packages the environment has.
    Python,
    /// Files that depend on no platform and no interpreter.
    Generic,
}

impl NoArch {
    /// The value of `noarch` in a package's `index.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoArch::Python => "python",
            NoArch::Generic => "generic",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// `None` when absent: an output's build then takes the top-level number, while an
    /// explicit `number: 0` stays 0.
    #[serde(default)]
    pub number: Option<u64>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub string: Option<String>,
    #[serde(default)]
    pub script: Option<Script>,
    #[serde(default)]
    pub noarch: Option<NoArch>,
    #[serde(default)]
    pub python: Option<PythonBuild>,
    /// Read from the rendered tree with its spans (`Recipe::skipped`), kept here so that
    /// the key is known to the format.
    #[serde(default)]
    pub skip: Option<serde_json::Value>,
    #[serde(default)]
    pub variant: Option<VariantBuild>,
    // The keys below are parsed so that `unsupported.rs` can refuse them with their
    // location (they are never acted on).
    #[serde(default)]
    pub prefix_detection: Option<serde_json::Value>,
    /// Carried out by `linkage.rs` (rpaths, overlinking); its other keys are refused.
    #[serde(default)]
    pub dynamic_linking: DynamicLinking,
    #[serde(default)]
    pub files: Option<serde_json::Value>,
    #[serde(default)]
    pub always_copy_files: Vec<String>,
    #[serde(default)]
    pub always_include_files: Vec<String>,
    #[serde(default)]
    pub merge_build_and_host_envs: Option<bool>,
}

/// `build.dynamic_linking`: rattler-build's keys. `rpaths`, `overlinking_behavior` and
/// `missing_dso_allowlist` are carried out (`linkage.rs`); the others are parsed so that
/// `unsupported.rs` refuses them unless they ask for what ftforge does anyway.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DynamicLinking {
    /// Directories (relative to the prefix) every ELF file needing a library gets in its
    /// rpath, `$ORIGIN`-relative; default `lib/`.
    #[serde(default)]
    pub rpaths: Option<Vec<String>>,
    /// `error`: a `DT_NEEDED` found neither in the package, its host packages nor the C
    /// runtime fails the build.
    #[serde(default)]
    pub overlinking_behavior: OverlinkingBehavior,
    /// Globs of library names that may come from the machine anyway.
    #[serde(default)]
    pub missing_dso_allowlist: Vec<String>,
    #[serde(default)]
    pub binary_relocation: Option<serde_json::Value>,
    #[serde(default)]
    pub rpath_allowlist: Vec<String>,
    #[serde(default)]
    pub overdepending_behavior: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OverlinkingBehavior {
    #[default]
    Ignore,
    Error,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PythonBuild {
    #[serde(default)]
    pub entry_points: Vec<String>,
    #[serde(default)]
    pub site_packages_path: Option<String>,
    #[serde(default)]
    pub skip_pyc_compilation: Vec<String>,
    #[serde(default)]
    pub use_python_app_entrypoint: Option<bool>,
    #[serde(default)]
    pub version_independent: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VariantBuild {
    #[serde(default)]
    pub use_keys: Vec<String>,
    #[serde(default)]
    pub ignore_keys: Vec<String>,
    #[serde(default)]
    pub down_prioritize_variant: Option<i64>,
}

/// `script:` as a string, a list of lines, or `{file | content, env, interpreter}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Script {
    Line(String),
    Lines(Vec<String>),
    Detailed(ScriptDetails),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScriptDetails {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default, deserialize_with = "one_or_many_opt")]
    pub content: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub env: IndexMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub interpreter: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
}

/// A map of names to strings where YAML numbers and bools count as strings.
fn lenient_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, String>, D::Error> {
    let raw = IndexMap::<String, serde_json::Value>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

fn one_or_many_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    one_or_many(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    #[serde(default)]
    pub build: Vec<String>,
    #[serde(default)]
    pub host: Vec<String>,
    #[serde(default)]
    pub run: Vec<String>,
    #[serde(default)]
    pub run_constraints: Vec<String>,
    #[serde(default)]
    pub run_exports: RunExports,
    #[serde(default)]
    pub ignore_run_exports: IgnoreRunExports,
}

/// `requirements.ignore_run_exports`: run-exports of host packages that are not applied.
#[derive(Debug, Clone, Deserialize, Default, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRunExports {
    /// Exported specs with these package names are dropped, whichever package exports them.
    #[serde(default)]
    pub by_name: Vec<String>,
    /// Nothing these host packages export is applied.
    #[serde(default)]
    pub from_package: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunExports {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weak: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strong: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noarch: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weak_constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strong_constraints: Vec<String>,
}

impl RunExports {
    pub fn is_empty(&self) -> bool {
        self == &RunExports::default()
    }

    /// The package's `info/run_exports.json` (where the constraints are spelled
    /// `weak_constrains` / `strong_constrains`, as conda clients read them).
    pub fn to_json(&self) -> rattler_conda_types::package::RunExportsJson {
        rattler_conda_types::package::RunExportsJson {
            weak: self.weak.clone(),
            strong: self.strong.clone(),
            noarch: self.noarch.clone(),
            weak_constrains: self.weak_constraints.clone(),
            strong_constrains: self.strong_constraints.clone(),
        }
    }
}

/// One entry of `tests:`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    #[serde(default)]
    pub script: Option<Script>,
    #[serde(default)]
    pub requirements: Option<serde_json::Value>,
    #[serde(default)]
    pub files: Option<serde_json::Value>,
    #[serde(default)]
    pub python: Option<PythonTest>,
    #[serde(default)]
    pub package_contents: Option<serde_json::Value>,
    #[serde(default)]
    pub downstream: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PythonTest {
    #[serde(default, deserialize_with = "one_or_many")]
    pub imports: Vec<String>,
    #[serde(default)]
    pub pip_check: Option<bool>,
    #[serde(default)]
    pub python_version: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Default, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct About {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_family: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub license_file: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
