//! One check from request to report: the closure, the verdicts the channel already has,
//! one build session for the rest (and for missing interpreters), then the answers.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use ftforge_channels::matrix::gil_free_since;
use ftforge_channels::{CompatData, CompatRecord, Verdict};
use ftforge_interpreter::PythonAbi;

use super::answer::{
    answer_line, gil_enabled_by, later_keeps_gil_off, versions_on, CheckReport, History,
    HistoryVersion, How, Outcome, PackageResult, Requested, TargetAnswer, SCHEMA_VERSION,
};
use super::closure::{Closure, RecipeKind, Resolver, Root};
use super::input::{python_label, RequirementLine};
use super::CheckError;
use crate::build::{BuildError, BuildSettings, JUDGING_DIGEST};
use crate::generate::NameMap;
use crate::plan::{VariantFilter, VariantKind};
use crate::progress::Reporter;
use crate::recipe::Recipe;
use crate::session::build_all;
use crate::variants::Variant;
use crate::verdict::Evidence;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub requirements: Vec<RequirementLine>,
    /// The interpreters asked about, in the order given.
    pub targets: Vec<PythonAbi>,
    /// Also consider pre-releases.
    pub pre: bool,
    /// Check the N newest releases of each requirement.
    pub history: Option<usize>,
    /// Hand-written recipes (used when their version is the one resolved) and the
    /// python recipe (built when the channel lacks an interpreter).
    pub recipes: Option<PathBuf>,
    /// Builds at once.
    pub parallel: usize,
}

/// Runs a check. Package failures are verdicts in the report; the errors returned
/// with it are failures of ftforge or its inputs for some builds (their packages have
/// no verdict, so the answer says so).
pub async fn check(
    request: &CheckRequest,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<(CheckReport, Vec<BuildError>), CheckError> {
    let started = Instant::now();
    if request.requirements.is_empty() {
        return Err(CheckError::NothingToCheck);
    }
    let index = crate::mirrors::pip_index_url().ok_or(CheckError::NoIndex)?;
    let names = match &request.recipes {
        Some(dir) => NameMap::for_folder(dir)?,
        None => NameMap::shipped(),
    };
    let resolver = Resolver {
        client: &settings.client,
        index: &index,
        sources: &settings.sources,
        recipes_dir: crate::source::default_cache_dir()
            .join("check")
            .join("recipes"),
        names,
        shipped: request.recipes.clone().filter(|d| d.is_dir()),
        pre: request.pre,
        reporter,
    };

    // 1. The closure.
    let mut roots = Vec::new();
    for line in &request.requirements {
        match request.history {
            Some(n) if n > 1 => roots.extend(resolver.history_roots(line, n).await),
            _ => roots.push(Root {
                line: line.clone(),
                history_only: false,
            }),
        }
    }
    let closure = resolver.resolve(roots).await;

    // 2. What the channel already knows, and the jobs for the rest. A hand-written
    // recipe can change without a new version (a test, a requirement), so its jobs always
    // go to the session, which reuses only an identical build (the build key covers the
    // recipe); generated recipes are reused by package, version and interpreter.
    // A failed build goes to the session too (`current`): a package needing it waits
    // for its job there, and is recorded blocked when it fails again.
    let compat = settings.channel.read_compat()?;
    let mut wanted: Vec<(usize, PythonAbi)> = Vec::new();
    let mut reused = 0;
    for abi in &request.targets {
        let (members, _) = closure.reachable(&abi.py_ver(), |_| true);
        for m in members {
            let member = &closure.members[m];
            let shipped = member.recipe_kind == RecipeKind::Shipped;
            match compat.get(&member.name, &member.version, Some(abi)) {
                Some(r) if current(r) && !shipped => reused += 1,
                _ if closure.missing_dependency(m, &abi.py_ver()).is_some() => {}
                _ => wanted.push((m, *abi)),
            }
        }
    }
    let recipes: Vec<(usize, Recipe)> = {
        let mut loaded = Vec::new();
        for (m, _) in &wanted {
            if loaded.iter().any(|(i, _)| i == m) {
                continue;
            }
            let recipe = Recipe::load(&closure.members[*m].recipe_dir).map_err(Box::new)?;
            loaded.push((*m, recipe));
        }
        loaded
    };
    let mut pairs: Vec<(&Recipe, Variant)> = Vec::new();
    for (m, abi) in &wanted {
        let recipe = &recipes
            .iter()
            .find(|(i, _)| i == m)
            .expect("loaded above")
            .1;
        pairs.extend(variants_for(recipe, abi));
    }
    let interpreter = interpreters_missing(request, settings, &wanted)?;
    if let Some((recipe, abis)) = &interpreter {
        for abi in abis {
            pairs.extend(variants_for(recipe, abi));
        }
    }

    // 3. One session for everything missing.
    let mut tool_errors = Vec::new();
    let mut built: HashSet<(String, String, PythonAbi)> = HashSet::new();
    if !pairs.is_empty() {
        let outcome = build_all(&pairs, settings, reporter, request.parallel).await;
        for record in &outcome.verdicts {
            if outcome.reused.contains(&record.key()) {
                reused += 1;
            } else if let Some(abi) = record.abi {
                built.insert((record.package.clone(), record.version.clone(), abi));
            }
        }
        tool_errors = outcome.tool_errors;
    }
    let compat = settings.channel.read_compat()?;

    // 4. The answers.
    let mut targets = Vec::new();
    for abi in &request.targets {
        let answer = target_answer(&closure, &compat, abi, &built, &tool_errors);
        targets.push(answer);
    }
    let history = match request.history {
        Some(n) if n > 1 => history(&closure, &compat, &request.targets),
        _ => Vec::new(),
    };
    let exit_code = exit_code(targets.iter().map(|t| t.outcome));
    let report = CheckReport {
        schema_version: SCHEMA_VERSION,
        channel: settings.channel.root.clone(),
        requested: request
            .requirements
            .iter()
            .map(|l| Requested {
                requirement: l.requirement.to_string(),
                origin: l.origin.clone(),
            })
            .collect(),
        targets,
        unresolved: closure.unresolved.clone(),
        history,
        built: built.len(),
        reused,
        seconds: started.elapsed().as_secs_f64(),
        exit_code,
    };
    Ok((report, tool_errors))
}

/// A verdict check reuses: one judged by this code. Skipped ones are decided again (a
/// dependency may now build). Failed builds go to the session, which gives the same
/// verdict at once when nothing changed (`cached_failure`: same recipe, code and host
/// packages) and builds again otherwise (a generator fix, a build requirement now in the
/// channel); a package needing one is then blocked in the same session. Other verdicts
/// go back to the session, which judges the same build again.
fn current(record: &CompatRecord) -> bool {
    match record.verdict {
        Verdict::Skipped | Verdict::BuildFailed => false,
        _ => Evidence::from_value(&record.evidence)
            .is_ok_and(|e| e.judged_with.as_deref() == Some(JUDGING_DIGEST)),
    }
}

/// 3 when some interpreter is not usable, else 1 when some has no answer, else 0.
pub fn exit_code(outcomes: impl Iterator<Item = Outcome>) -> u8 {
    outcomes
        .map(Outcome::exit_code)
        .fold(0, |worst, code| match (worst, code) {
            (3, _) | (_, 3) => 3,
            (1, _) | (_, 1) => 1,
            _ => 0,
        })
}

/// The (recipe, variant) jobs of `recipe` for the interpreter `abi`.
fn variants_for<'r>(recipe: &'r Recipe, abi: &PythonAbi) -> Vec<(&'r Recipe, Variant)> {
    let filter = selects(abi);
    recipe
        .variant_combinations()
        .into_iter()
        .filter(|v| filter.accepts(v))
        .map(|v| (recipe, v))
        .collect()
}

/// The variant filter of one interpreter.
fn selects(abi: &PythonAbi) -> VariantFilter {
    VariantFilter {
        kind: Some(if abi.freethreading {
            VariantKind::Freethreading
        } else {
            VariantKind::Gil
        }),
        python: vec![abi.py_ver()],
        released: None,
    }
}

/// The python recipe and the interpreters the channel lacks among those jobs need.
fn interpreters_missing(
    request: &CheckRequest,
    settings: &BuildSettings,
    wanted: &[(usize, PythonAbi)],
) -> Result<Option<(Recipe, Vec<PythonAbi>)>, CheckError> {
    let mut needed: Vec<PythonAbi> = wanted.iter().map(|(_, abi)| *abi).collect();
    needed.sort();
    needed.dedup();
    let channel = &settings.channel;
    let present: Vec<PythonAbi> = channel
        .interpreters()
        .into_iter()
        .map(|(abi, _)| abi)
        .collect();
    let has = |abi: &PythonAbi| present.contains(abi);
    let missing: Vec<PythonAbi> = needed.into_iter().filter(|abi| !has(abi)).collect();
    let Some(first) = missing.first() else {
        return Ok(None);
    };
    let recipes = request
        .recipes
        .clone()
        .unwrap_or_else(|| PathBuf::from("recipes"));
    let dir = recipes.join("python");
    if !dir.join("recipe.yaml").is_file() {
        return Err(CheckError::NoInterpreter {
            channel: channel.root.clone(),
            abi: *first,
            python: first.py_ver(),
            recipes,
        });
    }
    let recipe = Recipe::load(&dir).map_err(Box::new)?;
    Ok(Some((recipe, missing)))
}

fn target_answer(
    closure: &Closure,
    compat: &CompatData,
    abi: &PythonAbi,
    built: &HashSet<(String, String, PythonAbi)>,
    tool_errors: &[BuildError],
) -> TargetAnswer {
    let minor = abi.py_ver();
    let (members, _) = closure.reachable(&minor, |root| !root.history_only);
    let mut packages = Vec::new();
    for m in members {
        let member = &closure.members[m];
        let record = compat.get(&member.name, &member.version, Some(abi));
        let how = match record {
            Some(_) if built.contains(&(member.name.clone(), member.version.clone(), *abi)) => {
                How::Built
            }
            Some(_) => How::Reused,
            None => How::NotBuilt,
        };
        let reason = match (record, closure.missing_dependency(m, &minor)) {
            (Some(r), _) => r.reason.clone(),
            (None, Some(u)) => format!(
                "not built: its requirement `{}` could not be resolved ({})",
                u.requirement, u.error
            ),
            (None, None) => {
                let job = format!("{} {} {abi}", member.name, member.version);
                tool_errors
                    .iter()
                    .find(|e| e.job() == Some(job.as_str()))
                    .map(|e| format!("not built: {}", crate::source::root_cause(e)))
                    .unwrap_or_else(|| "not built (see the errors above)".into())
            }
        };
        let verdict = record.map(|r| r.verdict);
        packages.push(PackageResult {
            name: member.name.clone(),
            pypi_name: member.pypi_name.clone(),
            version: member.version.clone(),
            requested_by: member.requested_by.clone(),
            recipe: member.recipe_dir.clone(),
            recipe_kind: member.recipe_kind,
            how,
            verdict,
            reason,
            gil_enabled_by: record
                .filter(|r| r.verdict == Verdict::GilReenabled)
                .and_then(gil_enabled_by),
            later_keeps_gil_off: (verdict.is_some_and(|v| !v.is_gil_free()) && abi.freethreading)
                .then(|| later_keeps_gil_off(compat, &member.name, &member.version, abi))
                .flatten(),
            filename: record.and_then(|r| r.filename.clone()),
        });
    }
    let (outcome, answer) = answer_line(abi, &packages, closure);
    TargetAnswer {
        python: python_label(abi),
        abi: *abi,
        outcome,
        answer,
        packages,
    }
}

/// Each requested package's checked releases, newest first, per interpreter.
fn history(closure: &Closure, compat: &CompatData, targets: &[PythonAbi]) -> Vec<History> {
    let mut out = Vec::new();
    let mut packages: Vec<String> = Vec::new();
    for (_, link) in &closure.roots {
        if let super::closure::Node::Member(m) = link.to {
            let name = &closure.members[m].name;
            if !packages.contains(name) {
                packages.push(name.clone());
            }
        }
    }
    for package in packages {
        for abi in targets {
            let checked: Vec<&str> = closure
                .roots
                .iter()
                .filter_map(|(_, link)| match link.to {
                    super::closure::Node::Member(m) if closure.members[m].name == package => {
                        Some(closure.members[m].version.as_str())
                    }
                    _ => None,
                })
                .collect();
            let versions: Vec<(String, Verdict)> = versions_on(compat, &package, abi)
                .into_iter()
                .filter(|(v, _)| checked.contains(&v.as_str()))
                .collect();
            out.push(History {
                package: package.clone(),
                python: python_label(abi),
                abi: *abi,
                gil_free_since: abi
                    .freethreading
                    .then(|| {
                        gil_free_since(versions.iter().map(|(v, verdict)| (v.as_str(), *verdict)))
                    })
                    .flatten(),
                versions: checked
                    .iter()
                    .map(|v| {
                        let record = compat.get(&package, v, Some(abi));
                        HistoryVersion {
                            version: v.to_string(),
                            verdict: record.map(|r| r.verdict),
                            reason: record.map(|r| r.reason.clone()).unwrap_or_default(),
                        }
                    })
                    .collect(),
            });
        }
    }
    out
}
