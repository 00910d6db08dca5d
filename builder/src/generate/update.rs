//! `ftforge recipe update`: moves a recipe whose source is an sdist on the package
//! index to a newer release. The YAML is edited as text — the version, the sha256 (and
//! the URL only when it is literal, or when the sdist's file name changed), comment
//! lines naming the old sdist — so comments, stress snippets, tests and overrides stay
//! byte for byte. The new sdist is read like `recipe new` reads one; its build and run
//! requirements are compared with the recipe's: a plain requirement the recipe lacks is
//! added to a plain list, anything else is reported for review. The edited recipe must
//! load and render (as `recipe new` checks its output) or the file is left unchanged.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use marked_yaml::Node;
use pep440_rs::Version;
use pep508_rs::Requirement;

use super::{
    check_renders, generate, Applies, Dependency, GenerateError, GenerateOptions, GeneratedRecipe,
    NameMap,
};
use crate::progress::Reporter;
use crate::pypi::{self, normalize_name, IndexError, SdistRelease};
use crate::recipe::{Recipe, RecipeError, SourceFile};
use crate::source::SourceCache;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UpdateError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(Box<RecipeError>),
    #[error("{path}: {source}")]
    #[diagnostic(help("check the project's page on the index pip is configured with"))]
    Index {
        path: PathBuf,
        #[source]
        source: IndexError,
    },
    #[error("{path}: reading the new sdist: {source}")]
    Generate {
        path: PathBuf,
        #[source]
        source: Box<GenerateError>,
    },
    #[error("{path}:{line}: cannot edit as text: {message}")]
    #[diagnostic(help("update this recipe by hand"))]
    Edit {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("the updated {path} does not render; the file is left unchanged")]
    #[diagnostic(help("the edited text was:\n{yaml}"))]
    Render {
        path: PathBuf,
        #[source]
        source: Box<RecipeError>,
        yaml: String,
    },
    #[error("the updated {path} renders {found}, not {expected}; the file is left unchanged")]
    #[diagnostic(help("update this recipe by hand"))]
    Mismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no recipe.yaml, and no folder in it has one")]
    NoRecipes { path: PathBuf },
    #[error("`--to {requirement}` names no recipe under {path} whose source is an sdist of that project")]
    #[diagnostic(help("`--to` chooses the release of a recipe being updated (PEP 508: NAME==VERSION, NAME<VERSION, …)"))]
    UnusedTarget { requirement: String, path: PathBuf },
}

impl From<RecipeError> for UpdateError {
    fn from(e: RecipeError) -> Self {
        UpdateError::Recipe(Box::new(e))
    }
}

/// How recipes are updated.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    /// Also consider pre-releases.
    pub pre: bool,
    /// Requirements choosing the release of the recipes they name (by PyPI project);
    /// other recipes move to their newest release. A target may move a recipe to an
    /// older release; without one a recipe only moves forward.
    pub targets: Vec<Requirement>,
    /// Say what would change; write nothing.
    pub dry_run: bool,
}

/// What happened to one recipe.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecipeUpdate {
    /// The `recipe.yaml`.
    pub path: PathBuf,
    /// The package name (rendered).
    pub name: String,
    /// The version before the update.
    pub version: String,
    /// The PyPI project of its sdist, when it has one.
    pub project: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// Moved to another release (or would be, with `--dry-run`).
    Updated(Box<Change>),
    /// Already at the release chosen (`chosen`: the newest release that qualifies, or
    /// the one a `--to` target names; a recipe newer than the newest is kept).
    Current { chosen: String },
    /// The recipe cannot be updated from the index, and why.
    NotUpdatable { reason: String },
}

/// A recipe moved from one release to another.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Change {
    pub to: String,
    pub sdist: String,
    /// Verified by downloading the sdist.
    pub sha256: String,
    /// The new `source.url` value, when it was rewritten (`None`: unchanged, it is
    /// templated from the version).
    pub url: Option<String>,
    /// The file was written (`false` with `--dry-run`).
    pub written: bool,
    /// What differs between the new sdist's requirements and the recipe's.
    pub requirements: Vec<RequirementDiff>,
    /// Other things to review (compiled languages, Requires-Python, dynamic metadata).
    pub review: Vec<String>,
}

/// One difference between the recipe's requirements and the new sdist's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequirementDiff {
    /// `host` or `run`.
    pub section: &'static str,
    /// The conda spec (the new sdist's, or the recipe's for `not-declared`).
    pub spec: String,
    pub kind: DiffKind,
    /// Why it needs review (`needs-review` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiffKind {
    /// The new sdist needs it; it was added to the recipe.
    Added,
    /// The new sdist needs it (or another version of it); not changed, see `why`.
    NeedsReview,
    /// In the recipe, not declared by the new sdist; kept.
    NotDeclared,
}

impl std::fmt::Display for RequirementDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            DiffKind::Added => write!(f, "{}: added {}", self.section, self.spec),
            DiffKind::NeedsReview => write!(
                f,
                "{}: needs review: {} ({})",
                self.section,
                self.spec,
                self.why.as_deref().unwrap_or("")
            ),
            DiffKind::NotDeclared => write!(
                f,
                "{}: {} is not declared by the new sdist (kept)",
                self.section, self.spec
            ),
        }
    }
}

/// The recipe folders under `path`: `path` itself when it has a `recipe.yaml`,
/// otherwise each folder in it that has one (sorted).
pub fn recipe_dirs(path: &Path) -> Result<Vec<PathBuf>, UpdateError> {
    if path.join("recipe.yaml").is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| UpdateError::Io {
        action: "read",
        path: path.into(),
        source: e,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("recipe.yaml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(UpdateError::NoRecipes { path: path.into() });
    }
    Ok(dirs)
}

/// Updates every recipe under `path` (see [`recipe_dirs`]). One recipe's failure does
/// not stop the others: each gets its own result, with its `recipe.yaml` path. Fails as a whole only when `path`
/// has no recipe or a `--to` target names none of them.
pub async fn update_recipes(
    client: &reqwest::Client,
    cache: &SourceCache,
    index: &str,
    path: &Path,
    options: &UpdateOptions,
    reporter: &dyn Reporter,
) -> Result<Vec<(PathBuf, Result<RecipeUpdate, UpdateError>)>, UpdateError> {
    let dirs = recipe_dirs(path)?;
    // Every recipe is read first, so that a `--to` naming none of them stops the run
    // before anything is written.
    let inspected: Vec<(PathBuf, Result<Inspected, UpdateError>)> = dirs
        .iter()
        .map(|dir| (dir.join("recipe.yaml"), inspect(dir)))
        .collect();
    for target in &options.targets {
        let wanted = normalize_name(target.name.as_ref());
        let used = inspected.iter().any(|(_, r)| {
            r.as_ref().is_ok_and(|i| {
                i.source
                    .as_ref()
                    .is_ok_and(|s| normalize_name(&s.project) == wanted)
            })
        });
        if !used {
            return Err(UpdateError::UnusedTarget {
                requirement: target.to_string(),
                path: path.into(),
            });
        }
    }
    let mut out = Vec::new();
    for (path, recipe) in inspected {
        let result = match recipe {
            Ok(recipe) => update_inspected(client, cache, index, recipe, options, reporter).await,
            Err(e) => Err(e),
        };
        out.push((path, result));
    }
    Ok(out)
}

/// A recipe loaded and rendered for its first variant, with its sdist source located
/// (or why it has none).
struct Inspected {
    recipe: Recipe,
    root: Node,
    output: crate::recipe::RenderedOutput,
    source: Result<SdistSource, String>,
}

fn inspect(dir: &Path) -> Result<Inspected, UpdateError> {
    let recipe = Recipe::load(dir)?;
    let variant = recipe
        .variant_combinations()
        .into_iter()
        .next()
        .unwrap_or_default();
    let rendered = recipe.render(&variant)?;
    let Some(output) = rendered.outputs.into_iter().next() else {
        return Err(recipe.file.error(None, "the recipe has no outputs").into());
    };
    let root = crate::variants::parse_yaml(&recipe.file)?;
    let source = sdist_source(&recipe.file, &root, &rendered.sources);
    Ok(Inspected {
        recipe,
        root,
        output,
        source,
    })
}

/// Where a recipe's sdist source is, in its text.
struct SdistSource {
    project: String,
    filename: String,
    /// The version as the file name writes it.
    version_text: String,
    version_node: Scalar,
    sha256_node: Scalar,
    url_node: Scalar,
}

/// Updates one recipe folder.
pub async fn update_recipe(
    client: &reqwest::Client,
    cache: &SourceCache,
    index: &str,
    dir: &Path,
    options: &UpdateOptions,
    reporter: &dyn Reporter,
) -> Result<RecipeUpdate, UpdateError> {
    let recipe = inspect(dir)?;
    update_inspected(client, cache, index, recipe, options, reporter).await
}

async fn update_inspected(
    client: &reqwest::Client,
    cache: &SourceCache,
    index: &str,
    inspected: Inspected,
    options: &UpdateOptions,
    reporter: &dyn Reporter,
) -> Result<RecipeUpdate, UpdateError> {
    let Inspected {
        recipe,
        root,
        output,
        source,
    } = inspected;
    let path = recipe.file.path.clone();
    let dir = recipe.dir.clone();
    let mut update = RecipeUpdate {
        path: path.clone(),
        name: output.name.clone(),
        version: output.version.clone(),
        project: None,
        outcome: Outcome::NotUpdatable {
            reason: String::new(),
        },
    };
    let source = match source {
        Ok(source) => source,
        Err(reason) => {
            update.outcome = Outcome::NotUpdatable { reason };
            return Ok(update);
        }
    };
    update.project = Some(source.project.clone());
    let wanted = normalize_name(&source.project);
    let target = options
        .targets
        .iter()
        .find(|t| normalize_name(t.name.as_ref()) == wanted);
    let requirement = match target {
        Some(t) => t.clone(),
        None => pypi::parse_requirement(&source.project).map_err(|e| UpdateError::Index {
            path: path.clone(),
            source: e,
        })?,
    };
    let page = pypi::fetch_project(client, index, &source.project)
        .await
        .map_err(|e| UpdateError::Index {
            path: path.clone(),
            source: e,
        })?;
    let release =
        page.select(&requirement, options.pre, index)
            .map_err(|e| UpdateError::Index {
                path: path.clone(),
                source: e,
            })?;
    let current = Version::from_str(&source.version_text).ok();
    let same = current.as_ref() == Some(&release.version);
    let older = current.as_ref().is_some_and(|c| &release.version < c);
    if same || (older && target.is_none()) {
        update.outcome = Outcome::Current {
            chosen: release.version_text.clone(),
        };
        return Ok(update);
    }

    let mut names = NameMap::for_folder(dir.parent().unwrap_or(Path::new(".")))
        .map_err(|e| generate_error(&path, e))?;
    names
        .merge_file(&dir.join(super::names::TABLE_FILE))
        .map_err(|e| generate_error(&path, e))?;
    let generated_by = format!("ftforge recipe update {}", requirement);
    let new = generate(
        client,
        cache,
        &release,
        &GenerateOptions::new(names, generated_by),
        reporter,
    )
    .await
    .map_err(|e| generate_error(&path, e))?;

    // The edits: version, sha256, URL, comments naming the old sdist, requirements.
    let text = &recipe.file.text;
    let mut edits = vec![
        source.version_node.replace(&release.version_text),
        source.sha256_node.replace(&release.sha256),
    ];
    let mut url = None;
    let raw_url = &source.url_node.value;
    if !raw_url.contains("${{") {
        // A literal URL: the file name is its last segment.
        let new_url = match raw_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", release.filename),
            None => release.filename.clone(),
        };
        edits.push(source.url_node.replace(&new_url));
        url = Some(new_url);
    } else if source
        .filename
        .replacen(&source.version_text, &release.version_text, 1)
        != release.filename
    {
        // Templated, but the new sdist's file name is not the old one with the new
        // version (e.g. `PyYAML-` became `pyyaml-`): the generated URL template.
        edits.push(source.url_node.replace(&new.source_url));
        url = Some(new.source_url.clone());
    }
    edits.extend(comment_edits(text, &source, &release));
    let mut review = Vec::new();
    // A new version starts at build number 0.
    if let Some(number) = root
        .as_mapping()
        .and_then(|m| m.get_mapping("build"))
        .and_then(|b| b.get_scalar("number"))
        .filter(|n| n.as_str() != "0")
    {
        let scalar = Scalar::locate(&recipe.file, number).map_err(|message| UpdateError::Edit {
            path: path.clone(),
            line: number.span().start().map(|m| m.line()).unwrap_or(0),
            message,
        })?;
        edits.push(scalar.replace("0"));
        review.push(format!("build.number reset to 0 (was {})", number.as_str()));
    }
    let (requirement_edits, requirements) = requirement_changes(&recipe.file, &root, &output, &new);
    edits.extend(requirement_edits);
    review.extend(review_notes(text, &new));
    let edited = apply(text, edits, &path)?;

    let mut change = Change {
        to: release.version_text.clone(),
        sdist: release.filename.clone(),
        sha256: release.sha256.clone(),
        url,
        written: false,
        requirements,
        review,
    };
    if !options.dry_run {
        write_checked(&path, &edited, &release)?;
        change.written = true;
    }
    update.outcome = Outcome::Updated(Box::new(change));
    Ok(update)
}

fn generate_error(path: &Path, e: GenerateError) -> UpdateError {
    UpdateError::Generate {
        path: path.into(),
        source: Box::new(e),
    }
}

/// Finds the recipe's sdist source (a `mirror://pypi/…/PROJECT/FILE` URL after
/// rendering) and the scalars to edit; `Err` says why the recipe is not updatable.
fn sdist_source(
    file: &SourceFile,
    root: &Node,
    sources: &[crate::recipe::Source],
) -> Result<SdistSource, String> {
    const NOT_SDIST: &str = "source is not an sdist on the index";
    let Some((index, url)) = sources.iter().enumerate().find_map(|(i, s)| {
        s.url
            .iter()
            .find(|u| u.starts_with("mirror://pypi/"))
            .map(|u| (i, u.clone()))
    }) else {
        return Err(NOT_SDIST.into());
    };
    let mut parts = url.rsplit('/');
    let filename = parts.next().unwrap_or_default().to_string();
    let project = parts.next().unwrap_or_default().to_string();
    let Some((version_text, _)) = pypi::sdist_version(&project, &filename) else {
        return Err(format!(
            "{NOT_SDIST} ({filename} is not an sdist file name of {project})"
        ));
    };
    let map = root.as_mapping().ok_or_else(|| NOT_SDIST.to_string())?;
    let entry = match map.get_node("source") {
        Some(Node::Mapping(m)) => m,
        Some(Node::Sequence(items)) => {
            if items
                .iter()
                .any(|i| i.as_mapping().is_some_and(|m| m.get_node("if").is_some()))
            {
                return Err("its source list has if/then entries".into());
            }
            items
                .get_node(index)
                .and_then(Node::as_mapping)
                .ok_or_else(|| NOT_SDIST.to_string())?
        }
        _ => return Err(NOT_SDIST.into()),
    };
    let url_node = match entry.get_node("url") {
        Some(Node::Scalar(s)) => s,
        Some(Node::Sequence(urls)) => urls
            .iter()
            .filter_map(Node::as_scalar)
            .find(|s| s.as_str().contains("mirror://pypi/"))
            .ok_or_else(|| NOT_SDIST.to_string())?,
        _ => return Err(NOT_SDIST.into()),
    };
    let Some(sha256_node) = entry.get_scalar("sha256") else {
        return Err("its source has no sha256".into());
    };
    let context_version = map
        .get_mapping("context")
        .and_then(|c| c.get_scalar("version"));
    let package_version = map
        .get_mapping("package")
        .and_then(|p| p.get_scalar("version"))
        .filter(|v| !v.as_str().contains("${{"));
    let Some(version_node) = context_version.or(package_version) else {
        return Err(
            "its version is neither `context.version` nor a literal `package.version`".into(),
        );
    };
    if Version::from_str(version_node.as_str()).ok() != Version::from_str(&version_text).ok() {
        return Err(format!(
            "its version {} is not the version of its sdist {filename}",
            version_node.as_str()
        ));
    }
    let scalar = |node: &marked_yaml::types::MarkedScalarNode| {
        Scalar::locate(file, node).map_err(|e| format!("cannot edit it as text: {e}"))
    };
    Ok(SdistSource {
        project,
        filename,
        version_text,
        version_node: scalar(version_node)?,
        sha256_node: scalar(sha256_node)?,
        url_node: scalar(url_node)?,
    })
}

/// A one-line scalar's place in the text.
#[derive(Debug, Clone)]
struct Scalar {
    /// Byte range of the scalar as written (with its quotes).
    start: usize,
    end: usize,
    quote: Option<char>,
    value: String,
    line: usize,
}

/// A text edit: replace `start..end` with `text`.
#[derive(Debug, Clone)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
    line: usize,
}

impl Scalar {
    fn locate(
        file: &SourceFile,
        node: &marked_yaml::types::MarkedScalarNode,
    ) -> Result<Self, String> {
        let marker = node
            .span()
            .start()
            .ok_or_else(|| "no position".to_string())?;
        let text = &file.text;
        let start = text
            .char_indices()
            .nth(marker.character())
            .map(|(b, _)| b)
            .ok_or_else(|| "position past the end".to_string())?;
        let rest = &text[start..];
        let line_rest = rest.split('\n').next().unwrap_or_default();
        let (quote, len, value) = match line_rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let close = line_rest[1..]
                    .find(q)
                    .ok_or_else(|| "a quoted scalar that spans lines".to_string())?;
                (Some(q), close + 2, line_rest[1..close + 1].to_string())
            }
            Some('|' | '>') => return Err("a block scalar".into()),
            _ => {
                let token = match line_rest.find(" #") {
                    Some(i) => &line_rest[..i],
                    None => line_rest,
                }
                .trim_end();
                (None, token.len(), token.to_string())
            }
        };
        if value != node.as_str() {
            return Err(format!(
                "`{}` is written in a form this edit does not handle",
                node.as_str()
            ));
        }
        Ok(Scalar {
            start,
            end: start + len,
            quote,
            value,
            line: marker.line(),
        })
    }

    /// Replaces the value, keeping the quoting.
    fn replace(&self, value: &str) -> Edit {
        let text = match self.quote {
            Some(q) => format!("{q}{value}{q}"),
            None => value.to_string(),
        };
        Edit {
            start: self.start,
            end: self.end,
            text,
            line: self.line,
        }
    }
}

/// Comment lines naming the old sdist or its sha256 (a generated recipe's header) get
/// the new ones.
fn comment_edits(text: &str, source: &SdistSource, release: &SdistRelease) -> Vec<Edit> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#')
            && (line.contains(&source.filename) || line.contains(&source.sha256_node.value))
        {
            let new = line
                .replace(&source.filename, &release.filename)
                .replace(&source.sha256_node.value, &release.sha256);
            out.push(Edit {
                start: offset,
                end: offset + line.len(),
                text: new,
                line: n + 1,
            });
        }
        offset += line.len();
    }
    out
}

/// Applies non-overlapping edits.
fn apply(text: &str, mut edits: Vec<Edit>, path: &Path) -> Result<String, UpdateError> {
    edits.sort_by_key(|e| (e.start, e.end));
    for pair in edits.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(UpdateError::Edit {
                path: path.into(),
                line: pair[1].line,
                message: "two edits overlap".into(),
            });
        }
    }
    let mut out = text.to_string();
    for e in edits.iter().rev() {
        out.replace_range(e.start..e.end, &e.text);
    }
    Ok(out)
}

/// The names of rendered requirement specs (`cython >=3` → `cython`).
fn spec_name(spec: &str) -> &str {
    spec.split_whitespace().next().unwrap_or(spec)
}

/// Compares the new sdist's host and run requirements with the recipe's (first
/// variant) and adds those it lacks where that is safe as text.
fn requirement_changes(
    file: &SourceFile,
    root: &Node,
    output: &crate::recipe::RenderedOutput,
    new: &GeneratedRecipe,
) -> (Vec<Edit>, Vec<RequirementDiff>) {
    let mut edits = Vec::new();
    let mut diffs = Vec::new();
    let sections: [(&'static str, &[String], &[Dependency]); 2] = [
        ("host", &output.requirements.host, &new.host),
        ("run", &output.requirements.run, &new.run),
    ];
    for (section, recipe_specs, needed) in sections {
        let has: Vec<&str> = recipe_specs.iter().map(|s| spec_name(s)).collect();
        let insert_at = plain_list_end(file, root, section);
        let mut added = Vec::new();
        for dep in needed
            .iter()
            .filter(|d| d.conda != "pip" && d.conda != "python")
        {
            if let Some(existing) = recipe_specs.iter().find(|s| spec_name(s) == dep.conda) {
                if dep.spec != dep.conda
                    && existing.split_whitespace().collect::<Vec<_>>()
                        != dep.spec.split_whitespace().collect::<Vec<_>>()
                {
                    diffs.push(RequirementDiff {
                        section,
                        spec: dep.spec.clone(),
                        kind: DiffKind::NeedsReview,
                        why: Some(format!("the recipe has `{existing}`")),
                    });
                }
                continue;
            }
            let why = match (&dep.applies, &insert_at) {
                (Applies::Some(v), _) => Some(format!("only for Python {}", v.join(", "))),
                (_, Err(reason)) => Some(reason.clone()),
                _ => None,
            };
            match why {
                Some(why) => diffs.push(RequirementDiff {
                    section,
                    spec: dep.spec.clone(),
                    kind: DiffKind::NeedsReview,
                    why: Some(why),
                }),
                None => {
                    added.push(dep.spec.clone());
                    diffs.push(RequirementDiff {
                        section,
                        spec: dep.spec.clone(),
                        kind: DiffKind::Added,
                        why: None,
                    });
                }
            }
        }
        if let (Ok((at, indent, line)), false) = (&insert_at, added.is_empty()) {
            let text: String = added
                .iter()
                .map(|spec| format!("{indent}- {spec}\n"))
                .collect();
            edits.push(Edit {
                start: *at,
                end: *at,
                text,
                line: *line,
            });
        }
        let declared: Vec<&str> = needed.iter().map(|d| d.conda.as_str()).collect();
        for (spec, name) in recipe_specs.iter().zip(&has) {
            if !["python", "pip"].contains(name) && !declared.contains(name) {
                diffs.push(RequirementDiff {
                    section,
                    spec: spec.clone(),
                    kind: DiffKind::NotDeclared,
                    why: None,
                });
            }
        }
    }
    (edits, diffs)
}

/// Where a line can be added to the top-level `requirements.<section>`: the byte
/// offset after its last item's line, the items' indentation and that line number.
/// Only a block list of one-line plain items qualifies.
fn plain_list_end(
    file: &SourceFile,
    root: &Node,
    section: &str,
) -> Result<(usize, String, usize), String> {
    let not_plain = || format!("requirements.{section} is not a plain list; add it by hand");
    let list = root
        .as_mapping()
        .and_then(|m| m.get_mapping("requirements"))
        .and_then(|r| r.get_sequence(section))
        .ok_or_else(not_plain)?;
    let mut last_line = 0;
    for item in list.iter() {
        let scalar = item.as_scalar().ok_or_else(not_plain)?;
        let line = scalar
            .span()
            .start()
            .map(|m| m.line())
            .ok_or_else(not_plain)?;
        if line <= last_line {
            return Err(not_plain());
        }
        last_line = line;
    }
    if last_line == 0 {
        return Err(not_plain());
    }
    let mut offset = 0;
    for (n, line) in file.text.split_inclusive('\n').enumerate() {
        offset += line.len();
        if n + 1 == last_line {
            let indent: String = line.chars().take_while(|c| *c == ' ').collect();
            if !line[indent.len()..].starts_with("- ") || !line.ends_with('\n') {
                return Err(not_plain());
            }
            return Ok((offset, indent, last_line));
        }
    }
    Err(not_plain())
}

/// What else a reviewer should look at: compilers the new sdist needs, interpreters
/// its Requires-Python excludes, and the generator's notes.
fn review_notes(text: &str, new: &GeneratedRecipe) -> Vec<String> {
    let mut out = Vec::new();
    for language in &new.languages {
        let c = language.compiler();
        if !text.contains(&format!("compiler('{c}')"))
            && !text.contains(&format!("compiler(\"{c}\")"))
        {
            out.push(format!(
                "the new sdist has {language} sources; requirements.build has no compiler('{c}')"
            ));
        }
    }
    if !new.skip_python.is_empty() {
        out.push(format!(
            "the new sdist's Requires-Python excludes Python {}; build.skip was not changed",
            new.skip_python.join(", ")
        ));
    }
    out.extend(new.notes.iter().cloned());
    out
}

/// Writes `text` over `path` only if it loads, renders for every variant, and renders
/// the new version and sdist; otherwise the file stays as it was.
fn write_checked(path: &Path, text: &str, release: &SdistRelease) -> Result<(), UpdateError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let staged = folder.join(".recipe.yaml.update");
    std::fs::write(&staged, text).map_err(|e| UpdateError::Io {
        action: "write",
        path: staged.clone(),
        source: e,
    })?;
    let checked = check_renders(&staged)
        .map_err(|source| UpdateError::Render {
            path: path.into(),
            source,
            yaml: text.to_string(),
        })
        .and_then(|()| renders_release(&staged, path, release));
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    std::fs::rename(&staged, path).map_err(|e| UpdateError::Io {
        action: "write",
        path: path.into(),
        source: e,
    })
}

/// The staged recipe renders the release's version and file name.
fn renders_release(staged: &Path, path: &Path, release: &SdistRelease) -> Result<(), UpdateError> {
    let render_error = |source: RecipeError| UpdateError::Render {
        path: path.into(),
        source: Box::new(source),
        yaml: std::fs::read_to_string(staged).unwrap_or_default(),
    };
    let recipe = Recipe::load(staged).map_err(render_error)?;
    let variant = recipe
        .variant_combinations()
        .into_iter()
        .next()
        .unwrap_or_default();
    let rendered = recipe.render(&variant).map_err(render_error)?;
    let version = rendered
        .outputs
        .first()
        .map(|o| o.version.clone())
        .unwrap_or_default();
    let url = rendered
        .sources
        .iter()
        .flat_map(|s| &s.url)
        .find(|u| u.starts_with("mirror://pypi/"))
        .cloned()
        .unwrap_or_default();
    let expected = format!("version {} from {}", release.version_text, release.filename);
    let found = format!(
        "version {version} from {}",
        url.rsplit('/').next().unwrap_or_default()
    );
    if found != expected {
        return Err(UpdateError::Mismatch {
            path: path.into(),
            expected,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (SourceFile, Node) {
        let file = SourceFile {
            path: "recipe.yaml".into(),
            text: text.into(),
        };
        let root = crate::variants::parse_yaml(&file).unwrap();
        (file, root)
    }

    #[test]
    fn scalars_are_located_with_their_quotes() {
        let (f, root) = file("context:\n  name: x\n  version: \"6.0.2\"  # pinned\nsource:\n  sha256: abc # hash\n  url: 'u/x-${{ version }}.tar.gz'\n");
        let m = root.as_mapping().unwrap();
        let v = Scalar::locate(
            &f,
            m.get_mapping("context")
                .unwrap()
                .get_scalar("version")
                .unwrap(),
        )
        .unwrap();
        assert_eq!((v.quote, v.value.as_str(), v.line), (Some('"'), "6.0.2", 3));
        let s = Scalar::locate(
            &f,
            m.get_mapping("source")
                .unwrap()
                .get_scalar("sha256")
                .unwrap(),
        )
        .unwrap();
        let u = Scalar::locate(
            &f,
            m.get_mapping("source").unwrap().get_scalar("url").unwrap(),
        )
        .unwrap();
        assert_eq!(u.quote, Some('\''));
        let out = apply(
            &f.text,
            vec![v.replace("6.0.3"), s.replace("def")],
            Path::new("r"),
        )
        .unwrap();
        assert_eq!(
            out,
            "context:\n  name: x\n  version: \"6.0.3\"  # pinned\nsource:\n  sha256: def # hash\n  url: 'u/x-${{ version }}.tar.gz'\n"
        );
    }

    #[test]
    fn lines_are_added_only_to_plain_lists() {
        let (f, root) = file("requirements:\n  host:\n    - python\n    - setuptools  # build\n  run:\n    - if: unix\n      then: x\n");
        let (at, indent, line) = plain_list_end(&f, &root, "host").unwrap();
        assert_eq!((indent.as_str(), line), ("    ", 4));
        assert_eq!(&f.text[at..at + 6], "  run:");
        assert!(plain_list_end(&f, &root, "run").is_err());
        assert!(plain_list_end(&f, &root, "build").is_err());
    }
}
