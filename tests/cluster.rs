//! `ftforge build --executor dask://…` on a real Dask cluster on 127.0.0.1 (a `dask
//! scheduler` and two `dask worker` processes with one build slot each) against a real
//! channel server (`ftforge serve` with an upload token): jobs run on the workers, take
//! the interpreter from the server over HTTP and upload their results; a worker killed
//! during a build loses nothing (the job completes on the other worker, its package is
//! published once); a second run sends nothing; a scheduler that goes away stops the
//! build with a clear error and a re-run reuses what was uploaded.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cluster::*;
use common::*;

/// A plain cp314t extension (tests/fixtures/abi3t-counter) whose build first sleeps
/// `sleep` seconds: a window to kill its worker in.
fn recipe(dir: &Path, name: &str, sleep: u32, number: u32) -> PathBuf {
    counter_recipe(dir, name, "version", false, sleep, number)
}

/// `ftforge build RECIPES --python 3.14` (cp314t and cp314) on the cluster, started.
fn cluster_build(recipes: &Path, server: &str, scheduler: u16, token: &Path, work: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .arg("build")
        .arg(recipes)
        .args(["--python", "3.14", "--json", "--channel", server])
        .arg("--executor")
        .arg(format!("dask://127.0.0.1:{scheduler}"))
        .arg("--upload-token-file")
        .arg(token)
        .arg("--work-dir")
        .arg(work)
        .env("FTFORGE_CACHE_DIR", work.join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn repodata_files(channel: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(channel.join("linux-64/repodata.json")).unwrap_or_default();
    let repodata: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    repodata["packages.conda"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, r)| r["name"] == name)
                .map(|(f, _)| f.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_graph_runs_on_dask_workers_and_survives_a_killed_worker_and_a_lost_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // The channel server: the cp314t and cp314 interpreters, uploads with a token.
    let channel = channel_with_interpreters(dir, &["cp314t", "cp314"]);
    // The same start for a local build to compare the matrix with.
    let local = dir.join("local");
    let out = run(Command::new("cp").arg("-a").arg(&channel).arg(&local));
    assert!(out.status.success());
    // A worker's view of the channel directory: nothing.
    let seen = without(&channel, "ls")
        .arg("-A")
        .arg(&channel)
        .output()
        .unwrap();
    assert!(seen.status.success(), "unshare: {}", text(&seen.stderr));
    assert_eq!(
        text(&seen.stdout),
        "",
        "workers must not see the channel directory"
    );
    let token = dir.join("token");
    std::fs::write(&token, "cluster-secret\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let served = serve_with(&channel, &["--upload-token-file", token.to_str().unwrap()]);

    let sched_port = free_port();
    let _scheduler = scheduler(sched_port, dir);
    let (port_a, port_b) = (free_port(), free_port());
    let mut workers = vec![
        (port_a, Some(worker(sched_port, port_a, dir, &channel))),
        (port_b, Some(worker(sched_port, port_b, dir, &channel))),
    ];

    let recipes = dir.join("recipes");
    recipe(&recipes, "quick-counter", 0, 0);
    recipe(&recipes, "slow-counter", 12, 0);
    let work = dir.join("coordinator");

    // 1. Kill the worker that runs slow-counter while it sleeps in its build script.
    let mut build = cluster_build(&recipes, &served.url, sched_port, &token, &work);
    let stderr = BufReader::new(build.stderr.take().unwrap());
    let mut progress = Vec::new();
    let mut killed = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        if killed.is_none() && line.contains("slow-counter") && line.contains("running on tcp://") {
            let (port, proc) = workers
                .iter_mut()
                .find(|(port, _)| line.contains(&format!(":{port}")))
                .unwrap_or_else(|| panic!("no worker of ours in {line}"));
            // Let it get into the build, then kill it.
            std::thread::sleep(Duration::from_secs(5));
            drop(proc.take());
            killed = Some(*port);
        }
        progress.push(line);
    }
    let status = build.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut build.stdout.take().unwrap(), &mut stdout).unwrap();
    let progress = progress.join("\n");
    let killed = killed.unwrap_or_else(|| panic!("slow-counter never started:\n{progress}"));
    assert!(status.success(), "{status}\n{progress}\n{stdout}");
    let survivor = if killed == port_a { port_b } else { port_a };
    assert!(
        progress.contains("slow-counter")
            && progress.contains(&format!("built on tcp://127.0.0.1:{survivor}")),
        "slow-counter finished on the surviving worker:\n{progress}"
    );
    // Published once each, with verdicts, by the server (workers never saw the folder).
    for name in ["quick-counter", "slow-counter"] {
        assert_eq!(
            repodata_files(&channel, name).len(),
            2,
            "{name}, one file per interpreter: {progress}"
        );
        let compat = compat(&channel);
        for (abi, verdict) in [("cp314t", "gil-free"), ("cp314", "ok")] {
            let record = &compat["records"][format!("{name}/1.0.0/{abi}")];
            assert_eq!(record["verdict"], verdict, "{name} {abi}: {record}");
        }
    }
    let reports: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 4, "{stdout}");

    // The same matrix as a local build of the same recipes.
    let out = run(ftforge()
        .arg("build")
        .arg(&recipes)
        .args(["--python", "3.14", "--channel"])
        .arg(&local));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cells = |channel: &str| -> Vec<(String, String, String, String)> {
        let out = run(ftforge().args(["matrix", "--json", "-c", channel]));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let matrix: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
        let mut cells = Vec::new();
        for row in matrix["packages"].as_array().unwrap() {
            for (abi, cell) in row["cells"].as_object().unwrap() {
                cells.push((
                    format!("{} {}", row["name"], row["version"]),
                    abi.clone(),
                    cell["verdict"].to_string(),
                    cell["reason"].to_string(),
                ));
            }
        }
        cells.sort();
        cells
    };
    let on_cluster = cells(&served.url);
    assert_eq!(on_cluster.len(), 4, "{on_cluster:?}");
    assert_eq!(on_cluster, cells(local.to_str().unwrap()));
    assert!(work
        .join("cluster-logs/slow-counter-1.0.0-cp314t.log")
        .is_file());

    // 2. A second run sends nothing.
    let again = cluster_build(&recipes, &served.url, sched_port, &token, &work)
        .wait_with_output()
        .unwrap();
    let said = text(&again.stderr);
    assert!(again.status.success(), "{said}");
    assert_eq!(said.matches("not sent").count(), 4, "{said}");

    // 3. The scheduler goes away during a build: a clear error, and what was uploaded
    //    before stays (a re-run on a new cluster sends only the unfinished job).
    recipe(&recipes, "slow-counter", 20, 1);
    let build = cluster_build(&recipes, &served.url, sched_port, &token, &work);
    std::thread::sleep(Duration::from_secs(8));
    drop(_scheduler);
    let lost = build.wait_with_output().unwrap();
    let said = text(&lost.stderr);
    assert!(!lost.status.success(), "{said}");
    assert!(said.contains("went away"), "{said}");
    drop(workers);
    let sched_port = free_port();
    let _scheduler = scheduler(sched_port, dir);
    let port = free_port();
    let _worker = worker(sched_port, port, dir, &channel);
    recipe(&recipes, "slow-counter", 0, 1);
    let rerun = cluster_build(&recipes, &served.url, sched_port, &token, &work)
        .wait_with_output()
        .unwrap();
    let said = text(&rerun.stderr);
    assert!(rerun.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.contains("quick-counter") && l.contains("not sent")),
        "{said}"
    );
    assert_eq!(
        repodata_files(&channel, "slow-counter").len(),
        4,
        "build 0 and build 1, each for two interpreters"
    );
}
