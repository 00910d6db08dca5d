//! One build: a recipe rendered for one variant → sources → build script in a padded
//! placeholder prefix → one `.conda` per output → install-and-test → publish.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ftforge_channels::Channel;
use ftforge_interpreter::{InterpreterFacts, PythonAbi};
use sha2::{Digest, Sha256};

use crate::package::{snapshot, write_package, PackageError, PackageInput};
use crate::progress::{Reporter, Step};
use crate::recipe::{Recipe, RecipeError, RenderedOutput, RenderedRecipe, Script};
use crate::script::{run_logged, CommandFailed};
use crate::source::{prepare_sources, SourceCache, SourceError};
use crate::testing::{self, TestOutcome};
use crate::variants::Variant;

/// Bump when the build logic changes what it produces (part of every build key).
pub const BUILD_LOGIC_VERSION: &str = "1";

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
    #[error("{job}: cannot install {output} for testing: {message}")]
    TestInstall {
        job: String,
        output: String,
        message: String,
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
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a build reads and writes.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub channel: Channel,
    pub sources: SourceCache,
    /// Parent of every build's work directory (sources, prefix, logs, test envs).
    pub work_root: PathBuf,
    /// rattler's package cache used for test environments.
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
pub fn build_key(recipe: &Recipe, rendered: &RenderedRecipe) -> String {
    let mut hasher = Sha256::new();
    hasher.update(BUILD_LOGIC_VERSION.as_bytes());
    hasher.update(rendered.rendered.to_string().as_bytes());
    hasher.update(
        serde_json::to_string(&rendered.variant)
            .unwrap_or_default()
            .as_bytes(),
    );
    let mut files: Vec<_> = std::fs::read_dir(&recipe.dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            hasher.update(entry.file_name().to_string_lossy().as_bytes());
            hasher.update(&bytes);
        }
    }
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

/// Builds, tests and publishes one variant of a recipe.
pub async fn build_variant(
    recipe: &Recipe,
    variant: &Variant,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let rendered = recipe.render(variant)?;
    let job = job_name(&rendered);
    let key = build_key(recipe, &rendered);
    if !settings.force {
        if let Some(mut report) = reusable_report(&settings.channel, &key) {
            report.reused = true;
            reporter.finished(&job, true, "up to date");
            return Ok(report);
        }
    }
    let outputs: Vec<&RenderedOutput> = rendered.outputs.iter().filter(|o| !o.skipped).collect();
    let first = outputs
        .first()
        .map(|o| o.dist_name())
        .unwrap_or_else(|| "empty".into());
    let work = settings.work_root.join(&first);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    };
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io("clear", &work))?;
    }
    std::fs::create_dir_all(&work).map_err(io("create", &work))?;
    let work = work.canonicalize().map_err(io("resolve", &work))?;
    let prefix = placeholder_prefix(&work).ok_or_else(|| BuildError::WorkDirTooLong {
        job: job.clone(),
        path: work.clone(),
    })?;
    std::fs::create_dir_all(&prefix).map_err(io("create", &prefix))?;
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
        run_logged(
            cmd,
            &format!("build script of {}", output.name),
            &logs.join(format!("build-{}.log", output.name)),
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
        files_of.push(
            after
                .keys()
                .filter(|p| !before.contains_key(*p))
                .cloned()
                .collect(),
        );
    }

    reporter.step(&job, Step::Package);
    let pkgs = work.join("pkgs");
    std::fs::create_dir_all(&pkgs).map_err(io("create", &pkgs))?;
    let mut packages = Vec::new();
    for (output, files) in outputs.iter().zip(&files_of) {
        let input = PackageInput {
            output,
            prefix: &prefix,
            files,
            depends: output.requirements.run.clone(),
            constrains: output.requirements.run_constraints.clone(),
            run_exports: &output.requirements.run_exports,
            recipe_dir: &recipe.dir,
            rendered_recipe: &rendered.rendered,
            extra_about: serde_json::json!({"extra": {"ftforge_build_key": key, "variant": rendered.variant}}),
        };
        let path = write_package(&input, &pkgs).map_err(|source| BuildError::Package {
            job: job.clone(),
            source,
        })?;
        packages.push(path);
    }

    // Install every output into a fresh prefix at another path and test it there.
    let records: Vec<_> = packages
        .iter()
        .map(|p| testing::local_record(p))
        .collect::<Result<_, _>>()
        .map_err(|message| BuildError::TestInstall {
            job: job.clone(),
            output: first.clone(),
            message,
        })?;
    let mut reports = Vec::new();
    for ((output, files), record) in outputs.iter().zip(&files_of).zip(&records) {
        let test_env = testing::test_prefix(&work, &output.name);
        let log = logs.join(format!("test-{}.log", output.name));
        let is_interpreter = output.name == "python";
        let mut tests = Vec::new();
        let mut interpreter = None;
        if !output.tests.is_empty() || is_interpreter {
            testing::install(
                &test_env,
                testing::closure(record, &records),
                &settings.package_cache.clone(),
            )
            .await
            .map_err(|message| BuildError::TestInstall {
                job: job.clone(),
                output: output.name.clone(),
                message,
            })?;
            tests =
                testing::run_recipe_tests(&output.tests, &test_env, &work, &log, &job, reporter)
                    .await;
            if let (true, Some(abi)) = (is_interpreter, variant_abi(&rendered.variant)) {
                match testing::probe_interpreter(&abi, &test_env).await {
                    Ok((facts, problems)) => {
                        tests.push(TestOutcome {
                            name: "interpreter facts".into(),
                            passed: problems.is_empty(),
                            detail: (!problems.is_empty()).then(|| problems.join("\n")),
                        });
                        interpreter = Some(facts);
                    }
                    Err(message) => tests.push(TestOutcome {
                        name: "interpreter facts".into(),
                        passed: false,
                        detail: Some(message),
                    }),
                }
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
    };
    let path = report_path(&settings.channel, &key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    ftforge_channels::layout::write_atomically(&path, &json).map_err(channel_err)?;
    // The build prefix is large and only needed while building.
    let _ = std::fs::remove_dir_all(&prefix);
    reporter.finished(
        &job,
        true,
        &format!("built in {:.0}s", report.duration_secs),
    );
    Ok(report)
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
        .env("PKG_NAME", &output.name)
        .env("PKG_VERSION", &output.version)
        .env("PKG_BUILDNUM", output.build_number.to_string())
        .env("PKG_BUILD_STRING", &output.build_string)
        .env("target_platform", crate::recipe::target_platform())
        .env("build_platform", crate::recipe::target_platform())
        .env("SHLIB_EXT", ".so")
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
