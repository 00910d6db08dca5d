//! Building against a channel server (`ftforge serve`): the worker side of
//! `ftforge build --executor dask://…`. A job runs with the same code as a local build,
//! into a throwaway staging channel; the server's packages (main and `label/python_rc`,
//! read over HTTP) are its host packages, and what it makes is uploaded afterwards —
//! packages first, then verdicts, then the build report that marks the job done. A job
//! killed half way leaves at most packages without a report, which its retry replaces.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ftforge_channels::fetch::{self, ChannelUrl, FetchError};
use ftforge_channels::labels::PRERELEASE_LABEL;
use ftforge_channels::upload::{
    upload_compat, upload_package_to, upload_stored, StoredKind, UploadError, UploadToken,
};
use ftforge_channels::CompatRecord;
use rattler_conda_types::RepoDataRecord;
use url::Url;

use crate::build::{
    build_job, failure_json, failure_record, judge_files, plan_job, skipped_record, BuildError,
    BuildReport, BuildSettings, StoredFailure, JUDGING_DIGEST,
};
use crate::job::Job;
use crate::progress::Reporter;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RemoteError {
    #[error("`{0}` is not a channel server URL (http://HOST:PORT/…)")]
    #[diagnostic(help("remote builds read and publish through `ftforge serve`: pass its URL"))]
    NotHttp(String),
    #[error("cannot read the channel server's packages")]
    Fetch(#[from] FetchError),
    #[error("cannot upload to the channel server")]
    #[diagnostic(transparent)]
    Upload(#[from] UploadError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] BuildError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the first variant's package {0} is not on the channel server")]
    MissingShared(String),
}

/// A channel served over HTTP by `ftforge serve`.
#[derive(Debug, Clone)]
pub struct RemoteChannel {
    /// Ends with `/`.
    pub url: Url,
    pub client: reqwest::Client,
    /// Where fetched repodata (with its validators) and packages are kept.
    pub cache: PathBuf,
}

/// How a job ended on a worker: what `ftforge job run --json` prints.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct JobResult {
    pub job: String,
    pub outcome: JobOutcome,
    /// The build report (built, judged again, or reused from the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<BuildReport>,
    /// The verdicts this job recorded on the server (none when reused).
    #[serde(default)]
    pub verdicts: Vec<CompatRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobOutcome {
    /// Built (or judged) and uploaded.
    Built,
    /// The server already had an identical build: nothing ran.
    Reused,
    /// The package's own failure, recorded on the server as a verdict.
    Failed,
    /// Every output is skipped for this variant (the recipe says why).
    Skipped,
}

impl RemoteChannel {
    pub fn new(url: &str, client: reqwest::Client, cache: PathBuf) -> Result<Self, RemoteError> {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(RemoteError::NotHttp(url.to_string()));
        }
        let mut url = Url::parse(url).map_err(|_| RemoteError::NotHttp(url.to_string()))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(Self { url, client, cache })
    }

    /// Every package of the server's channel and of its `python_rc` label (the
    /// platform subdir and `noarch`), with their HTTP URLs.
    pub async fn records(&self) -> Result<Vec<RepoDataRecord>, RemoteError> {
        let mut out = Vec::new();
        for label in [None, Some(PRERELEASE_LABEL)] {
            let text = match label {
                Some(l) => format!("{}label/{l}", self.url),
                None => self.url.to_string(),
            };
            let channel = ChannelUrl::parse(&text)?;
            for subdir in [crate::recipe::target_platform(), "noarch"] {
                out.extend(fetch::records(&self.client, &channel, subdir, &self.cache).await?);
            }
        }
        Ok(out)
    }

    /// A JSON file under `ftforge/` of the server, if it has it.
    async fn stored<T: serde::de::DeserializeOwned>(
        &self,
        kind: StoredKind,
        key: &str,
    ) -> Option<T> {
        let url = self
            .url
            .join(&format!("ftforge/{}/{key}.json", kind.dir()))
            .ok()?;
        let response = self.client.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// The report of an earlier identical build whose packages the server still lists.
    pub async fn reusable_report(
        &self,
        key: &str,
        records: &[RepoDataRecord],
    ) -> Option<BuildReport> {
        let report: BuildReport = self.stored(StoredKind::Build, key).await?;
        let all_there = report.outputs.iter().all(|o| {
            records.iter().any(|r| {
                r.identifier.to_string() == o.filename && r.package_record.subdir == o.subdir
            })
        });
        all_there.then_some(report)
    }

    /// The verdict of an earlier identical build that failed, judged by this code.
    pub async fn cached_failure(&self, key: &str) -> Option<CompatRecord> {
        let stored: StoredFailure = self.stored(StoredKind::Failure, key).await?;
        (stored.judged_with == JUDGING_DIGEST).then_some(stored.record)
    }
}

/// Runs one job against `remote`: reused when the server has an identical build (or an
/// identical failure), otherwise built — or, with `shared`, the first variant's
/// package judged on this job's interpreter — into `settings.channel` (a staging
/// directory) and uploaded. `settings.extra_records` must hold `remote`'s packages.
pub async fn run_job(
    job: &Job<'_>,
    shared: Option<&BuildReport>,
    settings: &BuildSettings,
    remote: &RemoteChannel,
    token: &UploadToken,
    reporter: &dyn Reporter,
) -> Result<JobResult, RemoteError> {
    let started = Instant::now();
    let name = job.name.clone();
    if job.all_skipped() {
        let verdicts: Vec<CompatRecord> = skipped_record(job).into_iter().collect();
        if !verdicts.is_empty() {
            upload_compat(&remote.client, &remote.url, token, &verdicts).await?;
        }
        reporter.finished(&name, true, "skipped by the recipe");
        return Ok(JobResult {
            job: name,
            outcome: JobOutcome::Skipped,
            report: None,
            verdicts,
        });
    }
    let plan = plan_job(job, settings)?;
    if !settings.force {
        if let Some(report) = remote
            .reusable_report(&plan.key, &settings.extra_records)
            .await
        {
            reporter.finished(&name, true, "up to date on the channel server");
            return Ok(JobResult {
                job: name,
                outcome: JobOutcome::Reused,
                report: Some(report),
                verdicts: Vec::new(),
            });
        }
        if let Some(record) = remote.cached_failure(&plan.key).await {
            reporter.finished(
                &name,
                false,
                &format!("{} (unchanged since it failed)", record.verdict),
            );
            return Ok(JobResult {
                job: name,
                outcome: JobOutcome::Failed,
                report: None,
                verdicts: vec![record],
            });
        }
    }
    let key = plan.key.clone();
    let built = match shared {
        Some(first) => {
            let packages = download_outputs(first, remote, settings).await?;
            judge_files(job, first, packages, &plan, settings, reporter, started).await
        }
        None => build_job(job, plan, settings, reporter).await,
    };
    match built {
        Ok(report) => {
            let verdicts = upload_result(&report, settings, remote, token).await?;
            Ok(JobResult {
                job: name,
                outcome: JobOutcome::Built,
                report: Some(report),
                verdicts,
            })
        }
        Err(error) => {
            let seconds = started.elapsed().as_secs_f64();
            let Some(record) = failure_record(job, &error, seconds) else {
                return Err(error.into());
            };
            upload_compat(
                &remote.client,
                &remote.url,
                token,
                std::slice::from_ref(&record),
            )
            .await?;
            upload_stored(
                &remote.client,
                &remote.url,
                token,
                StoredKind::Failure,
                &key,
                failure_json(&record),
            )
            .await?;
            reporter.finished(
                &name,
                false,
                &format!("{}: {}", record.verdict, record.reason),
            );
            Ok(JobResult {
                job: name,
                outcome: JobOutcome::Failed,
                report: None,
                verdicts: vec![record],
            })
        }
    }
}

/// The packages of the first variant of a shared build, fetched from the server
/// (sha256-checked) for this job to judge.
async fn download_outputs(
    first: &BuildReport,
    remote: &RemoteChannel,
    settings: &BuildSettings,
) -> Result<Vec<PathBuf>, RemoteError> {
    let store = remote.cache.join("packages");
    std::fs::create_dir_all(&store).map_err(|source| RemoteError::Io {
        action: "create",
        path: store.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for output in &first.outputs {
        let record = settings
            .extra_records
            .iter()
            .find(|r| {
                r.identifier.to_string() == output.filename
                    && r.package_record.subdir == output.subdir
            })
            .ok_or_else(|| RemoteError::MissingShared(output.filename.clone()))?;
        out.push(fetch::verified_package(&remote.client, record, &store).await?);
    }
    Ok(out)
}

/// Packages (each into its label), then verdicts, then the report that marks the job
/// done. Re-uploading the same bytes is a no-op on the server; different bytes under
/// the same name replace what an interrupted earlier attempt left (a local build
/// replaces its own files the same way).
async fn upload_result(
    report: &BuildReport,
    settings: &BuildSettings,
    remote: &RemoteChannel,
    token: &UploadToken,
) -> Result<Vec<CompatRecord>, RemoteError> {
    let staging = &settings.channel;
    for output in &report.outputs {
        let path =
            staging.published_path(output.label.as_deref(), &output.subdir, &output.filename);
        if path.is_file() {
            upload_package_to(
                &remote.client,
                &remote.url,
                output.label.as_deref(),
                token,
                &path,
                true,
            )
            .await?;
        }
    }
    let compat = staging.read_compat().map_err(UploadError::from)?;
    let abi = job_abi(report);
    let verdicts: Vec<CompatRecord> = report
        .outputs
        .iter()
        .filter_map(|o| compat.get(&o.name, &o.version, abi.as_ref()).cloned())
        .collect();
    if !verdicts.is_empty() {
        upload_compat(&remote.client, &remote.url, token, &verdicts).await?;
    }
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    upload_stored(
        &remote.client,
        &remote.url,
        token,
        StoredKind::Build,
        &report.key,
        json,
    )
    .await?;
    Ok(verdicts)
}

fn job_abi(report: &BuildReport) -> Option<ftforge_interpreter::PythonAbi> {
    crate::job::variant_abi(&report.variant)
}

/// Unpacks a recipe folder sent as a tar archive into `dir`.
pub fn unpack_recipe(archive: &Path, dir: &Path) -> Result<(), RemoteError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| RemoteError::Io {
            action,
            path,
            source,
        }
    };
    let file = std::fs::File::open(archive).map_err(io("open", archive))?;
    tar::Archive::new(file)
        .unpack(dir)
        .map_err(io("unpack", archive))
}

/// A recipe folder as a tar archive (what a remote job is sent).
pub fn pack_recipe(dir: &Path) -> Result<Vec<u8>, RemoteError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(true);
    builder
        .append_dir_all(".", dir)
        .and_then(|()| builder.into_inner())
        .map_err(|source| RemoteError::Io {
            action: "pack",
            path: dir.to_path_buf(),
            source,
        })
}
