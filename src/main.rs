//! The `ftforge` command line: parses commands, wires the library crates together and
//! renders their results and errors for people (or as JSON for tools).

mod reporter;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ftforge_builder::build::{build_variant, BuildReport, BuildSettings};
use ftforge_builder::plan::{discover_recipes, VariantFilter, VariantKind};
use ftforge_builder::progress::Reporter;
use ftforge_builder::source::{default_cache_dir, http_client, SourceCache};
use ftforge_channels::Channel;
use miette::{IntoDiagnostic, Result};
use reporter::{CliReporter, Mode};

#[derive(Parser)]
#[command(
    name = "ftforge",
    version,
    about = "Build, verify and publish free-threaded (PEP 703) Python distributions as conda channels",
    long_about = "ftforge builds CPython free-threaded (cp314t) and with the GIL (cp314) from one \
recipe, rebuilds extension packages against both, decides from evidence whether each one keeps \
the GIL off, and publishes everything as conda channels any conda client can install from.",
    after_help = "Examples:\n  ftforge build recipes/python                      every interpreter variant into ./channel\n  ftforge build recipes/python --variant freethreading --python 3.14 --channel /srv/ft\n  ftforge source add Python-3.14.7.tar.xz           seed the download cache on an offline machine\n  ftforge index --channel ./channel                 rebuild repodata.json from the packages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build recipes for every (selected) variant, test the packages, publish them
    Build(BuildArgs),
    /// Manage the download cache (files are kept by sha256)
    #[command(subcommand)]
    Source(SourceCommand),
    /// Publish .conda files into a channel directory
    Publish(PublishArgs),
    /// Rebuild a channel's repodata.json from the package files it holds
    Index(IndexArgs),
}

#[derive(Args)]
struct BuildArgs {
    /// Recipe directories (or directories of recipe directories)
    #[arg(default_value = "recipes")]
    recipes: Vec<PathBuf>,
    /// Channel directory the packages are published into
    #[arg(long, short = 'c', default_value = "channel", env = "FTFORGE_CHANNEL")]
    channel: PathBuf,
    /// Only the free-threaded or only the GIL variants
    #[arg(long, value_enum)]
    variant: Option<KindArg>,
    /// Only these Python versions (prefix match: 3.14 selects 3.14.7); repeatable
    #[arg(long)]
    python: Vec<String>,
    /// Where builds happen (sources, build prefix, logs, test environments)
    #[arg(long, env = "FTFORGE_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Parallel jobs inside a build (make -j); defaults to the number of cores
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Rebuild even when the channel already holds an identical build
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct OutputArgs {
    /// Print results as JSON on stdout (and progress events as JSON lines on stderr)
    #[arg(long, global = true)]
    json: bool,
    /// Only errors and warnings on stderr
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
}

impl OutputArgs {
    fn mode(&self) -> Mode {
        if self.json {
            Mode::Json
        } else if self.quiet {
            Mode::Quiet
        } else {
            Mode::Human
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    /// The free-threaded builds (`--disable-gil`, ABI tag `t`)
    Freethreading,
    /// The builds with the GIL
    Gil,
}

#[derive(Subcommand)]
enum SourceCommand {
    /// Put files into the download cache, so builds on offline machines find them
    Add { files: Vec<PathBuf> },
}

#[derive(Args)]
struct PublishArgs {
    /// The .conda files to publish
    #[arg(required = true)]
    packages: Vec<PathBuf>,
    #[arg(long, short = 'c', default_value = "channel")]
    channel: PathBuf,
    /// Replace a published package of the same name whose content differs
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct IndexArgs {
    #[arg(long, short = 'c', default_value = "channel")]
    channel: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build(args) => build(args).await,
        Command::Source(SourceCommand::Add { files }) => {
            let cache = SourceCache::new(default_cache_dir().join("sources"));
            for file in files {
                let (sha, path) = cache.add_file(&file)?;
                println!("{sha}  {}", file.display());
                eprintln!("cached as {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish(args) => {
            let channel = Channel::new(&args.channel);
            let published = channel.publish(&args.packages, args.force)?;
            if args.output.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&published).into_diagnostic()?
                );
            } else {
                for p in &published {
                    println!(
                        "{:<10} {}/{}",
                        format!("{:?}", p.outcome).to_lowercase(),
                        p.subdir,
                        p.filename
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Index(args) => {
            let channel = Channel::new(&args.channel);
            for (subdir, count) in channel.index()? {
                println!("{subdir}: {count} packages");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn build(args: BuildArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let recipes = discover_recipes(&args.recipes)?;
    let filter = VariantFilter {
        kind: args.variant.map(|k| match k {
            KindArg::Freethreading => VariantKind::Freethreading,
            KindArg::Gil => VariantKind::Gil,
        }),
        python: args.python.clone(),
    };
    let cache_dir = default_cache_dir();
    let settings = BuildSettings {
        channel: Channel::new(&args.channel),
        sources: SourceCache::new(cache_dir.join("sources")),
        work_root: args
            .work_dir
            .clone()
            .unwrap_or_else(|| cache_dir.join("work")),
        package_cache: cache_dir.join("pkgs"),
        cpu_count: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        client: http_client(),
        force: args.force,
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
            args.recipes
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    reporter.line(&format!(
        "building {} variant(s) into {}",
        jobs.len(),
        args.channel.display()
    ));
    let mut reports: Vec<BuildReport> = Vec::new();
    let mut failures = 0usize;
    for (recipe, variant) in jobs {
        match build_variant(recipe, &variant, &settings, &reporter).await {
            Ok(report) => reports.push(report),
            Err(err) => {
                failures += 1;
                let job = recipe
                    .render(&variant)
                    .map(|r| ftforge_builder::build::job_name(&r))
                    .unwrap_or_default();
                reporter.finished(&job, false, "failed");
                eprintln!("{:?}", miette::Report::new(err));
            }
        }
    }
    print_summary(&reports, &args.channel, args.output.json)?;
    if failures > 0 {
        eprintln!("{failures} build(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(reports: &[BuildReport], channel: &std::path::Path, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(reports).into_diagnostic()?
        );
        return Ok(());
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
