//! `ftforge plan`: the build graph of a selection and, per job, whether a build would
//! build it or reuse the channel's identical build — without building anything.

use std::process::ExitCode;

use clap::Args;
use ftforge_builder::session::PlanAction;
use miette::Result;

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

pub fn exec(args: PlanArgs) -> Result<ExitCode> {
    let recipes = args.selection.recipes()?;
    let jobs = args.selection.jobs(&recipes)?;
    let settings = args.selection.settings(None, 1, args.force);
    let rows = ftforge_builder::session::plan(&jobs, &settings)?;
    if args.output.json {
        args.output.print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    for row in &rows {
        let action = match row.action {
            PlanAction::Build => console::style("build").yellow(),
            PlanAction::Reuse => console::style("reuse").green(),
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
    let builds = rows
        .iter()
        .filter(|r| r.action == PlanAction::Build)
        .count();
    println!(
        "{} job(s): {builds} to build, {} to reuse",
        rows.len(),
        rows.len() - builds
    );
    Ok(ExitCode::SUCCESS)
}
