//! `ftforge recipe …`: recipes generated from a project's sdist on the package index
//! pip is configured with, and recipes moved to newer sdists (the library side is
//! `ftforge_builder::generate` and `generate::update`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ftforge_builder::generate::update::{self, Outcome, RecipeUpdate, UpdateOptions};
use ftforge_builder::generate::{self, Applies};
use ftforge_builder::pypi::normalize_name;
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
    /// Move recipes to the newest release of their sdist: version, sha256, and what the new sdist needs; says what changed
    #[command(
        after_help = "Examples:\n  ftforge recipe update recipes/                 every recipe folder in recipes/\n  ftforge recipe update recipes/pyyaml --to \"pyyaml==6.0.3\"\n  ftforge recipe update recipes/ --dry-run       say what would change, write nothing\n\nComments, stress snippets, tests and overrides are kept byte for byte. The rules are in docs/recipes.md, \"Updating recipes\"."
    )]
    Update(UpdateArgs),
}

#[derive(Args)]
pub struct UpdateArgs {
    /// A recipe folder, or a folder of recipe folders
    #[arg(default_value = "recipes")]
    path: PathBuf,
    /// The release to move a recipe's project to (PEP 508: NAME==VERSION, NAME<VERSION, …); repeatable. Others move to their newest release
    #[arg(long = "to", value_name = "REQUIREMENT")]
    to: Vec<String>,
    /// Also consider pre-releases
    #[arg(long)]
    pre: bool,
    /// Say what would change; write nothing
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: OutputArgs,
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
        RecipeCommand::Update(args) => update(args).await,
    }
}

fn pip_index() -> Result<String> {
    ftforge_builder::mirrors::pip_index_url().ok_or_else(|| {
        miette::miette!(
            help = "recipes are generated from the index pip uses; check `python3 -m pip config list` (FTFORGE_PIP_PYTHON names another python)",
            "cannot ask pip which package index it is configured with"
        )
    })
}

async fn update(args: UpdateArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let targets = args
        .to
        .iter()
        .map(|t| ftforge_builder::pypi::parse_requirement(t))
        .collect::<Result<Vec<_>, _>>()?;
    let index = pip_index()?;
    let cache = SourceCache::new(default_cache_dir().join("sources"));
    let options = UpdateOptions {
        pre: args.pre,
        targets,
        dry_run: args.dry_run,
    };
    let results = update::update_recipes(
        &http_client(),
        &cache,
        &index,
        &args.path,
        &options,
        &reporter,
    )
    .await?;
    let failed = results.iter().any(|(_, r)| r.is_err());
    if args.output.json {
        let list: Vec<serde_json::Value> = results
            .iter()
            .map(|(path, r)| match r {
                Ok(u) => serde_json::to_value(u).unwrap_or_default(),
                Err(e) => serde_json::json!({
                    "path": path,
                    "status": "error",
                    "error": e.to_string(),
                }),
            })
            .collect();
        args.output.print_json(&list)?;
    }
    for (_, result) in results {
        match result {
            Ok(u) if !args.output.json => println!("{}", update_text(&u, &options)),
            Ok(_) => {}
            Err(e) => eprintln!("{:?}", miette::Report::new(e)),
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `pyyaml 6.0.2 → 6.0.3 (sha256 …)` and what to review; `markupsafe 3.0.4 (newest)`.
fn update_text(u: &RecipeUpdate, options: &UpdateOptions) -> String {
    let targeted = u.project.as_deref().is_some_and(|p| {
        let p = normalize_name(p);
        options
            .targets
            .iter()
            .any(|t| normalize_name(t.name.as_ref()) == p)
    });
    match &u.outcome {
        Outcome::Updated(change) => {
            let mut lines = vec![format!(
                "{} {} → {} (sha256 {}){}",
                u.name,
                u.version,
                change.to,
                change.sha256,
                if change.written {
                    ""
                } else {
                    " [dry run: not written]"
                }
            )];
            if let Some(url) = &change.url {
                lines.push(format!("  url: {url}"));
            }
            lines.extend(change.requirements.iter().map(|d| format!("  {d}")));
            lines.extend(change.review.iter().map(|r| format!("  review: {r}")));
            lines.join("\n")
        }
        Outcome::Current { .. } if targeted => {
            format!("{} {} (as --to asks)", u.name, u.version)
        }
        Outcome::Current { chosen } if *chosen == u.version => {
            format!("{} {} (newest)", u.name, u.version)
        }
        Outcome::Current { chosen } => format!(
            "{} {} (kept: the newest release that qualifies is {chosen})",
            u.name, u.version
        ),
        Outcome::NotUpdatable { reason } => {
            format!("{} {}: not updatable ({reason})", u.name, u.version)
        }
    }
}

async fn new(args: NewArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let requirement = ftforge_builder::pypi::parse_requirement(&args.requirement)?;
    let index = pip_index()?;
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
