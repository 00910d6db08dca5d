//! A build session: many (recipe, variant) jobs scheduled over a dependency graph. Up
//! to `parallel` jobs run at once; a job starts when the jobs it depends on (same
//! interpreter ABI) are done. A package that fails is a result (a `build-failed`
//! verdict with its evidence) and only its dependents are held back (`skipped`,
//! blocked); tool errors are errors. `noarch: python` packages are built once.

use std::collections::HashMap;

use ftforge_channels::{CompatRecord, Verdict};
use futures::stream::{FuturesUnordered, StreamExt};

use crate::build::{
    build_planned, cached_failure, compat_record, failure_record, job_name, plan_job,
    remember_failure, skipped_record, variant_abi, BuildError, BuildReport, BuildSettings,
    OutputReport,
};
use crate::progress::Reporter;
use crate::recipe::Recipe;
use crate::variants::Variant;

/// Everything a session produced.
#[derive(Debug, Default)]
pub struct SessionOutcome {
    pub reports: Vec<BuildReport>,
    /// Verdicts recorded in this session (successful builds, failures, skips).
    pub verdicts: Vec<CompatRecord>,
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

/// Names a recipe's outputs produce and the names they need.
fn names(recipe: &Recipe, variant: &Variant) -> (Vec<String>, Vec<String>, bool) {
    let Ok(r) = recipe.render(variant) else {
        return (Vec::new(), Vec::new(), false);
    };
    let produces = r.outputs.iter().map(|o| o.name.clone()).collect();
    let needs = r
        .outputs
        .iter()
        .flat_map(|o| {
            o.requirements
                .host
                .iter()
                .chain(&o.requirements.run)
                .chain(&o.requirements.build)
        })
        .filter_map(|s| s.split_whitespace().next().map(String::from))
        .collect();
    let noarch_python = !r.outputs.is_empty()
        && r.outputs
            .iter()
            .all(|o| o.noarch.as_deref() == Some("python"));
    (produces, needs, noarch_python)
}

/// The dependency graph of `jobs`: job B waits for job A when B's recipe needs a name
/// A's recipe produces and they share the interpreter ABI (or A has none); the later
/// variants of a noarch recipe wait for its first.
pub fn graph(jobs: &[(&Recipe, Variant)]) -> Vec<JobNode> {
    let info: Vec<_> = jobs.iter().map(|(r, v)| names(r, v)).collect();
    let abis: Vec<Option<String>> = jobs
        .iter()
        .map(|(_, v)| variant_abi(v).map(|a| a.tag()))
        .collect();
    let mut nodes = Vec::new();
    for (j, (recipe, variant)) in jobs.iter().enumerate() {
        let mut depends_on = Vec::new();
        for i in 0..jobs.len() {
            if i == j {
                continue;
            }
            let same_recipe = jobs[i].0.dir == recipe.dir;
            let needs = !same_recipe && info[j].1.iter().any(|n| info[i].0.contains(n));
            let abi_ok = abis[i].is_none() || abis[i] == abis[j] || info[i].2;
            let noarch_first = same_recipe
                && info[j].2
                && i < j
                && !jobs[..i].iter().any(|(r, _)| r.dir == recipe.dir);
            if (needs && abi_ok) || noarch_first {
                depends_on.push(i);
            }
        }
        let job = recipe
            .render(variant)
            .map(|r| job_name(&r))
            .unwrap_or_else(|_| recipe.dir.display().to_string());
        nodes.push(JobNode {
            index: j,
            job,
            recipe: recipe.dir.clone(),
            abi: abis[j].clone(),
            depends_on,
        });
    }
    nodes
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Succeeded,
    Failed,
}

pub async fn build_all(
    jobs: &[(&Recipe, Variant)],
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    parallel: usize,
) -> SessionOutcome {
    let mut outcome = SessionOutcome::default();
    let nodes = graph(jobs);
    let mut state = vec![State::Waiting; jobs.len()];
    let mut done = 0usize;
    reporter.overall(0, jobs.len() as u64);
    // noarch: python builds of this session, by file name.
    let mut noarch_built: HashMap<String, OutputReport> = HashMap::new();
    let mut running = FuturesUnordered::new();
    loop {
        // Start every job whose dependencies are done, up to `parallel` at once.
        for node in &nodes {
            if state[node.index] != State::Waiting || running.len() >= parallel.max(1) {
                continue;
            }
            let deps: Vec<State> = node.depends_on.iter().map(|&i| state[i]).collect();
            if deps
                .iter()
                .any(|s| matches!(s, State::Waiting | State::Running))
            {
                continue;
            }
            let (recipe, variant) = &jobs[node.index];
            if let Some(&failed) = node.depends_on.iter().find(|&&i| state[i] == State::Failed) {
                state[node.index] = State::Failed;
                done += 1;
                reporter.overall(done as u64, jobs.len() as u64);
                let reason = format!("blocked: {} did not build", nodes[failed].job);
                reporter.finished(&node.job, false, &reason);
                if let Some(mut record) = skipped_record_any(recipe, variant) {
                    record.reason = reason;
                    record_verdicts(settings, &mut outcome, vec![record], reporter, &node.job);
                }
                continue;
            }
            if let Some(handled) = without_building(recipe, variant, &noarch_built) {
                state[node.index] = State::Succeeded;
                done += 1;
                reporter.overall(done as u64, jobs.len() as u64);
                let (summary, records) = handled;
                reporter.finished(&node.job, true, &summary);
                record_verdicts(settings, &mut outcome, records, reporter, &node.job);
                continue;
            }
            // Plan once: an identical build that failed before gives the same verdict and
            // nothing runs; one that succeeded is reused inside `build_planned`.
            let plan = match plan_job(recipe, variant, settings) {
                Ok(plan) => plan,
                Err(error) => {
                    state[node.index] = State::Failed;
                    done += 1;
                    reporter.overall(done as u64, jobs.len() as u64);
                    reporter.finished(&node.job, false, "failed");
                    outcome.tool_errors.push(error);
                    continue;
                }
            };
            if let Some(record) = (!settings.force)
                .then(|| cached_failure(&settings.channel, &plan.key))
                .flatten()
            {
                state[node.index] = State::Failed;
                done += 1;
                reporter.overall(done as u64, jobs.len() as u64);
                reporter.finished(
                    &node.job,
                    false,
                    &format!(
                        "{} (unchanged since it failed; --force retries)",
                        record.verdict
                    ),
                );
                outcome.verdicts.push(record);
                continue;
            }
            state[node.index] = State::Running;
            let index = node.index;
            let key = plan.key.clone();
            running.push(async move {
                let started = std::time::Instant::now();
                let result = build_planned(recipe, plan, settings, reporter).await;
                (index, key, result, started.elapsed().as_secs_f64())
            });
        }
        let Some((index, key, result, seconds)) = running.next().await else {
            break;
        };
        done += 1;
        reporter.overall(done as u64, jobs.len() as u64);
        let (recipe, variant) = &jobs[index];
        match result {
            Ok(report) => {
                state[index] = State::Succeeded;
                for o in &report.outputs {
                    if o.subdir == "noarch" && o.verdict.is_some() {
                        noarch_built.insert(o.filename.clone(), o.clone());
                    }
                }
                // The verdicts stand in the channel (written by this build or an earlier identical one).
                let abi = variant_abi(variant).map(|a| a.tag()).unwrap_or_default();
                if let Ok(data) = settings.channel.read_compat() {
                    for o in &report.outputs {
                        if let Some(r) = data.get(&o.name, &o.version, &abi) {
                            outcome.verdicts.push(r.clone());
                        }
                    }
                }
                outcome.reports.push(report);
            }
            Err(error) => {
                state[index] = State::Failed;
                let job = nodes[index].job.clone();
                match failure_record(recipe, variant, &error, seconds) {
                    Some(record) => {
                        let _ = remember_failure(&settings.channel, &key, &record);
                        reporter.finished(
                            &job,
                            false,
                            &format!("{}: {}", Verdict::BuildFailed, record.reason),
                        );
                        record_verdicts(settings, &mut outcome, vec![record], reporter, &job);
                        outcome.package_failures.push(error);
                    }
                    None => {
                        reporter.finished(&job, false, "failed");
                        outcome.tool_errors.push(error);
                    }
                }
            }
        }
    }
    outcome
}

/// Jobs that need no build: every output skipped by the recipe, or a noarch: python
/// package already built this session (the same file, judged for this interpreter from
/// the same evidence: it has no compiled code).
fn without_building(
    recipe: &Recipe,
    variant: &Variant,
    noarch_built: &HashMap<String, OutputReport>,
) -> Option<(String, Vec<CompatRecord>)> {
    let rendered = recipe.render(variant).ok()?;
    if !rendered.outputs.is_empty() && rendered.outputs.iter().all(|o| o.skipped) {
        let record = skipped_record(recipe, variant)?;
        return Some((format!("skipped: {}", record.reason), vec![record]));
    }
    let all_built = !rendered.outputs.is_empty()
        && rendered.outputs.iter().all(|o| {
            o.noarch.as_deref() == Some("python")
                && noarch_built.contains_key(&format!("{}.conda", o.dist_name()))
        });
    if !all_built {
        return None;
    }
    let abi = variant_abi(variant)?;
    let records = rendered
        .outputs
        .iter()
        .filter_map(|o| {
            let built = noarch_built.get(&format!("{}.conda", o.dist_name()))?;
            let reason = format!(
                "{} (noarch: the same package as for the first variant)",
                built.reason.clone().unwrap_or_default()
            );
            let evidence = serde_json::json!({"abi": abi.tag(), "same_package_as": built.filename});
            let mut record = compat_record(o, Some(&abi), built.verdict?, &reason, evidence, None);
            record.filename = Some(built.filename.clone());
            record.subdir = Some(built.subdir.clone());
            Some(record)
        })
        .collect();
    Some(("noarch: built once".into(), records))
}

/// A `skipped` record for a job that could not run (its dependency failed).
fn skipped_record_any(recipe: &Recipe, variant: &Variant) -> Option<CompatRecord> {
    skipped_record(recipe, variant).or_else(|| {
        let abi = variant_abi(variant)?;
        let rendered = recipe.render(variant).ok()?;
        let output = rendered.outputs.iter().find(|o| o.name != "python")?;
        let evidence = serde_json::json!({"abi": abi.tag()});
        Some(compat_record(
            output,
            Some(&abi),
            Verdict::Skipped,
            "",
            evidence,
            None,
        ))
    })
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
