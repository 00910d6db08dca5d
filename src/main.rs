//! The `ftforge` command line: parses commands, wires the library crates together and
//! renders their results and errors for people (or as JSON for tools).

mod matrix_view;
mod recipe_cmd;
mod reporter;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ftforge_builder::build::{BuildReport, BuildSettings};
use ftforge_builder::plan::{discover_recipes, VariantFilter, VariantKind};
use ftforge_builder::session::build_all;
use ftforge_builder::source::{default_cache_dir, http_client, SourceCache};
use ftforge_channels::{Channel, Verdict};
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
    /// Show the build graph and what a build would build or reuse, without building
    Plan(BuildArgs),
    /// Create or update an environment from channels (solved with resolvo)
    #[command(
        after_help = "Examples:\n  ftforge install --prefix ./ft --free-threaded markupsafe\n  ftforge install --prefix ./ft -c ./channel/label/freethreading python-freethreading pyyaml\n  ftforge install --prefix ./ft -c http://127.0.0.1:8000 --gil-policy warn python-freethreading pyyaml"
    )]
    Install(InstallArgs),
    /// Serve a channel directory over HTTP on 127.0.0.1
    Serve(ServeArgs),
    /// Show which packages keep the GIL off, per interpreter variant, with the evidence
    #[command(
        after_help = "Examples:\n  ftforge matrix -c ./channel\n  ftforge matrix -c http://127.0.0.1:8000 --format html -o matrix.html\n  ftforge matrix -c ./channel --filter markupsafe pyyaml   # can I go free-threaded with these?"
    )]
    Matrix(MatrixArgs),
    /// Measure an interpreter: thread scaling, latency under load, the getenv race, subinterpreters
    #[command(
        after_help = "Examples:\n  ftforge probe --prefix ./ft --prefix ./gil     side by side\n  ftforge probe --prefix ./ft --json --race-seconds 60"
    )]
    Probe(ProbeArgs),
    /// Generate recipes from a project's sdist on the package index
    #[command(subcommand)]
    Recipe(recipe_cmd::RecipeCommand),
}

#[derive(Args)]
struct MatrixArgs {
    /// The channel: a directory, file:// or http(s):// URL
    #[arg(long, short = 'c', default_value = "channel")]
    channel: String,
    #[arg(long, value_enum, default_value = "table")]
    format: MatrixFormat,
    /// Write to this file instead of stdout
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Only these packages (`name` or `name==version`), and answer whether all are usable free-threaded
    #[arg(long, num_args = 1..)]
    filter: Vec<String>,
    /// Same as --format json
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum MatrixFormat {
    Table,
    Json,
    Markdown,
    Html,
}

#[derive(Args)]
struct ProbeArgs {
    /// Environments whose interpreter to probe (repeat to compare side by side)
    #[arg(long, short = 'p', required = true)]
    prefix: Vec<PathBuf>,
    /// Threads for the scaling and load probes (default: cores)
    #[arg(long)]
    threads: Option<u32>,
    /// How long the getenv/setenv race may run before the interpreter counts as surviving
    #[arg(long, default_value_t = 10.0)]
    race_seconds: f64,
    /// Seconds of CPU work per thread count in the scaling probe
    #[arg(long, default_value_t = 1.0)]
    scaling_seconds: f64,
    /// Try these modules in subinterpreters (default: every extension module in the environment)
    #[arg(long)]
    module: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InstallArgs {
    /// The environment to create or update
    #[arg(long, short = 'p')]
    prefix: PathBuf,
    /// Channels: directories, file:// or http(s):// URLs, optionally ending in /label/NAME
    #[arg(long = "channel", short = 'c', default_values = ["channel"])]
    channels: Vec<String>,
    /// Shorthand for a free-threaded environment: adds `python-freethreading`
    #[arg(long)]
    free_threaded: bool,
    /// What to do with packages whose verdict says they turn the GIL back on
    #[arg(long, value_enum, default_value = "forbid")]
    gil_policy: PolicyArg,
    /// Package specs (conda match specs: `markupsafe`, `python 3.14.* *_cp314t`)
    specs: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    /// Never choose such packages; explain when nothing else satisfies the request
    Forbid,
    /// Choose them when needed and say so
    Warn,
    /// Ignore verdicts
    Allow,
}

#[derive(Args)]
struct ServeArgs {
    /// The channel directory to serve
    #[arg(default_value = "channel")]
    dir: PathBuf,
    /// Port on 127.0.0.1 (0: any free port, printed on start)
    #[arg(long, default_value_t = 8000)]
    port: u16,
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
    /// Builds run at once (default: cores); each gets cores / N for its own make -j
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Rebuild even when the channel already holds an identical build
    #[arg(long)]
    force: bool,
    /// Exit non-zero when any package gets one of these verdicts (e.g. build-failed,gil-reenabled)
    #[arg(long, value_delimiter = ',', value_parser = parse_verdict)]
    fail_on: Vec<Verdict>,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_verdict(s: &str) -> Result<Verdict, String> {
    s.parse()
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
        Command::Plan(args) => plan(args),
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
            channel.update_labels()?;
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
        Command::Install(args) => install(args).await,
        Command::Matrix(args) => matrix(args).await,
        Command::Probe(args) => probe(args).await,
        Command::Recipe(command) => recipe_cmd::run(command).await,
        Command::Serve(args) => {
            let root = args.dir.canonicalize().into_diagnostic()?;
            let (listener, addr) =
                ftforge_channels::serve::bind(([127, 0, 0, 1], args.port).into())
                    .await
                    .into_diagnostic()?;
            println!("http://{addr}/");
            eprintln!("serving {} (Ctrl-C stops)", root.display());
            ftforge_channels::serve::serve(listener, root, |line| eprintln!("{line}"))
                .await
                .into_diagnostic()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Index(args) => {
            let channel = Channel::new(&args.channel);
            for (subdir, count) in channel.index()? {
                println!("{subdir}: {count} packages");
            }
            channel.update_labels()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn build(args: BuildArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let recipes = discover_recipes(&args.recipes)?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let parallel = args.jobs.unwrap_or(cores).max(1);
    // Parallel builds share the cores: each gets cores / N for its own make -j.
    let settings = build_settings(&args, (cores / parallel).max(1));
    let jobs = select_jobs(&recipes, &args);
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
    let outcome = build_all(&jobs, &settings, &reporter, parallel).await;
    print_summary(&outcome.reports, &args.channel, args.output.json)?;
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
        .map(|r| format!("{} {} {}: {}", r.package, r.version, r.abi, r.verdict))
        .collect();
    if !hits.is_empty() {
        eprintln!("--fail-on matched:\n  {}", hits.join("\n  "));
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// The verdicts of this run, one line each (stderr when stdout carries JSON).
fn print_verdicts(verdicts: &[ftforge_channels::CompatRecord], json: bool) {
    if verdicts.is_empty() {
        return;
    }
    let mut lines = vec![String::new(), "verdicts:".to_string()];
    for r in verdicts {
        let verdict = match r.verdict {
            v if v.is_gil_free() || v == Verdict::Ok => console::style(v.as_str()).green(),
            Verdict::GilReenabled | Verdict::Skipped => console::style(r.verdict.as_str()).yellow(),
            v => console::style(v.as_str()).red(),
        };
        lines.push(format!(
            "  {:<18} {:<12} {:<7} {:<14} {}",
            r.package, r.version, r.abi, verdict, r.reason
        ));
    }
    let text = lines.join("\n");
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// Where a build command reads and writes.
fn build_settings(args: &BuildArgs, cpu_count: usize) -> BuildSettings {
    let cache_dir = default_cache_dir();
    BuildSettings {
        channel: Channel::new(&args.channel),
        sources: SourceCache::new(cache_dir.join("sources")),
        work_root: args
            .work_dir
            .clone()
            .unwrap_or_else(|| cache_dir.join("work")),
        package_cache: cache_dir.join("pkgs"),
        cpu_count,
        client: http_client(),
        force: args.force,
    }
}

/// The jobs a build command selects, in dependency order.
fn select_jobs<'a>(
    recipes: &'a [ftforge_builder::recipe::Recipe],
    args: &BuildArgs,
) -> Vec<(
    &'a ftforge_builder::recipe::Recipe,
    ftforge_builder::variants::Variant,
)> {
    let filter = VariantFilter {
        kind: args.variant.map(|k| match k {
            KindArg::Freethreading => VariantKind::Freethreading,
            KindArg::Gil => VariantKind::Gil,
        }),
        python: args.python.clone(),
    };
    recipes
        .iter()
        .flat_map(|r| {
            r.variant_combinations()
                .into_iter()
                .filter(|v| filter.accepts(v))
                .map(move |v| (r, v))
        })
        .collect()
}

fn plan(args: BuildArgs) -> Result<ExitCode> {
    use ftforge_builder::session::PlanAction;
    let recipes = discover_recipes(&args.recipes)?;
    let jobs = select_jobs(&recipes, &args);
    let settings = build_settings(&args, 1);
    let rows = ftforge_builder::session::plan(&jobs, &settings)?;
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&rows).into_diagnostic()?);
        return Ok(ExitCode::SUCCESS);
    }
    let builds = rows
        .iter()
        .filter(|r| r.action == PlanAction::Build)
        .count();
    for r in &rows {
        let action = match r.action {
            PlanAction::Build => console::style("build").yellow(),
            PlanAction::Reuse => console::style("reuse").green(),
        };
        let after = if r.depends_on.is_empty() {
            String::new()
        } else {
            format!("  after: {}", r.depends_on.join(", "))
        };
        println!(
            "{:>3}  {action}  {:<34} {}{after}",
            r.index,
            r.job,
            &r.key[..8.min(r.key.len())]
        );
    }
    println!(
        "{} job(s): {builds} to build, {} to reuse",
        rows.len(),
        rows.len() - builds
    );
    Ok(ExitCode::SUCCESS)
}

async fn install(args: InstallArgs) -> Result<ExitCode> {
    use ftforge_channels::install::{GilPolicy, InstallRequest};
    let mut specs = args.specs.clone();
    if args.free_threaded && !specs.iter().any(|s| s.starts_with("python-freethreading")) {
        specs.insert(0, "python-freethreading".into());
    }
    if specs.is_empty() {
        miette::bail!(miette::miette!(
            help = "for example: ftforge install --prefix ./ft --free-threaded markupsafe",
            "nothing to install"
        ));
    }
    let request = InstallRequest {
        prefix: std::path::absolute(&args.prefix).into_diagnostic()?,
        channels: args.channels.clone(),
        specs,
        policy: match args.gil_policy {
            PolicyArg::Forbid => GilPolicy::Forbid,
            PolicyArg::Warn => GilPolicy::Warn,
            PolicyArg::Allow => GilPolicy::Allow,
        },
        cache_dir: default_cache_dir(),
    };
    let client = http_client();
    let outcome = ftforge_channels::install::install(&client, &request).await?;
    if args.output.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).into_diagnostic()?
        );
    } else {
        for p in &outcome.packages {
            let verdict = p.verdict.map(|v| format!("  [{v}]")).unwrap_or_default();
            println!(
                "  {:<22} {:<10} {:<22}{verdict}",
                p.name, p.version, p.build
            );
        }
        let kind = if outcome.free_threaded {
            "free-threaded "
        } else {
            ""
        };
        eprintln!(
            "installed {} packages into {}{}",
            outcome.packages.len(),
            kind,
            outcome.prefix.display()
        );
    }
    for w in &outcome.warnings {
        eprintln!(
            "{} {} {} ({}) is {}: {} — the GIL turns on when it is imported",
            console::style("warning:").yellow().bold(),
            w.package,
            w.version,
            w.abi,
            w.verdict,
            w.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn matrix(args: MatrixArgs) -> Result<ExitCode> {
    use ftforge_channels::fetch::{self, ChannelUrl};
    let channel = ChannelUrl::parse(&args.channel)?;
    let client = http_client();
    let compat = fetch::compat(&client, &channel, &default_cache_dir().join("repodata")).await?.ok_or_else(|| {
        miette::miette!(
            help = "build into the channel first (ftforge build … --channel DIR): verdicts are recorded there",
            "{} has no compat.json",
            channel.root
        )
    })?;
    let m = ftforge_channels::matrix::Matrix::build(&compat, channel.url.as_str(), &args.filter);
    let format = if args.json {
        MatrixFormat::Json
    } else {
        args.format
    };
    let mut text = match format {
        MatrixFormat::Table => matrix_view::table(&m),
        MatrixFormat::Json => serde_json::to_string_pretty(&m).into_diagnostic()?,
        MatrixFormat::Markdown => matrix_view::markdown(&m),
        MatrixFormat::Html => matrix_view::html(&m),
    };
    if !args.filter.is_empty() && format != MatrixFormat::Json && format != MatrixFormat::Html {
        text.push_str(&format!("\n\n{}", m.answer(&args.filter)));
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).into_diagnostic()?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{text}"),
    }
    let answer_in_text =
        format != MatrixFormat::Json && format != MatrixFormat::Html && args.output.is_none();
    if !args.filter.is_empty() && !answer_in_text {
        eprintln!("{}", m.answer(&args.filter));
    }
    Ok(ExitCode::SUCCESS)
}

async fn probe(args: ProbeArgs) -> Result<ExitCode> {
    use ftforge_interpreter::probes::{self, ProbeSettings};
    let mut reports = Vec::new();
    for prefix in &args.prefix {
        let python = probes::find_python(prefix).ok_or_else(|| {
            miette::miette!(
                help = "pass the environment's root (the directory with bin/)",
                "no python in {}/bin",
                prefix.display()
            )
        })?;
        let mut settings = ProbeSettings {
            race_seconds: args.race_seconds,
            scaling_seconds: args.scaling_seconds,
            ..Default::default()
        };
        if let Some(t) = args.threads {
            settings.threads = t;
        }
        settings.modules = if args.module.is_empty() {
            extension_modules(prefix)
        } else {
            args.module.clone()
        };
        eprintln!(
            "probing {} (about {:.0} s)…",
            python.display(),
            settings.scaling_seconds * settings.threads as f64
                + settings.latency_seconds
                + settings.race_seconds
        );
        let report = tokio::task::spawn_blocking(move || probes::probe(&python, &settings))
            .await
            .into_diagnostic()?;
        reports.push(report);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).into_diagnostic()?
        );
    } else {
        println!("{}", probe_table(&reports));
    }
    Ok(ExitCode::SUCCESS)
}

/// Extension modules installed in an environment's site-packages (dotted names).
fn extension_modules(prefix: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(lib) = std::fs::read_dir(prefix.join("lib")) else {
        return out;
    };
    for entry in lib.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("python3") {
            continue;
        }
        let site = format!("lib/{name}/site-packages");
        let mut stack = vec![prefix.join(&site)];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(prefix) {
                    if let Some(m) = ftforge_interpreter::extensions::extension_module(
                        &rel.to_string_lossy(),
                        &site,
                    ) {
                        out.push(m.name);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

fn probe_table(reports: &[ftforge_interpreter::probes::ProbeReport]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = vec![
        ("interpreter".into(), vec![]),
        ("GIL at start".into(), vec![]),
        ("thread scaling".into(), vec![]),
        ("1 ms tick lateness p50 / p99 / max".into(), vec![]),
        ("getenv/setenv race".into(), vec![]),
        ("subinterpreters".into(), vec![]),
    ];
    for r in reports {
        rows[0]
            .1
            .push(format!("{} ({})", r.version, r.python.display()));
        rows[1].1.push(if r.gil_enabled_at_start {
            "on".into()
        } else {
            "off".into()
        });
        rows[2].1.push(match &r.scaling {
            Ok(s) => s
                .ratio
                .iter()
                .map(|(n, x)| format!("{n}:{x:.2}x"))
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error: {e}"),
        });
        rows[3].1.push(match &r.latency {
            Ok(l) => format!(
                "{:.2} / {:.2} / {:.2} ms",
                l.p50_ms.unwrap_or(0.0),
                l.p99_ms.unwrap_or(0.0),
                l.max_ms.unwrap_or(0.0)
            ),
            Err(e) => format!("error: {e}"),
        });
        rows[4].1.push(match &r.env_race {
            Ok(e) if e.survived => format!("survived {:.0} s", e.limit_seconds),
            Ok(e) => format!(
                "{} after {:.1} s",
                e.signal.as_deref().unwrap_or("crash"),
                e.seconds
            ),
            Err(e) => format!("error: {e}"),
        });
        rows[5].1.push(match &r.subinterpreters {
            None => "no extension modules".into(),
            Some(Ok(s)) => {
                let ok = s.modules.values().filter(|m| m.ok).count();
                let bad: Vec<&String> = s
                    .modules
                    .iter()
                    .filter(|(_, m)| !m.ok)
                    .map(|(n, _)| n)
                    .collect();
                if bad.is_empty() {
                    format!("{ok}/{} modules load ({})", s.modules.len(), s.api)
                } else {
                    format!(
                        "{ok}/{} load; not: {}",
                        s.modules.len(),
                        bad.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
            Some(Err(e)) => format!("error: {e}"),
        });
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, vs)| format!("{k:<width$}  {}", vs.join("  │  ")))
        .collect::<Vec<_>>()
        .join("\n")
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
