//! Probe figures in words, for the `probe` table and the matrix's interpreter lines and
//! cards: each figure, and how it was measured (flagged when taken under load).

use ftforge_interpreter::probes::{
    Conditions, EnvRace, Latency, ProbeOutcome, ProbeReport, Scaling, Subinterpreters,
};

/// The scaling headline: `2 threads: 1.99× one thread`.
pub fn scaling_headline(outcome: &ProbeOutcome<Scaling>) -> String {
    match outcome {
        ProbeOutcome::Ok(s) => match s.widest() {
            Some((n, ratio)) => format!("{n} threads: {ratio:.2}× one thread"),
            None => "thread scaling: no figures".into(),
        },
        ProbeOutcome::Failed { error } => format!("thread scaling failed: {error}"),
    }
}

/// Every thread count: `1: 1.00×  2: 1.99×`.
fn scaling_all(outcome: &ProbeOutcome<Scaling>) -> String {
    match outcome {
        ProbeOutcome::Ok(s) => {
            let mut ratios: Vec<(u32, f64)> = s
                .ratio
                .iter()
                .filter_map(|(n, r)| n.parse().ok().map(|n| (n, *r)))
                .collect();
            ratios.sort_by_key(|(n, _)| *n);
            ratios
                .iter()
                .map(|(n, r)| format!("{n}: {r:.2}×"))
                .collect::<Vec<_>>()
                .join("  ")
        }
        ProbeOutcome::Failed { error } => format!("error: {error}"),
    }
}

/// `1 ms tick p99 late 0.07 ms`.
pub fn latency_headline(outcome: &ProbeOutcome<Latency>) -> Option<String> {
    match outcome {
        ProbeOutcome::Ok(l) => l
            .p99_ms
            .map(|p99| format!("1 ms tick p99 late {p99:.2} ms")),
        ProbeOutcome::Failed { error } => Some(format!("latency probe failed: {error}")),
    }
}

fn latency_all(outcome: &ProbeOutcome<Latency>) -> String {
    match outcome {
        ProbeOutcome::Ok(l) => {
            let ms = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.2}"));
            format!("{} / {} / {} ms", ms(l.p50_ms), ms(l.p99_ms), ms(l.max_ms))
        }
        ProbeOutcome::Failed { error } => format!("error: {error}"),
    }
}

/// `survived 5 s` or `SIGSEGV after 0.4 s`.
fn env_race(outcome: &ProbeOutcome<EnvRace>) -> String {
    match outcome {
        ProbeOutcome::Ok(e) if e.survived => format!("survived {:.0} s", e.limit_seconds),
        ProbeOutcome::Ok(e) => format!(
            "{} after {:.1} s",
            e.signal.as_deref().unwrap_or("crash"),
            e.seconds
        ),
        ProbeOutcome::Failed { error } => format!("error: {error}"),
    }
}

pub fn env_race_headline(outcome: &ProbeOutcome<EnvRace>) -> String {
    format!("getenv race: {}", env_race(outcome))
}

fn subinterpreters(outcome: Option<&ProbeOutcome<Subinterpreters>>) -> String {
    match outcome {
        None => "no extension modules".into(),
        Some(ProbeOutcome::Ok(s)) => {
            let ok = s.modules.values().filter(|m| m.ok).count();
            let bad: Vec<&str> = s
                .modules
                .iter()
                .filter(|(_, m)| !m.ok)
                .map(|(n, _)| n.as_str())
                .collect();
            if bad.is_empty() {
                format!("{ok}/{} modules load ({})", s.modules.len(), s.api)
            } else {
                format!("{ok}/{} load; not: {}", s.modules.len(), bad.join(", "))
            }
        }
        Some(ProbeOutcome::Failed { error }) => format!("error: {error}"),
    }
}

/// How a report's figures were measured, in words, and whether they were taken under load.
pub struct Measured {
    pub text: String,
    pub under_load: bool,
}

pub fn measured(conditions: Option<&Conditions>) -> Measured {
    match conditions {
        Some(c) if c.under_load() => Measured {
            text: format!("{c} — taken under load: expect better figures on a quiet machine"),
            under_load: true,
        },
        Some(c) => Measured {
            text: c.to_string(),
            under_load: false,
        },
        None => Measured {
            text: "measurement conditions not recorded (probed by an older ftforge)".into(),
            under_load: false,
        },
    }
}

/// `ftforge probe`'s table: one column per interpreter.
pub fn table(reports: &[ProbeReport]) -> String {
    let mut rows: Vec<(&str, Vec<String>)> = vec![
        ("interpreter", vec![]),
        ("GIL at start", vec![]),
        ("thread scaling (× one thread)", vec![]),
        ("1 ms tick lateness p50 / p99 / max", vec![]),
        ("getenv/setenv race", vec![]),
        ("subinterpreters", vec![]),
        ("measured", vec![]),
    ];
    for r in reports {
        let measured = measured(r.conditions.as_ref());
        let cells = [
            format!("{} ({})", r.version, r.python.display()),
            if r.gil_enabled_at_start { "on" } else { "off" }.to_string(),
            scaling_all(&r.scaling),
            latency_all(&r.latency),
            env_race(&r.env_race),
            subinterpreters(r.subinterpreters.as_ref()),
            if measured.under_load {
                format!("{}", console::style(measured.text).yellow())
            } else {
                measured.text
            },
        ];
        for (row, cell) in rows.iter_mut().zip(cells) {
            row.1.push(cell);
        }
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(k, vs)| format!("{k:<width$}  {}", vs.join("  │  ")))
        .collect::<Vec<_>>()
        .join("\n")
}
