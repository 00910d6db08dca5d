//! `ftforge recipe …`: recipes generated from a project's sdist on the package index
//! pip is configured with (the library side is `ftforge_builder::generate`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ftforge_builder::generate::{self, Applies};
use ftforge_builder::source::{default_cache_dir, http_client, SourceCache};
use miette::{IntoDiagnostic, Result};

use super::OutputArgs;
use crate::reporter::{CliReporter, Mode};

#[derive(Subcommand)]
pub enum RecipeCommand {
    /// Write DIR/NAME/recipe.yaml for a PyPI project from its sdist (newest release, or NAME==VERSION)
    #[command(
        after_help = "Examples:\n  ftforge recipe new frozenlist                 recipes/frozenlist/recipe.yaml (newest sdist)\n  ftforge recipe new frozenlist==1.5.0 -o some/dir\n  ftforge recipe new \"rpds-py<0.23\" --force     replace an existing recipe\n\nThe rules (requirements, markers, names, noarch, imports) are in docs/recipes.md, \"Generated recipes\"."
    )]
    New(NewArgs),
}

#[derive(Args)]
pub struct NewArgs {
    /// The project: NAME, NAME==VERSION, or any PEP 508 requirement (the newest release with an sdist that satisfies it)
    requirement: String,
    /// Where the recipe folder is written (DIR/NAME/recipe.yaml)
    #[arg(long = "output-dir", short = 'o', default_value = "recipes")]
    output_dir: PathBuf,
    /// Also consider pre-releases
    #[arg(long)]
    pre: bool,
    /// Replace an existing recipe.yaml
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn exec(command: RecipeCommand) -> Result<ExitCode> {
    match command {
        RecipeCommand::New(args) => new(args).await,
    }
}

async fn new(args: NewArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let requirement = ftforge_builder::pypi::parse_requirement(&args.requirement)?;
    let index = ftforge_builder::mirrors::pip_index_url().ok_or_else(|| {
        miette::miette!(
            help = "recipes are generated from the index pip uses; check `python3 -m pip config list` (FTFORGE_PIP_PYTHON names another python)",
            "cannot ask pip which package index it is configured with"
        )
    })?;
    let cache = SourceCache::new(default_cache_dir().join("sources"));
    let generated_by = format!("ftforge recipe new {}", args.requirement);
    let (recipe, path) = generate::recipe_new(
        &http_client(),
        &cache,
        &index,
        &requirement,
        args.pre,
        &args.output_dir,
        args.force,
        &generated_by,
        &reporter,
    )
    .await?;
    if args.output.json {
        let mut value = serde_json::to_value(&recipe).into_diagnostic()?;
        if let Some(o) = value.as_object_mut() {
            o.insert("path".into(), path.display().to_string().into());
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).into_diagnostic()?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", path.display());
    if args.output.mode() == Mode::Human {
        let kind = if recipe.noarch {
            "noarch: python".to_string()
        } else {
            format!("per interpreter ({})", recipe.not_noarch_because.join("; "))
        };
        let deps = |deps: &[generate::Dependency]| {
            deps.iter()
                .map(|d| match &d.applies {
                    Applies::Some(v) => format!("{} [python {}]", d.spec, v.join(", ")),
                    _ => d.spec.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!(
            "{} {} from {} (sha256 {}…)\n  {kind}\n  host: {}\n  run: {}\n  imports: {}",
            recipe.name,
            recipe.version,
            recipe.sdist,
            &recipe.sha256[..12],
            deps(&recipe.host),
            if recipe.run.is_empty() {
                "-".to_string()
            } else {
                deps(&recipe.run)
            },
            if recipe.imports.is_empty() {
                "- (none found; add them by hand)".to_string()
            } else {
                recipe.imports.join(", ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
