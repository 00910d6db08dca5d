//! The closure of run requirements: each requirement resolved on the package index to
//! one sdist release, its recipe generated (or the shipped recipe of that version
//! used), and its own run requirements followed, breadth first, several index
//! requests at once. Generated recipes are kept (`<cache>/check/recipes/NAME-VERSION/`)
//! with what the closure needs from them, so a second check reads no sdist.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures::stream::{self, StreamExt};
use pep440_rs::Version;
use pep508_rs::{Requirement, VersionOrUrl};
use serde::{Deserialize, Serialize};

use super::input::RequirementLine;
use super::CheckError;
use crate::generate::{
    self, Applies, CondaName, GenerateOptions, GeneratedRecipe, NameMap, TargetInterpreter,
};
use crate::progress::Reporter;
use crate::pypi::{self, normalize_name, SdistRelease};
use crate::source::SourceCache;

/// The generator's code and data (a digest, `builder/build.rs`): when what generation
/// writes changes, kept recipes are generated again. (A hand-kept counter was not bumped
/// when mypyc builds stopped being generated `noarch: python`, and pytokens' kept recipe
/// stayed noarch.)
const GENERATION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "+",
    env!("FTFORGE_GENERATION_DIGEST")
);
/// Index requests and sdist reads in flight at once.
const CONCURRENT: usize = 6;

/// A requirement the user asked about.
#[derive(Debug, Clone)]
pub struct Root {
    pub line: RequirementLine,
    /// One of the older releases `--history` adds: built and shown in the history,
    /// not part of the answer (which is about the newest).
    pub history_only: bool,
}

/// One package version of the closure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// The conda name (the recipe's package name).
    pub name: String,
    pub pypi_name: String,
    pub version: String,
    pub sdist: String,
    pub sha256: String,
    pub noarch: bool,
    /// Python versions its `Requires-Python` excludes (`3.13`).
    pub skip_python: Vec<String>,
    pub run: Vec<RunRequirement>,
    /// Which generation wrote the kept recipe.
    pub generation: String,
    #[serde(skip)]
    pub recipe_dir: PathBuf,
    #[serde(skip)]
    pub recipe_kind: RecipeKind,
    /// `command line`, `reqs.txt:3`, or the members that require it (`flask 3.1.0`).
    #[serde(skip)]
    pub requested_by: Vec<String>,
    #[serde(skip)]
    pub links: Vec<Link>,
}

/// A run requirement as the sdist's metadata states it, and for which interpreters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequirement {
    pub requirement: String,
    pub applies: Applies,
}

/// Which recipe builds a member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipeKind {
    /// Generated from the sdist by ftforge.
    #[default]
    Generated,
    /// The hand-written recipe of the same version under `--recipes`.
    Shipped,
}

/// Where a requirement led.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Member(usize),
    Unresolved(usize),
}

/// An edge of the closure, holding for some interpreters.
#[derive(Debug, Clone)]
pub struct Link {
    pub to: Node,
    pub applies: Applies,
}

/// A requirement that could not be resolved or generated.
#[derive(Debug, Clone, Serialize)]
pub struct Unresolved {
    pub requirement: String,
    pub requested_by: Vec<String>,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct Closure {
    pub members: Vec<Member>,
    pub unresolved: Vec<Unresolved>,
    pub roots: Vec<(Root, Link)>,
}

impl Closure {
    /// Members and unresolved requirements reachable on Python `minor` from the
    /// roots `start` picks, breadth first.
    pub fn reachable(
        &self,
        minor: &str,
        start: impl Fn(&Root) -> bool,
    ) -> (Vec<usize>, Vec<usize>) {
        let mut members = Vec::new();
        let mut unresolved = Vec::new();
        let mut queue: Vec<&Link> = self
            .roots
            .iter()
            .filter(|(root, _)| start(root))
            .map(|(_, link)| link)
            .collect();
        let mut i = 0;
        while i < queue.len() {
            let link = queue[i];
            i += 1;
            if !link.applies.holds_for(minor) {
                continue;
            }
            match link.to {
                Node::Member(m) if !members.contains(&m) => {
                    members.push(m);
                    queue.extend(self.members[m].links.iter());
                }
                Node::Unresolved(u) if !unresolved.contains(&u) => unresolved.push(u),
                _ => {}
            }
        }
        (members, unresolved)
    }

    /// The first unresolved requirement member `m` depends on (directly or through
    /// others) on Python `minor`: it cannot be installed, so it is not built.
    pub fn missing_dependency(&self, m: usize, minor: &str) -> Option<&Unresolved> {
        let mut seen = vec![m];
        let mut i = 0;
        while i < seen.len() {
            for link in &self.members[seen[i]].links {
                if !link.applies.holds_for(minor) {
                    continue;
                }
                match link.to {
                    Node::Unresolved(u) => return Some(&self.unresolved[u]),
                    Node::Member(n) if !seen.contains(&n) => seen.push(n),
                    _ => {}
                }
            }
            i += 1;
        }
        None
    }
}

/// Resolves requirements to members (network: the index, the sdists).
pub struct Resolver<'a> {
    pub client: &'a reqwest::Client,
    pub index: &'a str,
    pub sources: &'a SourceCache,
    /// Where generated recipes are kept.
    pub recipes_dir: PathBuf,
    pub names: NameMap,
    /// Hand-written recipes (`recipes/NAME/recipe.yaml`) used when their version matches.
    pub shipped: Option<PathBuf>,
    pub pre: bool,
    pub reporter: &'a dyn Reporter,
}

/// One requirement waiting to be linked.
struct Pending {
    requirement: Requirement,
    requested_by: String,
    from: From,
    applies: Applies,
}

enum From {
    Root(usize),
    Member(usize),
}

impl Resolver<'_> {
    /// The releases `--history N` checks for `line`: its N newest matching releases,
    /// each pinned; the newest is the one the answer is about.
    pub async fn history_roots(&self, line: &RequirementLine, count: usize) -> Vec<Root> {
        let fallback = || {
            vec![Root {
                line: line.clone(),
                history_only: false,
            }]
        };
        let Ok(page) =
            pypi::fetch_project(self.client, self.index, line.requirement.name.as_ref()).await
        else {
            return fallback();
        };
        let Ok(releases) = page.newest(&line.requirement, self.pre, count, self.index) else {
            return fallback();
        };
        releases
            .iter()
            .enumerate()
            .filter_map(|(i, release)| {
                let mut requirement = line.requirement.clone();
                requirement.version_or_url = Some(VersionOrUrl::VersionSpecifier(
                    pep440_rs::VersionSpecifiers::from_str(&format!("=={}", release.version_text))
                        .ok()?,
                ));
                Some(Root {
                    line: RequirementLine {
                        requirement,
                        origin: line.origin.clone(),
                    },
                    history_only: i > 0,
                })
            })
            .collect()
    }

    /// The closure of `roots`.
    pub async fn resolve(&self, roots: Vec<Root>) -> Closure {
        let targets = marker_targets();
        let mut closure = Closure::default();
        let mut memo: HashMap<String, Node> = HashMap::new();
        let mut layer: Vec<Pending> = Vec::new();
        for (i, root) in roots.into_iter().enumerate() {
            let applies = match &targets {
                Ok(targets) => Applies::of_marker(&root.line.requirement.marker, targets),
                Err(_) => Applies::All,
            };
            layer.push(Pending {
                requirement: root.line.requirement.clone(),
                requested_by: root.line.origin.clone(),
                from: From::Root(i),
                applies: applies.clone(),
            });
            // The link is filled in when the layer is linked.
            closure.roots.push((
                root,
                Link {
                    to: Node::Unresolved(usize::MAX),
                    applies,
                },
            ));
        }
        while !layer.is_empty() {
            let mut wanted: Vec<(String, Requirement)> = Vec::new();
            for p in &layer {
                let key = resolution_key(&p.requirement);
                if lookup(&closure, &memo, &p.requirement).is_none()
                    && !wanted.iter().any(|(k, _)| *k == key)
                {
                    wanted.push((key, p.requirement.clone()));
                }
            }
            let results: Vec<(String, Requirement, Result<Member, String>)> = stream::iter(wanted)
                .map(|(key, requirement)| async move {
                    let result = self.member(&requirement).await;
                    (key, requirement, result)
                })
                .buffer_unordered(CONCURRENT)
                .collect()
                .await;
            let mut next = Vec::new();
            for (key, requirement, result) in results {
                match result {
                    Ok(member) => {
                        let existing = closure
                            .members
                            .iter()
                            .position(|m| m.name == member.name && m.version == member.version);
                        let index = match existing {
                            Some(i) => i,
                            None => {
                                let index = closure.members.len();
                                for run in &member.run {
                                    match pypi::parse_requirement(&run.requirement) {
                                        Ok(requirement) => next.push(Pending {
                                            requirement,
                                            requested_by: format!(
                                                "{} {}",
                                                member.name, member.version
                                            ),
                                            from: From::Member(index),
                                            applies: run.applies.clone(),
                                        }),
                                        Err(e) => closure.unresolved.push(Unresolved {
                                            requirement: run.requirement.clone(),
                                            requested_by: vec![format!(
                                                "{} {}",
                                                member.name, member.version
                                            )],
                                            error: e.to_string(),
                                        }),
                                    }
                                }
                                closure.members.push(member);
                                index
                            }
                        };
                        memo.insert(key, Node::Member(index));
                    }
                    Err(error) => {
                        memo.insert(key, Node::Unresolved(closure.unresolved.len()));
                        closure.unresolved.push(Unresolved {
                            requirement: requirement.to_string(),
                            requested_by: Vec::new(),
                            error,
                        });
                    }
                }
            }
            for p in layer {
                let Some(to) = lookup(&closure, &memo, &p.requirement) else {
                    continue;
                };
                let by = match to {
                    Node::Member(m) => &mut closure.members[m].requested_by,
                    Node::Unresolved(u) => &mut closure.unresolved[u].requested_by,
                };
                if !by.contains(&p.requested_by) {
                    by.push(p.requested_by.clone());
                }
                let link = Link {
                    to,
                    applies: p.applies,
                };
                match p.from {
                    From::Root(r) => closure.roots[r].1 = link,
                    From::Member(m) => closure.members[m].links.push(link),
                }
            }
            layer = next;
        }
        closure
    }

    /// Resolves one requirement and reads (or generates and keeps) its recipe.
    async fn member(&self, requirement: &Requirement) -> Result<Member, String> {
        let release = pypi::resolve(self.client, self.index, requirement, self.pre)
            .await
            .map_err(|e| e.to_string())?;
        let name = match self.names.conda_name(&release.project) {
            CondaName::Name(n) => n,
            CondaName::LeftOut => {
                return Err(format!(
                    "{} is left out of recipes by the PyPI → conda name table",
                    release.project
                ))
            }
        };
        let dir = self
            .recipes_dir
            .join(format!("{name}-{}", release.version_text));
        let mut member = match kept(&dir, &release) {
            Some(member) => member,
            None => self.generate(&release, &dir).await.map_err(|e| {
                format!(
                    "cannot generate a recipe for {} {}: {}",
                    release.project,
                    release.version_text,
                    crate::source::root_cause(&e)
                )
            })?,
        };
        member.recipe_dir = dir;
        if let Some(shipped) = self.shipped_recipe(&member) {
            member.recipe_dir = shipped;
            member.recipe_kind = RecipeKind::Shipped;
        }
        Ok(member)
    }

    /// Generates the recipe of `release` into `dir` and keeps the member beside it.
    async fn generate(&self, release: &SdistRelease, dir: &Path) -> Result<Member, CheckError> {
        let sdist =
            generate::fetch_sdist(self.client, self.sources, release, self.reporter).await?;
        let generated_at = release
            .upload_time
            .as_deref()
            .and_then(|t| jiff::Timestamp::from_str(t).ok())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let mut options = GenerateOptions {
            targets: TargetInterpreter::shipped(),
            names: self.names.clone(),
            available: BTreeSet::new(),
            generated_by: "ftforge check".into(),
            generated_at,
        };
        // Check builds every run requirement into the channel (or does not build the
        // package at all), so `pip check` belongs in the recipe's tests.
        let first = GeneratedRecipe::from_sdist(&sdist, release, &options)?;
        options.available = first.run.iter().map(|d| d.conda.clone()).collect();
        let recipe = GeneratedRecipe::from_sdist(&sdist, release, &options)?;
        let job = format!("{}-{}", release.project, release.version_text);
        for note in &recipe.notes {
            self.reporter.note(&job, note);
        }
        recipe.write(dir, true)?;
        let member = Member {
            name: recipe.name.clone(),
            pypi_name: recipe.pypi_name.clone(),
            version: recipe.version.clone(),
            sdist: recipe.sdist.clone(),
            sha256: recipe.sha256.clone(),
            noarch: recipe.noarch,
            skip_python: recipe.skip_python.clone(),
            run: recipe
                .run
                .iter()
                .map(|d| RunRequirement {
                    requirement: d.pypi.clone(),
                    applies: d.applies.clone(),
                })
                .collect(),
            generation: GENERATION.into(),
            recipe_dir: dir.to_path_buf(),
            recipe_kind: RecipeKind::Generated,
            requested_by: Vec::new(),
            links: Vec::new(),
        };
        let path = dir.join(KEPT_FILE);
        let text = serde_json::to_vec_pretty(&member).expect("a member serializes");
        std::fs::write(&path, text).map_err(|source| CheckError::Cache {
            package: job,
            path,
            source,
        })?;
        Ok(member)
    }

    /// The hand-written recipe of the member's version, if `--recipes` has one.
    fn shipped_recipe(&self, member: &Member) -> Option<PathBuf> {
        let dir = self.shipped.as_ref()?.join(&member.name);
        let recipe = crate::recipe::Recipe::load(&dir).ok()?;
        let variant = recipe.variant_combinations().into_iter().next()?;
        let rendered = recipe.render(&variant).ok()?;
        let output = rendered.outputs.first()?;
        (output.version == member.version).then_some(dir)
    }
}

const KEPT_FILE: &str = "closure.json";

/// The member kept beside a generated recipe, if it was generated from the same sdist
/// by the same generation.
fn kept(dir: &Path, release: &SdistRelease) -> Option<Member> {
    if !dir.join("recipe.yaml").is_file() {
        return None;
    }
    let text = std::fs::read(dir.join(KEPT_FILE)).ok()?;
    let member: Member = serde_json::from_slice(&text).ok()?;
    (member.sha256 == release.sha256 && member.generation == GENERATION).then_some(member)
}

/// Requirements that resolve the same way: the name and the version specifiers.
fn resolution_key(requirement: &Requirement) -> String {
    let specifiers = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(s)) => s.to_string(),
        _ => String::new(),
    };
    format!("{} {specifiers}", normalize_name(requirement.name.as_ref()))
}

/// Where `requirement` leads in what is resolved so far: the same key, or a member
/// of that project whose version satisfies it.
fn lookup(
    closure: &Closure,
    memo: &HashMap<String, Node>,
    requirement: &Requirement,
) -> Option<Node> {
    if let Some(node) = memo.get(&resolution_key(requirement)) {
        return Some(*node);
    }
    let project = normalize_name(requirement.name.as_ref());
    let specifiers = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(s)) => Some(s),
        _ => None,
    };
    closure
        .members
        .iter()
        .position(|m| {
            normalize_name(&m.pypi_name) == project
                && Version::from_str(&m.version)
                    .is_ok_and(|v| specifiers.is_none_or(|s| s.contains(&v)))
        })
        .map(Node::Member)
}

/// The shipped interpreters with their marker environments.
fn marker_targets(
) -> Result<Vec<(TargetInterpreter, pep508_rs::MarkerEnvironment)>, generate::GenerateError> {
    TargetInterpreter::shipped()
        .into_iter()
        .map(|t| t.marker_environment().map(|env| (t, env)))
        .collect()
}
