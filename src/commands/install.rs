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
    after_help = "Examples:\n  ftforge install --prefix ./ft --free-threaded markupsafe\n  ftforge install --prefix ./ft -c ./channel/label/freethreading python-freethreading pyyaml\n  ftforge install --prefix ./ft -c http://127.0.0.1:8000 --gil-policy warn python-freethreading pyyaml"
)]
pub struct InstallArgs {
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

pub async fn exec(args: InstallArgs) -> Result<ExitCode> {
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
