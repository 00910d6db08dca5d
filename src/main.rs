//! The `ftforge` command line: the command enum, logging, the async runtime and error
//! rendering. Each subcommand lives in `commands/` (its arguments and an `exec` that
//! calls the library crates); `matrix_view`, `probe_view`, `style` and `reporter` draw
//! results and progress for people.

mod commands;
mod matrix_view;
mod probe_view;
mod reporter;
mod style;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::{
    build, check, index, install, job, matrix, plan, probe, publish, recipe, serve, source,
};

#[derive(Parser)]
#[command(
    name = "ftforge",
    version,
    about = "Build, verify and publish free-threaded (PEP 703) Python distributions as conda channels",
    long_about = "ftforge builds CPython free-threaded (cp314t) and with the GIL (cp314) from one \
recipe, rebuilds extension packages against both, decides from evidence whether each one keeps \
the GIL off, and publishes everything as conda channels any conda client can install from.",
    after_help = "Examples:\n  ftforge build recipes/python                      every interpreter variant into ./channel\n  ftforge build recipes/python --variant freethreading --python 3.14 --channel /srv/ft\n  ftforge source add Python-3.14.7.tar.xz           seed the download cache on an offline machine\n  ftforge index --channel ./channel                 rebuild repodata.json from the packages\n\nRUST_LOG=debug (or e.g. RUST_LOG=rattler=debug) adds the debug log of ftforge and the libraries it runs on (downloads, repodata, the solver) on stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build recipes for every (selected) variant, test the packages, publish them
    Build(build::BuildArgs),
    /// Can these PyPI requirements run free-threaded? Answers from evidence, building what the channel lacks
    Check(check::CheckArgs),
    /// Manage the download cache (files are kept by sha256)
    #[command(subcommand)]
    Source(source::SourceCommand),
    /// Publish .conda files into a channel directory or to a channel server
    Publish(publish::PublishArgs),
    /// Rebuild a channel's repodata.json from the package files it holds
    Index(index::IndexArgs),
    /// Show the build graph and what a build would build or reuse, without building
    Plan(plan::PlanArgs),
    /// Create an environment from channels, or add to one (it keeps what it holds)
    Install(install::InstallArgs),
    /// Serve a channel over HTTP (127.0.0.1 by default), with authenticated uploads
    Serve(serve::ServeArgs),
    /// Show which packages keep the GIL off, per interpreter variant, with the evidence
    Matrix(matrix::MatrixArgs),
    /// Measure an interpreter: thread scaling, latency under load, the getenv race, subinterpreters
    Probe(probe::ProbeArgs),
    /// Generate recipes from a project's sdist on the package index
    #[command(subcommand)]
    Recipe(recipe::RecipeCommand),
    /// One job of a build graph on a cluster worker (what `build --executor` sends)
    #[command(subcommand, hide = true)]
    Job(job::JobCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

/// `tracing` events on stderr, filtered by `RUST_LOG` (nothing below warnings without it).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(console::colors_enabled_stderr())
        .init();
}

async fn run(command: Command) -> miette::Result<ExitCode> {
    tracing::debug!(command = command.name(), "running");
    match command {
        Command::Build(args) => build::exec(args).await,
        Command::Check(args) => check::exec(args).await,
        Command::Plan(args) => plan::exec(args),
        Command::Source(command) => source::exec(command),
        Command::Publish(args) => publish::exec(args).await,
        Command::Install(args) => install::exec(args).await,
        Command::Matrix(args) => matrix::exec(args).await,
        Command::Probe(args) => probe::exec(args).await,
        Command::Serve(args) => serve::exec(args).await,
        Command::Index(args) => index::exec(args),
        Command::Recipe(command) => recipe::exec(command).await,
        Command::Job(command) => job::exec(command).await,
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Build(_) => "build",
            Command::Check(_) => "check",
            Command::Source(_) => "source",
            Command::Publish(_) => "publish",
            Command::Index(_) => "index",
            Command::Plan(_) => "plan",
            Command::Install(_) => "install",
            Command::Serve(_) => "serve",
            Command::Matrix(_) => "matrix",
            Command::Probe(_) => "probe",
            Command::Recipe(_) => "recipe",
            Command::Job(_) => "job",
        }
    }
}
