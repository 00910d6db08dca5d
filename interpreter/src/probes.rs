//! Health probes for any installed interpreter, measuring what the free-threading
//! debate was about: thread scaling of CPU-bound Python, wake-up latency under load,
//! the getenv/setenv race that crashed early nogil builds, and which extension modules
//! load in subinterpreters. Each probe runs in a child process with a time limit.
//!
//! A report says how it was measured ([`Conditions`]: usable cores, load average, other
//! jobs and the CPU other processes used meanwhile), because thread scaling measured on
//! a busy machine understates what free threading does. Each probe's result is a
//! [`ProbeOutcome`], stored as `{"status": "ok", …figures}` or
//! `{"status": "failed", "error": …}`; reports stored by older versions as Rust
//! `Result`s (`{"Ok": …}` / `{"Err": …}`) are still read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize};

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
                  "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
                  "cpu_seconds": time.process_time()}))
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

/// The getenv/setenv race: threads change os.environ while others call C functions
/// that read the environment (`mktime`, `tzset`). Prints "survived" if it does.
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

/// Why a probe has no figures.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot run {}: {source}", python.display())]
    Spawn {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot wait for {}: {source}", python.display())]
    Wait {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("did not finish within {seconds:.0} s")]
    TimedOut { seconds: f64 },
    #[error("killed by {signal}")]
    Killed { signal: String },
    #[error("exit code {code}: {stderr_tail}")]
    Exit { code: i32, stderr_tail: String },
    #[error("unexpected output ({source}): {line}")]
    Output {
        line: String,
        source: serde_json::Error,
    },
}

/// The result of one probe: its figures, or why there are none. Stored as
/// `{"status": "ok", …the figures' fields}` or `{"status": "failed", "error": "…"}`;
/// the `{"Ok": …}` / `{"Err": "…"}` of reports stored before schema 2 are read too.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ProbeOutcome<T> {
    /// The probe ran to the end.
    Ok(T),
    /// It could not start, hung, crashed or printed something unexpected.
    Failed { error: String },
}

impl<T> ProbeOutcome<T> {
    /// The figures, when the probe ran.
    pub fn ok(&self) -> Option<&T> {
        match self {
            ProbeOutcome::Ok(figures) => Some(figures),
            ProbeOutcome::Failed { .. } => None,
        }
    }

    /// Why the probe has no figures.
    pub fn error(&self) -> Option<&str> {
        match self {
            ProbeOutcome::Ok(_) => None,
            ProbeOutcome::Failed { error } => Some(error),
        }
    }
}

impl<T> From<Result<T, ProbeError>> for ProbeOutcome<T> {
    fn from(result: Result<T, ProbeError>) -> Self {
        match result {
            Ok(figures) => ProbeOutcome::Ok(figures),
            Err(e) => ProbeOutcome::Failed {
                error: e.to_string(),
            },
        }
    }
}

/// The stored forms of a [`ProbeOutcome`]: today's status-tagged one, then the Rust
/// `Result` serialisation of reports written before it.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a probe outcome: {\"status\": \"ok\", …} or {\"status\": \"failed\", \"error\": …} (or an older {\"Ok\": …} / {\"Err\": …})"
)]
enum StoredOutcome<T> {
    Tagged(TaggedOutcome<T>),
    Legacy(LegacyOutcome<T>),
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum TaggedOutcome<T> {
    Ok(T),
    Failed { error: String },
}

#[derive(Deserialize)]
enum LegacyOutcome<T> {
    Ok(T),
    Err(String),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ProbeOutcome<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match StoredOutcome::<T>::deserialize(deserializer)? {
            StoredOutcome::Tagged(TaggedOutcome::Ok(figures))
            | StoredOutcome::Legacy(LegacyOutcome::Ok(figures)) => ProbeOutcome::Ok(figures),
            StoredOutcome::Tagged(TaggedOutcome::Failed { error })
            | StoredOutcome::Legacy(LegacyOutcome::Err(error)) => ProbeOutcome::Failed { error },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Thread count → work items per second.
    pub throughput: std::collections::BTreeMap<String, f64>,
    /// Thread count → throughput relative to one thread.
    pub ratio: std::collections::BTreeMap<String, f64>,
    pub gil_enabled: bool,
    /// CPU time the probe process used (all its threads); absent in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
}

impl Scaling {
    /// The largest thread count measured and its throughput relative to one thread.
    pub fn widest(&self) -> Option<(u32, f64)> {
        self.ratio
            .iter()
            .filter_map(|(n, r)| n.parse::<u32>().ok().map(|n| (n, *r)))
            .max_by_key(|(n, _)| *n)
    }
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

/// Other processes using at least this many cores on average while thread scaling was
/// measured make the report [`Conditions::under_load`].
pub const BUSY_CORES_UNDER_LOAD: f64 = 0.5;

/// What the machine was doing while an interpreter was probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    /// Cores this process may use (`std::thread::available_parallelism`).
    pub usable_cores: u32,
    /// The 1-minute load average (`/proc/loadavg`) before the first probe; `None` where
    /// the system does not tell.
    pub load_at_start: Option<f64>,
    /// The same after the last probe (it includes the probes' own work).
    pub load_at_end: Option<f64>,
    /// Other build jobs of the same ftforge session that ran meanwhile; `None` when not
    /// known (`ftforge probe` on its own). Set by the builder
    /// ([`ProbeSettings::competing_jobs`] or [`ProbeReport::set_competing_jobs`]).
    pub competing_jobs: Option<u32>,
    /// Cores kept busy by other processes, on average, while thread scaling was measured:
    /// the machine's busy time (`/proc/stat`) minus the probe's own CPU time.
    #[serde(default)]
    pub other_busy_cores: Option<f64>,
}

impl Conditions {
    /// The machine as it is now; `other_busy_cores` and `load_at_end` come later.
    fn now(competing_jobs: Option<u32>) -> Self {
        Conditions {
            usable_cores: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            load_at_start: load_average(),
            load_at_end: None,
            competing_jobs,
            other_busy_cores: None,
        }
    }

    /// Were the figures taken while other work competed for the cores? True when another
    /// job of the session ran, or other processes kept at least
    /// [`BUSY_CORES_UNDER_LOAD`] cores busy during the scaling probe, or — when that was
    /// not measured — the load average at the start was at least half the usable cores.
    pub fn under_load(&self) -> bool {
        if self.competing_jobs.unwrap_or(0) > 0 {
            return true;
        }
        match self.other_busy_cores {
            Some(other) => other >= BUSY_CORES_UNDER_LOAD,
            None => self
                .load_at_start
                .is_some_and(|load| load >= f64::from(self.usable_cores) / 2.0),
        }
    }
}

/// `measured with 1 other build running, load 2.1 on 2 cores, other processes busy on
/// 0.9 cores`.
impl std::fmt::Display for Conditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        match self.competing_jobs {
            Some(0) => parts.push("with no other build running".to_string()),
            Some(1) => parts.push("with 1 other build running".to_string()),
            Some(n) => parts.push(format!("with {n} other builds running")),
            None => {}
        }
        let cores = match self.usable_cores {
            1 => "1 core".to_string(),
            n => format!("{n} cores"),
        };
        match self.load_at_start {
            Some(load) => parts.push(format!("load {load:.1} on {cores}")),
            None => parts.push(format!("on {cores}")),
        }
        if let Some(other) = self.other_busy_cores {
            parts.push(format!("other processes busy on {other:.1} cores"));
        }
        write!(f, "measured {}", parts.join(", "))
    }
}

/// The 1-minute load average, where the system publishes it.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Busy and total time of all CPUs (`/proc/stat`, in clock ticks) and how many there are.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuSample {
    busy: u64,
    total: u64,
    cpus: u32,
}

fn cpu_sample() -> Option<CpuSample> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_proc_stat(text: &str) -> Option<CpuSample> {
    let mut lines = text.lines();
    let first = lines.next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let fields: Vec<u64> = first
        .split_whitespace()
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 5 {
        return None;
    }
    let total: u64 = fields.iter().sum();
    let idle = fields[3] + fields[4];
    let cpus = lines
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count() as u32;
    Some(CpuSample {
        busy: total - idle,
        total,
        cpus: cpus.max(1),
    })
}

/// Cores other processes kept busy between two samples `wall_seconds` apart, given that
/// the probe itself used `own_cpu_seconds`.
fn other_busy_cores(
    before: CpuSample,
    after: CpuSample,
    wall_seconds: f64,
    own_cpu_seconds: f64,
) -> Option<f64> {
    let total = after.total.checked_sub(before.total)?;
    let busy = after.busy.checked_sub(before.busy)?;
    if total == 0 || wall_seconds <= 0.0 {
        return None;
    }
    let busy_core_seconds = busy as f64 / total as f64 * f64::from(after.cpus) * wall_seconds;
    Some(((busy_core_seconds - own_cpu_seconds) / wall_seconds).max(0.0))
}

/// All probes of one interpreter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub python: PathBuf,
    pub version: String,
    pub gil_enabled_at_start: bool,
    /// How the figures were measured; `None` in reports stored before this was recorded.
    #[serde(default)]
    pub conditions: Option<Conditions>,
    pub scaling: ProbeOutcome<Scaling>,
    pub latency: ProbeOutcome<Latency>,
    pub env_race: ProbeOutcome<EnvRace>,
    /// `None` when there were no extension modules to try.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subinterpreters: Option<ProbeOutcome<Subinterpreters>>,
}

impl ProbeReport {
    /// Records how many other jobs of the session ran while this report was measured
    /// (for callers that only know it afterwards).
    pub fn set_competing_jobs(&mut self, jobs: u32) {
        if let Some(conditions) = &mut self.conditions {
            conditions.competing_jobs = Some(jobs);
        }
    }
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
    /// Other jobs running while probing, recorded in [`Conditions::competing_jobs`].
    pub competing_jobs: Option<u32>,
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
            competing_jobs: None,
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
    /// `None` when it was killed at the time limit.
    status: Option<std::process::ExitStatus>,
    seconds: f64,
}

/// Reads a child's pipe to the end on its own thread, so a probe that prints a lot
/// cannot block on a full pipe while we wait for it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `python -c script args…` with a time limit (killed after it).
fn run_limited(
    python: &Path,
    script: &str,
    args: &[String],
    limit: Duration,
) -> Result<Finished, ProbeError> {
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
        .map_err(|source| ProbeError::Spawn {
            python: python.to_path_buf(),
            source,
        })?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        let exited = child.try_wait().map_err(|source| ProbeError::Wait {
            python: python.to_path_buf(),
            source,
        })?;
        if let Some(status) = exited {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let finished = Finished {
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        status,
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::debug!(
        python = %python.display(),
        args = ?args,
        status = ?finished.status,
        seconds = finished.seconds,
        "probe process finished"
    );
    Ok(finished)
}

/// The JSON object a probe printed on its last line.
fn parse_last_line<T: serde::de::DeserializeOwned>(f: Finished) -> Result<T, ProbeError> {
    match f.status {
        None => Err(ProbeError::TimedOut { seconds: f.seconds }),
        Some(status) if !status.success() => Err(failure(status, &f.stderr)),
        Some(_) => {
            let line = f.stdout.lines().last().unwrap_or_default();
            serde_json::from_str(line).map_err(|source| ProbeError::Output {
                line: line.to_string(),
                source,
            })
        }
    }
}

fn failure(status: std::process::ExitStatus, stderr: &str) -> ProbeError {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => ProbeError::Killed {
            signal: signal_name(sig),
        },
        None => ProbeError::Exit {
            code: status.code().unwrap_or(-1),
            stderr_tail: stderr.lines().last().unwrap_or_default().to_string(),
        },
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
pub fn env_race(python: &Path, seconds: f64) -> Result<EnvRace, ProbeError> {
    use std::os::unix::process::ExitStatusExt;
    let f = run_limited(
        python,
        ENV_RACE,
        &[format!("{seconds}")],
        Duration::from_secs_f64(seconds + 30.0),
    )?;
    let Some(status) = f.status else {
        return Err(ProbeError::TimedOut { seconds: f.seconds });
    };
    let signal = status.signal().map(signal_name);
    let survived = status.success() && f.stdout.contains("survived");
    if !survived && signal.is_none() {
        return Err(failure(status, &f.stderr));
    }
    Ok(EnvRace {
        survived,
        signal,
        seconds: f.seconds,
        limit_seconds: seconds,
    })
}

/// Runs every probe on `python`, recording the conditions they ran under.
pub fn probe(python: &Path, settings: &ProbeSettings) -> ProbeReport {
    let mut conditions = Conditions::now(settings.competing_jobs);
    let version = run_limited(python, "import sys; print(sys.version.split()[0], sys._is_gil_enabled() if hasattr(sys, '_is_gil_enabled') else True)", &[], Duration::from_secs(30))
        .map(|f| f.stdout.trim().to_string())
        .unwrap_or_default();
    let (version, gil) = version
        .split_once(' ')
        .map(|(v, g)| (v.to_string(), g == "True"))
        .unwrap_or((version, true));
    let threads = settings.threads.max(1);
    let before = cpu_sample();
    let started = Instant::now();
    let scaling: Result<Scaling, ProbeError> = run_limited(
        python,
        SCALING,
        &[threads.to_string(), settings.scaling_seconds.to_string()],
        Duration::from_secs_f64(settings.scaling_seconds * threads as f64 + 60.0),
    )
    .and_then(parse_last_line);
    let wall = started.elapsed().as_secs_f64();
    conditions.other_busy_cores = match (&scaling, before, cpu_sample()) {
        (Ok(s), Some(before), Some(after)) => s
            .cpu_seconds
            .and_then(|own| other_busy_cores(before, after, wall, own)),
        _ => None,
    };
    let latency = run_limited(
        python,
        LATENCY,
        &[threads.to_string(), settings.latency_seconds.to_string()],
        Duration::from_secs_f64(settings.latency_seconds + 60.0),
    )
    .and_then(parse_last_line);
    let env_race = env_race(python, settings.race_seconds);
    let subinterpreters = (!settings.modules.is_empty()).then(|| {
        run_limited(
            python,
            SUBINTERPRETERS,
            &settings.modules,
            Duration::from_secs(120),
        )
        .and_then(parse_last_line)
        .into()
    });
    conditions.load_at_end = load_average();
    ProbeReport {
        python: python.to_path_buf(),
        version,
        gil_enabled_at_start: gil,
        conditions: Some(conditions),
        scaling: scaling.into(),
        latency: latency.into(),
        env_race: env_race.into(),
        subinterpreters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Conditions {
        Conditions {
            usable_cores: 2,
            load_at_start: Some(0.2),
            load_at_end: Some(1.4),
            competing_jobs: Some(0),
            other_busy_cores: Some(0.1),
        }
    }

    fn report() -> ProbeReport {
        ProbeReport {
            python: "/env/bin/python".into(),
            version: "3.14.7".into(),
            gil_enabled_at_start: false,
            conditions: Some(quiet()),
            scaling: ProbeOutcome::Ok(Scaling {
                throughput: [("1".into(), 100.0), ("2".into(), 199.0)].into(),
                ratio: [("1".into(), 1.0), ("2".into(), 1.99)].into(),
                gil_enabled: false,
                cpu_seconds: Some(3.1),
            }),
            latency: ProbeOutcome::Failed {
                error: "did not finish within 61 s".into(),
            },
            env_race: ProbeOutcome::Ok(EnvRace {
                survived: true,
                signal: None,
                seconds: 5.0,
                limit_seconds: 5.0,
            }),
            subinterpreters: None,
        }
    }

    #[test]
    fn outcomes_are_stored_with_a_status_not_as_rust_results() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["scaling"]["status"], "ok");
        assert_eq!(json["scaling"]["ratio"]["2"], 1.99);
        assert_eq!(
            json["latency"],
            serde_json::json!({"status": "failed", "error": "did not finish within 61 s"})
        );
        assert_eq!(json["conditions"]["competing_jobs"], 0);
        let text = json.to_string();
        assert!(
            !text.contains("\"Ok\"") && !text.contains("\"Err\""),
            "{text}"
        );
        let back: ProbeReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report());
    }

    #[test]
    fn reports_stored_as_rust_results_are_still_read() {
        let stored = serde_json::json!({
            "python": "/env/bin/python", "version": "3.14.7", "gil_enabled_at_start": false,
            "scaling": {"Ok": {"throughput": {"1": 10.0, "2": 15.0}, "ratio": {"1": 1.0, "2": 1.5}, "gil_enabled": false}},
            "latency": {"Err": "exit code 1: boom"},
            "env_race": {"Ok": {"survived": false, "signal": "SIGSEGV", "seconds": 0.4, "limit_seconds": 5.0}},
            "subinterpreters": {"Ok": {"api": "_interpreters", "modules": {"m": {"ok": true, "error": null}}}}
        });
        let r: ProbeReport = serde_json::from_value(stored).unwrap();
        assert_eq!(r.conditions, None);
        assert_eq!(r.scaling.ok().and_then(Scaling::widest), Some((2, 1.5)));
        assert_eq!(r.latency.error(), Some("exit code 1: boom"));
        assert_eq!(
            r.env_race.ok().and_then(|e| e.signal.as_deref()),
            Some("SIGSEGV")
        );
        assert!(r.subinterpreters.unwrap().ok().unwrap().modules["m"].ok);
        // Neither form: an error, not a silent default.
        let bad = serde_json::json!({"Maybe": 1});
        let error = serde_json::from_value::<ProbeOutcome<EnvRace>>(bad).unwrap_err();
        assert!(
            error.to_string().contains(r#"{"status": "ok", …}"#),
            "{error}"
        );
    }

    #[test]
    fn conditions_say_how_the_figures_were_measured_and_flag_load() {
        let c = quiet();
        assert!(!c.under_load());
        assert_eq!(
            c.to_string(),
            "measured with no other build running, load 0.2 on 2 cores, other processes busy on 0.1 cores"
        );
        let busy = Conditions {
            competing_jobs: Some(1),
            load_at_start: Some(2.1),
            other_busy_cores: None,
            ..quiet()
        };
        assert!(busy.under_load());
        assert_eq!(
            busy.to_string(),
            "measured with 1 other build running, load 2.1 on 2 cores"
        );
        // Other processes (not ftforge's) took a core: under load all the same.
        let others = Conditions {
            other_busy_cores: Some(0.9),
            ..quiet()
        };
        assert!(others.under_load());
        // A high load average alone (it lags by a minute) does not count when the
        // CPU other processes used was measured…
        let lagging = Conditions {
            load_at_start: Some(2.0),
            ..quiet()
        };
        assert!(!lagging.under_load());
        // …but does when nothing else is known.
        let unknown = Conditions {
            competing_jobs: None,
            other_busy_cores: None,
            load_at_start: Some(1.0),
            ..quiet()
        };
        assert!(unknown.under_load());
        assert_eq!(unknown.to_string(), "measured load 1.0 on 2 cores");
    }

    #[test]
    fn competing_jobs_can_be_set_afterwards() {
        let mut r = report();
        r.set_competing_jobs(3);
        assert_eq!(r.conditions.as_ref().unwrap().competing_jobs, Some(3));
        assert!(r.conditions.unwrap().under_load());
    }

    #[test]
    fn busy_cores_of_other_processes_from_proc_stat() {
        let before =
            parse_proc_stat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n")
                .unwrap();
        assert_eq!(
            before,
            CpuSample {
                busy: 200,
                total: 1000,
                cpus: 2
            }
        );
        // 2 s on 2 CPUs = 400 ticks, 300 of them busy: 1.5 cores busy; the probe itself
        // used 1 CPU second, so others kept 1.0 core busy.
        let after = CpuSample {
            busy: 500,
            total: 1400,
            cpus: 2,
        };
        let other = other_busy_cores(before, after, 2.0, 1.0).unwrap();
        assert!((other - 1.0).abs() < 1e-9, "{other}");
        assert_eq!(other_busy_cores(after, before, 2.0, 1.0), None);
        assert_eq!(parse_proc_stat("intr 1\n"), None);
    }

    #[test]
    fn a_probe_that_prints_a_lot_does_not_stall_until_its_time_limit() {
        let started = Instant::now();
        let f = run_limited(
            Path::new("python3"),
            "import sys; sys.stdout.write('x' * 300000 + '\\n'); print('{\"ok\": true, \"error\": null}')",
            &[],
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(20));
        let parsed: SubinterpreterImport = parse_last_line(f).unwrap();
        assert!(parsed.ok);
    }
}
