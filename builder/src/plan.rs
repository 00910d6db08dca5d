//! What to build: recipes found under the given paths, and their variants narrowed by
//! the user's `--variant` / `--python` choices.

use std::path::{Path, PathBuf};

use crate::recipe::{Recipe, RecipeError};
use crate::variants::Variant;

/// The user's narrowing of the variant matrix.
#[derive(Debug, Clone, Default)]
pub struct VariantFilter {
    /// `freethreading` or `gil`.
    pub kind: Option<VariantKind>,
    /// A version prefix: `3.14` keeps `3.14.7` and `3.14.* *_cp314t`, not `3.140`.
    pub python: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    Freethreading,
    Gil,
}

impl VariantFilter {
    pub fn accepts(&self, variant: &Variant) -> bool {
        if let Some(kind) = self.kind {
            if variant.get("is_freethreading").is_some()
                && variant.is_true("is_freethreading") != (kind == VariantKind::Freethreading)
            {
                return false;
            }
        }
        if !self.python.is_empty() {
            if let Some(spec) = variant.get_str("python") {
                let version = spec
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(".*");
                let matches = |want: &String| {
                    version == want.as_str()
                        || version
                            .strip_prefix(want.as_str())
                            .is_some_and(|rest| rest.starts_with('.'))
                };
                if !self.python.iter().any(matches) {
                    return false;
                }
            }
        }
        true
    }
}

/// Recipes under `paths`: a directory with `recipe.yaml` (or the file itself) is one
/// recipe; any other directory contributes each subdirectory that has one. Recipes
/// that produce `python` come first (everything else is built against them).
pub fn discover_recipes(paths: &[PathBuf]) -> Result<Vec<Recipe>, RecipeError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for path in paths {
        if path.is_file() || path.join("recipe.yaml").is_file() {
            dirs.push(path.clone());
        } else if path.is_dir() {
            let mut subs: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| crate::variants::io_error(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("recipe.yaml").is_file())
                .collect();
            subs.sort();
            dirs.extend(subs);
        } else {
            return Err(crate::variants::io_error(
                &path.join("recipe.yaml"),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no recipe.yaml here"),
            ));
        }
    }
    let mut recipes = dirs
        .iter()
        .map(|d| Recipe::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    recipes.sort_by_key(|r| (!produces_python(&r.dir), r.dir.clone()));
    Ok(recipes)
}

fn produces_python(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "python")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::VariantValue;

    fn v(python: &str, ft: bool) -> Variant {
        Variant(
            [
                ("python".to_string(), VariantValue::String(python.into())),
                ("is_freethreading".to_string(), VariantValue::Bool(ft)),
            ]
            .into(),
        )
    }

    #[test]
    fn filters_by_kind_and_version_prefix() {
        let f = VariantFilter {
            kind: Some(VariantKind::Freethreading),
            python: vec!["3.14".into()],
        };
        assert!(f.accepts(&v("3.14.7", true)));
        assert!(f.accepts(&v("3.14.* *_cp314t", true)));
        assert!(!f.accepts(&v("3.14.7", false)));
        assert!(!f.accepts(&v("3.13.5", true)));
        assert!(!f.accepts(&v("3.140", true)));
        assert!(VariantFilter::default().accepts(&v("3.13.5", false)));
    }
}
