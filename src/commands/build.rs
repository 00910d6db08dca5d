//! `ftforge build`: builds the selected recipe variants as one session, then prints the
//! packages, the verdicts and the errors. The selection arguments are shared with `plan`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ftforge_builder::build::{BuildReport, BuildSettings};
use ftforge_builder::dask::{build_on_cluster, DaskExecutor};
use ftforge_builder::plan::{
    discover_recipes, released_interpreters, with_sibling_dependencies, VariantFilter, VariantKind,
};
use ftforge_builder::recipe::Recipe;
use ftforge_builder::remote::RemoteChannel;
use ftforge_builder::session::build_all;
use ftforge_builder::source::{default_cache_dir, http_client, SourceCache};
use ftforge_builder::variants::Variant;
use ftforge_channels::upload::UploadToken;
use ftforge_channels::{Channel, CompatRecord, Verdict};
use miette::Result;

use super::OutputArgs;
use crate::reporter::{CliReporter, Mode};

/// Which recipes and variants a build (or a plan) is about, and its channel.
#[derive(Args)]
pub struct SelectionArgs {
    /// Recipe directories (or directories of recipe directories)
    #[arg(default_value = "recipes")]
    pub recipes: Vec<PathBuf>,
    /// Channel directory the packages are published into (and reused from)
    #[arg(long, short = 'c', default_value = "channel", env = "FTFORGE_CHANNEL")]
    pub channel: PathBuf,
    /// Only the free-threaded or only the GIL variants
    #[arg(long, value_enum)]
    pub variant: Option<KindArg>,
    /// Only these interpreters: a version prefix (3.14 selects 3.14.7 and both ABIs) or
    /// one interpreter (3.15t, cp315); repeatable. Without it, pre-release interpreters
    /// (3.15.0rc2) and variants for them are left out
    #[arg(long)]
    pub python: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// The free-threaded builds (`--disable-gil`, ABI tag `t`)
    Freethreading,
    /// The builds with the GIL
    Gil,
}

impl SelectionArgs {
    /// The recipes found under the given directories, plus the sibling recipes that
    /// produce what they need and the channel lacks (each added one is reported).
    pub fn recipes(&self) -> Result<Vec<Recipe>> {
        let selected = discover_recipes(&self.recipes)?;
        let held: Vec<ftforge_builder::plan::Held> =
            ftforge_builder::env::channel_records(&Channel::new(&self.channel))
                .map(|records| {
                    records
                        .iter()
                        .map(|r| {
                            let p = &r.package_record;
                            (
                                p.name.as_normalized().to_string(),
                                p.version.to_string(),
                                p.build_number,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        let (recipes, added) = with_sibling_dependencies(selected, &held)?;
        for a in added {
            eprintln!(
                "with {}: {} needs {}",
                a.dir.display(),
                a.needed_by,
                a.provides
            );
        }
        Ok(recipes)
    }

    /// The (recipe, variant) jobs this selection picks from `recipes`, in discovery
    /// order; an error when it picks none.
    pub fn jobs<'a>(&self, recipes: &'a [Recipe]) -> Result<Vec<(&'a Recipe, Variant)>> {
        let filter = VariantFilter {
            kind: self.variant.map(|k| match k {
                KindArg::Freethreading => VariantKind::Freethreading,
                KindArg::Gil => VariantKind::Gil,
            }),
            python: self.python.clone(),
            released: Some(released_interpreters(recipes, &Channel::new(&self.channel))),
        };
        let jobs: Vec<_> = recipes
            .iter()
            .flat_map(|r| {
                r.variant_combinations()
                    .into_iter()
                    .filter(|v| filter.accepts(v))
                    .map(move |v| (r, v))
            })
            .collect();
        if jobs.is_empty() {
            miette::bail!(miette::miette!(
                help = "check --variant / --python against the recipe's variants.yaml",
                "no variant of {} matches the selection",
                self.recipes
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(jobs)
    }

    /// [`Self::settings`] with another channel directory.
    pub fn settings_for(
        &self,
        channel: &std::path::Path,
        work_dir: Option<PathBuf>,
        cpu_count: usize,
        force: bool,
    ) -> BuildSettings {
        build_settings(channel, work_dir, cpu_count, force)
    }

    /// Where a build reads and writes.
    pub fn settings(
        &self,
        work_dir: Option<PathBuf>,
        cpu_count: usize,
        force: bool,
    ) -> BuildSettings {
        build_settings(&self.channel, work_dir, cpu_count, force)
    }
}

/// Where a build reads and writes: `channel`, and the cache directory for sources,
/// work directories (unless `work_dir`) and packages.
pub fn build_settings(
    channel: &std::path::Path,
    work_dir: Option<PathBuf>,
    cpu_count: usize,
    force: bool,
) -> BuildSettings {
    let cache_dir = default_cache_dir();
    BuildSettings {
        channel: Channel::new(channel),
        sources: SourceCache::new(cache_dir.join("sources")),
        work_root: work_dir.unwrap_or_else(|| cache_dir.join("work")),
        package_cache: cache_dir.join("pkgs"),
        cpu_count,
        client: http_client(),
        force,
        keep_work: false,
        extra_records: Vec::new(),
        compiler_cache: ftforge_builder::compiler_cache::CompilerCache::from_env(&cache_dir),
    }
}

/// Builds at once (`-j`, default: cores) and the cores each gets for its own make -j.
pub fn parallelism(jobs: Option<usize>) -> (usize, usize) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let parallel = jobs.unwrap_or(cores).max(1);
    (parallel, (cores / parallel).max(1))
}

#[derive(Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Where builds happen (sources, build prefix, logs, test environments)
    #[arg(long, env = "FTFORGE_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Builds run at once (default: cores); each gets cores / N for its own make -j
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Rebuild even when the channel already holds an identical build
    #[arg(long)]
    pub force: bool,
    /// Keep each successful build's sources, build tree and test environments in the work
    /// directory (by default only its logs/ stay; a failed build's directory is kept whole)
    #[arg(long, env = "FTFORGE_KEEP_WORK")]
    pub keep_work: bool,
    /// Run the jobs on a Dask cluster (dask://HOST:PORT) instead of this machine; the
    /// channel must then be a channel server (`--channel http://HOST:PORT`, docs/cluster.md)
    #[arg(long, value_name = "dask://HOST:PORT")]
    pub executor: Option<String>,
    /// The channel server's upload token (a file), for --executor
    #[arg(long, value_name = "FILE")]
    pub upload_token_file: Option<PathBuf>,
    /// Exit non-zero when any package gets one of these verdicts (e.g. build-failed,gil-reenabled)
    #[arg(long, value_delimiter = ',', value_parser = parse_verdict)]
    pub fail_on: Vec<Verdict>,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_verdict(s: &str) -> Result<Verdict, String> {
    s.parse()
}

pub async fn exec(args: BuildArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let recipes = args.selection.recipes()?;
    // Parallel builds share the cores: each gets cores / N for its own make -j.
    let (parallel, cpu_count) = parallelism(args.jobs);
    let mut settings = args
        .selection
        .settings(args.work_dir.clone(), cpu_count, args.force);
    settings.keep_work = args.keep_work;
    let jobs = args.selection.jobs(&recipes)?;
    reporter.line(&format!(
        "building {} variant(s) into {}",
        jobs.len(),
        args.selection.channel.display()
    ));
    let _staging;
    let outcome = match &args.executor {
        None => build_all(&jobs, &settings, &reporter, parallel).await,
        Some(executor) => {
            let executor = DaskExecutor::parse(executor)?;
            let channel = args.selection.channel.to_string_lossy().into_owned();
            let remote =
                RemoteChannel::new(&channel, http_client(), default_cache_dir().join("remote"))?;
            let token_file = args.upload_token_file.as_deref().ok_or_else(|| {
                miette::miette!(
                    help = "the workers upload what they build with the server's token",
                    "--executor needs --upload-token-file FILE"
                )
            })?;
            let token = UploadToken::from_file(token_file)?;
            // Keys are computed against the server's packages; nothing is published here.
            _staging = tempfile::tempdir().map_err(|e| miette::miette!("{e}"))?;
            let settings = args.selection.settings_for(
                _staging.path(),
                args.work_dir.clone(),
                cpu_count,
                args.force,
            );
            build_on_cluster(&jobs, &settings, &remote, &token, &executor, &reporter).await
        }
    };
    print_summary(&outcome.reports, &args.selection.channel, &args.output)?;
    print_verdicts(&outcome.verdicts, args.output.json);
    for failure in outcome.package_failures {
        if args.output.mode() == Mode::Human {
            eprintln!("{:?}", miette::Report::new(failure));
        }
    }
    let tool_errors = outcome.tool_errors.len();
    for error in outcome.tool_errors {
        eprintln!("{:?}", miette::Report::new(error));
    }
    if tool_errors > 0 {
        eprintln!("{tool_errors} build(s) failed because of an error of ftforge or its inputs");
        return Ok(ExitCode::FAILURE);
    }
    let hits: Vec<String> = outcome
        .verdicts
        .iter()
        .filter(|r| args.fail_on.contains(&r.verdict))
        .map(|r| {
            format!(
                "{} {} {}: {}",
                r.package,
                r.version,
                r.abi_column(),
                r.verdict
            )
        })
        .collect();
    if !hits.is_empty() {
        eprintln!("--fail-on matched:\n  {}", hits.join("\n  "));
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// The verdicts of this run, one line each (stderr when stdout carries JSON).
fn print_verdicts(verdicts: &[CompatRecord], json: bool) {
    if verdicts.is_empty() {
        return;
    }
    let mut lines = vec![String::new(), "verdicts:".to_string()];
    for r in verdicts {
        lines.push(format!(
            "  {:<18} {:<12} {:<7} {:<14} {}",
            r.package,
            r.version,
            r.abi_column(),
            crate::style::verdict(r.verdict),
            r.reason
        ));
    }
    let text = lines.join("\n");
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

fn print_summary(
    reports: &[BuildReport],
    channel: &std::path::Path,
    output: &OutputArgs,
) -> Result<()> {
    if output.json {
        return output.print_json(reports);
    }
    for report in reports {
        let how = if report.reused {
            "reused".to_string()
        } else {
            format!("{:.0}s", report.duration_secs)
        };
        for output in &report.outputs {
            let tests = output.tests.iter().filter(|t| t.passed).count();
            println!(
                "{:<12} {:<58} {:>9}  {:>2}/{:<2} tests  {}",
                output.subdir,
                output.filename,
                human_size(output.size),
                tests,
                output.tests.len(),
                how
            );
        }
    }
    if !reports.is_empty() {
        println!("channel: {}", channel.display());
    }
    Ok(())
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
