//! `ftforge plan`: the build graph of a selection and, per job, whether a build would
//! build it or reuse the channel's identical build — without building anything.

use std::process::ExitCode;

use clap::Args;
use miette::Result;
use serde::Serialize;

use super::build::SelectionArgs;
use super::OutputArgs;

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Plan as `ftforge build --force` would: build even what the channel already holds
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a build would do with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Build,
    Reuse,
}

/// One job of the plan (`--json` prints a list of these).
#[derive(Debug, Serialize)]
pub struct PlanRow {
    pub index: usize,
    pub job: String,
    pub recipe: std::path::PathBuf,
    pub abi: Option<String>,
    pub action: Action,
    pub key: String,
    /// Jobs this one waits for, by name.
    pub depends_on: Vec<String>,
    /// The host environment it would get from the channel.
    pub host: Vec<String>,
    /// Host specs the channel cannot satisfy (left to pip's build isolation).
    pub not_in_channel: Vec<String>,
}

pub fn exec(args: PlanArgs) -> Result<ExitCode> {
    let recipes = args.selection.recipes()?;
    let jobs = args.selection.jobs(&recipes)?;
    let settings = args.selection.settings(None, 1, args.force);
    let nodes = ftforge_builder::session::graph(&jobs);
    let mut rows = Vec::new();
    for (node, (recipe, variant)) in nodes.iter().zip(&jobs) {
        let plan = ftforge_builder::build::plan_job(recipe, variant, &settings)?;
        rows.push(PlanRow {
            index: node.index,
            job: node.job.clone(),
            recipe: node.recipe.clone(),
            abi: node.abi.clone(),
            action: if plan.reusable.is_some() && !args.force {
                Action::Reuse
            } else {
                Action::Build
            },
            key: plan.key,
            depends_on: node
                .depends_on
                .iter()
                .map(|&i| nodes[i].job.clone())
                .collect(),
            host: plan
                .host_records
                .iter()
                .map(|r| r.identifier.to_string())
                .collect(),
            not_in_channel: plan.missing,
        });
    }
    if args.output.json {
        args.output.print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    for row in &rows {
        let action = match row.action {
            Action::Build => console::style("build").yellow(),
            Action::Reuse => console::style("reuse").green(),
        };
        let after = if row.depends_on.is_empty() {
            String::new()
        } else {
            format!("  after: {}", row.depends_on.join(", "))
        };
        println!(
            "{:>3}  {action}  {:<34} {}{after}",
            row.index,
            row.job,
            &row.key[..8.min(row.key.len())]
        );
    }
    let builds = rows.iter().filter(|r| r.action == Action::Build).count();
    println!(
        "{} job(s): {builds} to build, {} to reuse",
        rows.len(),
        rows.len() - builds
    );
    Ok(ExitCode::SUCCESS)
}
