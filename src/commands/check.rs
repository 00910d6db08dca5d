//! `ftforge check`: answers "can these requirements run free-threaded?" from evidence,
//! building what the channel lacks (the library side is `ftforge_builder::check`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ftforge_builder::check::{self, answer::Standing, CheckReport, CheckRequest, RequirementLine};
use miette::Result;

use super::build::{build_settings, parallelism};
use super::OutputArgs;
use crate::reporter::{CliReporter, Mode};

#[derive(Args)]
#[command(after_help = "Examples:
  ftforge check pyyaml msgpack==1.1.0 \"zstandard>=0.23\" --python 3.14t
  ftforge check -r requirements.txt --python 3.14t --python 3.14 --json
  ftforge check frozenlist --history 6 --python 3.14t   since when does it keep the GIL off?

Each requirement is resolved to one release with an sdist on the index pip uses (the
pin, or the newest that satisfies it), and so is every run requirement it pulls in: one
package that turns the GIL on turns it on for the whole process. Verdicts the channel
already has are reused; the rest is built from generated recipes (or the hand-written
recipe of the same version under --recipes) and published into the channel, so asking
again is instant.

Exit status: 0 when every package keeps the GIL off (free-threaded) or builds and
imports (GIL); 3 when some package does not; 1 when there is no answer for some.
The --json document is described in docs/check.md.")]
pub struct CheckArgs {
    /// PEP 508 requirements: NAME, NAME==VERSION, "NAME>=X,<Y", with markers
    requirements: Vec<String>,
    /// Read requirements from a pip requirements file (repeatable)
    #[arg(long = "requirement", short = 'r', value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The interpreters to answer for: 3.14t (free-threaded), 3.14, 3.13t, … (repeatable; default 3.14t)
    #[arg(long, value_name = "X.Yt")]
    python: Vec<String>,
    /// Channel the verdicts are read from and the builds published into
    #[arg(long, short = 'c', default_value = "channel", env = "FTFORGE_CHANNEL")]
    channel: PathBuf,
    /// Hand-written recipes (NAME/recipe.yaml, used when their version is the one
    /// resolved) and python/ (built when the channel lacks an interpreter)
    #[arg(long, default_value = "recipes")]
    recipes: PathBuf,
    /// Also consider pre-releases
    #[arg(long)]
    pre: bool,
    /// Check the N newest releases of each requirement and say since when the GIL stays off
    #[arg(long, value_name = "N")]
    history: Option<usize>,
    /// Builds run at once (default: cores)
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Where builds happen
    #[arg(long, env = "FTFORGE_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Keep each successful build's sources, build tree and test environments (by
    /// default only logs/ stay)
    #[arg(long, env = "FTFORGE_KEEP_WORK")]
    keep_work: bool,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn exec(args: CheckArgs) -> Result<ExitCode> {
    let reporter = CliReporter::new(args.output.mode());
    let mut requirements = Vec::new();
    for text in &args.requirements {
        requirements.push(RequirementLine {
            requirement: ftforge_builder::pypi::parse_requirement(text)?,
            origin: "command line".into(),
        });
    }
    for file in &args.files {
        requirements.extend(check::read_requirements_file(file)?);
    }
    let mut targets = Vec::new();
    for python in &args.python {
        let abi = check::parse_python(python)?;
        if !targets.contains(&abi) {
            targets.push(abi);
        }
    }
    if targets.is_empty() {
        targets.push(check::parse_python("3.14t")?);
    }
    let (parallel, cpu_count) = parallelism(args.jobs);
    let mut settings = build_settings(&args.channel, args.work_dir.clone(), cpu_count, false);
    settings.keep_work = args.keep_work;
    let request = CheckRequest {
        requirements,
        targets,
        pre: args.pre,
        history: args.history,
        recipes: Some(args.recipes.clone()),
        parallel,
    };
    let (report, errors) = check::check(&request, &settings, &reporter).await?;
    for error in errors {
        eprintln!("{:?}", miette::Report::new(error));
    }
    if args.output.json {
        args.output.print_json(&report)?;
    } else {
        print_human(&report, args.output.mode());
    }
    Ok(ExitCode::from(report.exit_code))
}

fn print_human(report: &CheckReport, mode: Mode) {
    for target in &report.targets {
        println!("{}", target.answer);
    }
    if mode == Mode::Quiet {
        return;
    }
    // One row per package version, one column per interpreter.
    let mut rows: Vec<(&str, &str, String)> = Vec::new();
    for target in &report.targets {
        for p in &target.packages {
            if !rows.iter().any(|(n, v, _)| *n == p.name && *v == p.version) {
                rows.push((&p.name, &p.version, p.requested_by.join(", ")));
            }
        }
    }
    println!();
    let mut header = format!("{:<22} {:<12} {:<24}", "package", "version", "requested by");
    for target in &report.targets {
        header.push_str(&format!(" {:<15}", target.python));
    }
    println!("{}", header.trim_end());
    for (name, version, by) in &rows {
        let mut line = format!("{name:<22} {version:<12} {:<24}", truncate(by, 24));
        for target in &report.targets {
            let cell = target
                .packages
                .iter()
                .find(|p| p.name == *name && p.version == *version);
            let text = match cell {
                Some(p) => match p.verdict {
                    Some(v) => crate::style::verdict(v).to_string(),
                    None => "no verdict".into(),
                },
                None => "-".into(),
            };
            line.push_str(&format!(" {}", pad(&text, 15)));
        }
        println!("{}", line.trim_end());
    }
    let mut reasons = Vec::new();
    for target in &report.targets {
        for p in &target.packages {
            if check::answer::standing(p.verdict) != Standing::Good {
                reasons.push(format!(
                    "  {} {} on {}: {}",
                    p.name, p.version, target.python, p.reason
                ));
            }
        }
    }
    if !reasons.is_empty() {
        println!("\nwhy:\n{}", reasons.join("\n"));
    }
    if !report.unresolved.is_empty() {
        println!("\nnot resolved:");
        for u in &report.unresolved {
            println!(
                "  {} (required by {}): {}",
                u.requirement,
                u.requested_by.join(", "),
                u.error
            );
        }
    }
    for h in &report.history {
        let versions = h
            .versions
            .iter()
            .map(|v| {
                format!(
                    "{} {}",
                    v.version,
                    v.verdict
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "no verdict".into())
                )
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let since = match (&h.gil_free_since, h.abi.freethreading) {
            (Some(v), true) => format!(" — GIL-free since {v}"),
            (None, true) => " — the newest release does not keep the GIL off".into(),
            _ => String::new(),
        };
        println!("\n{} on {}: {versions}{since}", h.package, h.python);
    }
    println!(
        "\n{} verdict(s) built, {} reused in {:.0}s · channel {}",
        report.built,
        report.reused,
        report.seconds,
        report.channel.display()
    );
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// Pads text that may carry terminal colour codes to `width` visible columns.
fn pad(text: &str, width: usize) -> String {
    let visible = console::measure_text_width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(visible)))
}
