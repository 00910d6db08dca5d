//! One module per subcommand: its clap arguments and an `exec` that calls the library
//! crates and prints the result. Shared here: the output flags every printing command
//! takes.

pub mod build;
pub mod check;
pub mod index;
pub mod install;
pub mod job;
pub mod matrix;
pub mod plan;
pub mod probe;
pub mod publish;
pub mod recipe;
pub mod serve;
pub mod source;

use clap::Args;
use miette::{IntoDiagnostic, Result};

use crate::reporter::Mode;

/// `--json` and `--quiet`: how every command that prints shows its results.
#[derive(Args, Clone, Copy)]
pub struct OutputArgs {
    /// Print results as JSON on stdout (`build` also prints progress as JSON lines on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// Only errors and warnings on stderr
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

impl OutputArgs {
    pub fn mode(&self) -> Mode {
        if self.json {
            Mode::Json
        } else if self.quiet {
            Mode::Quiet
        } else {
            Mode::Human
        }
    }

    /// Prints `value` as pretty JSON on stdout.
    pub fn print_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(value).into_diagnostic()?);
        Ok(())
    }

    /// A progress note for people on stderr (not with `--quiet` or `--json`).
    pub fn note(&self, text: &str) {
        if self.mode() == Mode::Human {
            eprintln!("{text}");
        }
    }
}
