//! The whole recipe set on this machine: wall time of `ftforge build recipes` into a
//! fresh channel, CPU utilisation of all cores over the run (children's user+system
//! time / (wall × cores)), and the no-op rebuild time. Run: `cargo bench --bench
//! pipeline` (about half an hour on 2 cores; sources come from the shared cache).

#[path = "support.rs"]
mod support;

use support::*;

fn children_cpu_seconds() -> f64 {
    let mut usage: libc_rusage = unsafe { std::mem::zeroed() };
    unsafe { getrusage(-1, &mut usage) };
    let t = |tv: [i64; 2]| tv[0] as f64 + tv[1] as f64 / 1e6;
    t(usage.utime) + t(usage.stime)
}

#[repr(C)]
struct libc_rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    rest: [i64; 14],
}

extern "C" {
    fn getrusage(who: i32, usage: *mut libc_rusage) -> i32;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    let work = dir.path().join("work");
    let build = || {
        timed(
            ftforge()
                .args(["build", "recipes", "-q", "--channel"])
                .arg(&channel)
                .arg("--work-dir")
                .arg(&work)
                .current_dir(repo_root()),
        )
    };
    let cpu_before = children_cpu_seconds();
    let wall = build();
    let cpu = children_cpu_seconds() - cpu_before;
    let noop = build();
    // The verdicts of the run, for the record.
    let matrix = ftforge()
        .args(["matrix", "-c"])
        .arg(&channel)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&matrix.stdout));
    let plan = timed(
        ftforge()
            .args(["plan", "recipes", "--channel"])
            .arg(&channel)
            .current_dir(repo_root()),
    );
    println!("full recipe set ({cores} cores): wall {wall:.0} s, CPU {cpu:.0} s, utilisation {:.0}% of all cores", 100.0 * cpu / (wall * cores as f64));
    println!("no-op rebuild: {noop:.3} s   plan: {plan:.3} s");
}
