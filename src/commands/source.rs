//! `ftforge source`: the download cache (files kept by sha256), e.g. seeding it on an
//! offline machine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ftforge_builder::source::{default_cache_dir, SourceCache};
use miette::Result;
use serde::Serialize;

use super::OutputArgs;

#[derive(Subcommand)]
pub enum SourceCommand {
    /// Put files into the download cache, so builds on offline machines find them
    Add(AddArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// The files to cache (e.g. Python-3.14.7.tar.xz)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

/// One cached file (`--json` prints a list of these).
#[derive(Serialize)]
struct Cached {
    sha256: String,
    file: PathBuf,
    cached_as: PathBuf,
}

pub fn exec(command: SourceCommand) -> Result<ExitCode> {
    match command {
        SourceCommand::Add(args) => add(args),
    }
}

fn add(args: AddArgs) -> Result<ExitCode> {
    let cache = SourceCache::new(default_cache_dir().join("sources"));
    let mut cached = Vec::new();
    for file in args.files {
        let (sha256, cached_as) = cache.add_file(&file)?;
        if !args.output.json {
            println!("{sha256}  {}", file.display());
            args.output
                .note(&format!("cached as {}", cached_as.display()));
        }
        cached.push(Cached {
            sha256,
            file,
            cached_as,
        });
    }
    if args.output.json {
        args.output.print_json(&cached)?;
    }
    Ok(ExitCode::SUCCESS)
}
