//! `ftforge publish`: adds .conda files to a channel directory and rebuilds its labels.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ftforge_channels::Channel;
use miette::Result;

use super::OutputArgs;

#[derive(Args)]
pub struct PublishArgs {
    /// The .conda files to publish
    #[arg(required = true)]
    packages: Vec<PathBuf>,
    /// The channel directory to publish into
    #[arg(long, short = 'c', default_value = "channel")]
    channel: PathBuf,
    /// Replace a published package of the same name whose content differs
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn exec(args: PublishArgs) -> Result<ExitCode> {
    let channel = Channel::new(&args.channel);
    let published = channel.publish(&args.packages, args.force)?;
    channel.update_labels()?;
    if args.output.json {
        args.output.print_json(&published)?;
    } else {
        for p in &published {
            println!("{:<10} {}/{}", p.outcome, p.subdir, p.filename);
        }
    }
    Ok(ExitCode::SUCCESS)
}
