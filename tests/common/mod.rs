//! Shared helpers of the integration tests: the real binary, a persistent test cache,
//! the shipped recipes and a Python that has py-rattler.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Kept between test runs (sources, builds, package cache) so reruns are quick.
pub fn test_cache() -> PathBuf {
    let dir = repo_root().join("target").join("ftforge-test-cache");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `ftforge` binary with the test cache.
pub fn ftforge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftforge"));
    cmd.env("FTFORGE_CACHE_DIR", test_cache())
        .env_remove("FTFORGE_CHANNEL");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command starts");
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Python interpreter used to drive py-rattler (`FTFORGE_TEST_PYTHON` or python3).
pub fn host_python() -> String {
    std::env::var("FTFORGE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Installs `specs` from `channel` into `prefix` with py-rattler; returns its JSON.
pub fn py_rattler_install(channel: &str, prefix: &Path, specs: &[&str]) -> serde_json::Value {
    let script = repo_root().join("tests/support/py_rattler_install.py");
    let out = run(Command::new(host_python())
        .arg(script)
        .arg(channel)
        .arg(prefix)
        .args(specs));
    assert!(
        out.status.success(),
        "py-rattler could not install {specs:?} from {channel}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("py-rattler printed no JSON ({e}): {stdout}"))
}

/// The channel the integration tests share: the interpreters (built once, then reused
/// from the build cache) plus whatever each test adds. Serialized within a test binary.
pub fn interpreter_channel() -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let channel = test_cache().join("channel-main");
    let out = run(ftforge()
        .args(["build", "recipes/python", "--channel"])
        .arg(&channel)
        .current_dir(repo_root()));
    assert!(
        out.status.success(),
        "interpreter build failed:\n{}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    channel
}

/// `compat.json` of a channel.
pub fn compat(channel: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(channel.join("compat.json")).unwrap()).unwrap()
}
