//! A Dask cluster on 127.0.0.1 for the cluster test and benchmark: a scheduler and
//! workers as separate processes (each in a process group of its own, killed with
//! everything it started), workers in a mount namespace that hides the channel.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::host_python;

/// A process started in a process group of its own, killed with everything it started
/// (a worker's running `ftforge job run` too, as when its machine dies) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // Every process of the group it leads (pkill takes the group id as such: no
        // negative number for `kill` to misread).
        let group = self.0.id();
        assert!(group > 1, "a process group of our own");
        let _ = Command::new("pkill")
            .args(["-KILL", "-g", &group.to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub fn in_own_group(command: &mut Command) -> &mut Command {
    std::os::unix::process::CommandExt::process_group(command, 0)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn scheduler(port: u16, dir: &Path) -> Proc {
    let child = in_own_group(&mut Command::new(host_python()))
        .args([
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .args(["--dashboard-address", ":0"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("`distributed` is installed (.ci/setup)");
    wait_for_port(port, "dask scheduler");
    Proc(child)
}

/// `unshare --mount` with an empty tmpfs over `hidden`, then `program`: a process that
/// cannot read the channel directory however it tries.
pub fn without(hidden: &Path, program: &str) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=1m ftforge-hidden "$0" && exec "$@""#)
        .arg(hidden)
        .arg(program);
    command
}

/// A worker with one build slot, listening on `port`, with a HOME and cache of its own,
/// in a mount namespace where the channel directory `hidden` is empty.
pub fn worker(scheduler: u16, port: u16, dir: &Path, hidden: &Path) -> Proc {
    let cache = dir.join(format!("worker-{port}"));
    std::fs::create_dir_all(&cache).unwrap();
    let child = in_own_group(&mut without(hidden, &host_python()))
        .args(["-m", "distributed.cli.dask_worker"])
        .arg(format!("tcp://127.0.0.1:{scheduler}"))
        .args([
            "--nthreads",
            "1",
            "--resources",
            "build=1",
            "--no-nanny",
            "--host",
            "127.0.0.1",
        ])
        .args([
            "--worker-port",
            &port.to_string(),
            "--dashboard-address",
            ":0",
        ])
        .env("FTFORGE_BIN", env!("CARGO_BIN_EXE_ftforge"))
        .env("HOME", &cache)
        .env("FTFORGE_CACHE_DIR", &cache)
        .env("FTFORGE_WORK_DIR", cache.join("work"))
        .current_dir(&cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "dask worker");
    Proc(child)
}
