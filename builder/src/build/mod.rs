//! One build job through named stages, each in its own function: plan (key, host
//! packages, reuse) → prepare the work directory → fetch sources → host environment →
//! build scripts → package → judge (install and test at another path, verdict from
//! evidence) → publish. The job is rendered once ([`Job`]) and every stage reads it.

mod judge;
mod key;
mod records;
mod scripts;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ftforge_channels::labels::PRERELEASE_LABEL;
use ftforge_channels::{CompatRecord, Verdict};
use ftforge_interpreter::InterpreterFacts;
use rattler_conda_types::RepoDataRecord;

pub use key::{
    build_key, cached_failure, failure_json, remember_failure, reusable_report, StoredFailure,
    JUDGING_DIGEST, PACKAGING_DIGEST,
};
pub use records::{blocked_record, compat_record, failure_record, skipped_record, FailureEvidence};
pub use scripts::PLACEHOLDER_LEN;

use crate::env;
use crate::job::Job;
use crate::package::{write_package, PackageError, PackageInput};
use crate::progress::{Reporter, Step};
use crate::recipe::RecipeError;
use crate::script::CommandFailed;
use crate::source::{prepare_sources, SourceCache, SourceError};
use crate::testing::{self, TestOutcome};
use crate::toolchain::{self, ResolvedTool};
use crate::verdict::StressConfig;
use judge::{judge_output, Judged};

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
    #[error("{job}: the recipe's thread-stress settings (`extra.ftforge.stress`)")]
    Stress {
        job: String,
        #[source]
        source: crate::verdict::StressConfigError,
    },
    #[error("{job}: cannot put together {what}")]
    Env {
        job: String,
        what: String,
        #[source]
        source: env::EnvError,
    },
    #[error("{job}: `python.version_independent` asks for one abi3t package, but {output} has {}", if modules.is_empty() { "no extension module".to_string() } else { modules.join(", ") })]
    #[diagnostic(help(
        "build the extension for abi3t (Py_TARGET_ABI3T=0x030f0000 and a PyModExport_ hook: CPython's abi3t migration guide), or drop the key to build one package per interpreter"
    ))]
    NotAbi3t {
        job: String,
        output: String,
        /// Each module that is not abi3t, with the ABI its file name says.
        modules: Vec<String>,
    },
    #[error("{job}: {output} is `noarch: python` but its build installed compiled extension modules: {}", modules.join(", "))]
    #[diagnostic(help(
        "remove `noarch: python` from `build` so the package is built for each interpreter (a generated recipe decides noarch from the sdist; a build that compiles code the sdist does not show, such as mypyc's, needs the recipe changed)"
    ))]
    NoarchWithExtensions {
        job: String,
        output: String,
        /// Each extension module and its file.
        modules: Vec<String>,
    },
    #[error("{job}: {output} links libraries from outside the package, its host packages and the C runtime:\n  {}", libraries.join("\n  "))]
    #[diagnostic(help(
        "add the package that provides each library to `requirements.host` (its run-exports then make it a dependency), or list the library in `build.dynamic_linking.missing_dso_allowlist` if the machine must provide it (docs/recipes.md, \"Dynamic linking\")"
    ))]
    Overlinking {
        job: String,
        output: String,
        /// `file: needs LIBRARY` for each library resolved nowhere allowed.
        libraries: Vec<String>,
    },
    #[error("{job}: {source}")]
    #[diagnostic(help("{}", source.help()))]
    Link {
        job: String,
        #[source]
        source: crate::linkage::LinkError,
    },
    #[error("the Dask executor: {message}")]
    #[diagnostic(help(
        "docs/cluster.md: start `dask scheduler` and `dask worker … --resources build=1`, and `ftforge serve` with an upload token"
    ))]
    Executor { message: String },
    #[error("the build graph has a dependency cycle: {}", jobs.join(" → "))]
    #[diagnostic(help(
        "each of these recipes needs a package another one of them produces; break the cycle in their requirements"
    ))]
    Cycle { jobs: Vec<String> },
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
            BuildError::Script { .. }
                | BuildError::Source { .. }
                | BuildError::Tests { .. }
                | BuildError::NotAbi3t { .. }
                | BuildError::NoarchWithExtensions { .. }
                | BuildError::Overlinking { .. }
        )
    }

    /// The job (`name version abi`) the error stopped, when it belongs to one.
    pub fn job(&self) -> Option<&str> {
        match self {
            BuildError::Source { job, .. }
            | BuildError::Script { job, .. }
            | BuildError::Package { job, .. }
            | BuildError::Install { job, .. }
            | BuildError::MissingInterpreter { job, .. }
            | BuildError::Tests { job, .. }
            | BuildError::Channel { job, .. }
            | BuildError::WorkDirTooLong { job, .. }
            | BuildError::Stress { job, .. }
            | BuildError::NotAbi3t { job, .. }
            | BuildError::NoarchWithExtensions { job, .. }
            | BuildError::Overlinking { job, .. }
            | BuildError::Link { job, .. }
            | BuildError::Env { job, .. } => Some(job),
            BuildError::Recipe(_)
            | BuildError::Cycle { .. }
            | BuildError::Io { .. }
            | BuildError::Executor { .. } => None,
        }
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
    pub channel: ftforge_channels::Channel,
    pub sources: SourceCache,
    /// Parent of every build's work directory (sources, prefix, logs, test envs).
    pub work_root: PathBuf,
    /// rattler's package cache used for host and test environments.
    pub package_cache: PathBuf,
    pub cpu_count: usize,
    pub client: reqwest::Client,
    /// Rebuild even when the channel already holds this build's packages.
    pub force: bool,
    /// Keep a successful build's work directory whole (`--keep-work`); by default only its
    /// `logs/` stay, since the packages are in the channel and the sources, build trees
    /// and test environments of an interpreter take half a gigabyte. A failed build's
    /// directory is always kept whole, for looking into.
    pub keep_work: bool,
    /// Packages of a channel server, read after `channel`'s own: host packages of a job
    /// built for `ftforge build --executor` (`remote.rs`); empty for local builds.
    pub extra_records: Vec<RepoDataRecord>,
    /// ccache for the build scripts' compilers (`compiler_cache.rs`); None builds without.
    pub compiler_cache: Option<crate::compiler_cache::CompilerCache>,
}

/// What one build produced, stored beside the channel's subdirs as evidence.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BuildReport {
    pub job: String,
    pub recipe: PathBuf,
    pub variant: crate::variants::Variant,
    pub key: String,
    pub outputs: Vec<OutputReport>,
    pub duration_secs: f64,
    pub work_dir: PathBuf,
    pub ftforge_version: String,
    /// True when nothing was built because the channel already had these packages.
    #[serde(default)]
    pub reused: bool,
    /// The build requirements as resolved (channel packages, machine programs).
    #[serde(default)]
    pub toolchain: Vec<ResolvedTool>,
    /// The compiler cache the build scripts compiled through (ccache's path), if any.
    #[serde(default)]
    pub compiler_cache: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OutputReport {
    pub name: String,
    pub version: String,
    pub build: String,
    pub subdir: String,
    pub filename: String,
    /// The label it was published under instead of main (`python_rc`: built with or
    /// for a pre-release interpreter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub files: usize,
    pub tests: Vec<TestOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<InterpreterFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// [`JUDGING_DIGEST`] of the code that made the verdict and ran the tests.
    #[serde(default)]
    pub judged_with: String,
    /// Where an interpreter output was installed for its tests in this run (its
    /// health probes run there when the session is quiet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_env: Option<PathBuf>,
}

impl OutputReport {
    fn new(record: &RepoDataRecord, files: usize, judged: Judged) -> Self {
        let package = &record.package_record;
        Self {
            name: package.name.as_normalized().to_string(),
            version: package.version.to_string(),
            build: package.build.to_string(),
            subdir: package.subdir.clone(),
            filename: record.identifier.to_string(),
            label: None,
            sha256: hex::encode(package.sha256.unwrap_or_default()),
            size: package.size.unwrap_or_default(),
            files,
            tests: judged.tests,
            interpreter: judged.interpreter,
            verdict: judged.assessment.as_ref().map(|a| a.verdict),
            reason: judged.assessment.map(|a| a.reason),
            judged_with: JUDGING_DIGEST.to_string(),
            test_env: judged.test_env,
        }
    }
}

/// What a build would do, decided without building: its key, its host packages from
/// the channel, and whether the channel already holds its result.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub key: String,
    pub channel_records: Vec<RepoDataRecord>,
    pub host_records: Vec<RepoDataRecord>,
    /// Host specs whose name the channel does not have (left to pip's build isolation).
    pub missing: Vec<env::LeftToPip>,
    pub reusable: Option<BuildReport>,
    /// The version of the pre-release interpreter the job builds (`python 3.15.0rc2`)
    /// or builds against: its packages go to `label/python_rc`, not main.
    pub prerelease: Option<String>,
}

/// The pre-release interpreter a job builds or builds against, if any: the version of
/// its `python` output, or of the `python` of its host environment.
fn prerelease_interpreter(job: &Job, host_records: &[RepoDataRecord]) -> Option<String> {
    let built = job
        .outputs()
        .filter(|o| o.is_interpreter())
        .map(|o| o.version.to_string());
    let host = host_records
        .iter()
        .filter(|r| r.package_record.name.as_normalized() == crate::job::INTERPRETER_PACKAGE)
        .map(|r| r.package_record.version.as_str().into_owned());
    built
        .chain(host)
        .find(|version| ftforge_interpreter::abi::is_prerelease(version))
}

/// Stage 1: the key, the host packages and whether an identical build exists.
pub fn plan_job(job: &Job, settings: &BuildSettings) -> Result<JobPlan, BuildError> {
    let mut channel_records =
        env::channel_records(&settings.channel).map_err(|source| BuildError::Env {
            job: job.name.clone(),
            what: "the channel's packages".into(),
            source,
        })?;
    channel_records.extend(settings.extra_records.iter().cloned());
    // Packages built for another interpreter can never be in this job's host
    // environment: without them, a requirement the channel has only for that one (mypy
    // built for cp314t, asked for by a cp314 build) is left to pip like a missing one.
    // (An interpreter the channel lacks is refused when the build starts:
    // `MissingInterpreter`.)
    if let Some(abi) = job.abi {
        channel_records.retain(|r| {
            ftforge_channels::labels::record_abi(&r.package_record).is_none_or(|a| a == abi)
        });
    }
    // The host environment: our own packages from the channel (the interpreter users
    // get); what the channel lacks (pip, setuptools, Cython) comes through pip's build
    // isolation.
    let host_specs: Vec<String> = job
        .outputs()
        .flat_map(|o| o.requirements.host.iter().cloned())
        .collect();
    let env::Solved {
        records: host_records,
        left_to_pip: missing,
    } = env::solve(&host_specs, &channel_records, env::Unmatched::LeaveToPip).map_err(
        |source| match source {
            env::EnvError::NoMatch { spec, name, .. }
                if name == crate::job::INTERPRETER_PACKAGE =>
            {
                BuildError::MissingInterpreter {
                    job: job.name.clone(),
                    spec,
                    channel: settings.channel.root.clone(),
                }
            }
            source => BuildError::Env {
                job: job.name.clone(),
                what: "the host environment".into(),
                source,
            },
        },
    )?;
    let key = build_key(job, &host_records);
    let reusable = reusable_report(&settings.channel, &key);
    let prerelease = prerelease_interpreter(job, &host_records);
    Ok(JobPlan {
        key,
        channel_records,
        host_records,
        missing,
        reusable,
        prerelease,
    })
}

/// The directories of one job and what every stage needs to know.
pub(crate) struct Workspace<'a> {
    pub job: &'a Job<'a>,
    pub settings: &'a BuildSettings,
    pub reporter: &'a dyn Reporter,
    pub key: String,
    /// See [`JobPlan::prerelease`].
    pub prerelease: Option<String>,
    pub work: PathBuf,
    /// The padded placeholder prefix the build installs into.
    pub prefix: PathBuf,
    pub src: PathBuf,
    pub logs: PathBuf,
    /// Milliseconds since the epoch that packages and build scripts use for "now".
    pub timestamp: i64,
    /// The build requirements, resolved before anything was fetched.
    pub tools: Vec<ResolvedTool>,
}

impl<'a> Workspace<'a> {
    /// Stage 2: a clean work directory `<work-root>/<first output>-<abi>`.
    fn prepare(
        job: &'a Job<'a>,
        settings: &'a BuildSettings,
        reporter: &'a dyn Reporter,
        plan: &JobPlan,
        tools: Vec<ResolvedTool>,
    ) -> Result<Self, BuildError> {
        let first = job
            .outputs()
            .next()
            .map(|o| o.dist_name())
            .unwrap_or_else(|| "empty".into());
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Io {
                action,
                path,
                source,
            }
        };
        let work = settings.work_root.join(format!(
            "{first}-{}",
            job.abi.map(|a| a.tag()).unwrap_or_default()
        ));
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(io("clear", &work))?;
        }
        std::fs::create_dir_all(&work).map_err(io("create", &work))?;
        let work = work.canonicalize().map_err(io("resolve", &work))?;
        let prefix =
            scripts::placeholder_prefix(&work).ok_or_else(|| BuildError::WorkDirTooLong {
                job: job.name.clone(),
                path: work.clone(),
            })?;
        Ok(Self {
            job,
            settings,
            reporter,
            key: plan.key.clone(),
            prerelease: plan.prerelease.clone(),
            src: work.join("src"),
            logs: work.join("logs"),
            prefix,
            work,
            timestamp: job.recipe.timestamp_millis(),
            tools,
        })
    }

    /// Maps an I/O error on `path` to a [`BuildError`].
    pub fn io(
        &self,
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> BuildError + use<> {
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    }

    fn channel_err(&self) -> impl Fn(ftforge_channels::ChannelError) -> BuildError + '_ {
        |source| BuildError::Channel {
            job: self.job.name.clone(),
            source,
        }
    }

    fn stress(&self) -> Result<StressConfig, BuildError> {
        StressConfig::from_extra(&self.job.rendered.extra).map_err(|source| BuildError::Stress {
            job: self.job.name.clone(),
            source,
        })
    }

    /// Stage 3: sources fetched (sha256-checked), extracted and patched into `src/`.
    async fn fetch_sources(&self) -> Result<(), BuildError> {
        prepare_sources(
            &self.job.recipe.dir,
            &self.job.rendered.sources,
            &self.src,
            &self.settings.sources,
            &self.settings.client,
            &self.job.name,
            self.reporter,
        )
        .await
        .map_err(|source| BuildError::Source {
            job: self.job.name.clone(),
            source,
        })
    }

    /// Stage 4: the host environment from the channel in the placeholder prefix (with
    /// the build requirements the channel provides: merged environments); returns the
    /// host packages with their run-exports.
    async fn host_env(
        &self,
        plan: &JobPlan,
    ) -> Result<Vec<crate::depends::HostPackage>, BuildError> {
        let job = &self.job.name;
        if let Some(python) = plan
            .missing
            .iter()
            .find(|l| l.name == crate::job::INTERPRETER_PACKAGE)
        {
            return Err(BuildError::MissingInterpreter {
                job: job.clone(),
                spec: python.spec.clone(),
                channel: self.settings.channel.root.clone(),
            });
        }
        if !plan.missing.is_empty() {
            let names: Vec<String> = plan.missing.iter().map(env::LeftToPip::describe).collect();
            self.reporter.note(
                job,
                &format!(
                    "not in the channel, left to pip's build isolation: {}",
                    names.join(", ")
                ),
            );
        }
        let mut host_records = plan.host_records.clone();
        for record in toolchain::channel_records(&self.tools) {
            if !host_records
                .iter()
                .any(|h| h.package_record.name == record.package_record.name)
            {
                host_records.push(record);
            }
        }
        if host_records.is_empty() {
            std::fs::create_dir_all(&self.prefix).map_err(self.io("create", &self.prefix))?;
        } else {
            self.reporter.step(job, Step::Install);
            testing::install(
                &self.prefix,
                host_records.clone(),
                &self.settings.package_cache,
            )
            .await
            .map_err(|e| BuildError::Install {
                job: job.clone(),
                what: "the host environment".into(),
                message: crate::source::root_cause(&e),
            })?;
        }
        Ok(crate::depends::host_packages(&host_records))
    }

    /// Stage 6: one `.conda` per output from the files its script added.
    fn package(
        &self,
        files_of: &[Vec<PathBuf>],
        host: &[crate::depends::HostPackage],
    ) -> Result<Vec<PathBuf>, BuildError> {
        self.reporter.step(&self.job.name, Step::Package);
        let pkgs = self.work.join("pkgs");
        std::fs::create_dir_all(&pkgs).map_err(self.io("create", &pkgs))?;
        let abi = self.job.abi;
        let mut packages = Vec::new();
        for (output, files) in self.job.outputs().zip(files_of) {
            if let Some(abi) = abi {
                self.check_shared_modules(output, files, &abi)?;
            }
            let noarch_python = if output.links_as_noarch_python() {
                abi
            } else {
                None
            };
            let linkage = self.relink(output, files)?;
            let crate::depends::Dependencies {
                mut depends,
                constrains,
            } = crate::depends::dependencies(self.job.recipe, output, abi.as_ref(), host)?;
            // The oldest glibc the files run on, as conda clients understand it.
            if let Some(floor) = linkage.glibc.filter(|_| output.noarch.is_none()) {
                if !depends
                    .iter()
                    .any(|d| d.split_whitespace().next() == Some("__glibc"))
                {
                    depends.push(floor.dependency());
                }
            }
            let input = PackageInput {
                output,
                prefix: &self.prefix,
                files,
                noarch_python,
                depends,
                constrains,
                run_exports: &output.requirements.run_exports,
                recipe_dir: &self.job.recipe.dir,
                rendered_recipe: &self.job.rendered.rendered,
                extra_about: serde_json::json!({"extra": about_extra(self.job, &self.key, &self.tools)}),
                timestamp: self.timestamp,
            };
            packages.push(
                write_package(&input, &pkgs).map_err(|source| BuildError::Package {
                    job: self.job.name.clone(),
                    source,
                })?,
            );
        }
        Ok(packages)
    }

    /// Rpaths of the output's ELF files made `$ORIGIN`-relative, their `DT_NEEDED`
    /// checked when the recipe asks (`overlinking_behavior: error`), the glibc floor read.
    fn relink(
        &self,
        output: &crate::recipe::RenderedOutput,
        files: &[PathBuf],
    ) -> Result<crate::linkage::Linkage, BuildError> {
        let linkage = crate::linkage::relink(&self.prefix, files, &output.dynamic_linking)
            .map_err(|source| BuildError::Link {
                job: self.job.name.clone(),
                source,
            })?;
        if !linkage.overlinked.is_empty() {
            return Err(BuildError::Overlinking {
                job: self.job.name.clone(),
                output: output.name.clone(),
                libraries: linkage.overlinked.clone(),
            });
        }
        Ok(linkage)
    }

    /// An output installed on several interpreters must hold only modules they all load:
    /// abi3t modules only, and at least one, for `python.version_independent` (3.15+);
    /// none for `noarch: python` (the built wheel has the final word over the recipe;
    /// the two are exclusive).
    fn check_shared_modules(
        &self,
        output: &crate::recipe::RenderedOutput,
        files: &[PathBuf],
        abi: &ftforge_interpreter::PythonAbi,
    ) -> Result<(), BuildError> {
        use ftforge_interpreter::extensions::ModuleAbi;
        let noarch_python = output.noarch == Some(crate::recipe::NoArch::Python);
        if !output.abi3t && !noarch_python {
            return Ok(());
        }
        let files: Vec<String> = files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        let modules = crate::verdict::modules_of(&files, abi);
        let (job, output) = (self.job.name.clone(), output.name.clone());
        if !noarch_python {
            let wrong: Vec<String> = modules
                .iter()
                .filter(|m| m.abi != ModuleAbi::Abi3t)
                .map(|m| format!("{} ({})", m.name, m.abi))
                .collect();
            if modules.is_empty() || !wrong.is_empty() {
                return Err(BuildError::NotAbi3t {
                    job,
                    output,
                    modules: wrong,
                });
            }
        } else if !modules.is_empty() {
            return Err(BuildError::NoarchWithExtensions {
                job,
                output,
                modules: modules
                    .iter()
                    .map(|m| format!("{} ({})", m.name, m.path))
                    .collect(),
            });
        }
        Ok(())
    }

    /// Stage 7: every output (a package file) installed at another path, tested and
    /// judged.
    async fn judge(
        &self,
        packages: &[PathBuf],
        file_counts: &[usize],
        channel_records: &[RepoDataRecord],
        left_to_pip: &[env::LeftToPip],
    ) -> Result<(Vec<OutputReport>, Vec<CompatRecord>), BuildError> {
        let stress = self.stress()?;
        let records: Vec<RepoDataRecord> = packages
            .iter()
            .map(|p| testing::local_record(p))
            .collect::<Result<_, _>>()
            .map_err(|e| BuildError::Install {
                job: self.job.name.clone(),
                what: "the packages to test".into(),
                message: crate::source::root_cause(&e),
            })?;
        let available: Vec<RepoDataRecord> = records
            .iter()
            .cloned()
            .chain(channel_records.iter().cloned())
            .collect();
        let mut reports = Vec::new();
        let mut compat = Vec::new();
        for ((output, record), files) in self.job.outputs().zip(&records).zip(file_counts) {
            let mut judged =
                judge_output(self, output, record, &available, &stress, left_to_pip).await?;
            compat.extend(judged.compat.take());
            reports.push(OutputReport::new(record, *files, judged));
        }
        Ok((reports, compat))
    }

    /// After a successful publish: removes everything of the work directory but `logs/`
    /// (unless `keep_work`). The build prefix always goes: it is only needed while
    /// building. Failures to remove are not errors; the next build of the job clears
    /// the directory anyway.
    fn tidy(&self) {
        let _ = std::fs::remove_dir_all(&self.prefix);
        if self.settings.keep_work {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.work) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == self.logs {
                continue;
            }
            let _ = match entry.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
        }
    }

    /// Stage 8: packages into the channel, verdicts into `compat.json`, interpreter
    /// facts, labels, and the build report under the key.
    fn publish(
        &self,
        packages: &[PathBuf],
        outputs: Vec<OutputReport>,
        compat: Vec<CompatRecord>,
        started: Instant,
    ) -> Result<BuildReport, BuildError> {
        self.reporter.step(&self.job.name, Step::Publish);
        let channel = &self.settings.channel;
        let label = self.prerelease.as_ref().map(|_| PRERELEASE_LABEL);
        if !packages.is_empty() {
            let target = label.map_or_else(|| channel.clone(), |l| channel.label_root(l));
            target.publish(packages, true).map_err(self.channel_err())?;
        }
        let mut outputs = outputs;
        if !packages.is_empty() {
            for output in &mut outputs {
                output.label = label.map(String::from);
            }
        }
        if !compat.is_empty() {
            channel.record_compat(compat).map_err(self.channel_err())?;
        }
        for output in &outputs {
            if let (Some(facts), Some(abi)) = (&output.interpreter, self.job.abi) {
                let value = serde_json::json!({"facts": facts, "package": output.filename, "recorded_at": records::now()});
                channel
                    .record_interpreter(&abi.tag(), value)
                    .map_err(self.channel_err())?;
            }
        }
        channel.update_labels().map_err(self.channel_err())?;
        let report = BuildReport {
            job: self.job.name.clone(),
            recipe: self.job.recipe.dir.clone(),
            variant: self.job.variant().clone(),
            key: self.key.clone(),
            outputs,
            duration_secs: started.elapsed().as_secs_f64(),
            work_dir: self.work.clone(),
            ftforge_version: env!("CARGO_PKG_VERSION").to_string(),
            reused: false,
            toolchain: self.tools.clone(),
            compiler_cache: self
                .settings
                .compiler_cache
                .as_ref()
                .map(|c| c.program.clone()),
        };
        key::remember_report(channel, &report).map_err(self.channel_err())?;
        Ok(report)
    }
}

/// Builds, tests, judges and publishes one job whose plan is made (reusing an identical
/// earlier build, and judging it again if its verdicts were made by other code).
pub async fn build_job(
    job: &Job<'_>,
    plan: JobPlan,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    if !settings.force {
        if let Some(report) = plan.reusable.clone() {
            if report
                .outputs
                .iter()
                .all(|o| o.judged_with == JUDGING_DIGEST)
            {
                let mut report = report;
                report.reused = true;
                reporter.finished(&job.name, true, "up to date");
                return Ok(report);
            }
            // Built by this code, judged by other code: judge the same files again.
            let report = judge_published(job, &report, &plan, settings, reporter, started).await?;
            finished(job, &report, reporter, "judged again");
            return Ok(report);
        }
    }
    // Every build requirement resolved before anything is fetched: a missing tool
    // stops the build at its recipe line.
    let tools = toolchain::resolve(job.recipe, &job.rendered, &plan.channel_records)?;
    let ws = Workspace::prepare(job, settings, reporter, &plan, tools)?;
    ws.fetch_sources().await?;
    let host = ws.host_env(&plan).await?;
    let files_of = scripts::run_scripts(&ws).await?;
    let packages = ws.package(&files_of, &host)?;
    let counts: Vec<usize> = files_of.iter().map(Vec::len).collect();
    let (outputs, compat) = ws
        .judge(&packages, &counts, &plan.channel_records, &plan.missing)
        .await?;
    let report = ws.publish(&packages, outputs, compat, started)?;
    ws.tidy();
    finished(job, &report, reporter, "built");
    Ok(report)
}

/// Judges packages already in the channel for `job`'s interpreter: the outputs of
/// `built` (an earlier build of this job, or the first variant of a `noarch: python`
/// recipe), installed from the channel's files. Nothing is built or republished.
pub async fn judge_published(
    job: &Job<'_>,
    built: &BuildReport,
    plan: &JobPlan,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    started: Instant,
) -> Result<BuildReport, BuildError> {
    let packages: Vec<PathBuf> = built
        .outputs
        .iter()
        .map(|o| {
            settings
                .channel
                .published_path(o.label.as_deref(), &o.subdir, &o.filename)
        })
        .collect();
    judge_files(job, built, packages, plan, settings, reporter, started).await
}

/// [`judge_published`] with the package files given (`packages`, one per output of
/// `built`): a remote job judges files it fetched from the channel server.
pub async fn judge_files(
    job: &Job<'_>,
    built: &BuildReport,
    packages: Vec<PathBuf>,
    plan: &JobPlan,
    settings: &BuildSettings,
    reporter: &dyn Reporter,
    started: Instant,
) -> Result<BuildReport, BuildError> {
    let ws = Workspace::prepare(job, settings, reporter, plan, built.toolchain.clone())?;
    let counts: Vec<usize> = built.outputs.iter().map(|o| o.files).collect();
    let (mut outputs, compat) = ws
        .judge(&packages, &counts, &plan.channel_records, &plan.missing)
        .await?;
    for (output, published) in outputs.iter_mut().zip(&built.outputs) {
        output.label = published.label.clone();
    }
    let report = ws.publish(&[], outputs, compat, started)?;
    ws.tidy();
    Ok(report)
}

fn finished(job: &Job, report: &BuildReport, reporter: &dyn Reporter, what: &str) {
    let verdicts: Vec<String> = report
        .outputs
        .iter()
        .filter_map(|o| o.verdict.map(|v| v.to_string()))
        .collect();
    let summary = format!(
        "{what} in {:.0}s{}",
        report.duration_secs,
        if verdicts.is_empty() {
            String::new()
        } else {
            format!(" · {}", verdicts.join(", "))
        }
    );
    reporter.finished(&job.name, true, &summary);
}

/// `about.json`'s `extra`: the recipe's `extra` (as rattler-build writes it) plus the
/// build key, the variant and the resolved build requirements.
fn about_extra(job: &Job, key: &str, tools: &[ResolvedTool]) -> serde_json::Value {
    let mut extra = match &job.rendered.extra {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    extra.insert("ftforge_build_key".into(), key.into());
    extra.insert(
        "variant".into(),
        serde_json::to_value(job.variant()).unwrap_or_default(),
    );
    extra.insert(
        "toolchain".into(),
        serde_json::to_value(tools).unwrap_or_default(),
    );
    serde_json::Value::Object(extra)
}
