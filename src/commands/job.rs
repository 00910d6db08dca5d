//! `ftforge job run` (internal): one job of a build graph, run by a Dask worker for
//! `ftforge build --executor` — the recipe folder as an archive, the variant as JSON,
//! host packages from a channel server, results uploaded to it (builder/src/remote.rs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ftforge_builder::job::Job;
use ftforge_builder::recipe::Recipe;
use ftforge_builder::remote::{run_job, unpack_recipe, JobOutcome, JobResult, RemoteChannel};
use ftforge_builder::source::{default_cache_dir, http_client};
use ftforge_builder::variants::Variant;
use ftforge_channels::upload::UploadToken;
use miette::{miette, IntoDiagnostic, Result};

use super::build::{build_settings, parallelism};
use super::OutputArgs;
use crate::reporter::CliReporter;

#[derive(Subcommand)]
pub enum JobCommand {
    /// Build one job against a channel server and upload the result (what cluster
    /// workers run; exit 0 built or up to date, 3 the package failed, 1 an error)
    Run(RunArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// The recipe folder as a tar archive
    #[arg(long, value_name = "FILE", required_unless_present = "recipe")]
    recipe_archive: Option<PathBuf>,
    /// The recipe folder (instead of an archive)
    #[arg(long, value_name = "DIR", conflicts_with = "recipe_archive")]
    recipe: Option<PathBuf>,
    /// The variant to build, as JSON (`{"python": "3.14.* *_cp314t", …}`)
    #[arg(long)]
    variant: String,
    /// The channel server (`ftforge serve`) to read host packages from and upload to
    #[arg(long, short = 'c')]
    channel: String,
    /// The file holding the server's upload token
    #[arg(long, value_name = "FILE")]
    upload_token_file: PathBuf,
    /// The first variant's result of a shared build (noarch: python, abi3t) to judge
    #[arg(long, value_name = "FILE")]
    shared_report: Option<PathBuf>,
    /// Where the build happens (default: the cache's work directory)
    #[arg(long, env = "FTFORGE_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Rebuild even when the server holds an identical build
    #[arg(long)]
    force: bool,
    /// Keep the successful build's sources, build tree and test environments
    #[arg(long, env = "FTFORGE_KEEP_WORK")]
    keep_work: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn exec(command: JobCommand) -> Result<ExitCode> {
    let JobCommand::Run(args) = command;
    let reporter = CliReporter::new(args.output.mode());
    let cache = default_cache_dir();
    std::fs::create_dir_all(&cache).into_diagnostic()?;
    let scratch = tempfile::Builder::new()
        .prefix("job-")
        .tempdir_in(&cache)
        .into_diagnostic()?;
    let recipe_dir = match (&args.recipe, &args.recipe_archive) {
        (Some(dir), _) => dir.clone(),
        (None, Some(archive)) => {
            let dir = scratch.path().join("recipe");
            std::fs::create_dir_all(&dir).into_diagnostic()?;
            unpack_recipe(archive, &dir)?;
            dir
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let recipe = Recipe::load(&recipe_dir)?;
    let variant: Variant = serde_json::from_str(&args.variant)
        .map_err(|e| miette!("--variant is not a variant's JSON: {e}"))?;
    let job = Job::new(&recipe, &variant)?;
    let remote = RemoteChannel::new(&args.channel, http_client(), cache.join("remote"))?;
    let token = UploadToken::from_file(&args.upload_token_file)?;
    let shared = match &args.shared_report {
        // A variant the recipe skips judges nothing (its skipped verdict comes below).
        Some(_) if job.all_skipped() => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).into_diagnostic()?;
            let result: JobResult = serde_json::from_str(text.trim())
                .map_err(|e| miette!("{} is not a job's result: {e}", path.display()))?;
            Some(result.report.ok_or_else(|| {
                miette!("the first variant of {} built nothing to judge", job.name)
            })?)
        }
        None => None,
    };
    // The worker's own cores: one build per worker slot gets all of them.
    let (_, cores) = parallelism(Some(1));
    let mut settings = build_settings(
        &scratch.path().join("staging"),
        args.work_dir.clone(),
        cores,
        args.force,
    );
    settings.keep_work = args.keep_work;
    settings.extra_records = remote.records().await?;
    let result = run_job(&job, shared.as_ref(), &settings, &remote, &token, &reporter).await?;
    println!("{}", serde_json::to_string(&result).into_diagnostic()?);
    Ok(match result.outcome {
        JobOutcome::Built | JobOutcome::Reused | JobOutcome::Skipped => ExitCode::SUCCESS,
        JobOutcome::Failed => ExitCode::from(3),
    })
}
