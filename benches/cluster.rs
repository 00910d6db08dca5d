//! The distributed overhead: the same recipes for cp314t and cp314 built locally with
//! `-j 2` and on a Dask cluster of 2 workers × 1 build slot on this machine (scheduler,
//! workers and `ftforge serve` on 127.0.0.1), each into a fresh channel holding only
//! the interpreters. Prints both wall times and their ratio. Run: `cargo bench --profile
//! dev --bench cluster` (needs the interpreters of the test cache: run the tests first;
//! `FTFORGE_CLUSTER_RECIPES=markupsafe,msgpack` picks the shipped recipes).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::cluster::*;
use common::*;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let names = std::env::var("FTFORGE_CLUSTER_RECIPES")
        .unwrap_or_else(|_| "markupsafe,msgpack,pyyaml,ujson".into());
    let recipes: Vec<std::path::PathBuf> = names
        .split(',')
        .map(|n| repo_root().join("recipes").join(n.trim()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Both runs fetch their sources into caches of their own, as workers on other
    // machines would; the interpreters come from the channel.
    let local_dir = dir.join("local");
    std::fs::create_dir_all(&local_dir).unwrap();
    let local = channel_with_interpreters(&local_dir, &["cp314t", "cp314"]);
    let started = Instant::now();
    let out = run(ftforge()
        .arg("build")
        .args(&recipes)
        .args(["--python", "3.14", "-j", "2", "--channel"])
        .arg(&local)
        .arg("--work-dir")
        .arg(local_dir.join("work"))
        .env("FTFORGE_CACHE_DIR", local_dir.join("cache")));
    let local_secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let cluster_dir = dir.join("cluster");
    std::fs::create_dir_all(&cluster_dir).unwrap();
    let channel = channel_with_interpreters(&cluster_dir, &["cp314t", "cp314"]);
    let token = cluster_dir.join("token");
    std::fs::write(&token, "bench-secret\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let served = serve_with(&channel, &["--upload-token-file", token.to_str().unwrap()]);
    let sched = free_port();
    let _scheduler = scheduler(sched, &cluster_dir);
    let _workers: Vec<Proc> = (0..2)
        .map(|_| worker(sched, free_port(), &cluster_dir, &channel))
        .collect();
    let started = Instant::now();
    let out = run(ftforge()
        .arg("build")
        .args(&recipes)
        .args(["--python", "3.14", "--channel", &served.url])
        .arg("--executor")
        .arg(format!("dask://127.0.0.1:{sched}"))
        .arg("--upload-token-file")
        .arg(&token)
        .arg("--work-dir")
        .arg(cluster_dir.join("work"))
        .env("FTFORGE_CACHE_DIR", cluster_dir.join("cache")));
    let cluster_secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let jobs = recipes.len() * 2;
    println!("recipes: {names} for cp314t and cp314 ({jobs} jobs)");
    println!("local  -j 2                      {local_secs:8.1} s");
    println!("dask   2 workers x 1 build slot  {cluster_secs:8.1} s");
    println!(
        "distributed overhead: {:.2}x the local wall time",
        cluster_secs / local_secs
    );
}
