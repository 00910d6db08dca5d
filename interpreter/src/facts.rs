//! The facts probe: a small Python program run by a built (and installed) interpreter
//! that reports what it really is — GIL state, ABI, paths, which stdlib extensions load,
//! whether pip works — and the checks ftforge holds those facts to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::PythonAbi;

/// Stdlib modules backed by C extensions that need system libraries; every one must load
/// in a complete build.
pub const REQUIRED_STDLIB_MODULES: &[&str] = &[
    "ssl", "sqlite3", "ctypes", "zlib", "bz2", "lzma", "readline", "curses", "decimal", "_decimal",
    "uuid", "_uuid", "tkinter", "_tkinter", "hashlib", "_ctypes", "pyexpat", "_json", "_hashlib",
    "_ssl", "_sqlite3",
];

/// Printed as one JSON object on stdout; run with `python -I -c FACTS_SCRIPT`.
pub const FACTS_SCRIPT: &str = r#"
import importlib, json, subprocess, sys, sysconfig
mods = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        mods[name] = None
    except Exception as exc:  # report, do not stop: every module is a fact
        mods[name] = f"{type(exc).__name__}: {exc}"
pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
print(json.dumps({
    "version": sys.version.split()[0],
    "executable": sys.executable,
    "prefix": sys.prefix,
    "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
    "py_gil_disabled": sysconfig.get_config_var("Py_GIL_DISABLED"),
    "abiflags": getattr(sys, "abiflags", ""),
    "paths": sysconfig.get_paths(),
    "modules": mods,
    "pip": (pip.stdout or pip.stderr).strip() if pip.returncode == 0 else None,
    "pip_error": None if pip.returncode == 0 else (pip.stderr or pip.stdout).strip()[-2000:],
}))
"#;

/// What the facts probe reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InterpreterFacts {
    pub version: String,
    pub executable: String,
    pub prefix: String,
    pub gil_enabled: bool,
    pub py_gil_disabled: Option<i64>,
    pub abiflags: String,
    pub paths: BTreeMap<String, String>,
    /// Module name → `None` when it imported, the error otherwise.
    pub modules: BTreeMap<String, Option<String>>,
    pub pip: Option<String>,
    pub pip_error: Option<String>,
}

impl InterpreterFacts {
    pub fn parse(stdout: &str) -> Result<Self, serde_json::Error> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or("");
        serde_json::from_str(line)
    }

    /// Every way these facts differ from a correct interpreter of `abi` installed at
    /// `prefix`. Empty means the interpreter is what it claims to be.
    pub fn problems(&self, abi: &PythonAbi, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.gil_enabled == abi.freethreading {
            problems.push(format!(
                "sys._is_gil_enabled() is {} on the {} build",
                py_bool(self.gil_enabled),
                abi.variant_name()
            ));
        }
        let expected_flag = i64::from(abi.freethreading);
        if self.py_gil_disabled.unwrap_or(0) != expected_flag {
            problems.push(format!(
                "sysconfig Py_GIL_DISABLED is {:?}, expected {expected_flag}",
                self.py_gil_disabled
            ));
        }
        if !self.version.starts_with(&format!("{}.", abi.py_ver())) {
            problems.push(format!("version {} is not {}", self.version, abi.py_ver()));
        }
        if self.prefix != prefix {
            problems.push(format!("sys.prefix is {}, expected {prefix}", self.prefix));
        }
        for (key, path) in &self.paths {
            if !path.starts_with(prefix) {
                problems.push(format!("sysconfig path {key} = {path} is outside {prefix}"));
            }
        }
        for (module, error) in &self.modules {
            if let Some(error) = error {
                problems.push(format!("import {module} failed: {error}"));
            }
        }
        if self.pip.is_none() {
            problems.push(format!(
                "python -m pip --version failed: {}",
                self.pip_error.as_deref().unwrap_or("no output")
            ));
        }
        problems
    }
}

fn py_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(gil: bool, flag: i64) -> InterpreterFacts {
        InterpreterFacts {
            version: "3.14.7".into(),
            executable: "/env/bin/python3.14t".into(),
            prefix: "/env".into(),
            gil_enabled: gil,
            py_gil_disabled: Some(flag),
            abiflags: "t".into(),
            paths: BTreeMap::from([(
                "purelib".into(),
                "/env/lib/python3.14t/site-packages".into(),
            )]),
            modules: BTreeMap::from([("ssl".into(), None)]),
            pip: Some("pip 25.0".into()),
            pip_error: None,
        }
    }

    #[test]
    fn a_correct_free_threaded_build_has_no_problems() {
        let abi = PythonAbi::new(3, 14, true);
        assert_eq!(facts(false, 1).problems(&abi, "/env"), Vec::<String>::new());
    }

    #[test]
    fn gil_state_and_paths_are_checked() {
        let abi = PythonAbi::new(3, 14, true);
        let mut f = facts(true, 0);
        f.modules
            .insert("_tkinter".into(), Some("ImportError: libtk".into()));
        f.pip = None;
        let problems = f.problems(&abi, "/elsewhere");
        assert!(problems
            .iter()
            .any(|p| p.contains("_is_gil_enabled() is True")));
        assert!(problems.iter().any(|p| p.contains("Py_GIL_DISABLED")));
        assert!(problems.iter().any(|p| p.contains("sys.prefix")));
        assert!(problems.iter().any(|p| p.contains("purelib")));
        assert!(problems.iter().any(|p| p.contains("_tkinter")));
        assert!(problems.iter().any(|p| p.contains("pip")));
    }

    #[test]
    fn parses_the_last_json_line() {
        let out = format!(
            "noise\n{}\n",
            serde_json::to_string(&facts(false, 1)).unwrap()
        );
        assert_eq!(InterpreterFacts::parse(&out).unwrap(), facts(false, 1));
    }
}

/// Checks that an interpreter installed at `prefix` was relocated completely: the
/// `-config` script and pip's entry point name the new prefix.
pub fn relocation_problems(abi: &PythonAbi, prefix: &std::path::Path) -> Vec<String> {
    let mut problems = Vec::new();
    let prefix_str = prefix.to_string_lossy();
    let config = prefix.join(format!("bin/{}-config", abi.versioned_name()));
    match std::process::Command::new("sh")
        .arg(&config)
        .arg("--prefix")
        .output()
    {
        Ok(out) if out.status.success() => {
            let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if got != prefix_str {
                problems.push(format!(
                    "{} --prefix printed {got}, expected {prefix_str}",
                    config.display()
                ));
            }
        }
        Ok(out) => problems.push(format!(
            "{} --prefix failed: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => problems.push(format!("cannot run {}: {e}", config.display())),
    }
    let pip = prefix.join("bin/pip3");
    match std::fs::read_to_string(&pip) {
        Ok(text) => {
            let shebang = text.lines().next().unwrap_or_default();
            let expected = format!("#!{prefix_str}/bin/python");
            if !shebang.starts_with(&expected) {
                problems.push(format!(
                    "{} starts with `{shebang}`, expected `{expected}…`",
                    pip.display()
                ));
            }
        }
        Err(e) => problems.push(format!("cannot read {}: {e}", pip.display())),
    }
    problems
}
