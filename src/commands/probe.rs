//! `ftforge probe`: measures installed interpreters (thread scaling, tick latency under
//! load, the getenv/setenv race, subinterpreters) and prints them side by side, each
//! with the conditions it was measured under.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ftforge_interpreter::extensions::installed_extension_modules;
use ftforge_interpreter::probes::{self, ProbeSettings};
use miette::{IntoDiagnostic, Result};

use super::OutputArgs;
use crate::probe_view;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  ftforge probe --prefix ./ft --prefix ./gil     side by side\n  ftforge probe --prefix ./ft --json --race-seconds 60\n\nEach report records how it was measured: usable cores, the 1-minute load average before\nand after, and the cores other processes kept busy during the scaling probe. Figures\ntaken while other work ran are flagged \"under load\"."
)]
pub struct ProbeArgs {
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
    /// Seconds the latency probe runs
    #[arg(long, default_value_t = 2.0)]
    latency_seconds: f64,
    /// Try these modules in subinterpreters (default: every extension module in the environment)
    #[arg(long)]
    module: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn exec(args: ProbeArgs) -> Result<ExitCode> {
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
            latency_seconds: args.latency_seconds,
            ..Default::default()
        };
        if let Some(t) = args.threads {
            settings.threads = t;
        }
        settings.modules = if args.module.is_empty() {
            installed_extension_modules(prefix)
                .into_iter()
                .map(|m| m.name)
                .collect()
        } else {
            args.module.clone()
        };
        args.output.note(&format!(
            "probing {} (about {:.0} s)…",
            python.display(),
            settings.scaling_seconds * settings.threads as f64
                + settings.latency_seconds
                + settings.race_seconds
        ));
        let report = tokio::task::spawn_blocking(move || probes::probe(&python, &settings))
            .await
            .into_diagnostic()?;
        reports.push(report);
    }
    if args.output.json {
        args.output.print_json(&reports)?;
    } else {
        println!("{}", probe_view::table(&reports));
    }
    Ok(ExitCode::SUCCESS)
}
