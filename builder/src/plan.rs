//! What to build: recipes found under the given paths, and their variants narrowed by
//! the user's `--variant` / `--python` choices.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ftforge_interpreter::{abi::is_prerelease, PythonAbi};

use crate::job::{variant_abi, FREETHREADING_KEY, PYTHON_KEY};
use crate::recipe::{Recipe, RecipeError};
use crate::variants::Variant;

/// The user's narrowing of the variant matrix.
#[derive(Debug, Clone, Default)]
pub struct VariantFilter {
    /// `freethreading` or `gil`.
    pub kind: Option<VariantKind>,
    /// A version prefix (`3.14` keeps `3.14.7` and `3.14.* *_cp314t`, not `3.140`), or
    /// one interpreter: `3.15t` / `cp315t`.
    pub python: Vec<String>,
    /// Without `python`, only variants for these interpreters are built (see
    /// [`released_interpreters`]); `None` keeps every variant.
    pub released: Option<BTreeSet<PythonAbi>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    Freethreading,
    Gil,
}

impl VariantFilter {
    pub fn accepts(&self, variant: &Variant) -> bool {
        if let Some(kind) = self.kind {
            if variant.get(FREETHREADING_KEY).is_some()
                && variant.is_true(FREETHREADING_KEY) != (kind == VariantKind::Freethreading)
            {
                return false;
            }
        }
        let Some(spec) = variant.get_str(PYTHON_KEY) else {
            return true;
        };
        let version = spec
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches(".*");
        if self.python.is_empty() {
            // A pre-release interpreter (`3.15.0rc2`), or a variant for an interpreter
            // that has no final release yet, is built only when `--python` asks for it.
            let Some(released) = &self.released else {
                return true;
            };
            return !is_prerelease(version)
                && variant_abi(variant).is_none_or(|abi| released.contains(&abi));
        }
        let matches = |want: &String| {
            if let Some(abi) = one_interpreter(want) {
                return variant_abi(variant) == Some(abi);
            }
            version == want.as_str()
                || version
                    .strip_prefix(want.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        self.python.iter().any(matches)
    }
}

/// `3.15t` or `cp315t` / `cp315`: one interpreter (a bare `3.15` is a version prefix).
fn one_interpreter(want: &str) -> Option<PythonAbi> {
    if want.starts_with("cp") {
        return want.parse().ok();
    }
    let version = want.strip_suffix('t')?;
    PythonAbi::from_version(version, true).ok()
}

/// The interpreters a build without `--python` targets: every ABI with a final (not
/// pre-release) interpreter among the shipped python recipe's variants, the selected
/// recipes' variants, or the channel's `python` packages. Until 3.15.0 final is in one
/// of them, the 3.15 variants (`3.15.0rc2`, `3.15.* *_cp315t`) are built only when
/// `--python 3.15` / `3.15t` asks for them.
pub fn released_interpreters(
    recipes: &[Recipe],
    channel: &ftforge_channels::Channel,
) -> BTreeSet<PythonAbi> {
    let mut released = BTreeSet::new();
    let shipped = crate::variants::VariantConfig::shipped_interpreters();
    let variants = recipes.iter().flat_map(Recipe::variant_combinations).chain(
        shipped
            .ok()
            .into_iter()
            .flat_map(|c| c.combinations(&[PYTHON_KEY.into(), FREETHREADING_KEY.into()])),
    );
    for variant in variants {
        let Some(version) = variant.get_str(PYTHON_KEY) else {
            continue;
        };
        // An interpreter's own variant is a full version (`3.14.7`), not a range.
        let full = version.split('.').count() == 3
            && version
                .split('.')
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if full {
            released.extend(variant_abi(&variant));
        }
    }
    for (abi, version) in channel.interpreters() {
        if !is_prerelease(&version) {
            released.insert(abi);
        }
    }
    released
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

/// A recipe added to a build because a selected recipe needs what it produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedRecipe {
    pub dir: PathBuf,
    /// The package name that was needed.
    pub provides: String,
    /// The recipe (directory name) that needed it.
    pub needed_by: String,
}

/// A package the channel holds, as far as recipes are concerned: name, version, build
/// number.
pub type Held = (String, String, u64);

/// The (name, version, build number) of each output of a recipe's first variant.
pub fn recipe_outputs(recipe: &Recipe) -> Vec<Held> {
    let variant = recipe
        .variant_combinations()
        .into_iter()
        .next()
        .unwrap_or_default();
    crate::job::Job::new(recipe, &variant)
        .map(|job| {
            job.rendered
                .outputs
                .iter()
                .map(|o| (o.name.clone(), o.version.clone(), o.build_number))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds to `recipes`, for each package name they need that they do not produce, the
/// recipe in a sibling folder (a folder next to one of the selected recipes) that
/// produces it, and so on for what that one needs, unless the channel (`held`) already
/// has every output of that recipe at its version and build number — the conda rule: a
/// changed recipe gets a new build number (readline's patch did). So `ftforge build
/// recipes/python` builds the C libraries of `recipes/` the channel lacks first. The
/// interpreter is the exception: a recipe built *for* Python gets the channel's
/// interpreters (`--python` picks them), and `recipes/python` joins only when the
/// channel has no `python` at all. Names nothing produces (build tools, pip packages)
/// are left as they are. The result is in dependency order.
pub fn with_sibling_dependencies(
    recipes: Vec<Recipe>,
    held: &[Held],
) -> Result<(Vec<Recipe>, Vec<AddedRecipe>), RecipeError> {
    let mut parents: Vec<PathBuf> = recipes
        .iter()
        .filter_map(|r| r.dir.parent().map(PathBuf::from))
        .collect();
    parents.sort();
    parents.dedup();
    // Each sibling loaded and rendered once; an added one moves into `recipes`.
    let mut siblings: Vec<(Recipe, Vec<Held>)> = Vec::new();
    for parent in &parents {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("recipe.yaml").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            if recipes.iter().any(|r| r.dir == dir) {
                continue;
            }
            // A sibling that does not load is not needed by anyone yet: skip it here;
            // selecting it explicitly shows its error.
            if let Ok(recipe) = Recipe::load(&dir) {
                let outputs = recipe_outputs(&recipe);
                siblings.push((recipe, outputs));
            }
        }
    }
    let has_interpreter = held
        .iter()
        .any(|(name, _, _)| name == crate::job::INTERPRETER_PACKAGE);
    let mut recipes = recipes;
    let mut produced: Vec<String> = recipes.iter().flat_map(|r| names(r).0).collect();
    let mut added = Vec::new();
    let mut i = 0;
    while i < recipes.len() {
        let (_, needs) = names(&recipes[i]);
        for need in needs {
            if produced.contains(&need)
                || (need == crate::job::INTERPRETER_PACKAGE && has_interpreter)
            {
                continue;
            }
            let Some(pos) = siblings
                .iter()
                .position(|(_, outputs)| outputs.iter().any(|(n, _, _)| *n == need))
            else {
                continue;
            };
            let held_already = siblings[pos].1.iter().all(|o| held.contains(o));
            if need != crate::job::INTERPRETER_PACKAGE && held_already {
                continue;
            }
            let (recipe, outputs) = siblings.remove(pos);
            produced.extend(outputs.into_iter().map(|(name, _, _)| name));
            added.push(AddedRecipe {
                dir: recipe.dir.clone(),
                provides: need.clone(),
                needed_by: recipes[i]
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            });
            recipes.push(recipe);
        }
        i += 1;
    }
    Ok((dependency_order(recipes), added))
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
        // The C libraries, then the interpreter linking them, then the packages.
        assert!(pos("xorg-libxau") < pos("libxcb"), "{order:?}");
        assert!(pos("xorg-libx11") < pos("tk"), "{order:?}");
        assert!(pos("tk") < pos("sqlite"), "{order:?}");
        assert!(pos("ncurses") < pos("readline"), "{order:?}");
        for lib in ["openssl", "sqlite", "tk", "readline", "zlib", "libmpdec"] {
            assert!(pos(lib) < pos("python"), "{lib}: {order:?}");
        }
        assert!(pos("python") < pos("pyyaml"), "{order:?}");
        assert!(pos("pycparser") < pos("cffi"), "{order:?}");
        assert!(order.len() >= 10, "{order:?}");
    }

    /// `build recipes/python` adds the recipes next to it that produce its C libraries
    /// (and what those need) unless the channel holds their version and build number;
    /// a package built for Python does not pull in the interpreter's recipe while the
    /// channel has an interpreter.
    #[test]
    fn sibling_recipes_provide_what_a_recipe_needs() {
        let recipes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../recipes");
        let python = || discover_recipes(&[recipes.join("python")]).unwrap();
        let (all, added) = with_sibling_dependencies(python(), &[]).unwrap();
        let provided: Vec<&str> = added.iter().map(|a| a.provides.as_str()).collect();
        for name in ["openssl", "tk", "xorg-libx11", "libxcb", "ncurses"] {
            assert!(provided.contains(&name), "{name}: {provided:?}");
        }
        assert!(
            !provided.contains(&"make"),
            "build tools are not recipes: {provided:?}"
        );
        let last = all.last().unwrap().dir.file_name().unwrap().to_owned();
        assert_eq!(last, "python", "the interpreter comes after its libraries");

        // The channel holds every library at the recipe's version and build number.
        let mut held: Vec<Held> = all.iter().flat_map(recipe_outputs).collect();
        held.retain(|(n, _, _)| n != "python");
        let (only, none) = with_sibling_dependencies(python(), &held).unwrap();
        assert_eq!((only.len(), none.len()), (1, 0), "{none:?}");
        // A new build number of one library (a changed recipe) brings that one back.
        let readline = held.iter_mut().find(|(n, _, _)| n == "readline").unwrap();
        readline.2 += 1;
        let (_, one) = with_sibling_dependencies(python(), &held).unwrap();
        assert_eq!(
            one.iter().map(|a| a.provides.as_str()).collect::<Vec<_>>(),
            ["readline"]
        );

        let pyyaml = || discover_recipes(&[recipes.join("pyyaml")]).unwrap();
        let (_, without) = with_sibling_dependencies(pyyaml(), &held).unwrap();
        assert!(
            without.iter().any(|a| a.provides == "python"),
            "no interpreter in the channel: {without:?}"
        );
        held.push(("python".into(), "3.13.0".into(), 0));
        let (only, none) = with_sibling_dependencies(pyyaml(), &held).unwrap();
        assert_eq!((only.len(), none.len()), (1, 0), "{none:?}");
    }

    #[test]
    fn filters_by_kind_and_version_prefix() {
        let f = VariantFilter {
            kind: Some(VariantKind::Freethreading),
            python: vec!["3.14".into()],
            released: None,
        };
        assert!(f.accepts(&v("3.14.7", true)));
        assert!(f.accepts(&v("3.14.* *_cp314t", true)));
        assert!(!f.accepts(&v("3.14.7", false)));
        assert!(!f.accepts(&v("3.13.5", true)));
        assert!(!f.accepts(&v("3.140", true)));
        assert!(VariantFilter::default().accepts(&v("3.13.5", false)));
        let one = VariantFilter {
            python: vec!["3.15t".into()],
            ..Default::default()
        };
        assert!(one.accepts(&v("3.15.0rc2", true)));
        assert!(one.accepts(&v("3.15.* *_cp315t", true)));
        assert!(!one.accepts(&v("3.15.* *_cp315", false)));
        assert!(!one.accepts(&v("3.14.* *_cp314t", true)));
        let tag = VariantFilter {
            python: vec!["cp315".into()],
            ..Default::default()
        };
        assert!(tag.accepts(&v("3.15.* *_cp315", false)));
        assert!(!tag.accepts(&v("3.15.* *_cp315t", true)));
    }

    /// 3.15 is built only on request while the channel and recipes know it only as a
    /// release candidate; a final 3.15 makes it a default.
    #[test]
    fn pre_release_interpreters_are_built_on_request() {
        let channel = ftforge_channels::Channel::new(tempfile::tempdir().unwrap().path());
        let released = released_interpreters(&[], &channel);
        assert!(
            released.contains(&PythonAbi::new(3, 14, true)),
            "{released:?}"
        );
        assert!(
            released.contains(&PythonAbi::new(3, 13, false)),
            "{released:?}"
        );
        assert!(
            !released.contains(&PythonAbi::new(3, 15, true)),
            "{released:?}"
        );
        let default = VariantFilter {
            released: Some(released.clone()),
            ..Default::default()
        };
        assert!(default.accepts(&v("3.14.7", true)));
        assert!(default.accepts(&v("3.14.* *_cp314t", true)));
        assert!(!default.accepts(&v("3.15.0rc2", true)));
        assert!(!default.accepts(&v("3.15.* *_cp315t", true)));
        let mut with_final = released;
        with_final.insert(PythonAbi::new(3, 15, true));
        let later = VariantFilter {
            released: Some(with_final),
            ..Default::default()
        };
        assert!(later.accepts(&v("3.15.* *_cp315t", true)));
        assert!(
            !later.accepts(&v("3.15.0rc2", true)),
            "a pre-release stays on request"
        );
        let asked = VariantFilter {
            python: vec!["3.15".into()],
            released: later.released.clone(),
            ..Default::default()
        };
        assert!(asked.accepts(&v("3.15.0rc2", true)));
    }
}
