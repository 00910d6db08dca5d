//! Installing the same environment with `ftforge install` and with py-rattler (the
//! reference conda client) in one run, cold and warm package cache; prints times and
//! the ratios. Run: `cargo bench --bench install` (needs a built channel, see
//! benches/support.rs).

#[path = "support.rs"]
mod support;

use std::process::Command;

use support::*;

const SPECS: &[&str] = &["python-freethreading 3.14.*", "markupsafe", "pyyaml"];

fn ours(channel: &str, prefix: &std::path::Path, cache: &std::path::Path) -> f64 {
    timed(
        ftforge()
            .args(["install", "--gil-policy", "allow", "-q", "--prefix"])
            .arg(prefix)
            .args(["-c", channel])
            .args(SPECS)
            .env("FTFORGE_CACHE_DIR", cache),
    )
}

fn reference(channel: &str, prefix: &std::path::Path, cache: &std::path::Path) -> f64 {
    timed(
        Command::new(python())
            .arg(repo_root().join("tests/support/py_rattler_install.py"))
            .arg(channel)
            .arg(prefix)
            .args(SPECS)
            .env("RATTLER_BENCH_CACHE", cache),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let channel = test_channel();
    let channel = channel.to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let rounds = 3;
    let mut rows = Vec::new();
    for kind in ["cold", "warm"] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let ours_cache = dir.path().join(format!("ours-cache-{kind}-{round}"));
            let ref_cache = dir.path().join(format!("ref-cache-{kind}-{round}"));
            if kind == "warm" {
                ours(
                    &channel,
                    &dir.path().join(format!("warmup-ours-{round}")),
                    &ours_cache,
                );
                reference(
                    &channel,
                    &dir.path().join(format!("warmup-ref-{round}")),
                    &ref_cache,
                );
            }
            a.push(ours(
                &channel,
                &dir.path().join(format!("ours-{kind}-{round}")),
                &ours_cache,
            ));
            b.push(reference(
                &channel,
                &dir.path().join(format!("ref-{kind}-{round}")),
                &ref_cache,
            ));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|x, y| x.partial_cmp(y).unwrap());
            v[v.len() / 2]
        };
        let (ma, mb) = (median(&mut a), median(&mut b));
        rows.push(format!("{kind:<5} ftforge install {ma:>7.3} s   py-rattler {mb:>7.3} s   ratio ftforge/py-rattler {:>5.2}", ma / mb));
    }
    println!("environment: {}  (median of {rounds})", SPECS.join(", "));
    for r in rows {
        println!("{r}");
    }
}
