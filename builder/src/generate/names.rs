//! PyPI project names → conda package names: PEP 503 normalization (lower case,
//! `_` and `.` become `-`), then override tables — the shipped
//! `recipes/pypi-names.yaml` (compiled in), a `pypi-names.yaml` beside the recipe
//! folders, and one inside the recipe's own folder, the nearer winning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::GenerateError;
use crate::pypi::normalize_name;

/// The file name of an override table.
pub const TABLE_FILE: &str = "pypi-names.yaml";

/// What a PyPI name becomes in a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CondaName {
    Name(String),
    /// The table maps it to nothing: the requirement is left out of recipes.
    LeftOut,
}

/// A PyPI → conda name table (keys PEP 503-normalized).
#[derive(Debug, Clone, Default)]
pub struct NameMap {
    entries: BTreeMap<String, Option<String>>,
    /// The files read, in the order applied.
    pub files: Vec<PathBuf>,
}

impl NameMap {
    /// The shipped table only.
    pub fn shipped() -> Self {
        let mut map = NameMap::default();
        map.merge_text(
            include_str!("../../../recipes/pypi-names.yaml"),
            Path::new("<shipped recipes/pypi-names.yaml>"),
        )
        .expect("the shipped pypi-names.yaml parses");
        map
    }

    /// The shipped table, then `dir/pypi-names.yaml` if it exists.
    pub fn for_folder(dir: &Path) -> Result<Self, GenerateError> {
        let mut map = Self::shipped();
        map.merge_file(&dir.join(TABLE_FILE))?;
        Ok(map)
    }

    /// Merges a table file over this one (a missing file changes nothing).
    pub fn merge_file(&mut self, path: &Path) -> Result<(), GenerateError> {
        if !path.is_file() {
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|e| GenerateError::Io {
            action: "read",
            path: path.into(),
            source: e,
        })?;
        self.merge_text(&text, path)
    }

    fn merge_text(&mut self, text: &str, path: &Path) -> Result<(), GenerateError> {
        let table: Option<BTreeMap<String, Option<String>>> =
            serde_yaml::from_str(text).map_err(|e| GenerateError::NameTable {
                path: path.into(),
                message: e.to_string(),
            })?;
        for (pypi, conda) in table.unwrap_or_default() {
            let conda = conda.map(|c| c.trim().to_string());
            if let Some(bad) = conda.as_ref().filter(|c| {
                c.is_empty()
                    || !c
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
            }) {
                return Err(GenerateError::NameTable {
                    path: path.into(),
                    message: format!("`{pypi}: {bad}` is not a conda package name"),
                });
            }
            self.entries.insert(normalize_name(&pypi), conda);
        }
        self.files.push(path.into());
        Ok(())
    }

    /// The conda name of a PyPI project.
    pub fn conda_name(&self, pypi: &str) -> CondaName {
        let key = normalize_name(pypi);
        match self.entries.get(&key) {
            Some(Some(name)) => CondaName::Name(name.clone()),
            Some(None) => CondaName::LeftOut,
            None => CondaName::Name(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_then_nearest_table_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut map = NameMap::shipped();
        assert_eq!(
            map.conda_name("Flit_Core"),
            CondaName::Name("flit-core".into())
        );
        assert_eq!(map.conda_name("torch"), CondaName::Name("pytorch".into()));
        let own = dir.path().join(TABLE_FILE);
        std::fs::write(&own, "torch: torch-cpu\nPyWin32: ~\n").unwrap();
        map.merge_file(&own).unwrap();
        assert_eq!(map.conda_name("torch"), CondaName::Name("torch-cpu".into()));
        assert_eq!(map.conda_name("pywin32"), CondaName::LeftOut);
        std::fs::write(&own, "torch: \"no spaces allowed\"\n").unwrap();
        let err = map.merge_file(&own).unwrap_err().to_string();
        assert!(
            err.contains("pypi-names.yaml") && err.contains("torch"),
            "{err}"
        );
    }

    /// The table must agree with the shipped recipes: each one's package name is what
    /// the table gives for the PyPI project its source comes from.
    #[test]
    fn shipped_recipes_agree_with_the_table() {
        let map = NameMap::shipped();
        let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
        let mut checked = 0;
        for entry in std::fs::read_dir(&recipes).unwrap() {
            let path = entry.unwrap().path().join("recipe.yaml");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let field = |key: &str| {
                text.lines()
                    .find_map(|l| l.trim().strip_prefix(key))
                    .map(|v| v.trim().trim_matches('"').to_string())
            };
            let (Some(name), Some(url)) = (field("name:"), field("url: mirror://pypi/")) else {
                continue;
            };
            let project = url.rsplit('/').nth(1).unwrap().to_string();
            assert_eq!(
                map.conda_name(&project),
                CondaName::Name(name.clone()),
                "{}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} shipped recipes checked");
    }
}
