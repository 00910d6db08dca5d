//! `ftforge build --executor dask://HOST:PORT`: the session graph run on a Dask cluster.
//! Each job the channel server does not already hold becomes one Dask task whose
//! dependencies are the tasks of the jobs it waits for; the tasks run `ftforge job run`
//! on the workers (`remote.rs`), which read host packages from the server over HTTP and
//! upload their results. Dask is driven by `executor/ftforge_dask.py` (shipped in the
//! repository, compiled into the binary and run with the machine's Python): it submits
//! the graph and prints one JSON event per line, read here and shown through the same
//! `Reporter` as a local build. ftforge has no scheduler of its own for this.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine;
use ftforge_channels::upload::UploadToken;
use ftforge_channels::CompatRecord;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::build::{plan_job, BuildError, BuildReport, BuildSettings};
use crate::job::Job;
use crate::progress::Reporter;
use crate::recipe::Recipe;
use crate::remote::{pack_recipe, JobOutcome, JobResult, RemoteChannel};
use crate::session::{graph, jobs, shared_first, SessionOutcome};
use crate::variants::Variant;

/// The driver script, run with the coordinator's Python (which needs `distributed`).
pub const DRIVER: &str = include_str!("../../executor/ftforge_dask.py");

/// Where and how to reach the cluster.
#[derive(Debug, Clone)]
pub struct DaskExecutor {
    /// `tcp://HOST:PORT` (from `dask://HOST:PORT`) or `tls://…`.
    pub scheduler: String,
    /// The Python that runs the driver (`FTFORGE_PYTHON`, default `python3`).
    pub python: String,
    /// The ftforge binary's name on the workers (`FTFORGE_BIN` there overrides it).
    pub worker_binary: String,
    /// Retries of a task that raised (a worker that dies is Dask's own business).
    pub retries: u32,
}

impl DaskExecutor {
    /// From `dask://HOST:PORT` (or `tcp://`, `tls://`).
    pub fn parse(text: &str) -> Result<Self, BuildError> {
        let scheduler = if let Some(rest) = text.strip_prefix("dask://") {
            format!("tcp://{rest}")
        } else if text.starts_with("tcp://") || text.starts_with("tls://") {
            text.to_string()
        } else {
            return Err(BuildError::Executor {
                message: format!(
                    "`{text}` is not an executor: write dask://HOST:PORT (a `dask scheduler`)"
                ),
            });
        };
        Ok(Self {
            scheduler,
            python: std::env::var("FTFORGE_PYTHON").unwrap_or_else(|_| "python3".into()),
            worker_binary: "ftforge".into(),
            retries: 2,
        })
    }
}

#[derive(serde::Serialize)]
struct Task {
    id: usize,
    name: String,
    deps: Vec<usize>,
    recipe: String,
    args: Vec<String>,
    token: String,
    /// The id of the task that builds the shared package this one judges.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_from: Option<usize>,
    /// Or, when that build was already on the server, its report.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_report: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event {
    Connected {
        workers: usize,
        build_slots: usize,
    },
    Started {
        id: usize,
        worker: String,
    },
    Finished {
        id: usize,
        ok: bool,
        code: Option<i32>,
        worker: String,
        #[serde(default)]
        blocked: Option<String>,
        #[serde(default)]
        stdout: String,
        #[serde(default)]
        stderr: String,
    },
    Error {
        id: usize,
        message: String,
    },
    Lost {
        message: String,
    },
}

/// Runs the graph of `pairs` on the cluster. `settings.channel` is a local staging
/// directory (only keys are computed against it); `remote` is the channel server.
pub async fn build_on_cluster(
    pairs: &[(&Recipe, Variant)],
    settings: &BuildSettings,
    remote: &RemoteChannel,
    token: &UploadToken,
    executor: &DaskExecutor,
    reporter: &dyn Reporter,
) -> SessionOutcome {
    let mut outcome = SessionOutcome::default();
    match run(
        pairs,
        settings,
        remote,
        token,
        executor,
        reporter,
        &mut outcome,
    )
    .await
    {
        Ok(()) => {}
        Err(error) => outcome.tool_errors.push(error),
    }
    outcome
}

async fn run(
    pairs: &[(&Recipe, Variant)],
    settings: &BuildSettings,
    remote: &RemoteChannel,
    token: &UploadToken,
    executor: &DaskExecutor,
    reporter: &dyn Reporter,
    outcome: &mut SessionOutcome,
) -> Result<(), BuildError> {
    let jobs = jobs(pairs)?;
    let nodes = graph(&jobs)?;
    let executor_error = |message: String| BuildError::Executor { message };
    let mut settings = settings.clone();
    settings.extra_records = remote.records().await.map_err(|e| {
        executor_error(format!(
            "reading {}: {}",
            remote.url,
            crate::source::root_cause(&e)
        ))
    })?;

    // A job is not sent when nothing it waits for is sent and the server holds its
    // identical build (or failure).
    let order = topological(
        &nodes
            .iter()
            .map(|n| n.depends_on.clone())
            .collect::<Vec<_>>(),
    );
    let mut reused: HashMap<usize, BuildReport> = HashMap::new();
    let mut not_sent: HashSet<usize> = HashSet::new();
    let mut done = 0u64;
    let total = jobs.len() as u64;
    reporter.overall(0, total);
    if !settings.force {
        for &i in &order {
            if nodes[i].depends_on.iter().any(|d| !not_sent.contains(d)) {
                continue;
            }
            let job = &jobs[i];
            if job.all_skipped() {
                continue;
            }
            let Ok(plan) = plan_job(job, &settings) else {
                continue;
            };
            if let Some(report) = remote
                .reusable_report(&plan.key, &settings.extra_records)
                .await
            {
                reporter.finished(
                    &job.name,
                    true,
                    "up to date on the channel server (not sent)",
                );
                done += 1;
                reporter.overall(done, total);
                outcome.reports.push(report.clone());
                reused.insert(i, report);
                not_sent.insert(i);
            } else if let Some(record) = remote.cached_failure(&plan.key).await {
                reporter.finished(
                    &job.name,
                    false,
                    &format!("{} (unchanged since it failed; not sent)", record.verdict),
                );
                done += 1;
                reporter.overall(done, total);
                outcome.verdicts.push(record);
                not_sent.insert(i);
            }
        }
    }

    let mut archives: HashMap<PathBuf, String> = HashMap::new();
    let mut tasks = Vec::new();
    for &i in &order {
        if not_sent.contains(&i) {
            continue;
        }
        let job = &jobs[i];
        let recipe = match archives.get(&job.recipe.dir) {
            Some(a) => a.clone(),
            None => {
                let bytes = pack_recipe(&job.recipe.dir)
                    .map_err(|e| executor_error(crate::source::root_cause(&e)))?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                archives.insert(job.recipe.dir.clone(), encoded.clone());
                encoded
            }
        };
        let variant = serde_json::to_string(job.variant()).unwrap_or_default();
        let mut args = vec![
            "--variant".to_string(),
            variant,
            "--channel".to_string(),
            remote.url.to_string(),
            "--json".to_string(),
        ];
        if settings.force {
            args.push("--force".into());
        }
        // A later variant of a shared build judges the first variant's package.
        let first = shared_first(&jobs, i);
        let (shared_from, shared_report) = match first {
            Some(f) if reused.contains_key(&f) => (
                None,
                serde_json::to_string(&JobResult {
                    job: jobs[f].name.clone(),
                    outcome: JobOutcome::Reused,
                    report: reused.get(&f).cloned(),
                    verdicts: Vec::new(),
                })
                .ok(),
            ),
            Some(f) => (Some(f), None),
            None => (None, None),
        };
        tasks.push(Task {
            id: i,
            name: job.name.clone(),
            deps: nodes[i]
                .depends_on
                .iter()
                .copied()
                .filter(|d| !not_sent.contains(d))
                .collect(),
            recipe,
            args,
            token: token.secret().to_string(),
            shared_from,
            shared_report,
        });
    }
    if tasks.is_empty() {
        return Ok(());
    }

    let logs = settings.work_root.join("cluster-logs");
    std::fs::create_dir_all(&logs).map_err(|source| BuildError::Io {
        action: "create",
        path: logs.clone(),
        source,
    })?;
    let driver = logs.join("ftforge_dask.py");
    std::fs::write(&driver, DRIVER).map_err(|source| BuildError::Io {
        action: "write",
        path: driver.clone(),
        source,
    })?;
    let graph_json = serde_json::json!({
        "scheduler": executor.scheduler,
        "ftforge": executor.worker_binary,
        "retries": executor.retries,
        "tasks": tasks,
    });
    let mut child = tokio::process::Command::new(&executor.python)
        .arg(&driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            executor_error(format!(
                "cannot start {} for the Dask driver: {e} (FTFORGE_PYTHON names another Python)",
                executor.python
            ))
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let body = serde_json::to_vec(&graph_json).unwrap_or_default();
    stdin
        .write_all(&body)
        .await
        .map_err(|e| executor_error(format!("cannot hand the graph to the Dask driver: {e}")))?;
    drop(stdin);
    let stderr = child.stderr.take().expect("piped");
    let stderr_task = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut reported: HashSet<usize> = HashSet::new();
    let mut lost = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(event) = serde_json::from_str::<Event>(&line) else {
            continue;
        };
        match event {
            Event::Connected {
                workers,
                build_slots,
            } => {
                if build_slots == 0 {
                    let _ = child.kill().await;
                    return Err(executor_error(format!(
                        "the Dask cluster at {} has {workers} worker(s) but no `build` slot: start workers with `dask worker {} --nthreads 1 --resources build=1`",
                        executor.scheduler, executor.scheduler
                    )));
                }
                reporter.note("", &format!(
                    "Dask cluster {}: {workers} worker(s), {build_slots} build slot(s); {} job(s) sent",
                    executor.scheduler,
                    tasks.len()
                ));
            }
            Event::Started { id, worker } => {
                if let Some(job) = jobs.get(id) {
                    reporter.note(&job.name, &format!("running on {worker}"));
                }
            }
            Event::Finished {
                id,
                ok,
                code,
                worker,
                blocked,
                stdout,
                stderr,
            } => {
                let Some(job) = jobs.get(id) else { continue };
                if !reported.insert(id) {
                    continue;
                }
                done += 1;
                reporter.overall(done, total);
                let log = logs.join(format!("{}.log", job.name.replace(' ', "-")));
                let _ = std::fs::write(&log, &stderr);
                finished(
                    job, ok, code, &worker, blocked, &stdout, &log, reporter, outcome,
                );
            }
            Event::Error { id, message } => {
                let Some(job) = jobs.get(id) else { continue };
                if reported.insert(id) {
                    done += 1;
                    reporter.overall(done, total);
                    reporter.finished(
                        &job.name,
                        false,
                        &format!("failed on the cluster: {message}"),
                    );
                    outcome
                        .tool_errors
                        .push(executor_error(format!("{}: {message}", job.name)));
                }
            }
            Event::Lost { message } => {
                lost = Some(message);
            }
        }
    }
    let status = child.wait().await;
    let driver_stderr = stderr_task.await.unwrap_or_default();
    if let Some(message) = lost {
        return Err(executor_error(format!(
            "{message}; {} job(s) did not report. What was uploaded stays: run the same build again to continue",
            tasks.len().saturating_sub(reported.len())
        )));
    }
    let unreported = tasks.len().saturating_sub(reported.len());
    if status.as_ref().is_ok_and(|s| s.success()) && unreported > 0 {
        return Err(executor_error(format!(
            "the Dask driver ended with {unreported} job(s) unreported. What was uploaded stays: run the same build again to continue"
        )));
    }
    if !status.is_ok_and(|s| s.success()) {
        let tail: String = driver_stderr
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(executor_error(format!(
            "the Dask driver ({} {}) failed:\n{tail}",
            executor.python,
            driver.display()
        )));
    }
    Ok(())
}

/// One task's result into the outcome and the progress view.
#[allow(clippy::too_many_arguments)]
fn finished(
    job: &Job,
    ok: bool,
    code: Option<i32>,
    worker: &str,
    blocked: Option<String>,
    stdout: &str,
    log: &std::path::Path,
    reporter: &dyn Reporter,
    outcome: &mut SessionOutcome,
) {
    if let Some(first) = blocked {
        let reason = format!("blocked: {first} did not build");
        reporter.finished(&job.name, false, &reason);
        outcome
            .verdicts
            .extend(crate::build::blocked_record(job, &reason));
        return;
    }
    let result: Option<JobResult> = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .or_else(|| serde_json::from_str(stdout).ok());
    match result {
        Some(result) => {
            let summary = match result.outcome {
                JobOutcome::Built => "built on",
                JobOutcome::Reused => "up to date, said",
                JobOutcome::Failed => "failed on",
                JobOutcome::Skipped => "skipped, said",
            };
            let verdicts: Vec<String> = result
                .verdicts
                .iter()
                .map(|v| v.verdict.to_string())
                .collect();
            reporter.finished(
                &job.name,
                result.outcome != JobOutcome::Failed,
                &format!(
                    "{summary} {worker}{}",
                    if verdicts.is_empty() {
                        String::new()
                    } else {
                        format!(" · {}", verdicts.join(", "))
                    }
                ),
            );
            outcome
                .verdicts
                .extend::<Vec<CompatRecord>>(result.verdicts);
            outcome.reports.extend(result.report);
        }
        None => {
            let message = format!(
                "{} failed on {worker} (exit code {}); its log: {}",
                job.name,
                code.map_or("none".to_string(), |c| c.to_string()),
                log.display()
            );
            reporter.finished(&job.name, ok, &message);
            outcome.tool_errors.push(BuildError::Executor { message });
        }
    }
}

/// Node indices in an order where every node comes after the ones it depends on (the
/// graph is known to have no cycle).
fn topological(depends_on: &[Vec<usize>]) -> Vec<usize> {
    let mut order = Vec::new();
    let mut placed = vec![false; depends_on.len()];
    while order.len() < depends_on.len() {
        let before = order.len();
        for (i, deps) in depends_on.iter().enumerate() {
            if !placed[i] && deps.iter().all(|&d| placed[d]) {
                placed[i] = true;
                order.push(i);
            }
        }
        if order.len() == before {
            break;
        }
    }
    order
}
