//! Variant configuration (`variants.yaml`): keys with lists of values, `zip_keys` that
//! advance together, and the combinations a recipe actually uses.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use marked_yaml::{Node, Span};

use crate::recipe::{RecipeError, SourceFile};

/// One combination of variant values (sorted by key).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Variant(pub BTreeMap<String, VariantValue>);

/// Variant values are strings or booleans (`is_freethreading: [true, false]`).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum VariantValue {
    Bool(bool),
    String(String),
}

impl fmt::Display for VariantValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VariantValue::Bool(b) => write!(f, "{b}"),
            VariantValue::String(s) => f.write_str(s),
        }
    }
}

impl Variant {
    pub fn get(&self, key: &str) -> Option<&VariantValue> {
        self.0.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| v.to_string())
    }

    pub fn is_true(&self, key: &str) -> bool {
        matches!(self.get(key), Some(VariantValue::Bool(true)))
            || matches!(self.get(key), Some(VariantValue::String(s)) if s == "true")
    }

    /// `python=3.14.7, is_freethreading=true`.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How the compiled-in default variants are named in errors and `files`.
pub const BUILTIN_VARIANTS_NAME: &str = "recipes/variants.yaml (built into ftforge)";

/// The parsed variants files that apply to a recipe, later files overriding earlier.
#[derive(Debug, Clone, Default)]
pub struct VariantConfig {
    pub keys: IndexMap<String, Vec<VariantValue>>,
    pub zip_keys: Vec<Vec<String>>,
    pub files: Vec<PathBuf>,
    /// Where each key and `zip_keys` were last set (for errors after merging).
    origins: IndexMap<String, Origin>,
}

/// A place in a variants file.
#[derive(Debug, Clone)]
struct Origin {
    file: SourceFile,
    span: Span,
}

impl Origin {
    fn describe(&self) -> String {
        let (line, column) = self
            .span
            .start()
            .map(|m| (m.line(), m.column()))
            .unwrap_or((1, 1));
        format!("{}:{line}:{column}", self.file.path.display())
    }
}

/// The key under which `zip_keys`' own origin is kept.
const ZIP_KEYS: &str = "zip_keys";

impl VariantConfig {
    /// The variants files for a recipe directory: `variants.yaml` in its parent
    /// directory (shared, like `recipes/variants.yaml`), then its own.
    pub fn discover(recipe_dir: &Path) -> Result<Self, RecipeError> {
        let mut config = VariantConfig::default();
        let candidates = [
            recipe_dir.parent().map(|p| p.join("variants.yaml")),
            Some(recipe_dir.join("variants.yaml")),
        ];
        for path in candidates.into_iter().flatten() {
            if path.is_file() {
                config.merge(Self::load(&path)?);
            }
        }
        if config.files.is_empty() {
            // A recipe folder anywhere else builds against the interpreters ftforge
            // ships (a variants file beside or above it says otherwise).
            config = Self::builtin()?;
        }
        // A file may override a zipped key with another number of values.
        config.check_zip_lengths()?;
        Ok(config)
    }

    /// The interpreter variants of the shipped `recipes/variants.yaml`, compiled in.
    pub fn builtin() -> Result<Self, RecipeError> {
        Self::parse(SourceFile {
            path: PathBuf::from(BUILTIN_VARIANTS_NAME),
            text: include_str!("../../recipes/variants.yaml").to_string(),
        })
    }

    /// The interpreters the shipped python recipe builds (`recipes/python/variants.yaml`,
    /// compiled in): which interpreter ABIs have a final release ftforge ships.
    pub fn shipped_interpreters() -> Result<Self, RecipeError> {
        Self::parse(SourceFile {
            path: PathBuf::from("recipes/python/variants.yaml"),
            text: include_str!("../../recipes/python/variants.yaml").to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, RecipeError> {
        Self::parse(SourceFile::read(path).map_err(|e| io_error(path, e))?)
    }

    fn parse(file: SourceFile) -> Result<Self, RecipeError> {
        let path = file.path.clone();
        let path = path.as_path();
        let root = parse_yaml(&file)?;
        let Some(map) = root.as_mapping() else {
            return Err(file.error(
                Some(root.span()),
                "a variants file is a mapping of keys to lists of values",
            ));
        };
        let mut config = VariantConfig {
            files: vec![path.to_path_buf()],
            ..Default::default()
        };
        for (key, value) in map.iter() {
            let key_name = key.as_str().to_string();
            if key_name == ZIP_KEYS {
                config.zip_keys = parse_zip_keys(&file, value)?;
                config.origins.insert(
                    ZIP_KEYS.into(),
                    Origin {
                        file: file.clone(),
                        span: *key.span(),
                    },
                );
                continue;
            }
            if key_name == "pin_run_as_build" {
                return Err(file
                    .error(
                        Some(key.span()),
                        "`pin_run_as_build` is not evaluated by ftforge",
                    )
                    .with_help(
                        "it is conda-build's; pin run requirements with `pin_compatible` or a package's `run_exports` (docs/recipes.md)",
                    ));
            }
            let Some(seq) = value.as_sequence() else {
                return Err(file
                    .error(
                        Some(value.span()),
                        format!("`{key_name}` must be a list of values"),
                    )
                    .with_help(format!(
                        "write `{key_name}: [\"value\"]` even for one value"
                    )));
            };
            let mut values = Vec::new();
            for item in seq.iter() {
                let Some(scalar) = item.as_scalar() else {
                    return Err(
                        file.error(Some(item.span()), "variant values are strings or booleans")
                    );
                };
                let text = scalar.as_str();
                values.push(match (scalar.may_coerce(), text) {
                    (true, "true") => VariantValue::Bool(true),
                    (true, "false") => VariantValue::Bool(false),
                    _ => VariantValue::String(text.to_string()),
                });
            }
            config.origins.insert(
                key_name.clone(),
                Origin {
                    file: file.clone(),
                    span: *key.span(),
                },
            );
            config.keys.insert(key_name, values);
        }
        config.check_zip_lengths()?;
        Ok(config)
    }

    /// Every zip group's keys have the same number of values. The error points at a
    /// key set in another file than `zip_keys` (the override that broke the group), or
    /// else at `zip_keys`, and lists each key's count and where it was set.
    pub fn check_zip_lengths(&self) -> Result<(), RecipeError> {
        for group in &self.zip_keys {
            let lengths: Vec<(&String, usize)> = group
                .iter()
                .filter_map(|k| self.keys.get(k).map(|v| (k, v.len())))
                .collect();
            if !lengths.windows(2).any(|w| w[0].1 != w[1].1) {
                continue;
            }
            let zip_origin = self.origins.get(ZIP_KEYS);
            let culprit = lengths
                .iter()
                .filter_map(|(k, _)| self.origins.get(*k))
                .find(|o| zip_origin.is_none_or(|z| z.file.path != o.file.path))
                .or(zip_origin);
            let detail: Vec<String> = lengths
                .iter()
                .map(|(k, n)| match self.origins.get(*k) {
                    Some(o) => format!("`{k}` has {n} (set at {})", o.describe()),
                    None => format!("`{k}` has {n}"),
                })
                .collect();
            let message = format!(
                "the zipped keys [{}] must have the same number of values",
                group.join(", ")
            );
            let error = match culprit {
                Some(o) => o.file.error(Some(&o.span), message),
                None => SourceFile {
                    path: self.files.last().cloned().unwrap_or_default(),
                    text: String::new(),
                }
                .error(None, message),
            };
            let zipped_at = zip_origin
                .map(|z| format!(" (zip_keys at {})", z.describe()))
                .unwrap_or_default();
            return Err(error.with_help(format!("{}{zipped_at}", detail.join(", "))));
        }
        Ok(())
    }

    pub fn merge(&mut self, other: VariantConfig) {
        for (k, v) in other.keys {
            self.keys.insert(k, v);
        }
        if !other.zip_keys.is_empty() {
            self.zip_keys = other.zip_keys;
        }
        self.origins.extend(other.origins);
        self.files.extend(other.files);
    }

    /// Every combination of the keys in `used` (zipped keys advance together).
    pub fn combinations(&self, used: &[String]) -> Vec<Variant> {
        let mut groups: Vec<Vec<(String, Vec<VariantValue>)>> = Vec::new();
        let mut grouped: Vec<&String> = Vec::new();
        for zip in &self.zip_keys {
            // A zip group is used as a whole when any of its keys is used.
            if !zip.iter().any(|k| used.contains(k)) {
                continue;
            }
            let members: Vec<_> = zip
                .iter()
                .filter_map(|k| self.keys.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            if !members.is_empty() {
                grouped.extend(zip.iter());
                groups.push(members);
            }
        }
        for (key, values) in &self.keys {
            if used.contains(key) && !grouped.contains(&key) {
                groups.push(vec![(key.clone(), values.clone())]);
            }
        }
        let mut variants = vec![Variant::default()];
        for group in groups {
            // Equal after `check_zip_lengths`; never index past the shortest.
            let n = group.iter().map(|(_, v)| v.len()).min().unwrap_or(0);
            let mut next = Vec::new();
            for base in &variants {
                for i in 0..n {
                    let mut v = base.clone();
                    for (key, values) in &group {
                        v.0.insert(key.clone(), values[i].clone());
                    }
                    next.push(v);
                }
            }
            variants = next;
        }
        variants
    }
}

fn parse_zip_keys(file: &SourceFile, node: &Node) -> Result<Vec<Vec<String>>, RecipeError> {
    let bad = || {
        file.error(
            Some(node.span()),
            "`zip_keys` is a list of lists of key names",
        )
        .with_help("for example `zip_keys: [[python, is_freethreading]]`")
    };
    let seq = node.as_sequence().ok_or_else(bad)?;
    seq.iter()
        .map(|group| {
            let inner = group.as_sequence().ok_or_else(bad)?;
            inner
                .iter()
                .map(|k| {
                    k.as_scalar()
                        .map(|s| s.as_str().to_string())
                        .ok_or_else(bad)
                })
                .collect()
        })
        .collect()
}

pub(crate) fn parse_yaml(file: &SourceFile) -> Result<Node, RecipeError> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    marked_yaml::parse_yaml_with_options(0, &file.text, options).map_err(|e| yaml_error(file, e))
}

pub(crate) fn io_error(path: &Path, err: std::io::Error) -> RecipeError {
    let file = SourceFile {
        path: path.to_path_buf(),
        text: String::new(),
    };
    file.error(None, format!("cannot read: {err}"))
}

pub(crate) fn yaml_error(file: &SourceFile, err: marked_yaml::LoadError) -> RecipeError {
    use marked_yaml::LoadError as E;
    let marker = match &err {
        E::TopLevelMustBeMapping(m)
        | E::TopLevelMustBeSequence(m)
        | E::UnexpectedAnchor(m)
        | E::MappingKeyMustBeScalar(m)
        | E::UnexpectedTag(m)
        | E::ScanError(m, _) => Some(*m),
        E::DuplicateKey(inner) => inner.key.span().start().copied(),
    };
    let span = marker.map(marked_yaml::Span::new_start);
    let message = match &err {
        E::DuplicateKey(inner) => format!("duplicate key `{}`", inner.key.as_str()),
        E::ScanError(_, scan) => format!("invalid YAML: {scan}"),
        other => format!("invalid YAML: {other:?}"),
    };
    file.error(span.as_ref(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> VariantConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variants.yaml");
        std::fs::write(&path, text).unwrap();
        VariantConfig::load(&path).unwrap()
    }

    #[test]
    fn zipped_keys_advance_together() {
        let c = config(
            "python: [\"3.14.* *_cp314t\", \"3.14.* *_cp314\"]\nis_freethreading: [true, false]\nzip_keys: [[python, is_freethreading]]\nother: [a, b]\n",
        );
        let used = vec!["python".to_string()];
        let vs = c.combinations(&used);
        assert_eq!(vs.len(), 2);
        assert!(vs[0].is_true("is_freethreading"));
        assert_eq!(vs[0].get_str("python").unwrap(), "3.14.* *_cp314t");
        assert!(!vs[1].is_true("is_freethreading"));
        let with_other = c.combinations(&[used, vec!["other".to_string()]].concat());
        assert_eq!(with_other.len(), 4);
    }

    #[test]
    fn conda_build_pin_run_as_build_is_refused_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variants.yaml");
        std::fs::write(
            &path,
            "python: [\"3.14\"]\npin_run_as_build:\n  zlib: {max_pin: x}\n",
        )
        .unwrap();
        let err = VariantConfig::load(&path).unwrap_err();
        assert_eq!((err.line, err.column), (2, 1), "{err}");
        assert!(err.message.contains("pin_run_as_build"), "{err}");
    }

    #[test]
    fn a_recipe_folder_without_variants_files_gets_the_shipped_interpreters() {
        let dir = tempfile::tempdir().unwrap();
        let recipe = dir.path().join("lonely");
        std::fs::create_dir(&recipe).unwrap();
        let config = VariantConfig::discover(&recipe).unwrap();
        assert_eq!(config.files, vec![PathBuf::from(BUILTIN_VARIANTS_NAME)]);
        let variants = config.combinations(&["python".into(), "is_freethreading".into()]);
        let shipped = VariantConfig::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/variants.yaml"),
        )
        .unwrap()
        .combinations(&["python".into(), "is_freethreading".into()]);
        assert_eq!(variants, shipped);
        assert!(variants.len() >= 4, "{variants:?}");
        // A variants file beside it wins.
        std::fs::write(
            recipe.join("variants.yaml"),
            "python: [\"3.14.* *_cp314t\"]\n",
        )
        .unwrap();
        let own = VariantConfig::discover(&recipe).unwrap();
        assert_eq!(own.combinations(&["python".into()]).len(), 1);
    }

    #[test]
    fn an_override_that_breaks_a_zip_group_is_located_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("variants.yaml"),
            "python: [a, b, c, d]\nis_freethreading: [true, false, true, false]\nzip_keys:\n  - [python, is_freethreading]\n",
        )
        .unwrap();
        let recipe = dir.path().join("foo");
        std::fs::create_dir(&recipe).unwrap();
        std::fs::write(
            recipe.join("variants.yaml"),
            "# only free-threaded\nis_freethreading: [true]\n",
        )
        .unwrap();
        let err = VariantConfig::discover(&recipe).unwrap_err();
        assert_eq!(err.path, recipe.join("variants.yaml"));
        assert_eq!((err.line, err.column), (2, 1), "{err}");
        assert!(
            err.message.contains("[python, is_freethreading]"),
            "{}",
            err.message
        );
        let help = err.help.unwrap();
        assert!(
            help.contains("`python` has 4") && help.contains("`is_freethreading` has 1"),
            "{help}"
        );
        // Even unchecked, combinations never index past the shortest list.
        let mut merged = VariantConfig::load(&dir.path().join("variants.yaml")).unwrap();
        merged.merge(VariantConfig::load(&recipe.join("variants.yaml")).unwrap());
        assert_eq!(merged.combinations(&["python".to_string()]).len(), 1);
    }

    #[test]
    fn unequal_zip_lengths_are_an_error_with_a_location() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variants.yaml");
        std::fs::write(&path, "a: [1, 2]\nb: [x]\nzip_keys: [[a, b]]\n").unwrap();
        let err = VariantConfig::load(&path).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("same number"), "{}", err.message);
    }
}
