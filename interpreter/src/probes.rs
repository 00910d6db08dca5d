//! Health probes for any installed interpreter, measuring what the free-threading
//! debate was about: thread scaling of CPU-bound Python, wake-up latency under load,
//! the getenv/setenv race that crashed early nogil builds, and which extension modules
//! load in subinterpreters. Each probe runs in a child process with a time limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// CPU-bound pure Python on 1..N threads; prints throughput per thread count.
pub const SCALING: &str = r#"
import json, sys, threading, time
max_threads, seconds = int(sys.argv[1]), float(sys.argv[2])
def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
def run(threads):
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    def worker(k):
        while time.perf_counter() < stop:
            work(20000)
            counts[k] += 1
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    return sum(counts) / (time.perf_counter() - start)
results = {}
for n in range(1, max_threads + 1):
    results[n] = run(n)
base = results[1]
print(json.dumps({"throughput": results, "ratio": {n: round(v / base, 3) for n, v in results.items()},
                  "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True}))
"#;

/// A thread that wants to wake every 1 ms while N threads burn CPU; prints lateness.
pub const LATENCY: &str = r#"
import json, sys, threading, time
burners, seconds = int(sys.argv[1]), float(sys.argv[2])
stop = time.perf_counter() + seconds
def burn():
    x = 0
    while time.perf_counter() < stop:
        for i in range(1000):
            x += i
late = []
def ticker():
    next_tick = time.perf_counter() + 0.001
    while time.perf_counter() < stop:
        delay = next_tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        late.append(max(0.0, time.perf_counter() - next_tick))
        next_tick += 0.001
        if next_tick < time.perf_counter():
            next_tick = time.perf_counter() + 0.001
ts = [threading.Thread(target=burn) for _ in range(burners)] + [threading.Thread(target=ticker)]
for t in ts: t.start()
for t in ts: t.join()
late.sort()
pick = lambda q: late[min(len(late) - 1, int(q * len(late)))] * 1000 if late else None
print(json.dumps({"ticks": len(late), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": late[-1] * 1000 if late else None,
                  "burners": burners}))
"#;

/// The seed's mtenv.py: threads change os.environ while others call C functions that
/// read the environment. Prints "survived" if it does.
pub const ENV_RACE: &str = r#"
import os, sys, threading, time
stop = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 10)
def setter():
    i = 0
    while time.time() < stop:
        os.environ[f"MTENV_{i % 5000}"] = "x" * (i % 50)
        if i % 7 == 0:
            try: del os.environ[f"MTENV_{(i * 31) % 5000}"]
            except KeyError: pass
        i += 1
def getter():
    while time.time() < stop:
        time.mktime(time.localtime()); time.tzset()
ts = [threading.Thread(target=setter) for _ in range(2)] + [threading.Thread(target=getter) for _ in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
print("survived")
"#;

/// Imports each module named in argv in a fresh subinterpreter; prints one JSON object.
pub const SUBINTERPRETERS: &str = r#"
import json, sys
results = {}
try:
    from concurrent import interpreters as api
    def attempt(name):
        interp = api.create()
        try:
            interp.exec(f"import {name}")
            return None
        finally:
            interp.close()
    flavour = "concurrent.interpreters"
except ImportError:
    import _interpreters as low
    def attempt(name):
        interp = low.create()
        try:
            err = low.exec(interp, f"import {name}")
            return None if err is None else f"{getattr(err, 'type', err)}: {getattr(err, 'msg', '')}"
        finally:
            low.destroy(interp)
    flavour = "_interpreters"
for name in sys.argv[1:]:
    try:
        error = attempt(name)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    results[name] = {"ok": error is None, "error": error}
print(json.dumps({"api": flavour, "modules": results}))
"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Thread count → work items per second.
    pub throughput: std::collections::BTreeMap<String, f64>,
    /// Thread count → throughput relative to one thread.
    pub ratio: std::collections::BTreeMap<String, f64>,
    pub gil_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub ticks: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub burners: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvRace {
    pub survived: bool,
    /// `SIGSEGV` and the like when it crashed.
    pub signal: Option<String>,
    pub seconds: f64,
    pub limit_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subinterpreters {
    pub api: String,
    pub modules: std::collections::BTreeMap<String, SubinterpreterImport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubinterpreterImport {
    pub ok: bool,
    pub error: Option<String>,
}

/// All probes of one interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub python: PathBuf,
    pub version: String,
    pub gil_enabled_at_start: bool,
    pub scaling: Result<Scaling, String>,
    pub latency: Result<Latency, String>,
    pub env_race: Result<EnvRace, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subinterpreters: Option<Result<Subinterpreters, String>>,
}

/// How long each probe may run.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub threads: u32,
    pub scaling_seconds: f64,
    pub latency_seconds: f64,
    pub race_seconds: f64,
    /// Extension modules to try in subinterpreters (none: skip that probe).
    pub modules: Vec<String>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(2);
        Self {
            threads: cores,
            scaling_seconds: 1.0,
            latency_seconds: 2.0,
            race_seconds: 10.0,
            modules: Vec::new(),
        }
    }
}

/// The interpreter of an environment (`bin/python`, or the first `bin/python3*`).
pub fn find_python(prefix: &Path) -> Option<PathBuf> {
    let bin = prefix.join("bin");
    let direct = bin.join("python");
    if direct.exists() {
        return Some(direct);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&bin)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python3") && !n.ends_with("-config"))
        })
        .collect();
    candidates.sort();
    candidates.into_iter().next()
}

struct Finished {
    stdout: String,
    stderr: String,
    status: Option<std::process::ExitStatus>,
    seconds: f64,
}

/// Runs `python -c script args…` with a time limit (killed after it).
fn run_limited(
    python: &Path,
    script: &str,
    args: &[String],
    limit: Duration,
) -> Result<Finished, String> {
    let started = Instant::now();
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .env_remove("PYTHON_GIL")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Ok(Finished {
        stdout,
        stderr,
        status,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn json_result<T: serde::de::DeserializeOwned>(
    finished: Result<Finished, String>,
) -> Result<T, String> {
    let f = finished?;
    match f.status {
        None => Err(format!("did not finish within {:.0} s", f.seconds)),
        Some(status) if !status.success() => Err(describe(status, &f.stderr)),
        Some(_) => {
            let line = f.stdout.lines().last().unwrap_or_default();
            serde_json::from_str(line).map_err(|e| format!("unexpected output ({e}): {line}"))
        }
    }
}

fn describe(status: std::process::ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let tail = stderr.lines().last().unwrap_or_default();
    match status.signal() {
        Some(sig) => format!("killed by {}", signal_name(sig)),
        None => format!("exit code {}: {tail}", status.code().unwrap_or(-1)),
    }
}

pub fn signal_name(sig: i32) -> String {
    match sig {
        4 => "SIGILL".into(),
        6 => "SIGABRT".into(),
        7 => "SIGBUS".into(),
        8 => "SIGFPE".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        other => format!("signal {other}"),
    }
}

/// The getenv/setenv race for at most `seconds`.
pub fn env_race(python: &Path, seconds: f64) -> Result<EnvRace, String> {
    use std::os::unix::process::ExitStatusExt;
    let f = run_limited(
        python,
        ENV_RACE,
        &[format!("{seconds}")],
        Duration::from_secs_f64(seconds + 30.0),
    )?;
    let signal = f.status.and_then(|s| s.signal()).map(signal_name);
    let survived = f.status.is_some_and(|s| s.success()) && f.stdout.contains("survived");
    if f.status.is_none() {
        return Err(format!("hung: no result within {:.0} s", f.seconds));
    }
    if !survived && signal.is_none() {
        return Err(describe(f.status.expect("checked"), &f.stderr));
    }
    Ok(EnvRace {
        survived,
        signal,
        seconds: f.seconds,
        limit_seconds: seconds,
    })
}

/// Runs every probe on `python`.
pub fn probe(python: &Path, settings: &ProbeSettings) -> ProbeReport {
    let version = run_limited(python, "import sys; print(sys.version.split()[0], sys._is_gil_enabled() if hasattr(sys, '_is_gil_enabled') else True)", &[], Duration::from_secs(30))
        .map(|f| f.stdout.trim().to_string())
        .unwrap_or_default();
    let (version, gil) = version
        .split_once(' ')
        .map(|(v, g)| (v.to_string(), g == "True"))
        .unwrap_or((version, true));
    let threads = settings.threads.max(1);
    let scaling = json_result(run_limited(
        python,
        SCALING,
        &[threads.to_string(), settings.scaling_seconds.to_string()],
        Duration::from_secs_f64(settings.scaling_seconds * threads as f64 + 60.0),
    ));
    let latency = json_result(run_limited(
        python,
        LATENCY,
        &[threads.to_string(), settings.latency_seconds.to_string()],
        Duration::from_secs_f64(settings.latency_seconds + 60.0),
    ));
    let env_race = env_race(python, settings.race_seconds);
    let subinterpreters = (!settings.modules.is_empty()).then(|| {
        json_result(run_limited(
            python,
            SUBINTERPRETERS,
            &settings.modules,
            Duration::from_secs(120),
        ))
    });
    ProbeReport {
        python: python.to_path_buf(),
        version,
        gil_enabled_at_start: gil,
        scaling,
        latency,
        env_race,
        subinterpreters,
    }
}
