//! Running build and test commands: output to a log file (kept for every step),
//! the latest line to the reporter, and the log's tail in the error when it fails.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::progress::{Reporter, Step};

/// How many lines of a failing command's log an error shows.
pub const TAIL_LINES: usize = 25;

/// A command that failed, with where to read its full output.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} failed ({status}); full log: {}\n--- last lines ---\n{tail}", log.display())]
pub struct CommandFailed {
    pub what: String,
    pub status: String,
    pub log: PathBuf,
    pub tail: String,
}

/// Guesses the phase of an autotools/make build from one output line.
pub fn detect_step(line: &str) -> Option<Step> {
    let l = line.trim_start();
    if l.starts_with("checking ") || l.starts_with("configure:") || l.starts_with("config.status:")
    {
        Some(Step::Configure)
    } else if l.starts_with("gcc ")
        || l.starts_with("cc ")
        || l.starts_with("g++ ")
        || l.starts_with("clang ")
    {
        Some(Step::Compile)
    } else if l.starts_with("/usr/bin/install ")
        || l.starts_with("Creating directory")
        || l.starts_with("Installing ")
    {
        Some(Step::Install)
    } else {
        None
    }
}

/// Runs `cmd`, appending stdout and stderr to `log`.
pub async fn run_logged(
    mut cmd: tokio::process::Command,
    what: &str,
    log: &Path,
    job: &str,
    reporter: &dyn Reporter,
    track_steps: bool,
) -> Result<(), CommandFailed> {
    let fail = |status: String, tail: String| CommandFailed {
        what: what.to_string(),
        status,
        log: log.to_path_buf(),
        tail,
    };
    if let Some(parent) = log.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut log_file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .await
        .map_err(|e| fail(format!("cannot open log: {e}"), String::new()))?;
    let _ = log_file.write_all(format!("$ {what}\n").as_bytes()).await;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}"), String::new()))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [
        Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(stderr),
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    // A build script starts out configuring; detection moves it forward from there.
    let mut step = track_steps.then_some(Step::Configure);
    if let Some(s) = step {
        reporter.step(job, s);
    }
    while let Some(line) = rx.recv().await {
        let _ = log_file.write_all(line.as_bytes()).await;
        let _ = log_file.write_all(b"\n").await;
        if track_steps {
            if let Some(s) = detect_step(&line) {
                // `make install` compiles a little too: phases only move forward.
                if step.is_none_or(|current| s > current) {
                    step = Some(s);
                    reporter.step(job, s);
                }
            }
        }
        reporter.output(job, &line);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child
        .wait()
        .await
        .map_err(|e| fail(format!("cannot wait: {e}"), String::new()))?;
    let _ = log_file.flush().await;
    if status.success() {
        Ok(())
    } else {
        let status = match status.code() {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_string(),
        };
        Err(fail(
            status,
            tail.into_iter().collect::<Vec<_>>().join("\n"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn steps_from_autotools_output() {
        assert_eq!(
            detect_step("checking for gcc... gcc"),
            Some(Step::Configure)
        );
        assert_eq!(detect_step("gcc -c -O3 x.c"), Some(Step::Compile));
        assert_eq!(
            detect_step("Creating directory /p/bin"),
            Some(Step::Install)
        );
        assert_eq!(detect_step("hello"), None);
    }

    #[tokio::test]
    async fn failures_carry_the_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/x.log");
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("for i in $(seq 1 40); do echo line$i; done; echo oops >&2; exit 3");
        let err = run_logged(cmd, "the step", &log, "job", &Silent, false)
            .await
            .unwrap_err();
        assert_eq!(err.status, "exit code 3");
        assert!(err.tail.ends_with("oops"), "{}", err.tail);
        assert!(!err.tail.contains("line10\n"));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("line1\n") && text.contains("oops"));
        assert!(err.to_string().contains(&log.display().to_string()));
    }
}
