//! `ftforge publish`: adds .conda files to a channel directory and rebuilds its labels,
//! or uploads them to a channel server (`--channel http://HOST:PORT`) with a token.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ftforge_channels::upload::{upload_package, UploadToken};
use ftforge_channels::Channel;
use miette::{miette, IntoDiagnostic, Result};

use super::OutputArgs;

#[derive(Args)]
pub struct PublishArgs {
    /// The .conda files to publish
    #[arg(required = true)]
    packages: Vec<PathBuf>,
    /// The channel directory to publish into, or a channel server's URL (http://HOST:PORT)
    #[arg(long, short = 'c', default_value = "channel")]
    channel: String,
    /// The file holding the channel server's upload token (for an http(s) channel)
    #[arg(long, value_name = "FILE")]
    upload_token_file: Option<PathBuf>,
    /// Replace a published package of the same name whose content differs
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn exec(args: PublishArgs) -> Result<ExitCode> {
    let published = if args.channel.starts_with("http://") || args.channel.starts_with("https://") {
        let url = url::Url::parse(&args.channel).into_diagnostic()?;
        let token_file = args.upload_token_file.as_deref().ok_or_else(|| {
            miette!(
                help = "the server's token lives in a file only its users can read",
                "publishing to {url} needs --upload-token-file FILE"
            )
        })?;
        let token = UploadToken::from_file(token_file)?;
        let client = reqwest::Client::new();
        let mut published = Vec::new();
        for package in &args.packages {
            published.push(upload_package(&client, &url, &token, package, args.force).await?);
        }
        published
    } else {
        let channel = Channel::new(&args.channel);
        let published = channel.publish(&args.packages, args.force)?;
        channel.update_labels()?;
        published
    };
    if args.output.json {
        args.output.print_json(&published)?;
    } else {
        for p in &published {
            println!("{:<10} {}/{}", p.outcome, p.subdir, p.filename);
        }
    }
    Ok(ExitCode::SUCCESS)
}
