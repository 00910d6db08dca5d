//! A build session: many (recipe, variant) jobs in order, where a package that fails
//! is a result (a `build-failed` verdict with its evidence) and the run goes on; only
//! tool errors are errors. `noarch: python` packages are built once per session.

use std::collections::HashMap;

use ftforge_channels::{CompatRecord, Verdict};

use crate::build::{
    build_variant, failure_record, skipped_record, variant_abi, BuildError, BuildReport,
    BuildSettings, OutputReport,
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

pub async fn build_all(
    jobs: &[(&Recipe, Variant)],
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> SessionOutcome {
    let mut outcome = SessionOutcome::default();
    // noarch: python builds of this session, by file name.
    let mut noarch_built: HashMap<String, OutputReport> = HashMap::new();
    for (recipe, variant) in jobs {
        let rendered = match recipe.render(variant) {
            Ok(r) => r,
            Err(e) => {
                outcome.tool_errors.push(e.into());
                continue;
            }
        };
        let job = crate::build::job_name(&rendered);
        if !rendered.outputs.is_empty() && rendered.outputs.iter().all(|o| o.skipped) {
            if let Some(record) = skipped_record(recipe, variant) {
                reporter.finished(&job, true, &format!("skipped: {}", record.reason));
                record_verdicts(settings, &mut outcome, vec![record], reporter, &job);
            }
            continue;
        }
        // A noarch: python package already built this session: same file, judged again
        // for this interpreter from the same evidence (it has no compiled code).
        let all_noarch_built = rendered.outputs.iter().all(|o| {
            o.noarch.as_deref() == Some("python")
                && noarch_built.contains_key(&format!("{}.conda", o.dist_name()))
        });
        if all_noarch_built {
            if let Some(abi) = variant_abi(variant) {
                let records: Vec<CompatRecord> = rendered
                    .outputs
                    .iter()
                    .filter_map(|o| noarch_built.get(&format!("{}.conda", o.dist_name())))
                    .filter_map(|r| {
                        let verdict = r.verdict?;
                        Some(CompatRecord {
                            package: r.name.clone(),
                            version: r.version.clone(),
                            abi: abi.tag(),
                            python: abi.py_ver(),
                            freethreading: abi.freethreading,
                            verdict,
                            filename: Some(r.filename.clone()),
                            subdir: Some(r.subdir.clone()),
                            reason: format!("{} (noarch: the same package as for the first variant)", r.reason.clone().unwrap_or_default()),
                            evidence: serde_json::json!({"abi": abi.tag(), "same_package_as": r.filename}),
                            recorded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        })
                    })
                    .collect();
                reporter.finished(&job, true, "noarch: built once");
                record_verdicts(settings, &mut outcome, records, reporter, &job);
            }
            continue;
        }
        let started = std::time::Instant::now();
        match build_variant(recipe, variant, settings, reporter).await {
            Ok(report) => {
                for o in &report.outputs {
                    if o.subdir == "noarch" && o.verdict.is_some() {
                        noarch_built.insert(o.filename.clone(), o.clone());
                    }
                }
                // The verdicts stand in the channel (written by this build or an earlier identical one).
                let abi = variant_abi(variant).map(|a| a.tag()).unwrap_or_default();
                if let Ok(data) = settings.channel.read_compat() {
                    for o in &report.outputs {
                        if let Some(r) =
                            data.records.get(&format!("{}/{}/{abi}", o.name, o.version))
                        {
                            outcome.verdicts.push(r.clone());
                        }
                    }
                }
                outcome.reports.push(report);
            }
            Err(error) => {
                match failure_record(recipe, variant, &error, started.elapsed().as_secs_f64()) {
                    Some(record) => {
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

fn record_verdicts(
    settings: &BuildSettings,
    outcome: &mut SessionOutcome,
    records: Vec<CompatRecord>,
    reporter: &dyn Reporter,
    job: &str,
) {
    if let Err(e) = settings
        .channel
        .record_compat(records.clone())
        .and_then(|()| settings.channel.update_labels())
    {
        reporter.note(job, &format!("could not record the verdict: {e}"));
    }
    outcome.verdicts.extend(records);
}
