//! The cost of the getenv/setenv race mitigation on our free-threaded 3.14 build:
//! `os.environ[k] = v` throughput with the mitigation and with it switched off
//! (FTFORGE_ENVSAFE=0: glibc's own setenv), and resident memory after a million
//! updates. Run: `cargo bench --bench envsafe`.

#[path = "support.rs"]
mod support;

use std::process::Command;

use support::*;

const SCRIPT: &str = r#"
import os, resource, sys, time
n = int(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
for i in range(n):
    os.environ[f"BENCH_{i % 5000}"] = "x" * (i % 50)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{n / seconds:.0f} {after} {after - before}")
"#;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let channel = test_channel();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("ft");
    timed(
        ftforge()
            .args(["install", "-q", "--prefix"])
            .arg(&prefix)
            .args([
                "-c",
                channel.to_str().unwrap(),
                "python-freethreading 3.14.*",
            ]),
    );
    let python = prefix.join("bin/python");
    let measure = |envsafe: bool| -> (f64, f64, f64) {
        let mut runs = Vec::new();
        for _ in 0..3 {
            let mut cmd = Command::new(&python);
            cmd.args(["-c", SCRIPT, "1000000"]);
            if !envsafe {
                cmd.env("FTFORGE_ENVSAFE", "0");
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace().map(|p| p.parse::<f64>().unwrap());
            runs.push((
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            ));
        }
        runs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        runs[1]
    };
    let (on_rate, on_rss, on_growth) = measure(true);
    let (off_rate, off_rss, off_growth) = measure(false);
    println!(
        "os.environ[k] = v, 1,000,000 updates over 5,000 keys (median of 3), free-threaded 3.14:"
    );
    println!(
        "  glibc setenv (mitigation off): {off_rate:>10.0} updates/s   max RSS {:.1} MiB (+{:.1} MiB during the updates)",
        off_rss / 1024.0,
        off_growth / 1024.0
    );
    println!(
        "  ftforge envsafe (on)         : {on_rate:>10.0} updates/s   max RSS {:.1} MiB (+{:.1} MiB during the updates)",
        on_rss / 1024.0,
        on_growth / 1024.0
    );
    println!(
        "  throughput ratio on/off: {:.3}   memory ratio on/off: {:.3}",
        on_rate / off_rate,
        on_rss / off_rss
    );
}
