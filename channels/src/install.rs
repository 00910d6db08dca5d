//! Installing environments from channels. An install into an existing prefix keeps what it
//! holds: its package records are the solver's favoured candidates, the specs earlier
//! installs asked for (stored in each record's `requested_specs`) are solved again with
//! the new ones, and the environment's interpreter ABI is kept unless the request names
//! the interpreter. Solving is `rattler_solve`'s resolvo; the GIL policy turns the
//! channels' verdicts into excluded candidates. [`plan`] computes the changes (installs,
//! upgrades, downgrades, removals) before anything is touched; [`apply`] verifies every
//! package to be linked against its repodata sha256 and links all or nothing
//! (`transaction.rs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ftforge_interpreter::PythonAbi;
use rattler::install::{Transaction, TransactionOperation};
use rattler_conda_types::{
    MatchSpec, PackageName, ParseStrictness, PrefixRecord, RepoDataRecord, Subdir,
};
use rattler_solve::{resolvo, SolveError, SolverImpl, SolverTask};

use crate::compat::{CompatData, CompatRecord, Verdict};
use crate::fetch::{self, ChannelUrl, FetchError};
use crate::labels::record_abi;
use crate::transaction::{self, Recovery, TransactionError};

/// What to do with packages whose verdict says they turn the GIL back on (or worse)
/// in a free-threaded environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GilPolicy {
    /// Never choose them; explain when nothing else satisfies the request.
    #[default]
    Forbid,
    /// Choose them if needed, and say so.
    Warn,
    /// Do not look at verdicts.
    Allow,
}

/// The packages that make up the interpreter of an environment: a request naming one of
/// them may change the environment's ABI.
pub const INTERPRETER_PACKAGES: [&str; 4] =
    ["python", "python_abi", "python-freethreading", "python-gil"];

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InstallError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transaction(#[from] TransactionError),
    #[error("`{spec}` is not a valid package spec: {message}")]
    BadSpec { spec: String, message: String },
    #[error("no environment satisfies the request:\n{0}")]
    Unsolvable(String),
    #[error("{}", gil_message(.blocked))]
    #[diagnostic(help(
        "--gil-policy warn installs it anyway: the GIL turns on when the module is imported (PYTHON_GIL=0 forces it off, at your own risk). `ftforge matrix -c CHANNEL` shows every verdict with its evidence"
    ))]
    GilPolicy {
        blocked: Vec<Blocked>,
        solver: String,
    },
    #[error(
        "{} is a {} environment ({from}); the request can only be satisfied by switching it to {to}{}:\n{solver}",
        prefix.display(),
        if from.freethreading { "free-threaded" } else { "GIL" },
        if to.freethreading { " (free-threaded)" } else { " (with the GIL)" }
    )]
    #[diagnostic(help(
        "ask for the interpreter to switch it, e.g. `ftforge install --prefix {} 'python {}.* *_{to}' …`, or install into another prefix",
        prefix.display(),
        to.py_ver()
    ))]
    AbiChange {
        prefix: PathBuf,
        from: PythonAbi,
        to: PythonAbi,
        /// Why the solve that keeps the ABI failed.
        solver: String,
    },
    #[error("this machine is not a conda platform")]
    UnknownPlatform,
    #[error("cannot work out the changes to {}: {source}", prefix.display())]
    Plan {
        prefix: PathBuf,
        #[source]
        source: rattler::install::TransactionError,
    },
}

/// A package the GIL policy kept out, with the evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocked {
    pub package: String,
    pub version: String,
    #[serde(serialize_with = "crate::abi_tag::serialize")]
    pub abi: PythonAbi,
    pub verdict: Verdict,
    pub reason: String,
}

fn gil_message(blocked: &[Blocked]) -> String {
    let mut lines = vec!["the request needs packages that would turn the GIL back on in this free-threaded environment:".to_string()];
    for b in blocked {
        lines.push(format!(
            "  {} {} ({}): {} — {}",
            b.package, b.version, b.abi, b.verdict, b.reason
        ));
    }
    lines.join("\n")
}

/// One install.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    pub prefix: PathBuf,
    pub channels: Vec<String>,
    /// The specs this install adds; a spec for a package the environment already asked
    /// for replaces the earlier one.
    pub specs: Vec<String>,
    pub policy: GilPolicy,
    /// Repodata cache, verified package store and rattler's package cache live here.
    pub cache_dir: PathBuf,
}

/// What an install does (from [`plan`]) or did (from [`apply`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallOutcome {
    pub prefix: PathBuf,
    /// The whole environment after the install.
    pub packages: Vec<InstalledPackage>,
    /// What changes in the prefix, by package name.
    pub changes: Vec<PackageChange>,
    /// The interpreter ABI of the environment after the install (`cp314t`).
    #[serde(serialize_with = "crate::abi_tag::optional::serialize")]
    pub abi: Option<PythonAbi>,
    pub free_threaded: bool,
    /// Packages installed although their verdict re-enables the GIL (policy `warn`).
    pub warnings: Vec<Blocked>,
    /// Every spec the environment is asked for: earlier installs' and this one's.
    pub requested_specs: Vec<String>,
    /// What became of an earlier install into the prefix that was interrupted.
    pub recovered: Option<Recovery>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub build: String,
    pub channel: String,
    pub verdict: Option<Verdict>,
}

/// One package whose presence or build changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageChange {
    pub kind: ChangeKind,
    pub name: String,
    /// What the prefix holds now (none for an install).
    pub from: Option<PackageBuild>,
    /// What it will hold (none for a removal).
    pub to: Option<PackageBuild>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Install,
    Upgrade,
    Downgrade,
    /// The same version, another build (e.g. another interpreter ABI).
    Change,
    /// The same package linked again (noarch python packages when the interpreter changes).
    Reinstall,
    Remove,
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChangeKind::Install => "install",
            ChangeKind::Upgrade => "upgrade",
            ChangeKind::Downgrade => "downgrade",
            ChangeKind::Change => "change",
            ChangeKind::Reinstall => "reinstall",
            ChangeKind::Remove => "remove",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageBuild {
    pub version: String,
    pub build: String,
}

impl PackageBuild {
    fn of(record: &RepoDataRecord) -> Self {
        Self {
            version: record.package_record.version.as_str().to_string(),
            build: record.package_record.build.as_str().to_string(),
        }
    }
}

impl std::fmt::Display for PackageBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.version, self.build)
    }
}

/// An install worked out and not yet carried out: [`InstallPlan::outcome`] says what
/// [`apply`] will do.
#[derive(Debug)]
pub struct InstallPlan {
    pub outcome: InstallOutcome,
    records: Vec<RepoDataRecord>,
    installed: Vec<PrefixRecord>,
    requested: Vec<MatchSpec>,
    specs_changed: bool,
    cache_dir: PathBuf,
}

/// Verdicts that keep a package out of free-threaded environments: it turns the GIL
/// back on, or it does not build, import, pass its tests or survive thread stress.
/// (Every verdict is named, so a new one must be placed here.)
pub fn excluded_from_free_threaded(verdict: Verdict) -> bool {
    match verdict {
        Verdict::GilReenabled
        | Verdict::BuildFailed
        | Verdict::ImportFailed
        | Verdict::TestsFailed
        | Verdict::StressFailed => true,
        Verdict::GilFree
        | Verdict::Verified
        | Verdict::PurePython
        | Verdict::Ok
        | Verdict::Skipped => false,
    }
}

struct Available {
    records: Vec<RepoDataRecord>,
    /// Verdicts by channel root URL.
    compat: HashMap<String, CompatData>,
    roots: HashMap<String, String>,
}

impl Available {
    fn verdict_of(
        &self,
        record: &RepoDataRecord,
        env_abi: Option<PythonAbi>,
    ) -> Option<(&CompatRecord, PythonAbi)> {
        let root = self.roots.get(record.channel.as_deref()?)?;
        let data = self.compat.get(root)?;
        let abi = abi_of(record).or(env_abi)?;
        data.get(
            record.package_record.name.as_normalized(),
            &record.package_record.version.as_str(),
            Some(&abi),
        )
        .map(|r| (r, abi))
    }
}

/// The interpreter ABI a record is built for, if it is tied to one.
fn abi_of(record: &RepoDataRecord) -> Option<PythonAbi> {
    record_abi(&record.package_record)
}

/// The ABI of the interpreter among `records`.
fn python_abi_of<'a>(records: impl IntoIterator<Item = &'a RepoDataRecord>) -> Option<PythonAbi> {
    records
        .into_iter()
        .find(|r| r.package_record.name.as_normalized() == "python")
        .and_then(abi_of)
}

async fn load(
    client: &reqwest::Client,
    channels: &[String],
    cache: &Path,
) -> Result<Available, InstallError> {
    let mut available = Available {
        records: Vec::new(),
        compat: HashMap::new(),
        roots: HashMap::new(),
    };
    let platform = crate::platform();
    for arg in channels {
        let channel = ChannelUrl::parse(arg)?;
        for subdir in [platform, "noarch"] {
            available
                .records
                .extend(fetch::records(client, &channel, subdir, cache).await?);
        }
        if let Some(data) = fetch::compat(client, &channel, cache).await? {
            available.compat.insert(channel.root.to_string(), data);
        }
        available
            .roots
            .insert(channel.url.to_string(), channel.root.to_string());
    }
    Ok(available)
}

fn parse_spec(spec: &str) -> Result<MatchSpec, InstallError> {
    MatchSpec::from_str(spec, ParseStrictness::Lenient).map_err(|e| InstallError::BadSpec {
        spec: spec.to_string(),
        message: e.to_string(),
    })
}

fn name_of(spec: &MatchSpec) -> Option<&PackageName> {
    spec.name.as_exact()
}

fn is_interpreter(name: &PackageName) -> bool {
    INTERPRETER_PACKAGES.contains(&name.as_normalized())
}

/// The specs earlier installs asked for, from the records' `requested_specs`. A prefix
/// whose records carry none (made by another tool, or by ftforge before it stored them)
/// keeps every installed package by name.
#[allow(deprecated)]
fn earlier_specs(installed: &[PrefixRecord]) -> Vec<MatchSpec> {
    let stored: Vec<&String> = installed
        .iter()
        .flat_map(|r| r.requested_specs.iter().chain(r.requested_spec.iter()))
        .collect();
    if stored.is_empty() {
        return installed
            .iter()
            .map(|r| MatchSpec::from(r.name().clone()))
            .collect();
    }
    stored
        .into_iter()
        .filter_map(|s| MatchSpec::from_str(s, ParseStrictness::Lenient).ok())
        .collect()
}

/// The earlier specs with the new ones: a new spec replaces the earlier specs for its
/// package, and a new spec for any interpreter package replaces all earlier interpreter
/// specs (the user chose the interpreter anew).
fn merge_specs(earlier: Vec<MatchSpec>, new: &[MatchSpec]) -> Vec<MatchSpec> {
    let new_names: HashSet<&PackageName> = new.iter().filter_map(name_of).collect();
    let new_interpreter = new_names.iter().any(|n| is_interpreter(n));
    let mut merged: Vec<MatchSpec> = Vec::new();
    for spec in earlier {
        let replaced = name_of(&spec)
            .is_some_and(|n| new_names.contains(n) || (new_interpreter && is_interpreter(n)));
        if !replaced && !merged.contains(&spec) {
            merged.push(spec);
        }
    }
    for spec in new {
        if !merged.contains(spec) {
            merged.push(spec.clone());
        }
    }
    merged
}

/// One solve of the environment, with what stays fixed between its attempts.
struct Problem<'a> {
    available: &'a [RepoDataRecord],
    /// Installed packages, as the solver's favoured candidates.
    favored: Vec<&'a RepoDataRecord>,
    specs: Vec<MatchSpec>,
    /// The ABI the environment keeps, with its `python_abi` constraint.
    keep: Option<(PythonAbi, MatchSpec)>,
    prefix: &'a Path,
}

impl Problem<'_> {
    fn run(
        &self,
        constraints: Vec<MatchSpec>,
        excluded: &HashMap<url::Url, Arc<str>>,
    ) -> Result<Vec<RepoDataRecord>, SolveError> {
        let mut task = SolverTask::from_iter([self.available.iter()]);
        task.specs = self.specs.clone();
        task.constraints = constraints;
        task.locked_packages = self.favored.clone();
        task.virtual_packages = crate::system::virtual_packages();
        task.excluded_candidates = excluded.clone();
        resolvo::Solver.solve(task).map(|r| r.records)
    }

    /// Solves keeping the environment's ABI (when it has one to keep).
    fn solve(
        &self,
        excluded: &HashMap<url::Url, Arc<str>>,
    ) -> Result<Vec<RepoDataRecord>, SolveError> {
        let Some((_, constraint)) = &self.keep else {
            return self.run(Vec::new(), excluded);
        };
        self.run(vec![constraint.clone()], excluded)
    }

    /// The error for a failed solve: when only another ABI would do, it says which (and
    /// how to ask for it) instead of the solver's bare "unsolvable".
    fn explain(&self, err: SolveError, excluded: &HashMap<url::Url, Arc<str>>) -> InstallError {
        let solver = solver_text(err);
        if let Some((from, _)) = self.keep {
            if let Ok(records) = self.run(Vec::new(), excluded) {
                if let Some(to) = python_abi_of(&records).filter(|to| *to != from) {
                    return InstallError::AbiChange {
                        prefix: self.prefix.to_path_buf(),
                        from,
                        to,
                        solver,
                    };
                }
            }
        }
        InstallError::Unsolvable(solver)
    }
}

fn solver_text(err: SolveError) -> String {
    match err {
        SolveError::Unsolvable(lines) => lines.join("\n"),
        other => other.to_string(),
    }
}

/// What the install changes, from rattler's own transaction of the prefix's records to
/// the solved environment.
fn changes(
    prefix: &Path,
    installed: &[PrefixRecord],
    records: &[RepoDataRecord],
) -> Result<Vec<PackageChange>, InstallError> {
    let platform = Subdir::current().ok_or(InstallError::UnknownPlatform)?;
    let transaction = Transaction::from_current_and_desired(
        installed.iter(),
        records.iter(),
        None,
        None,
        platform,
    )
    .map_err(|source| InstallError::Plan {
        prefix: prefix.to_path_buf(),
        source,
    })?;
    let mut out: Vec<PackageChange> = transaction
        .operations
        .iter()
        .map(|op| {
            let (kind, old, new) = match op {
                TransactionOperation::Install(new) => (ChangeKind::Install, None, Some(*new)),
                TransactionOperation::Remove(old) => (ChangeKind::Remove, Some(*old), None),
                TransactionOperation::Reinstall { old, new } => {
                    (ChangeKind::Reinstall, Some(*old), Some(*new))
                }
                TransactionOperation::Change { old, new } => {
                    let before = &old.repodata_record.package_record.version;
                    let after = &new.package_record.version;
                    let kind = match after.cmp(before) {
                        std::cmp::Ordering::Greater => ChangeKind::Upgrade,
                        std::cmp::Ordering::Less => ChangeKind::Downgrade,
                        std::cmp::Ordering::Equal => ChangeKind::Change,
                    };
                    (kind, Some(*old), Some(*new))
                }
            };
            let name = new
                .map(|r| r.package_record.name.as_normalized())
                .or(old.map(|r| r.name().as_normalized()))
                .unwrap_or_default()
                .to_string();
            PackageChange {
                kind,
                name,
                from: old.map(|r| PackageBuild::of(&r.repodata_record)),
                to: new.map(PackageBuild::of),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Solves the request against what the prefix holds and the channels offer, applies the
/// GIL policy and works out the changes. Touches nothing but an interrupted earlier
/// install, which is recovered first (its records would be half the truth).
pub async fn plan(
    client: &reqwest::Client,
    request: &InstallRequest,
) -> Result<InstallPlan, InstallError> {
    let new_specs: Vec<MatchSpec> = request
        .specs
        .iter()
        .map(|s| parse_spec(s))
        .collect::<Result<_, _>>()?;
    let recovered = transaction::recover(&request.prefix)?;
    let installed = transaction::installed(&request.prefix)?;
    let earlier = earlier_specs(&installed);
    let specs = merge_specs(earlier.clone(), &new_specs);
    let specs_changed = {
        let as_text = |specs: &[MatchSpec]| {
            let mut t: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
            t.sort();
            t
        };
        as_text(&earlier) != as_text(&specs)
    };
    let installed_abi = python_abi_of(installed.iter().map(|r| &r.repodata_record));
    let names_interpreter = new_specs.iter().filter_map(name_of).any(is_interpreter);
    let keep = match installed_abi {
        Some(abi) if !names_interpreter => {
            Some((abi, parse_spec(&format!("python_abi * *_{}", abi.tag()))?))
        }
        _ => None,
    };

    let available = load(
        client,
        &request.channels,
        &request.cache_dir.join("repodata"),
    )
    .await?;
    // The installed packages are favoured as the channels list them (same sha256), or as
    // the prefix records them when the channels no longer have them.
    let favored: Vec<&RepoDataRecord> = installed
        .iter()
        .map(|i| {
            let sha = i.repodata_record.package_record.sha256;
            available
                .records
                .iter()
                .find(|r| {
                    sha.is_some()
                        && r.package_record.sha256 == sha
                        && r.package_record.name == i.repodata_record.package_record.name
                })
                .unwrap_or(&i.repodata_record)
        })
        .collect();
    let installed_shas: HashSet<_> = installed
        .iter()
        .filter_map(|r| r.repodata_record.package_record.sha256)
        .collect();
    let problem = Problem {
        available: &available.records,
        favored,
        specs: specs.clone(),
        keep,
        prefix: &request.prefix,
    };
    let none = HashMap::new();
    let first = problem
        .solve(&none)
        .map_err(|e| problem.explain(e, &none))?;
    let env_abi = python_abi_of(&first);
    let free_threaded = env_abi.is_some_and(|a| a.freethreading);

    let mut records = first;
    let mut warnings = Vec::new();
    if free_threaded && request.policy != GilPolicy::Allow {
        // Packages already in the prefix were accepted by an earlier install: the policy
        // judges what this one adds.
        let bad: Vec<(&RepoDataRecord, Blocked)> = available
            .records
            .iter()
            .filter(|r| {
                r.package_record
                    .sha256
                    .is_none_or(|sha| !installed_shas.contains(&sha))
            })
            .filter_map(|r| {
                let (verdict, abi) = available.verdict_of(r, env_abi)?;
                (abi.freethreading && excluded_from_free_threaded(verdict.verdict)).then(|| {
                    (
                        r,
                        Blocked {
                            package: verdict.package.clone(),
                            version: verdict.version.clone(),
                            abi,
                            verdict: verdict.verdict,
                            reason: verdict.reason.clone(),
                        },
                    )
                })
            })
            .collect();
        let chosen = |records: &[RepoDataRecord]| -> Vec<Blocked> {
            bad.iter()
                .filter(|(b, _)| records.iter().any(|r| r.url == b.url))
                .map(|(_, blocked)| blocked.clone())
                .collect()
        };
        match request.policy {
            GilPolicy::Forbid if !chosen(&records).is_empty() => {
                let excluded: HashMap<url::Url, Arc<str>> = bad
                    .iter()
                    .map(|(r, b)| {
                        (
                            r.url.clone(),
                            Arc::from(
                                format!("{} on {} (--gil-policy forbid)", b.verdict, b.abi)
                                    .as_str(),
                            ),
                        )
                    })
                    .collect();
                match problem.solve(&excluded) {
                    Ok(second) => records = second,
                    Err(err) => {
                        return Err(InstallError::GilPolicy {
                            blocked: chosen(&records),
                            solver: solver_text(err),
                        });
                    }
                }
            }
            GilPolicy::Warn => warnings = chosen(&records),
            _ => {}
        }
    }

    let changes = changes(&request.prefix, &installed, &records)?;
    let packages = records
        .iter()
        .map(|r| InstalledPackage {
            name: r.package_record.name.as_normalized().to_string(),
            version: r.package_record.version.as_str().to_string(),
            build: r.package_record.build.as_str().to_string(),
            channel: r.channel.clone().unwrap_or_default(),
            verdict: available.verdict_of(r, env_abi).map(|(v, _)| v.verdict),
        })
        .collect();
    Ok(InstallPlan {
        outcome: InstallOutcome {
            prefix: request.prefix.clone(),
            packages,
            changes,
            abi: env_abi,
            free_threaded,
            warnings,
            requested_specs: specs.iter().map(|s| s.to_string()).collect(),
            recovered,
        },
        records,
        installed,
        requested: specs,
        specs_changed,
        cache_dir: request.cache_dir.clone(),
    })
}

/// Carries out a plan: fetches and verifies the packages to be linked (nothing touches
/// the prefix before all of them are), then links under the journal. The link is refused
/// if the prefix changed since the plan was made.
pub async fn apply(
    client: &reqwest::Client,
    plan: InstallPlan,
) -> Result<InstallOutcome, InstallError> {
    let InstallPlan {
        mut outcome,
        records,
        installed,
        requested,
        specs_changed,
        cache_dir,
    } = plan;
    if outcome.changes.is_empty() && !specs_changed {
        return Ok(outcome);
    }
    let to_link: HashSet<&str> = outcome
        .changes
        .iter()
        .filter(|c| c.to.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let store = cache_dir.join("packages");
    let mut desired = Vec::with_capacity(records.len());
    for record in &records {
        let mut local = record.clone();
        if to_link.contains(record.package_record.name.as_normalized()) {
            let path = fetch::verified_package(client, record, &store).await?;
            local.url = url::Url::from_file_path(&path)
                .map_err(|_| FetchError::BadChannel(path.display().to_string()))?;
        }
        desired.push(local);
    }
    let recovered = transaction::apply(
        &outcome.prefix,
        transaction::Link {
            records: desired,
            requested_specs: Some(requested),
            expected: Some(installed),
        },
        &cache_dir.join("pkgs"),
    )
    .await?;
    outcome.recovered = outcome.recovered.or(recovered);
    Ok(outcome)
}

/// [`plan`] then [`apply`].
pub async fn install(
    client: &reqwest::Client,
    request: &InstallRequest,
) -> Result<InstallOutcome, InstallError> {
    let plan = plan(client, request).await?;
    apply(client, plan).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(texts: &[&str]) -> Vec<MatchSpec> {
        texts.iter().map(|t| parse_spec(t).unwrap()).collect()
    }

    fn texts(specs: &[MatchSpec]) -> Vec<String> {
        specs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn new_specs_join_the_earlier_ones_and_replace_those_of_their_package() {
        let earlier = specs(&["python-freethreading", "markupsafe", "hello >=1"]);
        let merged = merge_specs(earlier, &specs(&["psutil", "hello >=2"]));
        assert_eq!(
            texts(&merged),
            ["python-freethreading", "markupsafe", "psutil", "hello >=2"]
        );
    }

    #[test]
    fn a_new_interpreter_spec_replaces_every_earlier_interpreter_spec() {
        let earlier = specs(&["python-freethreading 3.14.*", "python_abi", "markupsafe"]);
        let merged = merge_specs(earlier, &specs(&["python 3.14.* *_cp314"]));
        assert_eq!(texts(&merged), ["markupsafe", "python 3.14.* *_cp314"]);
    }
}
