//! `ftforge install`: solves the specs against the channels under a GIL policy and
//! links the result into a prefix.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ftforge_builder::source::{default_cache_dir, http_client};
use miette::{IntoDiagnostic, Result};

use super::OutputArgs;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  ftforge install --prefix ./ft --free-threaded markupsafe\n  ftforge install --prefix ./ft psutil        # keeps markupsafe and the free-threaded python\n  ftforge install --prefix ./ft -c ./channel/label/freethreading python-freethreading pyyaml\n  ftforge install --prefix ./ft -c http://127.0.0.1:8000 --gil-policy warn python-freethreading pyyaml"
)]
pub struct InstallArgs {
    /// The environment to create or update: an existing one keeps its packages, the specs
    /// it was asked for and its interpreter ABI (unless a spec names the interpreter)
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
    /// Show the changes and stop before linking anything
    #[arg(long)]
    dry_run: bool,
    /// Package specs (conda match specs: `markupsafe`, `python 3.14.* *_cp314t`), added to
    /// what the environment already asked for
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

pub async fn exec(args: InstallArgs) -> Result<ExitCode> {
    use ftforge_channels::install::{GilPolicy, InstallRequest};
    let mut specs = args.specs.clone();
    if args.free_threaded && !specs.iter().any(|s| s.starts_with("python-freethreading")) {
        specs.insert(0, "python-freethreading".into());
    }
    let prefix = std::path::absolute(&args.prefix).into_diagnostic()?;
    // An existing environment may be re-solved as it is (it keeps what it holds).
    if specs.is_empty() && !prefix.join("conda-meta").is_dir() {
        miette::bail!(miette::miette!(
            help = "for example: ftforge install --prefix ./ft --free-threaded markupsafe",
            "nothing to install"
        ));
    }
    let request = InstallRequest {
        prefix,
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
    let plan = ftforge_channels::install::plan(&client, &request).await?;
    let text = !args.output.json;
    if let Some(recovery) = plan.outcome.recovered {
        eprintln!(
            "{} an interrupted install into {} was {recovery}",
            console::style("note:").cyan().bold(),
            request.prefix.display()
        );
    }
    // The changes are shown before anything is linked.
    if text {
        for c in &plan.outcome.changes {
            let what = match (&c.from, &c.to) {
                (Some(from), Some(to)) if from != to => format!("{from} → {to}"),
                (_, Some(to)) => to.to_string(),
                (Some(from), None) => from.to_string(),
                (None, None) => String::new(),
            };
            let verdict = plan
                .outcome
                .packages
                .iter()
                .find(|p| c.to.is_some() && p.name == c.name)
                .and_then(|p| p.verdict)
                .map(|v| format!("  [{v}]"))
                .unwrap_or_default();
            println!(
                "  {:<10} {:<22} {what}{verdict}",
                c.kind.to_string(),
                c.name
            );
        }
    }
    for w in &plan.outcome.warnings {
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
    let outcome = if args.dry_run {
        plan.outcome
    } else {
        ftforge_channels::install::apply(&client, plan).await?
    };
    if text {
        let interpreter = match outcome.abi {
            Some(abi) if outcome.free_threaded => format!(", free-threaded ({abi})"),
            Some(abi) => format!(", with the GIL ({abi})"),
            None => String::new(),
        };
        let changes = match (outcome.changes.len(), args.dry_run) {
            (0, _) => "nothing to change".to_string(),
            (n, true) => format!("{n} change(s) not made (--dry-run)"),
            (n, false) => format!("{n} change(s) made"),
        };
        eprintln!(
            "{}: {changes}; the environment holds {} packages{interpreter}",
            outcome.prefix.display(),
            outcome.packages.len(),
        );
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).into_diagnostic()?
        );
    }
    Ok(ExitCode::SUCCESS)
}
