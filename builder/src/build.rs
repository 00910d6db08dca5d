//! One build: a recipe rendered for one variant → sources → host environment from the
//! channel → build script in a padded placeholder prefix → one `.conda` per output →
//! install-and-test at another path → verdict from evidence → publish.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ftforge_channels::{Channel, CompatRecord, Verdict};
use ftforge_interpreter::{InterpreterFacts, PythonAbi};
use rattler_conda_types::RepoDataRecord;
use sha2::{Digest, Sha256};

use crate::env;
use crate::package::{snapshot, write_package, PackageError, PackageInput};
use crate::progress::{Reporter, Step};
use crate::recipe::{Recipe, RecipeError, RenderedOutput, RenderedRecipe, Script};
use crate::script::{run_logged, CommandFailed};
use crate::source::{prepare_sources, SourceCache, SourceError};
use crate::testing::{self, TestOutcome};
use crate::toolchain::{self, ResolvedTool};
use crate::variants::Variant;
use crate::verdict::{self, Assessment, StressConfig};

/// Bump when the build logic changes what it produces (part of every build key).
pub const BUILD_LOGIC_VERSION: &str = "2";

/// Length of the placeholder prefix packages are built in (as rattler-build uses).
pub const PLACEHOLDER_LEN: usize = 255;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] RecipeError),
    #[error("{job}: cannot prepare the sources")]
    Source {
        job: String,
        #[source]
        source: SourceError,
    },
    #[error("{job}: the build failed")]
    Script {
        job: String,
        #[source]
        source: CommandFailed,
    },
    #[error("{job}: cannot write the package")]
    Package {
        job: String,
        #[source]
        source: PackageError,
    },
    #[error("{job}: cannot install {what}: {message}")]
    Install {
        job: String,
        what: String,
        message: String,
    },
    #[error("{job}: `{spec}` is not in the channel {}", channel.display())]
    #[diagnostic(help("build the interpreter first: ftforge build recipes/python --channel {}", channel.display()))]
    MissingInterpreter {
        job: String,
        spec: String,
        channel: PathBuf,
    },
    #[error("{job}: {output} failed its tests (log: {}):\n{}", log.display(), failures.join("\n"))]
    #[diagnostic(help(
        "the package was not published; the test log has every command and its output"
    ))]
    Tests {
        job: String,
        output: String,
        failures: Vec<String>,
        log: PathBuf,
    },
    #[error("{job}: cannot publish")]
    Channel {
        job: String,
        #[source]
        source: ftforge_channels::ChannelError,
    },
    #[error("{job}: the work directory {} is too long for a {PLACEHOLDER_LEN}-character placeholder prefix", path.display())]
    #[diagnostic(help("pass a shorter --work-dir"))]
    WorkDirTooLong { job: String, path: PathBuf },
    #[error("{job}: {message}")]
    Config { job: String, message: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BuildError {
    /// Failures that belong to the package being built (recorded as a verdict) rather
    /// than to ftforge or its inputs.
    pub fn is_package_failure(&self) -> bool {
        matches!(
            self,
            BuildError::Script { .. } | BuildError::Source { .. } | BuildError::Tests { .. }
        )
    }

    /// The log file and its last lines, when a command failed.
    pub fn log_tail(&self) -> Option<(&Path, &str)> {
        match self {
            BuildError::Script { source, .. } => Some((&source.log, &source.tail)),
            _ => None,
        }
    }
}

/// Where a build reads and writes.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub channel: Channel,
    pub sources: SourceCache,
    /// Parent of every build's work directory (sources, prefix, logs, test envs).
    pub work_root: PathBuf,
    /// rattler's package cache used for host and test environments.
    pub package_cache: PathBuf,
    pub cpu_count: usize,
    pub client: reqwest::Client,
    /// Rebuild even when the channel already holds this build's packages.
    pub force: bool,
}

/// What one build produced, stored beside the channel's subdirs as evidence.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BuildReport {
    pub job: String,
    pub recipe: PathBuf,
    pub variant: Variant,
    pub key: String,
    pub outputs: Vec<OutputReport>,
    pub duration_secs: f64,
    pub work_dir: PathBuf,
    pub ftforge_version: String,
    /// True when nothing ran because the channel already had these packages.
    #[serde(default)]
    pub reused: bool,
    /// The build requirements as resolved (channel packages, machine programs).
    #[serde(default)]
    pub toolchain: Vec<ResolvedTool>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutputReport {
    pub name: String,
    pub version: String,
    pub build: String,
    pub subdir: String,
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub files: usize,
    pub tests: Vec<TestOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<InterpreterFacts>,
    /// Health probes of an interpreter package (scaling, latency, getenv race).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A short human name for a build job: `python 3.14.7 cp314t`.
pub fn job_name(rendered: &RenderedRecipe) -> String {
    let first = rendered.outputs.first();
    let name = first
        .map(|o| format!("{} {}", o.name, o.version))
        .unwrap_or_default();
    match variant_abi(&rendered.variant) {
        Some(abi) => format!("{name} {abi}"),
        None => name,
    }
}

/// The interpreter ABI a variant builds for, if it has a `python` key.
pub fn variant_abi(variant: &Variant) -> Option<PythonAbi> {
    let spec = variant.get_str("python")?;
    PythonAbi::from_variant_spec(&spec, variant.is_true("is_freethreading")).ok()
}

/// The cache key of a build: everything that can change its output.
pub fn build_key(recipe: &Recipe, rendered: &RenderedRecipe, host: &[RepoDataRecord]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(BUILD_LOGIC_VERSION.as_bytes());
    // The exact artifacts it is built against: a rebuilt dependency changes the key.
    let mut artifacts: Vec<String> = host
        .iter()
        .map(|r| hex::encode(r.package_record.sha256.unwrap_or_default()))
        .collect();
    artifacts.sort();
    hasher.update(artifacts.join(",").as_bytes());
    hasher.update(rendered.rendered.to_string().as_bytes());
    hasher.update(
        serde_json::to_string(&rendered.variant)
            .unwrap_or_default()
            .as_bytes(),
    );
    // Every file of the recipe folder (build.sh, patches, sources it ships).
    hasher.update(recipe.content_digest().as_bytes());
    hex::encode(hasher.finalize())[..16].to_string()
}

/// The padded placeholder prefix inside `work`.
fn placeholder_prefix(work: &Path) -> Option<PathBuf> {
    let base = work.join("host_env").to_string_lossy().into_owned();
    if base.len() + 10 > PLACEHOLDER_LEN {
        return None;
    }
    let mut path = base;
    while path.len() < PLACEHOLDER_LEN {
        path.push_str("_placehold");
    }
    path.truncate(PLACEHOLDER_LEN);
    Some(PathBuf::from(path))
}

fn report_path(channel: &Channel, key: &str) -> PathBuf {
    channel
        .root
        .join("ftforge")
        .join("builds")
        .join(format!("{key}.json"))
}

/// Reads the stored report of an earlier identical build whose packages are all still
/// in the channel.
fn reusable_report(channel: &Channel, key: &str) -> Option<BuildReport> {
    let text = std::fs::read_to_string(report_path(channel, key)).ok()?;
    let report: BuildReport = serde_json::from_str(&text).ok()?;
    let all_there = report
        .outputs
        .iter()
        .all(|o| channel.subdir_path(&o.subdir).join(&o.filename).is_file());
    all_there.then_some(report)
}

fn failure_path(channel: &Channel, key: &str) -> PathBuf {
    channel
        .root
        .join("ftforge")
        .join("failures")
        .join(format!("{key}.json"))
}

/// The verdict of an earlier identical build that failed (`--force` retries it).
pub fn cached_failure(channel: &Channel, key: &str) -> Option<CompatRecord> {
    let text = std::fs::read_to_string(failure_path(channel, key)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Remembers that the build with `key` failed, so an unchanged rebuild does not retry.
pub fn remember_failure(
    channel: &Channel,
    key: &str,
    record: &CompatRecord,
) -> Result<(), ftforge_channels::ChannelError> {
    let path = failure_path(channel, key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ftforge_channels::ChannelError::Io {
            action: "create",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    ftforge_channels::layout::write_atomically(
        &path,
        &serde_json::to_vec_pretty(record).unwrap_or_default(),
    )
}

/// Outputs named `python` are interpreters: their tests must pass to be published.
fn is_interpreter(output: &RenderedOutput) -> bool {
    output.name == "python"
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What a build would do, decided without building: its key, its host packages from
/// the channel, and whether the channel already holds its result.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub job: String,
    pub key: String,
    pub rendered: RenderedRecipe,
    pub channel_records: Vec<RepoDataRecord>,
    pub host_records: Vec<RepoDataRecord>,
    /// Host specs the channel cannot satisfy (left to pip's build isolation).
    pub missing: Vec<String>,
    pub reusable: Option<BuildReport>,
}

pub fn plan_job(
    recipe: &Recipe,
    variant: &Variant,
    settings: &BuildSettings,
) -> Result<JobPlan, BuildError> {
    let rendered = recipe.render(variant)?;
    let job = job_name(&rendered);
    let channel_records =
        env::channel_records(&settings.channel).map_err(|message| BuildError::Config {
            job: job.clone(),
            message,
        })?;
    // The host environment: our own packages from the channel (the interpreter users
    // get); what the channel lacks (pip, setuptools, Cython) comes through pip's build
    // isolation.
    let mut host_specs: Vec<String> = rendered
        .outputs
        .iter()
        .filter(|o| !o.skipped)
        .flat_map(|o| o.requirements.host.iter().cloned())
        .collect();
    host_specs.sort_by_key(|s| !s.starts_with("python "));
    let (host_records, missing) = env::select(&host_specs, &channel_records);
    let key = build_key(recipe, &rendered, &host_records);
    let reusable = reusable_report(&settings.channel, &key);
    Ok(JobPlan {
        job,
        key,
        rendered,
        channel_records,
        host_records,
        missing,
        reusable,
    })
}

/// Builds, tests, judges and publishes one variant of a recipe.
pub async fn build_variant(
    recipe: &Recipe,
    variant: &Variant,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<BuildReport, BuildError> {
    let plan = plan_job(recipe, variant, settings)?;
    build_planned(recipe, plan, settings, reporter).await
}

/// Builds a job whose plan is already made (reusing an identical earlier build).
pub async fn build_planned(
    recipe: &Recipe,
    plan: JobPlan,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let rendered = plan.rendered.clone();
    let job = plan.job.clone();
    let key = plan.key.clone();
    if !settings.force {
        if let Some(mut report) = plan.reusable.clone() {
            report.reused = true;
            reporter.finished(&job, true, "up to date");
            return Ok(report);
        }
    }
    // Every build requirement resolved before anything is fetched: a missing tool
    // stops the build at its recipe line.
    let tools = toolchain::resolve(recipe, &rendered, &plan.channel_records)?;
    let stress =
        StressConfig::from_extra(&rendered.extra).map_err(|message| BuildError::Config {
            job: job.clone(),
            message,
        })?;
    let abi = variant_abi(&rendered.variant);
    let outputs: Vec<&RenderedOutput> = rendered.outputs.iter().filter(|o| !o.skipped).collect();
    let first = outputs
        .first()
        .map(|o| o.dist_name())
        .unwrap_or_else(|| "empty".into());
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    };
    let work = settings.work_root.join(format!(
        "{first}-{}",
        abi.map(|a| a.tag()).unwrap_or_default()
    ));
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io("clear", &work))?;
    }
    std::fs::create_dir_all(&work).map_err(io("create", &work))?;
    let work = work.canonicalize().map_err(io("resolve", &work))?;
    let prefix = placeholder_prefix(&work).ok_or_else(|| BuildError::WorkDirTooLong {
        job: job.clone(),
        path: work.clone(),
    })?;
    let src = work.join("src");
    let logs = work.join("logs");

    prepare_sources(
        &recipe.dir,
        &rendered.sources,
        &src,
        &settings.sources,
        &settings.client,
        &job,
        reporter,
    )
    .await
    .map_err(|source| BuildError::Source {
        job: job.clone(),
        source,
    })?;

    let JobPlan {
        channel_records,
        host_records,
        missing,
        ..
    } = plan;
    if let Some(spec) = missing
        .iter()
        .find(|s| s.split_whitespace().next() == Some("python"))
    {
        return Err(BuildError::MissingInterpreter {
            job: job.clone(),
            spec: spec.clone(),
            channel: settings.channel.root.clone(),
        });
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing
            .iter()
            .filter_map(|s| s.split_whitespace().next())
            .collect();
        reporter.note(
            &job,
            &format!(
                "not in the channel, left to pip's build isolation: {}",
                names.join(", ")
            ),
        );
    }
    // Build requirements from the channel join the host prefix (merged environments).
    let mut host_records = host_records;
    for record in toolchain::channel_records(&tools) {
        if !host_records
            .iter()
            .any(|h| h.package_record.name == record.package_record.name)
        {
            host_records.push(record);
        }
    }
    if host_records.is_empty() {
        std::fs::create_dir_all(&prefix).map_err(io("create", &prefix))?;
    } else {
        reporter.step(&job, Step::Install);
        testing::install(&prefix, host_records.clone(), &settings.package_cache)
            .await
            .map_err(|message| BuildError::Install {
                job: job.clone(),
                what: "the host environment".into(),
                message,
            })?;
    }
    let host_packages = crate::depends::host_packages(&host_records);

    // Run each output's script; the files it adds to the prefix are that output's.
    let single = rendered.outputs.len() == 1;
    let mut files_of: Vec<Vec<PathBuf>> = Vec::new();
    for output in &outputs {
        let script = output.script.clone().or_else(|| {
            (single && recipe.dir.join("build.sh").is_file())
                .then(|| Script::Line("build.sh".into()))
        });
        let Some(script) = script else {
            files_of.push(Vec::new());
            continue;
        };
        let before = snapshot(&prefix);
        let cmd = script_command(
            &script,
            recipe,
            output,
            &rendered.variant,
            &prefix,
            &src,
            &work,
            settings,
        )
        .map_err(io("write the build script in", &work))?;
        let log = logs.join(format!("build-{}.log", output.name));
        run_logged(
            cmd,
            &format!("build script of {}", output.name),
            &log,
            &job,
            reporter,
            true,
        )
        .await
        .map_err(|source| BuildError::Script {
            job: job.clone(),
            source,
        })?;
        let after = snapshot(&prefix);
        let new = after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .filter(|p| !p.starts_with("conda-meta") && !p.starts_with("pkgs"))
            .cloned()
            .collect();
        files_of.push(new);
    }

    reporter.step(&job, Step::Package);
    let pkgs = work.join("pkgs");
    std::fs::create_dir_all(&pkgs).map_err(io("create", &pkgs))?;
    let mut packages = Vec::new();
    for (output, files) in outputs.iter().zip(&files_of) {
        let noarch_python = if output.noarch.as_deref() == Some("python") {
            abi
        } else {
            None
        };
        let crate::depends::Dependencies {
            depends,
            constrains,
        } = crate::depends::dependencies(recipe, output, abi.as_ref(), &host_packages)?;
        let input = PackageInput {
            output,
            prefix: &prefix,
            files,
            noarch_python,
            depends,
            constrains,
            run_exports: &output.requirements.run_exports,
            recipe_dir: &recipe.dir,
            rendered_recipe: &rendered.rendered,
            extra_about: serde_json::json!({"extra": about_extra(&rendered, &key, &tools)}),
        };
        packages.push(
            write_package(&input, &pkgs).map_err(|source| BuildError::Package {
                job: job.clone(),
                source,
            })?,
        );
    }

    // Install every output into a fresh prefix at another path and test it there.
    let records: Vec<RepoDataRecord> = packages
        .iter()
        .map(|p| testing::local_record(p))
        .collect::<Result<_, _>>()
        .map_err(|message| BuildError::Install {
            job: job.clone(),
            what: first.clone(),
            message,
        })?;
    let available: Vec<RepoDataRecord> = records
        .iter()
        .cloned()
        .chain(channel_records.iter().cloned())
        .collect();
    let mut reports = Vec::new();
    let mut compat = Vec::new();
    for ((output, files), record) in outputs.iter().zip(&files_of).zip(&records) {
        let test_env = testing::test_prefix(&work, &output.name);
        let log = logs.join(format!("test-{}.log", output.name));
        let interpreter_output = is_interpreter(output);
        let judged = abi.is_some()
            && !interpreter_output
            && !matches!(output.noarch.as_deref(), Some("generic"));
        let mut tests = Vec::new();
        let mut interpreter = None;
        let mut probe = None;
        let mut assessment: Option<Assessment> = None;
        if !output.tests.is_empty() || interpreter_output || judged {
            let exact = format!(
                "{} =={} {}",
                output.name, output.version, output.build_string
            );
            let mut specs = Vec::new();
            if let (Some(abi), false) = (abi, interpreter_output) {
                specs.push(format!("python {}.* *_{}", abi.py_ver(), abi.tag()));
            }
            specs.push(exact);
            let (env_records, _) = env::select(&specs, &available);
            testing::install(&test_env, env_records, &settings.package_cache)
                .await
                .map_err(|message| BuildError::Install {
                    job: job.clone(),
                    what: format!("{} for testing", output.name),
                    message,
                })?;
            tests =
                testing::run_recipe_tests(&output.tests, &test_env, &work, &log, &job, reporter)
                    .await;
            if let (true, Some(abi)) = (interpreter_output, abi) {
                match testing::probe_interpreter(&abi, &test_env).await {
                    Ok((facts, problems)) => {
                        tests.push(TestOutcome {
                            name: "interpreter facts".into(),
                            passed: problems.is_empty(),
                            detail: (!problems.is_empty()).then(|| problems.join("\n")),
                        });
                        interpreter = Some(facts);
                        probe =
                            Some(probe_interpreter_health(&abi, &test_env, &job, reporter).await);
                    }
                    Err(message) => tests.push(TestOutcome {
                        name: "interpreter facts".into(),
                        passed: false,
                        detail: Some(message),
                    }),
                }
                let failures: Vec<String> = tests
                    .iter()
                    .filter(|t| !t.passed)
                    .map(|t| format!("  ✗ {}: {}", t.name, t.detail.as_deref().unwrap_or("")))
                    .collect();
                if !failures.is_empty() {
                    return Err(BuildError::Tests {
                        job: job.clone(),
                        output: output.name.clone(),
                        failures,
                        log,
                    });
                }
            }
            if let (true, Some(abi)) = (judged, abi) {
                let rel: Vec<String> = files
                    .iter()
                    .map(|f| f.to_string_lossy().into_owned())
                    .collect();
                let modules = verdict::modules_of(&rel, &abi);
                let a = verdict::assess(&abi, &test_env, &modules, &tests, &stress).await;
                compat.push(compat_record(
                    output,
                    Some(&abi),
                    a.verdict,
                    &a.reason,
                    a.evidence.clone(),
                    Some(record),
                ));
                assessment = Some(a);
            }
        }
        reports.push(OutputReport {
            name: output.name.clone(),
            version: output.version.clone(),
            build: output.build_string.clone(),
            subdir: output.subdir().to_string(),
            filename: record.identifier.to_string(),
            sha256: hex::encode(record.package_record.sha256.unwrap_or_default()),
            size: record.package_record.size.unwrap_or_default(),
            files: files.len(),
            tests,
            interpreter,
            probe,
            verdict: assessment.as_ref().map(|a| a.verdict),
            reason: assessment.map(|a| a.reason),
        });
    }

    reporter.step(&job, Step::Publish);
    let channel_err = |source| BuildError::Channel {
        job: job.clone(),
        source,
    };
    settings
        .channel
        .publish(&packages, true)
        .map_err(channel_err)?;
    if !compat.is_empty() {
        settings
            .channel
            .record_compat(compat)
            .map_err(channel_err)?;
    }
    for output in &reports {
        if let (Some(facts), Some(abi)) = (&output.interpreter, abi) {
            let value = serde_json::json!({"facts": facts, "probe": output.probe, "package": output.filename, "recorded_at": now()});
            settings
                .channel
                .record_interpreter(&abi.tag(), value)
                .map_err(channel_err)?;
        }
    }
    settings.channel.update_labels().map_err(channel_err)?;
    let report = BuildReport {
        job: job.clone(),
        recipe: recipe.dir.clone(),
        variant: rendered.variant.clone(),
        key: key.clone(),
        outputs: reports,
        duration_secs: started.elapsed().as_secs_f64(),
        work_dir: work.clone(),
        ftforge_version: env!("CARGO_PKG_VERSION").to_string(),
        reused: false,
        toolchain: tools,
    };
    let path = report_path(&settings.channel, &key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    ftforge_channels::layout::write_atomically(&path, &json).map_err(channel_err)?;
    // The build prefix is large and only needed while building.
    let _ = std::fs::remove_dir_all(&prefix);
    let verdicts: Vec<String> = report
        .outputs
        .iter()
        .filter_map(|o| o.verdict.map(|v| v.to_string()))
        .collect();
    let summary = format!(
        "built in {:.0}s{}",
        report.duration_secs,
        if verdicts.is_empty() {
            String::new()
        } else {
            format!(" · {}", verdicts.join(", "))
        }
    );
    reporter.finished(&job, true, &summary);
    Ok(report)
}

/// `about.json`'s `extra`: the recipe's `extra` (as rattler-build writes it) plus the
/// build key, the variant and the resolved build requirements.
fn about_extra(rendered: &RenderedRecipe, key: &str, tools: &[ResolvedTool]) -> serde_json::Value {
    let mut extra = match &rendered.extra {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    extra.insert("ftforge_build_key".into(), key.into());
    extra.insert(
        "variant".into(),
        serde_json::to_value(&rendered.variant).unwrap_or_default(),
    );
    extra.insert(
        "toolchain".into(),
        serde_json::to_value(tools).unwrap_or_default(),
    );
    serde_json::Value::Object(extra)
}

/// Short health probes of a freshly built interpreter, shown at the top of the matrix
/// (`ftforge probe` runs the long versions).
async fn probe_interpreter_health(
    abi: &PythonAbi,
    prefix: &Path,
    job: &str,
    reporter: &dyn Reporter,
) -> serde_json::Value {
    use ftforge_interpreter::probes::{probe, ProbeSettings};
    reporter.output(job, "probing thread scaling, latency and the getenv race");
    let python = prefix.join(abi.executable());
    let settings = ProbeSettings {
        scaling_seconds: 0.5,
        latency_seconds: 1.0,
        race_seconds: 5.0,
        ..Default::default()
    };
    match tokio::task::spawn_blocking(move || probe(&python, &settings)).await {
        Ok(report) => serde_json::to_value(report).unwrap_or_default(),
        Err(e) => serde_json::json!({"error": e.to_string()}),
    }
}

/// The ABI column of packages built without an interpreter variant.
pub const NO_ABI: &str = "any";

pub(crate) fn compat_record(
    output: &RenderedOutput,
    abi: Option<&PythonAbi>,
    verdict: Verdict,
    reason: &str,
    evidence: serde_json::Value,
    record: Option<&RepoDataRecord>,
) -> CompatRecord {
    CompatRecord {
        package: output.name.clone(),
        version: output.version.clone(),
        abi: abi.map(|a| a.tag()).unwrap_or_else(|| NO_ABI.into()),
        python: abi.map(|a| a.py_ver()).unwrap_or_default(),
        freethreading: abi.is_some_and(|a| a.freethreading),
        verdict,
        filename: record.map(|r| r.identifier.to_string()),
        subdir: record.map(|r| r.package_record.subdir.clone()),
        reason: reason.to_string(),
        evidence,
        recorded_at: now(),
    }
}

/// The verdict of a build that failed for reasons of the package itself (it did not
/// build, its sources are gone, its tests failed), with the failing step's evidence.
/// `None` for interpreter recipes and tool errors.
pub fn failure_record(
    recipe: &Recipe,
    variant: &Variant,
    error: &BuildError,
    seconds: f64,
) -> Option<CompatRecord> {
    if !error.is_package_failure() {
        return None;
    }
    // An interpreter that does not build is an error of the distribution, not a verdict
    // on a package (its python_abi and metapackages are not judged either).
    if recipe
        .render(variant)
        .ok()?
        .outputs
        .iter()
        .any(is_interpreter)
    {
        return None;
    }
    let abi = variant_abi(variant);
    let rendered = recipe.render(variant).ok()?;
    let output = rendered
        .outputs
        .iter()
        .find(|o| !o.skipped && !is_interpreter(o))?;
    let (log, tail) = error
        .log_tail()
        .map(|(l, t)| (Some(l.display().to_string()), t.to_string()))
        .unwrap_or((None, String::new()));
    let evidence = serde_json::json!({
        "abi": abi.map(|a| a.tag()).unwrap_or_else(|| NO_ABI.into()),
        "error": format!("{}", miette::Report::msg(error.to_string())),
        "chain": std::iter::successors(std::error::Error::source(error), |e| e.source()).map(|e| e.to_string()).collect::<Vec<_>>(),
        "log": log,
        "log_tail": tail,
        "seconds": seconds,
    });
    let reason = match error {
        BuildError::Script { source, .. } => format!("{} failed ({})", source.what, source.status),
        other => other.to_string(),
    };
    Some(compat_record(
        output,
        abi.as_ref(),
        Verdict::BuildFailed,
        &reason,
        evidence,
        None,
    ))
}

/// The verdict of a variant the recipe skips.
pub fn skipped_record(recipe: &Recipe, variant: &Variant) -> Option<CompatRecord> {
    let abi = variant_abi(variant)?;
    let rendered = recipe.render(variant).ok()?;
    let output = rendered.outputs.iter().find(|o| o.skipped)?;
    let reason = rendered
        .extra
        .pointer("/ftforge/skip_reason")
        .and_then(|v| v.as_str())
        .unwrap_or("the recipe skips this variant")
        .to_string();
    Some(compat_record(
        output,
        Some(&abi),
        Verdict::Skipped,
        &reason,
        serde_json::json!({"abi": abi.tag()}),
        None,
    ))
}

#[allow(clippy::too_many_arguments)]
fn script_command(
    script: &Script,
    recipe: &Recipe,
    output: &RenderedOutput,
    variant: &Variant,
    prefix: &Path,
    src: &Path,
    work: &Path,
    settings: &BuildSettings,
) -> std::io::Result<tokio::process::Command> {
    let (lines, file, env) = match script {
        Script::Line(line) => (vec![line.clone()], None, Default::default()),
        Script::Lines(lines) => (lines.clone(), None, Default::default()),
        Script::Detailed(d) => (
            d.content.clone().unwrap_or_default(),
            d.file.clone(),
            d.env.clone(),
        ),
    };
    let file = file.or_else(|| match lines.as_slice() {
        [one] if one.ends_with(".sh") && recipe.dir.join(one).is_file() => Some(one.clone()),
        _ => None,
    });
    let script_path = match file {
        Some(f) => {
            let name = if f.ends_with(".sh") {
                f
            } else {
                format!("{f}.sh")
            };
            recipe.dir.join(name)
        }
        None => {
            let path = work.join(format!("build-{}.sh", output.name));
            std::fs::write(&path, format!("set -euo pipefail\n{}\n", lines.join("\n")))?;
            path
        }
    };
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-e").arg(&script_path).current_dir(src);
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", prefix.join("bin").display()))
        .env("PREFIX", prefix)
        .env("BUILD_PREFIX", prefix)
        .env("SRC_DIR", src)
        .env("RECIPE_DIR", &recipe.dir)
        .env("CPU_COUNT", settings.cpu_count.to_string())
        .env("MAKEFLAGS", format!("-j{}", settings.cpu_count))
        .env("PKG_NAME", &output.name)
        .env("PKG_VERSION", &output.version)
        .env("PKG_BUILDNUM", output.build_number.to_string())
        .env("PKG_BUILD_STRING", &output.build_string)
        .env("target_platform", crate::recipe::target_platform())
        .env("build_platform", crate::recipe::target_platform())
        .env("SHLIB_EXT", ".so")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_WARN_SCRIPT_LOCATION", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("CONDA_PREFIX")
        .env_remove("PYTHON_GIL");
    if let Some(abi) = variant_abi(variant) {
        for (k, v) in abi.build_env(prefix) {
            cmd.env(k, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_is_exactly_255_characters() {
        let p = placeholder_prefix(Path::new("/tmp/work/python-3.14.7-h1234567_0_cp314t")).unwrap();
        assert_eq!(p.to_string_lossy().len(), PLACEHOLDER_LEN);
        assert!(p
            .to_string_lossy()
            .starts_with("/tmp/work/python-3.14.7-h1234567_0_cp314t/host_env_placehold"));
        assert!(placeholder_prefix(&PathBuf::from("/".repeat(250))).is_none());
    }
}
