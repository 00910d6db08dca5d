//! Shared helpers of the benchmarks: timing, the binary, and a channel to work on.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The release or debug binary next to the bench executable.
pub fn ftforge() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("ftforge");
    assert!(
        bin.is_file(),
        "build the binary first: cargo build --release (looked for {})",
        bin.display()
    );
    Command::new(bin)
}

/// Runs a command, asserts success, returns seconds.
pub fn timed(cmd: &mut Command) -> f64 {
    let started = Instant::now();
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

/// The channel the integration tests build (interpreters and extensions), unless
/// `FTFORGE_BENCH_CHANNEL` names another.
pub fn test_channel() -> PathBuf {
    std::env::var_os("FTFORGE_BENCH_CHANNEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/ftforge-test-cache/channel-main"))
}

pub fn python() -> String {
    std::env::var("FTFORGE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}
