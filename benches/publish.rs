//! Publishing into a 10,000-package channel: time to add one package with
//! `ftforge publish` (incremental) against rattler-index (py-rattler's `index_fs`, the
//! reference indexer) adding the same package, and against our full `ftforge index`.
//! Run: `cargo bench --bench publish`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::process::Command;

use support::*;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("FTFORGE_BENCH_PACKAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let pkgs = dir.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let files: Vec<_> = (0..n)
        .map(|i| {
            common::make_package(
                &pkgs,
                &format!("pkg{}", i % 500),
                &format!("1.{}", i / 500),
                "0",
                "linux-64",
                &[("share/x", "x")],
            )
        })
        .collect();
    let channel = dir.path().join("channel");
    let mut seeded = 0.0;
    for chunk in files.chunks(1000) {
        seeded += timed(ftforge().arg("publish").args(chunk).arg("-c").arg(&channel));
    }
    let extra_dir = dir.path().join("extra");
    std::fs::create_dir(&extra_dir).unwrap();
    let mut ours = Vec::new();
    for i in 0..5 {
        let one = common::make_package(
            &extra_dir,
            "newcomer",
            &format!("2.{i}"),
            "0",
            "linux-64",
            &[("share/y", "y")],
        );
        ours.push(timed(
            ftforge().arg("publish").arg(&one).arg("-c").arg(&channel),
        ));
    }
    // The reference: copy a new package in and let rattler-index update the channel.
    let mut reference = Vec::new();
    for i in 0..5 {
        let one = common::make_package(
            &extra_dir,
            "refcomer",
            &format!("3.{i}"),
            "0",
            "linux-64",
            &[("share/z", "z")],
        );
        std::fs::copy(
            &one,
            channel.join("linux-64").join(one.file_name().unwrap()),
        )
        .unwrap();
        reference.push(timed(Command::new(python()).args([
            "-c",
            "import asyncio, sys; from rattler.index import index_fs; asyncio.run(index_fs(sys.argv[1], write_zst=True))",
        ]).arg(&channel)));
    }
    let full = timed(ftforge().arg("index").arg("-c").arg(&channel));
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (o, r) = (median(&mut ours), median(&mut reference));
    println!("channel of {n} packages (seeded in {seeded:.1} s, 1000 per publish call)");
    println!("add one package: ftforge publish {o:.3} s   rattler-index {r:.3} s   ratio ftforge/rattler-index {:.3}", o / r);
    println!(
        "full re-index with ftforge index: {full:.2} s (publish is {:.1}x faster)",
        full / o
    );
}
