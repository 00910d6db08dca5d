//! A build session: many (recipe, variant) jobs scheduled over a dependency graph. Up
//! to `parallel` jobs run at once; a job starts when the jobs it depends on (same
//! interpreter ABI) are done. A package that fails is a result (a `build-failed`
//! verdict with its evidence) and only its dependents are held back (`skipped`,
//! blocked); tool errors are errors. A `noarch: python` package is built once, by its
//! first variant, and judged on the interpreter of every other variant. Interpreter
//! health probes run at the end, one at a time, when no build competes with them.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use ftforge_channels::{CompatRecord, Verdict};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::build::{
    blocked_record, build_job, cached_failure, failure_record, judge_published, plan_job,
    remember_failure, skipped_record, BuildError, BuildReport, BuildSettings,
};
use crate::job::{Job, SharedBuild};
use crate::progress::Reporter;
use crate::recipe::Recipe;
use crate::variants::Variant;

/// Everything a session produced.
#[derive(Debug, Default)]
pub struct SessionOutcome {
    pub reports: Vec<BuildReport>,
    /// Verdicts recorded in this session (successful builds, failures, skips), and those
    /// of identical earlier builds it reused.
    pub verdicts: Vec<CompatRecord>,
    /// The compat keys (`CompatRecord::key`) among `verdicts` that an identical earlier
    /// build decided: nothing was built or judged for them.
    pub reused: HashSet<String>,
    /// Package failures (already recorded as verdicts), for display.
    pub package_failures: Vec<BuildError>,
    /// Failures of ftforge itself or of its inputs.
    pub tool_errors: Vec<BuildError>,
}

/// One node of the build graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobNode {
    pub index: usize,
    pub job: String,
    pub recipe: std::path::PathBuf,
    pub abi: Option<String>,
    /// Indices of the jobs this one waits for.
    pub depends_on: Vec<usize>,
}

/// Renders every (recipe, variant) pair once.
pub fn jobs<'r>(pairs: &[(&'r Recipe, Variant)]) -> Result<Vec<Job<'r>>, BuildError> {
    pairs
        .iter()
        .map(|(recipe, variant)| Job::new(recipe, variant).map_err(BuildError::from))
        .collect()
}

/// The dependency graph of `jobs`: job B waits for job A when B's recipe needs a name
/// A's recipe produces and they share the interpreter ABI (or A has none); the later
/// variants of a noarch recipe wait for its first. A cycle is an error naming it.
pub fn graph(jobs: &[Job]) -> Result<Vec<JobNode>, BuildError> {
    let needs: Vec<Vec<String>> = jobs.iter().map(Job::needs).collect();
    let mut nodes = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        let mut depends_on = Vec::new();
        for (i, other) in jobs.iter().enumerate() {
            if i == j {
                continue;
            }
            let same_recipe = other.recipe.dir == job.recipe.dir;
            let needed = !same_recipe && other.produces().any(|p| needs[j].iter().any(|n| n == p));
            let abi_ok = other.abi.is_none()
                || other.abi == job.abi
                || other.shared_build() == Some(SharedBuild::NoarchPython)
                || other.shared_build() == Some(SharedBuild::Abi3t)
                    && job.abi.is_some_and(|a| a.has_abi3t());
            // The later variants of a shared build wait for the first of its group.
            let shared_first = shared_first(jobs, j) == Some(i);
            if (needed && abi_ok) || shared_first {
                depends_on.push(i);
            }
        }
        nodes.push(JobNode {
            index: j,
            job: job.name.clone(),
            recipe: job.recipe.dir.clone(),
            abi: job.abi.map(|a| a.tag()),
            depends_on,
        });
    }
    if let Some(cycle) = find_cycle(&nodes) {
        return Err(BuildError::Cycle {
            jobs: cycle.iter().map(|&i| nodes[i].job.clone()).collect(),
        });
    }
    Ok(nodes)
}

/// For a later variant `j` of a shared build (noarch: python, abi3t): the job that
/// builds the group's one package, the first of the same recipe and kind before it that
/// the recipe does not skip (`skip: is_freethreading` on a noarch recipe: the first GIL
/// variant builds it).
pub fn shared_first(jobs: &[Job], j: usize) -> Option<usize> {
    let job = &jobs[j];
    let kind = job.shared_build()?;
    jobs[..j].iter().position(|o| {
        o.recipe.dir == job.recipe.dir && o.shared_build() == Some(kind) && !o.all_skipped()
    })
}

/// A cycle of the graph as node indices, first node repeated at the end.
fn find_cycle(nodes: &[JobNode]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: usize,
        nodes: &[JobNode],
        mark: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[n] = Mark::Open;
        path.push(n);
        for &d in &nodes[n].depends_on {
            match mark[d] {
                Mark::Open => {
                    let start = path.iter().position(|&p| p == d).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(d);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(d, nodes, mark, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        mark[n] = Mark::Done;
        None
    }
    let mut mark = vec![Mark::New; nodes.len()];
    (0..nodes.len()).find_map(|n| {
        (mark[n] == Mark::New)
            .then(|| visit(n, nodes, &mut mark, &mut Vec::new()))
            .flatten()
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Succeeded,
    Failed,
}

/// What a finished job left for the scheduler.
enum Done {
    Built(BuildReport),
    Failed(BuildError, String, f64),
}

/// What `ftforge plan` shows of one job: its place in the graph and what building it
/// would do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedJob {
    pub index: usize,
    pub job: String,
    pub recipe: std::path::PathBuf,
    pub abi: Option<String>,
    /// `build` or `reuse`.
    pub action: PlanAction,
    pub key: String,
    /// The jobs it waits for, by name.
    pub depends_on: Vec<String>,
    /// Host packages from the channel.
    pub host: Vec<String>,
    /// Host specs the channel lacks (left to pip's build isolation).
    pub not_in_channel: Vec<crate::env::LeftToPip>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanAction {
    Build,
    Reuse,
}

/// The graph of `pairs` with what each job would do, without building anything.
pub fn plan(
    pairs: &[(&Recipe, Variant)],
    settings: &BuildSettings,
) -> Result<Vec<PlannedJob>, BuildError> {
    let jobs = jobs(pairs)?;
    let nodes = graph(&jobs)?;
    nodes
        .iter()
        .zip(&jobs)
        .map(|(node, job)| {
            let plan = plan_job(job, settings)?;
            Ok(PlannedJob {
                action: if plan.reusable.is_some() && !settings.force {
                    PlanAction::Reuse
                } else {
                    PlanAction::Build
                },
                key: plan.key,
                depends_on: node
                    .depends_on
                    .iter()
                    .map(|&i| nodes[i].job.clone())
                    .collect(),
                host: plan
                    .host_records
                    .iter()
                    .map(|r| r.identifier.to_string())
                    .collect(),
                not_in_channel: plan.missing,
                index: node.index,
                job: node.job.clone(),
                recipe: node.recipe.clone(),
                abi: node.abi.clone(),
            })
        })
        .collect()
}

/// Builds every job of the graph; `pairs` in dependency order.
pub async fn build_all(
    pairs: &[(&Recipe, Variant)],
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    parallel: usize,
) -> SessionOutcome {
    let mut outcome = SessionOutcome::default();
    let (jobs, nodes) = match jobs(pairs).and_then(|jobs| graph(&jobs).map(|g| (jobs, g))) {
        Ok(found) => found,
        Err(error) => {
            outcome.tool_errors.push(error);
            return outcome;
        }
    };
    let mut state = vec![State::Waiting; jobs.len()];
    let mut done = 0usize;
    reporter.overall(0, jobs.len() as u64);
    // The report of the first variant of each shared build (noarch: python, abi3t),
    // by recipe folder and kind.
    let mut shared_built: HashMap<(std::path::PathBuf, SharedBuild), BuildReport> = HashMap::new();
    let mut running = FuturesUnordered::new();
    loop {
        // Start every job whose dependencies are done, up to `parallel` at once. A job
        // that ends at once (blocked, skipped, an unchanged failure, a plan error) can
        // release jobs this pass already went by: pass again until one ends none.
        let mut ended_at_once = true;
        while ended_at_once {
            ended_at_once = false;
            for node in &nodes {
                if state[node.index] != State::Waiting || running.len() >= parallel.max(1) {
                    continue;
                }
                if node
                    .depends_on
                    .iter()
                    .any(|&i| matches!(state[i], State::Waiting | State::Running))
                {
                    continue;
                }
                let job = &jobs[node.index];
                let mut finish = |state: &mut Vec<State>, s: State| {
                    state[node.index] = s;
                    done += 1;
                    ended_at_once = true;
                    reporter.overall(done as u64, jobs.len() as u64);
                };
                if let Some(&failed) = node.depends_on.iter().find(|&&i| state[i] == State::Failed)
                {
                    finish(&mut state, State::Failed);
                    let reason = format!("blocked: {} did not build", nodes[failed].job);
                    reporter.finished(&job.name, false, &reason);
                    let records = blocked_record(job, &reason).into_iter().collect();
                    record_verdicts(settings, &mut outcome, records, reporter, &job.name);
                    continue;
                }
                if job.all_skipped() {
                    finish(&mut state, State::Succeeded);
                    let records: Vec<CompatRecord> = skipped_record(job).into_iter().collect();
                    let reason = records
                        .first()
                        .map(|r| r.reason.clone())
                        .unwrap_or_default();
                    reporter.finished(&job.name, true, &format!("skipped: {reason}"));
                    record_verdicts(settings, &mut outcome, records, reporter, &job.name);
                    continue;
                }
                // Plan once: an identical build that failed before gives the same verdict and
                // nothing runs; one that succeeded is reused inside `build_job`.
                let plan = match plan_job(job, settings) {
                    Ok(plan) => plan,
                    Err(error) => {
                        finish(&mut state, State::Failed);
                        reporter.finished(&job.name, false, &tool_error_summary(&error));
                        outcome.tool_errors.push(error);
                        continue;
                    }
                };
                if let Some(record) = (!settings.force)
                    .then(|| cached_failure(&settings.channel, &plan.key))
                    .flatten()
                {
                    finish(&mut state, State::Failed);
                    reporter.finished(
                        &job.name,
                        false,
                        &format!(
                            "{} (unchanged since it failed; --force retries)",
                            record.verdict
                        ),
                    );
                    outcome.reused.insert(record.key());
                    outcome.verdicts.push(record);
                    continue;
                }
                state[node.index] = State::Running;
                let index = node.index;
                // A later variant of a shared build judges the first one's package on its
                // own interpreter (unless this variant's own report is reusable).
                let shared = job.shared_build();
                let first_shared = shared
                    .and_then(|kind| shared_built.get(&(job.recipe.dir.clone(), kind)).cloned())
                    .filter(|_| plan.reusable.is_none() || settings.force);
                running.push(async move {
                    let started = Instant::now();
                    let key = plan.key.clone();
                    let result = match first_shared {
                        Some(first) => {
                            let r =
                                judge_published(job, &first, &plan, settings, reporter, started)
                                    .await;
                            if let Ok(report) = &r {
                                let v: Vec<String> = report
                                    .outputs
                                    .iter()
                                    .filter_map(|o| o.verdict.map(|v| v.to_string()))
                                    .collect();
                                reporter.finished(
                                    &job.name,
                                    true,
                                    &format!(
                                        "{}: judged the package of the first variant · {}",
                                        shared.map_or("", |k| k.describe()),
                                        v.join(", ")
                                    ),
                                );
                            }
                            r
                        }
                        None => build_job(job, plan, settings, reporter).await,
                    };
                    let seconds = started.elapsed().as_secs_f64();
                    let done = match result {
                        Ok(report) => Done::Built(report),
                        Err(error) => Done::Failed(error, key, seconds),
                    };
                    (index, done)
                });
            }
        }
        let Some((index, result)) = running.next().await else {
            break;
        };
        done += 1;
        reporter.overall(done as u64, jobs.len() as u64);
        let job = &jobs[index];
        match result {
            Done::Built(report) => {
                state[index] = State::Succeeded;
                if let Some(kind) = job.shared_build() {
                    shared_built
                        .entry((job.recipe.dir.clone(), kind))
                        .or_insert_with(|| report.clone());
                }
                // The verdicts stand in the channel (written by this build or an earlier identical one).
                if let Ok(data) = settings.channel.read_compat() {
                    for o in &report.outputs {
                        if let Some(r) = data.get(&o.name, &o.version, job.abi.as_ref()) {
                            if report.reused {
                                outcome.reused.insert(r.key());
                            }
                            outcome.verdicts.push(r.clone());
                        }
                    }
                }
                outcome.reports.push(report);
            }
            Done::Failed(error, key, seconds) => {
                state[index] = State::Failed;
                match failure_record(job, &error, seconds) {
                    Some(record) => {
                        let _ = remember_failure(&settings.channel, &key, &record);
                        reporter.finished(
                            &job.name,
                            false,
                            &format!("{}: {}", Verdict::BuildFailed, record.reason),
                        );
                        record_verdicts(settings, &mut outcome, vec![record], reporter, &job.name);
                        outcome.package_failures.push(error);
                    }
                    None => {
                        reporter.finished(&job.name, false, &tool_error_summary(&error));
                        outcome.tool_errors.push(error);
                    }
                }
            }
        }
    }
    let waiting: Vec<String> = nodes
        .iter()
        .filter(|n| state[n.index] == State::Waiting)
        .map(|n| n.job.clone())
        .collect();
    if !waiting.is_empty() {
        // The graph is acyclic (checked above), so this is a scheduler bug: say so
        // rather than end "successfully" with jobs never built.
        outcome
            .tool_errors
            .push(BuildError::Cycle { jobs: waiting });
    }
    probe_interpreters(&outcome.reports, settings, reporter).await;
    outcome
}

/// Health probes of the interpreters this session installed for testing, one at a
/// time after every build is done, so that no build competes with the figures.
async fn probe_interpreters(
    reports: &[BuildReport],
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) {
    use ftforge_interpreter::probes::{probe, ProbeSettings};
    // Interpreters reused from an earlier session keep the probes stored then.
    for report in reports.iter().filter(|r| !r.reused) {
        let Some(abi) = crate::job::variant_abi(&report.variant) else {
            continue;
        };
        for output in &report.outputs {
            let (Some(facts), Some(env)) = (&output.interpreter, &output.test_env) else {
                continue;
            };
            if !env.join(abi.executable()).is_file() {
                continue;
            }
            reporter.note(
                &report.job,
                "probing thread scaling, latency and the getenv race (no build running)",
            );
            let python = env.join(abi.executable());
            let probe_settings = ProbeSettings {
                scaling_seconds: 0.5,
                latency_seconds: 1.0,
                race_seconds: 5.0,
                // The session's builds are over: nothing of ours competes.
                competing_jobs: Some(0),
                ..Default::default()
            };
            let probe =
                match tokio::task::spawn_blocking(move || probe(&python, &probe_settings)).await {
                    Ok(report) => serde_json::to_value(report).unwrap_or_default(),
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                };
            let value = serde_json::json!({
                "facts": facts,
                "probe": probe,
                "package": output.filename,
                "recorded_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            if let Err(e) = settings.channel.record_interpreter(&abi.tag(), value) {
                reporter.note(&report.job, &format!("could not record the probes: {e}"));
            }
        }
    }
}

fn record_verdicts(
    settings: &BuildSettings,
    outcome: &mut SessionOutcome,
    records: Vec<CompatRecord>,
    reporter: &dyn Reporter,
    job: &str,
) {
    if records.is_empty() {
        return;
    }
    if let Err(e) = settings
        .channel
        .record_compat(records.clone())
        .and_then(|()| settings.channel.update_labels())
    {
        reporter.note(job, &format!("could not record the verdict: {e}"));
    }
    outcome.verdicts.extend(records);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(index: usize, depends_on: Vec<usize>) -> JobNode {
        JobNode {
            index,
            job: format!("job{index}"),
            recipe: std::path::PathBuf::new(),
            abi: None,
            depends_on,
        }
    }

    #[test]
    fn cycles_are_found_and_named() {
        let nodes = vec![
            node(0, vec![]),
            node(1, vec![2]),
            node(2, vec![3]),
            node(3, vec![1]),
        ];
        assert_eq!(find_cycle(&nodes), Some(vec![1, 2, 3, 1]));
        let acyclic = vec![node(0, vec![]), node(1, vec![0]), node(2, vec![0, 1])];
        assert_eq!(find_cycle(&acyclic), None);
    }

    /// A job listed before the job it needs, when that one ends at once (an unchanged
    /// failure the channel remembers): the dependent is blocked, not left waiting and
    /// reported as a cycle (the order `check` lists jobs in: tokenizers, then
    /// huggingface-hub, then filelock).
    #[tokio::test(flavor = "current_thread")]
    async fn a_job_ending_at_once_releases_jobs_listed_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let recipe = |name: &str, text: &str| {
            let dir = tmp.path().join("recipes").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("recipe.yaml"), text).unwrap();
            Recipe::load(&dir).unwrap()
        };
        let needs = recipe(
            "needs",
            "package: {name: needs, version: '1'}\nbuild:\n  script: exit 0\nrequirements:\n  run: [fails]\n",
        );
        let fails = recipe(
            "fails",
            "package: {name: fails, version: '1'}\nbuild:\n  script: exit 7\n",
        );
        let settings = BuildSettings {
            channel: ftforge_channels::Channel::new(tmp.path().join("channel")),
            sources: crate::source::SourceCache::new(tmp.path().join("sources")),
            work_root: tmp.path().join("work"),
            package_cache: tmp.path().join("pkgs"),
            cpu_count: 1,
            client: reqwest::Client::new(),
            force: false,
            keep_work: false,
            extra_records: Vec::new(),
            compiler_cache: None,
        };
        let silent = crate::progress::Silent;
        let none = Variant::default();
        // First `fails` alone: it fails, and the channel remembers the failure.
        let first = build_all(&[(&fails, none.clone())], &settings, &silent, 1).await;
        assert!(first.tool_errors.is_empty(), "{:?}", first.tool_errors);
        assert_eq!(first.package_failures.len(), 1);
        // Then both, the dependent first: the failure is reused at once.
        let second = build_all(
            &[(&needs, none.clone()), (&fails, none.clone())],
            &settings,
            &silent,
            1,
        )
        .await;
        assert!(second.tool_errors.is_empty(), "{:?}", second.tool_errors);
        assert_eq!(second.reused.len(), 1, "the failure is reused");
        // Blocked, not built (a package tied to no interpreter gets no verdict).
        assert!(
            second.reports.iter().all(|r| !r.job.starts_with("needs")),
            "{:?}",
            second.reports.iter().map(|r| &r.job).collect::<Vec<_>>()
        );
    }
}

/// What a job that stopped on an error of ftforge or its inputs shows as it ends (the
/// whole error is printed again at the end of the session): the error, on one line.
fn tool_error_summary(error: &BuildError) -> String {
    format!("failed: {}", crate::source::root_cause(error))
}
