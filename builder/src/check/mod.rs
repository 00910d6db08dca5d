//! `ftforge check`: can this set of PyPI requirements run free-threaded? Resolves each
//! requirement to one sdist release, follows the run requirements to their closure,
//! reuses the channel's verdicts, builds the rest through the session graph from
//! generated recipes, and answers per interpreter (docs/check.md).

pub mod answer;
pub mod closure;
pub mod input;
pub mod run;

use std::path::PathBuf;

use ftforge_interpreter::PythonAbi;

pub use answer::{CheckReport, Outcome, PackageResult, TargetAnswer};
pub use closure::{Closure, Member, Root};
pub use input::{parse_python, python_label, read_requirements_file, RequirementLine};
pub use run::{check, CheckRequest};

/// Why a check could not run (package failures are verdicts, not errors).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CheckError {
    #[error("`{input}` is not an interpreter")]
    #[diagnostic(help(
        "write MAJOR.MINOR with a `t` for the free-threaded build: 3.14t, 3.14, 3.13t"
    ))]
    BadPython { input: String },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    #[diagnostic(help(
        "a requirements file for ftforge check holds PEP 508 requirements (NAME, NAME==VERSION, NAME>=X; markers), `-r FILE` includes and comments; pip's other options are refused"
    ))]
    RequirementsLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("nothing to check: give requirements (NAME, NAME==VERSION, …) or -r FILE")]
    NothingToCheck,
    #[error("cannot ask pip which package index it is configured with")]
    #[diagnostic(help(
        "check resolves versions on the index pip uses; see `python3 -m pip config list` (FTFORGE_PIP_PYTHON names another python)"
    ))]
    NoIndex,
    #[error("the channel {} has no {abi} interpreter, and {} has no python recipe to build one", channel.display(), recipes.display())]
    #[diagnostic(help(
        "build it first: ftforge build recipes/python --python {python} --channel {} (or pass --recipes DIR holding python/)", channel.display()
    ))]
    NoInterpreter {
        channel: PathBuf,
        abi: PythonAbi,
        python: String,
        recipes: PathBuf,
    },
    #[error("cannot write the generated recipe of {package} under {path}")]
    Cache {
        package: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Generate(#[from] crate::generate::GenerateError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] Box<crate::recipe::RecipeError>),
    #[error(transparent)]
    Channel(#[from] ftforge_channels::ChannelError),
}
