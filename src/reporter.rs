//! Drawing pipeline progress for people (indicatif bars on a terminal, plain lines
//! otherwise) and for machines (`--json`: one event per line).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ftforge_builder::progress::{Reporter, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars and spinners when stderr is a terminal, step lines otherwise.
    Human,
    /// Only warnings and errors.
    Quiet,
    /// JSON events on stderr, one per line.
    Json,
}

pub struct CliReporter {
    mode: Mode,
    multi: MultiProgress,
    /// The session's overall bar (done/total, elapsed, ETA), created on the first report.
    total: Mutex<Option<ProgressBar>>,
    counts: Mutex<(u64, u64)>,
    bars: Mutex<HashMap<String, (ProgressBar, Option<Step>)>>,
    tty: bool,
    started: Instant,
}

impl CliReporter {
    pub fn new(mode: Mode) -> Self {
        let tty = std::io::stderr().is_terminal();
        let target = if tty && mode == Mode::Human {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            mode,
            multi: MultiProgress::with_draw_target(target),
            total: Mutex::default(),
            counts: Mutex::default(),
            bars: Mutex::default(),
            tty,
            started: Instant::now(),
        }
    }

    fn bar(&self, job: &str) -> ProgressBar {
        let mut bars = self.bars.lock().expect("reporter lock");
        bars.entry(job.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg:.dim}",
                    )
                    .expect("static template"),
                );
                bar.set_prefix(job.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                (bar, None)
            })
            .0
            .clone()
    }

    fn event(&self, kind: &str, job: &str, fields: serde_json::Value) {
        let mut obj = serde_json::json!({"event": kind, "job": job, "t": self.started.elapsed().as_secs_f64()});
        if let (Some(o), serde_json::Value::Object(extra)) = (obj.as_object_mut(), fields) {
            o.extend(extra);
        }
        eprintln!("{obj}");
    }

    /// Prints a line above the bars (or plainly when there are none).
    pub fn line(&self, text: &str) {
        if self.tty && self.mode == Mode::Human {
            let _ = self.multi.println(text);
        } else if self.mode != Mode::Json {
            eprintln!("{text}");
        }
    }
}

impl Reporter for CliReporter {
    fn note(&self, job: &str, message: &str) {
        match self.mode {
            Mode::Json => self.event("note", job, serde_json::json!({"message": message})),
            _ => self.line(&format!(
                "{} {job}: {message}",
                console::style("note").yellow().bold()
            )),
        }
    }

    fn step(&self, job: &str, step: Step) {
        match self.mode {
            Mode::Json => self.event("step", job, serde_json::json!({"step": step})),
            Mode::Quiet => {}
            Mode::Human if !self.tty => eprintln!("[{job}] {step}"),
            Mode::Human => {
                let bar = self.bar(job);
                let mut bars = self.bars.lock().expect("reporter lock");
                if let Some(entry) = bars.get_mut(job) {
                    entry.1 = Some(step);
                }
                if step != Step::Fetch {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner:.cyan} {prefix:.bold} {elapsed:>4} {wide_msg:.dim}",
                        )
                        .expect("static template"),
                    );
                    bar.set_length(0);
                }
                bar.set_message(format!("{step}"));
            }
        }
    }

    fn progress(&self, job: &str, done: u64, total: Option<u64>) {
        if self.mode != Mode::Human || !self.tty {
            return;
        }
        let bar = self.bar(job);
        if let Some(total) = total {
            if bar.length() != Some(total) {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} {elapsed:>4} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar.set_length(total);
            }
        }
        bar.set_position(done);
    }

    fn output(&self, job: &str, line: &str) {
        if self.mode != Mode::Human || !self.tty {
            return;
        }
        let step = self
            .bars
            .lock()
            .expect("reporter lock")
            .get(job)
            .and_then(|b| b.1);
        let bar = self.bar(job);
        let short: String = line.chars().take(120).collect();
        match step {
            Some(step) => bar.set_message(format!("{step}: {short}")),
            None => bar.set_message(short),
        }
    }

    fn overall(&self, done: u64, total: u64) {
        *self.counts.lock().expect("reporter lock") = (done, total);
        match self.mode {
            Mode::Json => self.event(
                "progress",
                "",
                serde_json::json!({"done": done, "total": total}),
            ),
            Mode::Human if self.tty => {
                let mut slot = self.total.lock().expect("reporter lock");
                let bar = slot.get_or_insert_with(|| {
                    let bar = self.multi.insert(0, ProgressBar::new(total));
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:.bold} [{bar:30.green/dim}] {pos}/{len} builds · {elapsed} · ETA {eta}")
                            .expect("static template")
                            .progress_chars("=> "),
                    );
                    bar.set_prefix("ftforge");
                    bar
                });
                bar.set_length(total);
                bar.set_position(done);
                if done == total {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }

    fn finished(&self, job: &str, ok: bool, summary: &str) {
        match self.mode {
            Mode::Json => self.event(
                "finished",
                job,
                serde_json::json!({"ok": ok, "summary": summary}),
            ),
            Mode::Quiet if ok => {}
            _ => {
                if let Some((bar, _)) = self.bars.lock().expect("reporter lock").remove(job) {
                    bar.finish_and_clear();
                }
                let mark = if ok {
                    console::style("✓").green().bold()
                } else {
                    console::style("✗").red().bold()
                };
                self.line(&format!("{mark} {job} {}", console::style(summary).dim()));
            }
        }
    }
}
