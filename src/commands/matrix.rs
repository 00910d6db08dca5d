//! `ftforge matrix`: reads a channel's compat.json (directory or URL) and draws the
//! compatibility matrix as a table, JSON, Markdown or an HTML page: every version
//! built, newest first, with each package's "GIL-free since".

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ftforge_builder::source::{default_cache_dir, http_client};
use ftforge_channels::fetch::{self, ChannelUrl};
use ftforge_channels::matrix::Matrix;
use miette::{IntoDiagnostic, Result};

use super::OutputArgs;
use crate::matrix_view;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  ftforge matrix -c ./channel\n  ftforge matrix -c http://127.0.0.1:8000 --format html -o matrix.html\n  ftforge matrix -c ./channel --filter markupsafe pyyaml   # can I go free-threaded with these?"
)]
pub struct MatrixArgs {
    /// The channel: a directory, file:// or http(s):// URL
    #[arg(long, short = 'c', default_value = "channel")]
    channel: String,
    /// How to draw it (default: table); `--json` is short for `--format json`
    #[arg(long, value_enum, conflicts_with = "json")]
    format: Option<MatrixFormat>,
    /// Write to this file instead of stdout
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Only these packages (`name`: every version, the newest answers; `name==version`: that one), and answer whether all are usable free-threaded
    #[arg(long, num_args = 1..)]
    filter: Vec<String>,
    #[command(flatten)]
    print: OutputArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum MatrixFormat {
    Table,
    Json,
    Markdown,
    Html,
}

pub async fn exec(args: MatrixArgs) -> Result<ExitCode> {
    let channel = ChannelUrl::parse(&args.channel)?;
    let client = http_client();
    let compat = fetch::compat(&client, &channel, &default_cache_dir().join("repodata")).await?.ok_or_else(|| {
        miette::miette!(
            help = "build into the channel first (ftforge build … --channel DIR): verdicts are recorded there",
            "{} has no compat.json",
            channel.root
        )
    })?;
    let m = Matrix::build(&compat, channel.url.as_str(), &args.filter);
    let format = match (args.print.json, args.format) {
        (true, _) => MatrixFormat::Json,
        (false, format) => format.unwrap_or(MatrixFormat::Table),
    };
    let mut text = match format {
        MatrixFormat::Table => matrix_view::table(&m),
        MatrixFormat::Json => serde_json::to_string_pretty(&m).into_diagnostic()?,
        MatrixFormat::Markdown => matrix_view::markdown(&m),
        MatrixFormat::Html => matrix_view::html(&m),
    };
    // The answer to --filter goes with text formats; JSON and HTML get it on stderr.
    let answer_in_text = matches!(format, MatrixFormat::Table | MatrixFormat::Markdown);
    if !args.filter.is_empty() && answer_in_text {
        text.push_str(&format!("\n\n{}", m.answer(&args.filter)));
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).into_diagnostic()?;
            args.print.note(&format!("wrote {}", path.display()));
        }
        None => println!("{text}"),
    }
    let answer_shown = answer_in_text && args.output.is_none();
    if !args.filter.is_empty() && !answer_shown && !args.print.quiet {
        eprintln!("{}", m.answer(&args.filter));
    }
    Ok(ExitCode::SUCCESS)
}
