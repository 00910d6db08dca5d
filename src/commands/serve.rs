//! `ftforge serve`: serves a channel directory over HTTP on 127.0.0.1 until stopped.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use miette::{IntoDiagnostic, Result};

use super::OutputArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// The channel directory to serve
    #[arg(default_value = "channel")]
    dir: PathBuf,
    /// Port on 127.0.0.1 (0: any free port, printed on start)
    #[arg(long, default_value_t = 8000)]
    port: u16,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn exec(args: ServeArgs) -> Result<ExitCode> {
    let root = args.dir.canonicalize().into_diagnostic()?;
    let (listener, addr) = ftforge_channels::serve::bind(([127, 0, 0, 1], args.port).into())
        .await
        .into_diagnostic()?;
    // The first line on stdout is the URL (tests and scripts read it).
    if args.output.json {
        println!(
            "{}",
            serde_json::json!({"url": format!("http://{addr}/"), "root": root})
        );
    } else {
        println!("http://{addr}/");
    }
    args.output
        .note(&format!("serving {} (Ctrl-C stops)", root.display()));
    let output = args.output;
    ftforge_channels::serve::serve(listener, root, move |line| output.note(line))
        .await
        .into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}
