//! What `ftforge check` is asked: interpreters written as `3.14t` / `3.14` / `cp314t`,
//! and requirements files (PEP 508 lines, `-r` includes, comments, continuations).

use std::path::{Path, PathBuf};

use ftforge_interpreter::PythonAbi;
use pep508_rs::Requirement;

use super::CheckError;

/// `3.14t` (free-threaded), `3.14` (with the GIL), or an ABI tag (`cp314t`).
pub fn parse_python(input: &str) -> Result<PythonAbi, CheckError> {
    let text = input.trim();
    let bad = || CheckError::BadPython {
        input: input.to_string(),
    };
    if let Ok(abi) = text.parse::<PythonAbi>() {
        return Ok(abi);
    }
    let (version, freethreading) = match text.strip_suffix('t') {
        Some(v) => (v, true),
        None => (text, false),
    };
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    PythonAbi::from_version(version, freethreading).map_err(|_| bad())
}

/// How users write an interpreter: `3.14t`, `3.14`.
pub fn python_label(abi: &PythonAbi) -> String {
    format!(
        "{}{}",
        abi.py_ver(),
        if abi.freethreading { "t" } else { "" }
    )
}

/// One requirement and where it was written (`command line`, `reqs.txt:3`).
#[derive(Debug, Clone)]
pub struct RequirementLine {
    pub requirement: Requirement,
    pub origin: String,
}

/// Reads a pip requirements file: one PEP 508 requirement per line, `#` comments,
/// `\` continuations, `--hash` options (ignored: ftforge verifies against the index),
/// and `-r`/`--requirement` includes relative to the file. Any other pip option is
/// refused with its line, so nothing in the file is silently dropped.
pub fn read_requirements_file(path: &Path) -> Result<Vec<RequirementLine>, CheckError> {
    let mut out = Vec::new();
    read_into(path, &mut out, &mut Vec::new())?;
    Ok(out)
}

fn read_into(
    path: &Path,
    out: &mut Vec<RequirementLine>,
    seen: &mut Vec<PathBuf>,
) -> Result<(), CheckError> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if seen.contains(&canonical) {
        return Ok(());
    }
    seen.push(canonical);
    let text = std::fs::read_to_string(path).map_err(|source| CheckError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let refuse = |line: usize, message: String| CheckError::RequirementsLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        if pending.is_empty() {
            start = number;
        }
        // A comment starts at `#` at the line's start or after whitespace.
        let without_comment = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(pos) => &raw[..pos],
            None => raw,
        };
        if let Some(continued) = without_comment.trim_end().strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(without_comment);
        let line = std::mem::take(&mut pending);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line
            .strip_prefix("-r ")
            .or_else(|| line.strip_prefix("--requirement "))
            .or_else(|| line.strip_prefix("--requirement="))
        {
            let included = path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(rest.trim());
            read_into(&included, out, seen)?;
            continue;
        }
        if line.starts_with('-') {
            let option = line.split_whitespace().next().unwrap_or(line);
            return Err(refuse(
                start,
                format!("pip option `{option}` is not supported by ftforge check"),
            ));
        }
        // `--hash=sha256:…` options after a requirement pin files pip downloads.
        let requirement_text = line
            .split_whitespace()
            .take_while(|w| !w.starts_with("--hash"))
            .collect::<Vec<_>>()
            .join(" ");
        let requirement = crate::pypi::parse_requirement(&requirement_text)
            .map_err(|e| refuse(start, e.to_string()))?;
        out.push(RequirementLine {
            requirement,
            origin: format!("{}:{start}", path.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_as_users_write_them() {
        assert_eq!(parse_python("3.14t").unwrap(), PythonAbi::new(3, 14, true));
        assert_eq!(parse_python("3.13").unwrap(), PythonAbi::new(3, 13, false));
        assert_eq!(parse_python("cp314t").unwrap(), PythonAbi::new(3, 14, true));
        for bad in ["3", "3.14.7", "py3.14", "3.x", "t", ""] {
            assert!(parse_python(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(python_label(&PythonAbi::new(3, 14, true)), "3.14t");
    }

    #[test]
    fn requirements_files_keep_every_line_or_refuse_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("more.txt"), "msgpack==1.1.0\n").unwrap();
        let main = dir.path().join("reqs.txt");
        std::fs::write(
            &main,
            "# my stack\npyyaml  # inline comment\n\nzstandard>=0.23 \\\n  ; python_version >= '3.13'\n-r more.txt\nujson==5.10.0 --hash=sha256:00\n",
        )
        .unwrap();
        let lines = read_requirements_file(&main).unwrap();
        let names: Vec<String> = lines.iter().map(|l| l.requirement.to_string()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(names[0], "pyyaml");
        assert!(names[1].starts_with("zstandard>=0.23"), "{names:?}");
        assert!(names[1].contains(">= '3.13'"), "{names:?}");
        assert_eq!(names[2], "msgpack==1.1.0");
        assert_eq!(names[3], "ujson==5.10.0");
        assert!(
            lines[1].origin.ends_with("reqs.txt:4"),
            "{}",
            lines[1].origin
        );

        std::fs::write(&main, "pyyaml\n--index-url http://example.invalid/simple\n").unwrap();
        let err = read_requirements_file(&main).unwrap_err().to_string();
        assert!(
            err.contains("reqs.txt:2") && err.contains("--index-url"),
            "{err}"
        );
        std::fs::write(&main, "pyyaml\nnot a requirement!\n").unwrap();
        let err = read_requirements_file(&main).unwrap_err().to_string();
        assert!(err.contains("reqs.txt:2"), "{err}");
    }
}
