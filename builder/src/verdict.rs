//! Deciding a package's compatibility verdict from evidence gathered on an installed
//! environment: every extension module imported in a fresh process (GIL state and
//! warnings captured), thread-stress runs, and the recipe's own tests. The evidence is
//! typed ([`Evidence`]); [`decide`] is the decision table of docs/compat.md.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use ftforge_channels::Verdict;
use ftforge_interpreter::extensions::{
    extension_modules, import_race_snippet, vendored_path_root, ExtensionModule, ImportResult,
    ModuleAbi, StressHarnessReport, StressResult, StressSource, IMPORT_PROBE, STRESS_HARNESS,
};
use ftforge_interpreter::probes::Subinterpreters;
use ftforge_interpreter::PythonAbi;
use serde::{Deserialize, Serialize};

use crate::env::LeftToPip;
use crate::testing::{activate_with_path, run_probe, ChildFailure, TestKind, TestOutcome};

/// How long one import, or the subinterpreter probe, may take.
const PROBE_LIMIT: Duration = Duration::from_secs(120);

/// A recipe's thread-stress declaration (`extra.ftforge.stress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StressConfig {
    /// Python run by every thread at once; without one, the imports themselves race.
    #[serde(default)]
    pub snippet: Option<String>,
    #[serde(default = "default_threads")]
    pub threads: u32,
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_threads() -> u32 {
    8
}
fn default_rounds() -> u32 {
    10
}
fn default_timeout() -> u64 {
    120
}

impl Default for StressConfig {
    fn default() -> Self {
        Self {
            snippet: None,
            threads: default_threads(),
            rounds: default_rounds(),
            timeout_secs: default_timeout(),
        }
    }
}

/// `extra.ftforge.stress` does not have the documented shape.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("extra.ftforge.stress: {0}")]
#[diagnostic(help("its keys: snippet (Python code), threads, rounds, timeout_secs (numbers)"))]
pub struct StressConfigError(#[source] pub serde_json::Error);

impl StressConfig {
    pub fn from_extra(extra: &serde_json::Value) -> Result<Self, StressConfigError> {
        match extra.pointer("/ftforge/stress") {
            None | Some(serde_json::Value::Null) => Ok(Self::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(StressConfigError),
        }
    }
}

/// Whether each extension module also loads in a subinterpreter (PEP 684/734):
/// recorded, not judged. In JSON either the probe's report or `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SubinterpreterProbe {
    Ran(Subinterpreters),
    Failed { error: String },
}

/// Everything a verdict was decided from, stored as `evidence` in `compat.json`
/// (fields documented in docs/compat.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The interpreter the package was judged on (`cp314t` in JSON).
    #[serde(with = "ftforge_channels::abi_tag")]
    pub abi: PythonAbi,
    /// The compiled extension modules among the package's files.
    pub modules: Vec<ExtensionModule>,
    /// Each module imported in a fresh process (`PYTHON_GIL` unset).
    pub imports: Vec<ImportResult>,
    /// The thread-stress run; none for a package without modules or a declared snippet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<StressResult>,
    /// The recipe's tests (`PYTHON_GIL` unset).
    #[serde(default)]
    pub tests: Vec<TestOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subinterpreters: Option<SubinterpreterProbe>,
    /// The extras the package declares (`Provides-Extra` of its installed metadata):
    /// a module that only fails for want of a module outside the package is then one
    /// of its optional parts, not a failed import (docs/compat.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
    /// Shared objects in site-packages that are not extension modules (no
    /// `PyInit_…` export): libraries the package loads with ctypes or cffi; not imported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_libraries: Vec<String>,
    /// The judging code's digest (`FTFORGE_JUDGING_DIGEST`): a verdict judged by other
    /// code is judged again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged_with: Option<String>,
    /// Host requirements the channel does not have, left to pip's build isolation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_to_pip: Vec<LeftToPip>,
}

impl Evidence {
    /// The JSON stored in `CompatRecord::evidence`.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("evidence has only string map keys")
    }

    /// Reads evidence written by [`Evidence::to_value`] or by `compat.json` schema 1.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Evidence::deserialize(value)
    }

    /// The recipe declared a stress snippet: a claim the verdict holds it to.
    pub fn stress_declared(&self) -> bool {
        self.stress
            .as_ref()
            .is_some_and(|s| s.snippet_source == StressSource::Recipe)
    }
}

/// A verdict, its one-line reason and the evidence behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub verdict: Verdict,
    pub reason: String,
    pub evidence: Evidence,
}

/// The extension modules among a package's files (paths relative to the prefix).
pub fn modules_of(files: &[String], abi: &PythonAbi) -> Vec<ExtensionModule> {
    extension_modules(files.iter().map(String::as_str), &abi.site_packages_dir())
}

/// Gathers the evidence on `prefix` (where the package and its interpreter are
/// installed) and decides the verdict.
pub async fn assess(
    abi: &PythonAbi,
    prefix: &Path,
    modules: &[ExtensionModule],
    tests: &[TestOutcome],
    extras: &[String],
    stress: &StressConfig,
) -> Assessment {
    let python = prefix.join(abi.executable());
    let mut imports = Vec::new();
    // Each module as it imports (vendored ones by their name below their path root),
    // and the path roots the later probes put on `sys.path`.
    let mut imported_as = Vec::new();
    let mut roots = BTreeSet::new();
    for module in modules {
        let (result, used) = import_module(&python, prefix, module).await;
        if let Some(root) = &result.path_root {
            roots.insert(prefix.join(root));
        }
        imports.push(result);
        imported_as.push(used);
    }
    let python_path = std::env::join_paths(&roots).unwrap_or_default();
    // The import race races the modules that import (one that does not is its own
    // finding already).
    let importable: Vec<ExtensionModule> = imported_as
        .iter()
        .zip(&imports)
        .filter(|(_, i)| i.imported)
        .map(|(m, _)| m.clone())
        .collect();
    let (source, snippet) = match &stress.snippet {
        Some(snippet) => (StressSource::Recipe, snippet.clone()),
        None => (StressSource::ImportRace, import_race_snippet(&importable)),
    };
    // Free-threaded builds are stressed with the GIL forced off, even when an import
    // would turn it on: a maintainer sees whether the code itself would survive.
    let python_gil = abi.freethreading.then_some("0");
    let stress_result = if importable.is_empty() && source == StressSource::ImportRace {
        None
    } else {
        Some(
            run_stress(
                &python,
                prefix,
                &python_path,
                &snippet,
                source,
                stress,
                python_gil,
            )
            .await,
        )
    };
    let subinterpreters = if modules.is_empty() {
        None
    } else {
        Some(subinterpreter_imports(&python, prefix, &python_path, &imported_as).await)
    };
    let evidence = Evidence {
        abi: *abi,
        modules: modules.to_vec(),
        imports,
        stress: stress_result,
        tests: tests.to_vec(),
        subinterpreters,
        extras: extras.to_vec(),
        judged_with: None,
        shared_libraries: Vec::new(),
        left_to_pip: Vec::new(),
    };
    let (verdict, reason) = decide(&evidence);
    Assessment {
        verdict,
        reason,
        evidence,
    }
}

/// The extras a package declares: `Provides-Extra` in the installed `*.dist-info/METADATA`
/// among its files (paths relative to `prefix`).
pub fn declared_extras(prefix: &Path, files: &[String]) -> Vec<String> {
    let Some(metadata) = files.iter().find(|f| f.ends_with(".dist-info/METADATA")) else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(prefix.join(metadata)) else {
        return Vec::new();
    };
    text.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("Provides-Extra:"))
        .map(|e| e.trim().to_string())
        .collect()
}

/// The decision table of docs/compat.md, worst finding first.
pub fn decide(evidence: &Evidence) -> (Verdict, String) {
    // Optional parts: with the package's own import tests passing and extras declared,
    // a module that only lacks a module from outside the package belongs to an extra.
    let imports_pass = evidence
        .tests
        .iter()
        .all(|t| t.passed || !matches!(t.kind, TestKind::Import(_)));
    let optional = |i: &&ImportResult| {
        imports_pass && !evidence.extras.is_empty() && i.needs_outside_module().is_some()
    };
    let optional_note = evidence
        .imports
        .iter()
        .filter(optional)
        .map(|i| {
            format!(
                "{} not imported: it needs {} (optional: extras {})",
                i.module,
                i.needs_outside_module().unwrap_or_default(),
                evidence.extras.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (verdict, reason) = decide_required(evidence, &optional);
    if optional_note.is_empty() || verdict == Verdict::ImportFailed {
        (verdict, reason)
    } else {
        (verdict, format!("{reason}; {optional_note}"))
    }
}

fn decide_required(
    evidence: &Evidence,
    optional: &dyn Fn(&&ImportResult) -> bool,
) -> (Verdict, String) {
    let abi = &evidence.abi;
    if let Some(failed) = evidence
        .imports
        .iter()
        .find(|i| !i.imported && !optional(i))
    {
        // The interpreter's own error (a ModuleNotFoundError: its import system does
        // not even look at a file of a suffix it cannot load) plus what that means.
        let unloadable = evidence
            .modules
            .iter()
            .find(|m| m.name == failed.module)
            .map(|m| m.abi)
            .filter(|module_abi| !abi.loads(*module_abi));
        let note = match unloadable {
            Some(ModuleAbi::Abi3) => {
                " (an abi3 module: free-threaded CPython does not load `.abi3.so` files; from 3.15 it loads abi3t, PEP 803)"
            }
            Some(ModuleAbi::Abi3t) => {
                " (an abi3t module: CPython before 3.15 does not load `.abi3t.so` files)"
            }
            _ => "",
        };
        return (
            Verdict::ImportFailed,
            format!(
                "import {} failed: {}{note}",
                failed.module,
                failed.error.as_deref().unwrap_or("?")
            ),
        );
    }
    let failed_tests: Vec<&TestOutcome> = evidence.tests.iter().filter(|t| !t.passed).collect();
    if let Some(failed) = failed_tests
        .iter()
        .find(|t| matches!(t.kind, TestKind::Import(_)))
    {
        return (
            Verdict::ImportFailed,
            format!("recipe test `{}` failed", failed.kind),
        );
    }
    if let Some(failed) = failed_tests.first() {
        let how = if abi.freethreading {
            " (run as users run it: PYTHON_GIL unset)"
        } else {
            ""
        };
        return (
            Verdict::TestsFailed,
            format!("recipe test `{}` failed{how}", failed.kind),
        );
    }
    if abi.freethreading {
        if let Some(culprit) = evidence.imports.iter().find(|i| i.reenabled_gil()) {
            let said = culprit
                .gil_warning()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            return (
                Verdict::GilReenabled,
                format!("importing {} turned the GIL on{said}", culprit.described()),
            );
        }
    }
    if let Some(s) = evidence.stress.as_ref().filter(|s| !s.passed) {
        let gil = match &s.python_gil {
            Some(value) => format!("PYTHON_GIL={value}"),
            None => "the GIL on".into(),
        };
        return (
            Verdict::StressFailed,
            format!(
                "{} with {gil}: {}",
                s.snippet_source,
                s.failure.as_deref().unwrap_or("failed")
            ),
        );
    }
    let declared = evidence.stress_declared();
    if evidence.modules.is_empty() {
        let stress = if declared {
            "; the recipe's stress snippet passes"
        } else {
            ""
        };
        return (
            Verdict::PurePython,
            format!("no compiled extension modules{stress}"),
        );
    }
    let n = evidence.modules.len();
    let tests = match evidence.tests.len() {
        0 => String::new(),
        count => format!("{count} recipe test(s) pass; "),
    };
    match (abi.freethreading, declared) {
        (true, true) => (
            Verdict::Verified,
            format!(
                "{n} module(s) keep the GIL off; {tests}the recipe's stress snippet passes with PYTHON_GIL=0"
            ),
        ),
        (true, false) => (
            Verdict::GilFree,
            format!("{n} module(s) import with the GIL off"),
        ),
        (false, true) => (
            Verdict::Verified,
            format!("{n} module(s) import; {tests}the recipe's stress snippet passes"),
        ),
        (false, false) => (Verdict::Ok, format!("{n} module(s) import")),
    }
}

async fn subinterpreter_imports(
    python: &Path,
    prefix: &Path,
    python_path: &OsStr,
    modules: &[ExtensionModule],
) -> SubinterpreterProbe {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-c")
        .arg(ftforge_interpreter::probes::SUBINTERPRETERS)
        .args(modules.iter().map(|m| m.name.clone()))
        .current_dir(prefix);
    activate_with_path(&mut cmd, prefix, python_path);
    match run_probe(cmd, None, PROBE_LIMIT)
        .await
        .and_then(|f| f.report())
    {
        Ok(report) => SubinterpreterProbe::Ran(report),
        Err(e) => SubinterpreterProbe::Failed {
            error: e.to_string(),
        },
    }
}

/// Imports a module by its dotted name; when that fails because it is vendored code
/// that expects its folder on `sys.path` ([`vendored_path_root`]), imports it again
/// from there. Returns the result that stands and the module as it was imported.
async fn import_module(
    python: &Path,
    prefix: &Path,
    module: &ExtensionModule,
) -> (ImportResult, ExtensionModule) {
    let dotted = import_one(python, prefix, &module.name, None).await;
    let vendored = dotted
        .missing
        .as_deref()
        .filter(|_| !dotted.imported)
        .and_then(|missing| vendored_path_root(prefix, module, missing));
    let Some((root, name)) = vendored else {
        return (dotted, module.clone());
    };
    let mut retry = import_one(python, prefix, &name, Some(&prefix.join(&root))).await;
    // The retry stands when it got further than the dotted import did.
    if !retry.imported && retry.missing == dotted.missing {
        return (dotted, module.clone());
    }
    retry.path_root = Some(root);
    retry.dotted_error = dotted.error;
    let used = ExtensionModule {
        name,
        ..module.clone()
    };
    (retry, used)
}

async fn import_one(
    python: &Path,
    prefix: &Path,
    module: &str,
    root: Option<&Path>,
) -> ImportResult {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-c")
        .arg(IMPORT_PROBE)
        .arg(module)
        .current_dir(prefix);
    activate_with_path(
        &mut cmd,
        prefix,
        root.map_or(OsStr::new(""), Path::as_os_str),
    );
    // The probe's report stands even if the process then ends badly.
    match run_probe(cmd, None, PROBE_LIMIT)
        .await
        .and_then(|f| f.report())
    {
        Ok(result) => result,
        Err(e) => ImportResult {
            module: module.to_string(),
            imported: false,
            error: Some(e.to_string()),
            missing: None,
            path_root: None,
            dotted_error: None,
            gil_before: false,
            gil_after: false,
            warnings: Vec::new(),
            seconds: 0.0,
        },
    }
}

async fn run_stress(
    python: &Path,
    prefix: &Path,
    python_path: &OsStr,
    snippet: &str,
    source: StressSource,
    config: &StressConfig,
    python_gil: Option<&str>,
) -> StressResult {
    let mut result = StressResult {
        python_gil: python_gil.map(String::from),
        snippet_source: source,
        threads: config.threads,
        rounds: config.rounds,
        passed: false,
        failure: None,
        errors: Vec::new(),
        seconds: 0.0,
        gil_enabled: None,
    };
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg("-c")
        .arg(STRESS_HARNESS)
        .arg(config.threads.to_string())
        .arg(config.rounds.to_string())
        .current_dir(prefix);
    activate_with_path(&mut cmd, prefix, python_path);
    if let Some(value) = python_gil {
        cmd.env("PYTHON_GIL", value);
    }
    let limit = Duration::from_secs(config.timeout_secs);
    let report = match run_probe(cmd, Some(snippet), limit).await {
        Ok(finished) => {
            result.seconds = finished.seconds;
            // A report followed by a crash at exit is still a crash.
            if finished.status.success() {
                finished.report::<StressHarnessReport>()
            } else {
                Err(ChildFailure::NoReport(finished.ending()))
            }
        }
        Err(e) => {
            if matches!(e, ChildFailure::Hung { .. }) {
                result.seconds = limit.as_secs_f64();
            }
            Err(e)
        }
    };
    match report {
        Ok(report) => {
            result.passed = report.error_count == 0;
            if report.error_count > 0 {
                result.failure = Some(format!("{} thread(s) raised", report.error_count));
            }
            result.errors = report.errors;
            result.gil_enabled = Some(report.gil_enabled);
        }
        Err(e) => result.failure = Some(e.to_string()),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftforge_interpreter::probes::SubinterpreterImport;

    fn module(name: &str, abi3: bool) -> ExtensionModule {
        ExtensionModule {
            name: name.into(),
            path: format!("x/{name}.so"),
            abi: if abi3 {
                ModuleAbi::Abi3
            } else {
                ModuleAbi::Version
            },
        }
    }

    fn import(ok: bool, gil_after: bool) -> ImportResult {
        ImportResult {
            module: "a._x".into(),
            imported: ok,
            error: (!ok).then(|| "ImportError: nope".into()),
            missing: None,
            path_root: None,
            dotted_error: None,
            gil_before: false,
            gil_after,
            warnings: Vec::new(),
            seconds: 0.0,
        }
    }

    fn stress(source: StressSource, passed: bool, abi: &PythonAbi) -> StressResult {
        StressResult {
            python_gil: abi.freethreading.then(|| "0".into()),
            snippet_source: source,
            threads: 8,
            rounds: 10,
            passed,
            failure: (!passed).then(|| "crashed (signal 11)".into()),
            errors: Vec::new(),
            seconds: 1.0,
            gil_enabled: Some(!abi.freethreading),
        }
    }

    fn test(kind: TestKind, passed: bool) -> TestOutcome {
        TestOutcome {
            kind,
            passed,
            detail: (!passed).then(|| "exit code 1".into()),
        }
    }

    use StressSource::{ImportRace as Race, Recipe as Declared};

    /// One row of the decision table.
    struct Row {
        case: &'static str,
        free_threaded: bool,
        /// `None`: no extension modules; `Some(abi3)`: one module `a._x`.
        module: Option<bool>,
        /// (imported, GIL on after the import)
        import: (bool, bool),
        stress: Option<(StressSource, bool)>,
        tests: Vec<TestOutcome>,
        verdict: Verdict,
        reason: &'static str,
    }

    fn evidence(row: &Row) -> Evidence {
        let abi = PythonAbi::new(3, 14, row.free_threaded);
        Evidence {
            abi,
            modules: row
                .module
                .map(|abi3| module("a._x", abi3))
                .into_iter()
                .collect(),
            imports: row
                .module
                .map(|_| import(row.import.0, row.import.1))
                .into_iter()
                .collect(),
            stress: row
                .stress
                .map(|(source, passed)| stress(source, passed, &abi)),
            tests: row.tests.clone(),
            subinterpreters: None,
            extras: Vec::new(),
            judged_with: None,
            shared_libraries: Vec::new(),
            left_to_pip: Vec::new(),
        }
    }

    /// zstandard 0.25: `zstandard._cffi` needs cffi's `_cffi_backend`, which only its
    /// `cffi` extra installs; `import zstandard` works without it.
    #[test]
    fn a_module_of_an_extra_does_not_fail_the_package() {
        let abi = PythonAbi::new(3, 14, true);
        let mut optional = import(false, false);
        optional.module = "zstandard._cffi".into();
        optional.error = Some("ModuleNotFoundError: No module named '_cffi_backend'".into());
        optional.missing = Some("_cffi_backend".into());
        let mut main = import(true, false);
        main.module = "zstandard.backend_c".into();
        let mut evidence = Evidence {
            abi,
            modules: vec![
                module("zstandard._cffi", false),
                module("zstandard.backend_c", false),
            ],
            imports: vec![optional.clone(), main],
            stress: Some(stress(StressSource::ImportRace, true, &abi)),
            tests: vec![test(TestKind::Import("zstandard".into()), true)],
            subinterpreters: None,
            extras: vec!["cffi".into()],
            judged_with: None,
            shared_libraries: Vec::new(),
            left_to_pip: Vec::new(),
        };
        let (verdict, reason) = decide(&evidence);
        assert_eq!(verdict, Verdict::GilFree, "{reason}");
        assert!(
            reason.contains(
                "zstandard._cffi not imported: it needs _cffi_backend (optional: extras cffi)"
            ),
            "{reason}"
        );
        // Without extras declared, or when the package's own import fails, it is a
        // failed import.
        evidence.extras.clear();
        assert_eq!(decide(&evidence).0, Verdict::ImportFailed);
        evidence.extras = vec!["cffi".into()];
        evidence.tests = vec![test(TestKind::Import("zstandard".into()), false)];
        assert_eq!(decide(&evidence).0, Verdict::ImportFailed);
        // A module missing from the package itself is never optional.
        evidence.tests = vec![test(TestKind::Import("zstandard".into()), true)];
        evidence.imports[0].missing = Some("zstandard._missing".into());
        assert_eq!(decide(&evidence).0, Verdict::ImportFailed);
    }

    #[test]
    fn the_decision_table() {
        let ok = (true, false);
        let pip_check = || {
            vec![
                test(TestKind::Import("a".into()), true),
                test(TestKind::PipCheck, false),
            ]
        };
        #[rustfmt::skip]
        let rows = [
            Row { case: "no modules", free_threaded: true, module: None, import: ok, stress: None, tests: vec![], verdict: Verdict::PurePython, reason: "no compiled extension modules" },
            Row { case: "no modules, declared stress passes", free_threaded: false, module: None, import: ok, stress: Some((Declared, true)), tests: vec![], verdict: Verdict::PurePython, reason: "stress snippet passes" },
            Row { case: "no modules, declared stress fails", free_threaded: true, module: None, import: ok, stress: Some((Declared, false)), tests: vec![], verdict: Verdict::StressFailed, reason: "recipe stress snippet with PYTHON_GIL=0: crashed" },
            Row { case: "no modules, a script fails", free_threaded: false, module: None, import: ok, stress: None, tests: vec![test(TestKind::Script(1), false)], verdict: Verdict::TestsFailed, reason: "recipe test `script #1` failed" },
            Row { case: "module does not import", free_threaded: true, module: Some(false), import: (false, false), stress: Some((Race, true)), tests: vec![], verdict: Verdict::ImportFailed, reason: "import a._x failed: ImportError: nope" },
            Row { case: "abi3 module on free-threaded", free_threaded: true, module: Some(true), import: (false, false), stress: Some((Race, true)), tests: vec![], verdict: Verdict::ImportFailed, reason: "abi3 module" },
            Row { case: "recipe import test fails", free_threaded: false, module: Some(false), import: ok, stress: Some((Race, true)), tests: vec![test(TestKind::Import("a".into()), false)], verdict: Verdict::ImportFailed, reason: "recipe test `import a` failed" },
            Row { case: "GIL re-enabled", free_threaded: true, module: Some(false), import: (true, true), stress: Some((Race, true)), tests: vec![], verdict: Verdict::GilReenabled, reason: "importing a._x turned the GIL on" },
            Row { case: "GIL re-enabled, stress fails with it off", free_threaded: true, module: Some(false), import: (true, true), stress: Some((Declared, false)), tests: vec![], verdict: Verdict::GilReenabled, reason: "turned the GIL on" },
            Row { case: "free-threaded, declared stress fails", free_threaded: true, module: Some(false), import: ok, stress: Some((Declared, false)), tests: vec![], verdict: Verdict::StressFailed, reason: "recipe stress snippet with PYTHON_GIL=0" },
            Row { case: "free-threaded, import race fails", free_threaded: true, module: Some(false), import: ok, stress: Some((Race, false)), tests: vec![], verdict: Verdict::StressFailed, reason: "import race with PYTHON_GIL=0" },
            Row { case: "free-threaded, import race passes", free_threaded: true, module: Some(false), import: ok, stress: Some((Race, true)), tests: vec![], verdict: Verdict::GilFree, reason: "1 module(s) import with the GIL off" },
            Row { case: "free-threaded, declared stress and tests pass", free_threaded: true, module: Some(false), import: ok, stress: Some((Declared, true)), tests: vec![test(TestKind::Import("a".into()), true)], verdict: Verdict::Verified, reason: "1 recipe test(s) pass; the recipe's stress snippet passes with PYTHON_GIL=0" },
            Row { case: "free-threaded, a script fails", free_threaded: true, module: Some(false), import: ok, stress: Some((Declared, true)), tests: vec![test(TestKind::Script(1), false)], verdict: Verdict::TestsFailed, reason: "recipe test `script #1` failed (run as users run it: PYTHON_GIL unset)" },
            Row { case: "free-threaded, a script fails and the GIL came on", free_threaded: true, module: Some(false), import: (true, true), stress: Some((Race, true)), tests: vec![test(TestKind::Script(2), false)], verdict: Verdict::TestsFailed, reason: "`script #2`" },
            Row { case: "GIL build imports", free_threaded: false, module: Some(false), import: (true, true), stress: Some((Race, true)), tests: vec![], verdict: Verdict::Ok, reason: "1 module(s) import" },
            Row { case: "GIL build, declared stress passes", free_threaded: false, module: Some(false), import: (true, true), stress: Some((Declared, true)), tests: vec![], verdict: Verdict::Verified, reason: "the recipe's stress snippet passes" },
            Row { case: "GIL build, declared stress fails", free_threaded: false, module: Some(false), import: (true, true), stress: Some((Declared, false)), tests: vec![], verdict: Verdict::StressFailed, reason: "recipe stress snippet with the GIL on: crashed (signal 11)" },
            Row { case: "GIL build, import race fails", free_threaded: false, module: Some(false), import: (true, true), stress: Some((Race, false)), tests: vec![], verdict: Verdict::StressFailed, reason: "import race with the GIL on" },
            Row { case: "GIL build, pip check fails", free_threaded: false, module: Some(false), import: (true, true), stress: Some((Declared, true)), tests: pip_check(), verdict: Verdict::TestsFailed, reason: "recipe test `pip check` failed" },
        ];
        for row in &rows {
            let (verdict, reason) = decide(&evidence(row));
            assert_eq!(verdict, row.verdict, "{}: {reason}", row.case);
            assert!(
                reason.contains(row.reason),
                "{}: `{reason}` does not say `{}`",
                row.case,
                row.reason
            );
        }
    }

    #[test]
    fn evidence_is_plain_json_and_reads_schema_1() {
        let abi = PythonAbi::new(3, 14, true);
        let mut modules = std::collections::BTreeMap::new();
        modules.insert(
            "a._x".to_string(),
            SubinterpreterImport {
                ok: false,
                error: Some("ImportError: no".into()),
            },
        );
        let evidence = Evidence {
            abi,
            modules: vec![module("a._x", false)],
            imports: vec![import(true, false)],
            stress: Some(stress(Declared, true, &abi)),
            tests: vec![test(TestKind::Script(1), true)],
            subinterpreters: Some(SubinterpreterProbe::Ran(Subinterpreters {
                api: "concurrent.interpreters".into(),
                modules,
            })),
            extras: Vec::new(),
            judged_with: None,
            shared_libraries: Vec::new(),
            left_to_pip: vec![LeftToPip {
                name: "pip".into(),
                spec: "pip".into(),
                channel_has: Vec::new(),
            }],
        };
        let value = evidence.to_value();
        let text = value.to_string();
        assert!(
            !text.contains("\"Ok\"") && !text.contains("\"Err\""),
            "{text}"
        );
        assert_eq!(value["abi"], "cp314t");
        assert_eq!(value["stress"]["snippet_source"], "recipe stress snippet");
        assert_eq!(value["tests"][0]["kind"], "script");
        assert_eq!(value["subinterpreters"]["modules"]["a._x"]["ok"], false);
        assert_eq!(value["left_to_pip"][0]["name"], "pip");
        assert_eq!(Evidence::from_value(&value).unwrap(), evidence);

        // What schema 1 stored: `null`s, test names, a failed subinterpreter probe.
        let old = serde_json::json!({
            "abi": "cp313", "modules": [], "imports": [], "stress": null,
            "tests": [{"name": "import sortedcontainers", "passed": true}],
            "subinterpreters": {"error": "no result within 120 s"},
        });
        let read = Evidence::from_value(&old).unwrap();
        assert_eq!(read.abi, PythonAbi::new(3, 13, false));
        assert_eq!(
            read.tests[0].kind,
            TestKind::Import("sortedcontainers".into())
        );
        assert!(matches!(
            read.subinterpreters,
            Some(SubinterpreterProbe::Failed { .. })
        ));
        assert_eq!(decide(&read).0, Verdict::PurePython);
    }

    #[test]
    fn stress_config_from_extra() {
        let extra = serde_json::json!({"ftforge": {"stress": {"snippet": "x = 1", "threads": 4}}});
        let c = StressConfig::from_extra(&extra).unwrap();
        assert_eq!(
            (c.snippet.as_deref(), c.threads, c.rounds),
            (Some("x = 1"), 4, 10)
        );
        assert_eq!(
            StressConfig::from_extra(&serde_json::json!({})).unwrap(),
            StressConfig::default()
        );
        assert!(StressConfig::from_extra(
            &serde_json::json!({"ftforge": {"stress": {"threads": "many"}}})
        )
        .is_err());
        // A misspelt key is refused, not ignored.
        assert!(StressConfig::from_extra(
            &serde_json::json!({"ftforge": {"stress": {"snipet": "x = 1"}}})
        )
        .is_err());
    }
}
