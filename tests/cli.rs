//! The command line as an interface: `--help` of every command as snapshots, and the
//! flags each command refuses (plan takes no build-only flags, `--json` and `--format`
//! of matrix exclude each other).

mod common;

use std::process::Command;

use common::*;

fn ftforge_bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftforge"));
    // Defaults shown in the help must not depend on the caller's environment or terminal.
    cmd.env_remove("FTFORGE_CHANNEL")
        .env_remove("FTFORGE_WORK_DIR")
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1");
    cmd
}

fn help(args: &[&str]) -> String {
    let out = run(ftforge_bare().args(args).arg("--help"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Every subcommand that prints, as typed on the command line.
const COMMANDS: &[&[&str]] = &[
    &["build"],
    &["check"],
    &["plan"],
    &["install"],
    &["matrix"],
    &["probe"],
    &["publish"],
    &["index"],
    &["serve"],
    &["source", "add"],
    &["recipe", "new"],
    &["recipe", "update"],
];

#[test]
fn help_of_every_command() {
    for args in std::iter::once(&[][..]).chain(COMMANDS.iter().copied()) {
        let name = if args.is_empty() {
            "help_ftforge".to_string()
        } else {
            format!("help_{}", args.join("_"))
        };
        insta::assert_snapshot!(name, help(args));
    }
}

#[test]
fn every_printing_command_takes_json_and_quiet() {
    for &args in COMMANDS {
        let text = help(args);
        assert!(
            text.contains("--json") && text.contains("-q, --quiet"),
            "{args:?}:\n{text}"
        );
    }
}

#[test]
fn plan_refuses_build_only_flags() {
    for flag in [
        &["-j", "2"][..],
        &["--fail-on", "build-failed"],
        &["--work-dir", "/tmp/w"],
    ] {
        let out = run(ftforge_bare().arg("plan").args(flag));
        assert_eq!(out.status.code(), Some(2), "{flag:?} accepted");
        assert!(
            text(&out.stderr).contains("unexpected argument"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn matrix_json_is_format_json_and_excludes_another_format() {
    let fixture = repo_root().join("tests/fixtures/every-verdict");
    let json = run(ftforge_bare()
        .args(["matrix", "--json", "-c"])
        .arg(&fixture));
    let format = run(ftforge_bare()
        .args(["matrix", "--format", "json", "-c"])
        .arg(&fixture));
    assert!(json.status.success(), "{}", text(&json.stderr));
    assert_eq!(json.stdout, format.stdout);
    let both = run(ftforge_bare()
        .args(["matrix", "--json", "--format", "table", "-c"])
        .arg(&fixture));
    assert_eq!(both.status.code(), Some(2));
    assert!(
        text(&both.stderr).contains("cannot be used with"),
        "{}",
        text(&both.stderr)
    );
}
