//! What to build: recipes found under the given paths, and their variants narrowed by
//! the user's `--variant` / `--python` choices.

use std::path::PathBuf;

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
/// come in dependency order (the interpreter first: everything is built against it).
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
    let recipes = dirs
        .iter()
        .map(|d| Recipe::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(dependency_order(recipes))
}

/// The package names a recipe produces and the names it needs (build, host and run),
/// from its first variant.
fn names(recipe: &Recipe) -> (Vec<String>, Vec<String>) {
    let variant = recipe
        .variant_combinations()
        .into_iter()
        .next()
        .unwrap_or_default();
    match crate::job::Job::new(recipe, &variant) {
        Ok(job) => (job.produces().map(String::from).collect(), job.needs()),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// Orders recipes so that every recipe comes after the recipes producing what it
/// needs (ties by directory); recipes in a cycle keep their directory order at the end
/// (the session's graph then refuses the cycle, naming it).
pub fn dependency_order(mut recipes: Vec<Recipe>) -> Vec<Recipe> {
    recipes.sort_by(|a, b| a.dir.cmp(&b.dir));
    let info: Vec<(Vec<String>, Vec<String>)> = recipes.iter().map(names).collect();
    let depends_on = |i: usize, j: usize| i != j && info[i].1.iter().any(|n| info[j].0.contains(n));
    let mut done = vec![false; recipes.len()];
    let mut order = Vec::new();
    while order.len() < recipes.len() {
        let next = (0..recipes.len())
            .find(|&i| !done[i] && (0..recipes.len()).all(|j| done[j] || !depends_on(i, j)));
        let pick =
            next.unwrap_or_else(|| (0..recipes.len()).find(|&i| !done[i]).expect("one is left"));
        done[pick] = true;
        order.push(pick);
    }
    let mut slots: Vec<Option<Recipe>> = recipes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
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
    fn shipped_recipes_come_in_dependency_order() {
        let recipes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../recipes");
        let order: Vec<String> = discover_recipes(&[recipes])
            .unwrap()
            .iter()
            .map(|r| r.dir.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let pos = |name: &str| {
            order
                .iter()
                .position(|n| n == name)
                .unwrap_or_else(|| panic!("{name} in {order:?}"))
        };
        assert_eq!(pos("python"), 0, "{order:?}");
        assert!(pos("pycparser") < pos("cffi"), "{order:?}");
        assert!(order.len() >= 10, "{order:?}");
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
