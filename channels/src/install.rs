//! Installing environments from channels: solve with resolvo (`rattler_solve`), apply
//! the GIL policy from the channels' verdicts, verify every package against its
//! repodata sha256 before anything is linked, then link with rattler's installer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rattler_conda_types::{MatchSpec, ParseStrictness, RepoDataRecord};
use rattler_solve::{resolvo, SolveError, SolverImpl, SolverTask};

use crate::compat::{CompatData, Verdict};
use crate::fetch::{self, ChannelUrl, FetchError};
use crate::labels::record_abi;

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

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InstallError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] FetchError),
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
    #[error("cannot link the environment into {}: {message}", prefix.display())]
    Link { prefix: PathBuf, message: String },
}

/// A package the GIL policy kept out, with the evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blocked {
    pub package: String,
    pub version: String,
    pub abi: String,
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
    pub specs: Vec<String>,
    pub policy: GilPolicy,
    /// Repodata cache, verified package store and rattler's package cache live here.
    pub cache_dir: PathBuf,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallOutcome {
    pub prefix: PathBuf,
    pub packages: Vec<InstalledPackage>,
    pub free_threaded: bool,
    /// Packages installed although their verdict re-enables the GIL (policy `warn`).
    pub warnings: Vec<Blocked>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    pub build: String,
    pub channel: String,
    pub verdict: Option<Verdict>,
}

/// Verdicts that keep a package out of free-threaded environments.
pub fn reenables_gil(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::GilReenabled
            | Verdict::BuildFailed
            | Verdict::ImportFailed
            | Verdict::TestsFailed
            | Verdict::StressFailed
    )
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
        env_abi: Option<&str>,
    ) -> Option<(&crate::compat::CompatRecord, String)> {
        let root = self.roots.get(record.channel.as_deref()?)?;
        let data = self.compat.get(root)?;
        let abi = record_abi(&record.package_record).or_else(|| env_abi.map(String::from))?;
        data.get(
            record.package_record.name.as_normalized(),
            &record.package_record.version.as_str(),
            &abi,
        )
        .map(|r| (r, abi))
    }
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

fn solve(
    available: &[RepoDataRecord],
    specs: &[MatchSpec],
    excluded: HashMap<url::Url, Arc<str>>,
) -> Result<Vec<RepoDataRecord>, SolveError> {
    let mut task = SolverTask::from_iter([available.iter()]);
    task.specs = specs.to_vec();
    task.excluded_candidates = excluded;
    resolvo::Solver.solve(task).map(|r| r.records)
}

fn solver_text(err: SolveError) -> String {
    match err {
        SolveError::Unsolvable(lines) => lines.join("\n"),
        other => other.to_string(),
    }
}

fn python_abi_of(records: &[RepoDataRecord]) -> Option<String> {
    records
        .iter()
        .find(|r| r.package_record.name.as_normalized() == "python")
        .and_then(|r| record_abi(&r.package_record))
}

/// Solves, applies the policy, verifies and links.
pub async fn install(
    client: &reqwest::Client,
    request: &InstallRequest,
) -> Result<InstallOutcome, InstallError> {
    let specs: Vec<MatchSpec> = request
        .specs
        .iter()
        .map(|s| {
            MatchSpec::from_str(s, ParseStrictness::Lenient).map_err(|e| InstallError::BadSpec {
                spec: s.clone(),
                message: e.to_string(),
            })
        })
        .collect::<Result<_, _>>()?;
    let available = load(
        client,
        &request.channels,
        &request.cache_dir.join("repodata"),
    )
    .await?;
    let first = solve(&available.records, &specs, HashMap::new())
        .map_err(|e| InstallError::Unsolvable(solver_text(e)))?;
    let env_abi = python_abi_of(&first);
    let free_threaded = env_abi.as_deref().is_some_and(|a| a.ends_with('t'));

    let mut records = first;
    let mut warnings = Vec::new();
    if free_threaded && request.policy != GilPolicy::Allow {
        let bad: Vec<(&RepoDataRecord, Blocked)> = available
            .records
            .iter()
            .filter_map(|r| {
                let (verdict, abi) = available.verdict_of(r, env_abi.as_deref())?;
                (abi.ends_with('t') && reenables_gil(verdict.verdict)).then(|| {
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
        match request.policy {
            GilPolicy::Forbid
                if records
                    .iter()
                    .any(|r| bad.iter().any(|(b, _)| b.url == r.url)) =>
            {
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
                match solve(&available.records, &specs, excluded) {
                    Ok(second) => records = second,
                    Err(err) => {
                        let in_first: Vec<Blocked> = bad
                            .iter()
                            .filter(|(b, _)| records.iter().any(|r| r.url == b.url))
                            .map(|(_, blocked)| blocked.clone())
                            .collect();
                        return Err(InstallError::GilPolicy {
                            blocked: in_first,
                            solver: solver_text(err),
                        });
                    }
                }
            }
            GilPolicy::Warn => {
                warnings = bad
                    .iter()
                    .filter(|(b, _)| records.iter().any(|r| r.url == b.url))
                    .map(|(_, x)| x.clone())
                    .collect();
            }
            _ => {}
        }
    }

    // Every package is fetched and checked against its repodata sha256 before
    // anything touches the prefix.
    let store = request.cache_dir.join("packages");
    let mut verified = Vec::new();
    for record in &records {
        let path = fetch::verified_package(client, record, &store).await?;
        let mut local = record.clone();
        local.url = url::Url::from_file_path(&path)
            .map_err(|_| FetchError::BadChannel(path.display().to_string()))?;
        verified.push(local);
    }
    crate::transaction::link(&request.prefix, verified, &request.cache_dir.join("pkgs"))
        .await
        .map_err(|message| InstallError::Link {
            prefix: request.prefix.clone(),
            message,
        })?;

    let packages = records
        .iter()
        .map(|r| InstalledPackage {
            name: r.package_record.name.as_normalized().to_string(),
            version: r.package_record.version.as_str().to_string(),
            build: r.package_record.build.as_str().to_string(),
            channel: r.channel.clone().unwrap_or_default(),
            verdict: available
                .verdict_of(r, env_abi.as_deref())
                .map(|(v, _)| v.verdict),
        })
        .collect();
    Ok(InstallOutcome {
        prefix: request.prefix.clone(),
        packages,
        free_threaded,
        warnings,
    })
}
