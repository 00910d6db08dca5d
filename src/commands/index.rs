//! `ftforge index`: rebuilds a channel's repodata.json (and labels) from its package files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ftforge_channels::Channel;
use miette::Result;

use super::OutputArgs;

#[derive(Args)]
pub struct IndexArgs {
    /// The channel directory to index
    #[arg(long, short = 'c', default_value = "channel")]
    channel: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
}

pub fn exec(args: IndexArgs) -> Result<ExitCode> {
    let channel = Channel::new(&args.channel);
    let indexed = channel.index()?;
    channel.update_labels()?;
    if args.output.json {
        let counts: std::collections::BTreeMap<&str, usize> = indexed
            .iter()
            .map(|(subdir, count)| (subdir.as_str(), *count))
            .collect();
        args.output.print_json(&counts)?;
    } else {
        for (subdir, count) in &indexed {
            println!("{subdir}: {count} packages");
        }
    }
    Ok(ExitCode::SUCCESS)
}
