//! Evidence about compiled extension modules on a free-threaded interpreter: which
//! modules a package installed, whether each imports in a fresh process, whether
//! importing it turned the GIL back on, and whether they survive many threads at once.

use serde::{Deserialize, Serialize};

/// A compiled extension module found in a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionModule {
    /// Dotted import name (`yaml._yaml`).
    pub name: String,
    /// The file, relative to the prefix.
    pub path: String,
    /// The ABI its file name says it was built for.
    #[serde(default)]
    pub abi: ModuleAbi,
}

/// The ABI an extension module file was built for, read from its name the way the
/// interpreter's import system reads it (CPython's `_PyImport_DynLoadFiletab`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleAbi {
    /// One interpreter's ABI (`.cpython-314t-x86_64-linux-gnu.so`, or a bare `.so`).
    #[default]
    Version,
    /// The stable ABI (`.abi3.so`, `Py_LIMITED_API`): every GIL interpreter from the
    /// version it was built for; no free-threaded interpreter loads it.
    Abi3,
    /// The stable ABI for free-threaded builds (`.abi3t.so`, PEP 803, CPython 3.15+):
    /// every interpreter from 3.15 on, free-threaded or not.
    Abi3t,
}

impl ModuleAbi {
    /// From the file name: `_x.abi3t.so` → `Abi3t`, `_x.abi3.so` → `Abi3`.
    pub fn of_file(file: &str) -> Self {
        if file.contains(".abi3t.") || file.contains(".abi3t-") {
            ModuleAbi::Abi3t
        } else if file.contains(".abi3.") || file.contains(".abi3-") {
            ModuleAbi::Abi3
        } else {
            ModuleAbi::Version
        }
    }

    /// A stable ABI (`abi3` or `abi3t`): one file for many interpreters.
    pub fn is_stable(&self) -> bool {
        !matches!(self, ModuleAbi::Version)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ModuleAbi::Version => "version",
            ModuleAbi::Abi3 => "abi3",
            ModuleAbi::Abi3t => "abi3t",
        }
    }
}

impl std::fmt::Display for ModuleAbi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable ABI every one of `modules` shares, when they share one (and there is at
/// least one): the package is then one file for many interpreters.
pub fn shared_stable_abi(modules: &[ExtensionModule]) -> Option<ModuleAbi> {
    let first = modules.first()?.abi;
    (first.is_stable() && modules.iter().all(|m| m.abi == first)).then_some(first)
}

/// The extension module a file under `site_packages` (relative to the prefix) is, if any.
/// `lib/python3.14t/site-packages/yaml/_yaml.cpython-314t-x86_64-linux-gnu.so` →
/// `yaml._yaml`.
pub fn extension_module(path: &str, site_packages: &str) -> Option<ExtensionModule> {
    let rel = path.strip_prefix(site_packages)?.trim_start_matches('/');
    let rel = rel.strip_prefix("site-packages/").unwrap_or(rel);
    if !rel.ends_with(".so") && !rel.ends_with(".pyd") {
        return None;
    }
    let (dir, file) = rel.rsplit_once('/').map_or(("", rel), |(d, f)| (d, f));
    if dir
        .split('/')
        .any(|part| part.contains('.') || part.contains('-'))
    {
        return None; // inside a *.libs / *.dist-info folder: a shared library, not a module
    }
    let stem = file.split('.').next()?;
    let abi = ModuleAbi::of_file(file);
    if stem.is_empty() || stem.starts_with("lib") && !file.contains(".cpython-") && !abi.is_stable()
    {
        return None;
    }
    // `pkg/__init__.<suffix>.so` (mypyc compiles a package's `__init__`) is the package
    // itself: imported as `pkg`; as `pkg.__init__` the same file would be loaded a second
    // time, which such a module refuses.
    let name = match (dir.is_empty(), stem) {
        (true, _) => stem.to_string(),
        (false, "__init__") => dir.replace('/', "."),
        (false, _) => format!("{}.{stem}", dir.replace('/', ".")),
    };
    Some(ExtensionModule {
        name,
        path: path.to_string(),
        abi,
    })
}

/// Whether the shared object at `path` exports `PyInit_<last part of module>` or the
/// export hook `PyModExport_<last part>` (PEP 793, CPython 3.15; what abi3t modules
/// define), one of which CPython needs to load it as an extension module. Other `.so`
/// files in site-packages are libraries loaded with ctypes or cffi (pycryptodome's
/// `Crypto/Cipher/_ARC4*.so`). `None` when the file cannot be read as an object file.
pub fn defines_module_init(path: &std::path::Path, module: &str) -> Option<bool> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let last = module.rsplit('.').next()?;
    let wanted = [format!("PyInit_{last}"), format!("PyModExport_{last}")];
    Some(
        file.dynamic_symbols()
            .any(|s| s.is_definition() && s.name().is_ok_and(|n| wanted.iter().any(|w| w == n))),
    )
}

/// The extension modules among `files` (paths relative to the prefix, e.g. a package's
/// file list) that lie under `site_packages`.
pub fn extension_modules<'a>(
    files: impl IntoIterator<Item = &'a str>,
    site_packages: &str,
) -> Vec<ExtensionModule> {
    files
        .into_iter()
        .filter_map(|f| extension_module(f, site_packages))
        .collect()
}

/// The extension modules installed in an environment: every `lib/python3*/site-packages`
/// of `prefix` is walked (unreadable directories are skipped). Sorted by name.
pub fn installed_extension_modules(prefix: &std::path::Path) -> Vec<ExtensionModule> {
    let mut out = Vec::new();
    let Ok(lib) = std::fs::read_dir(prefix.join("lib")) else {
        return out;
    };
    for entry in lib.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("python3") {
            continue;
        }
        let site = format!("lib/{name}/site-packages");
        let files: Vec<String> = walkdir::WalkDir::new(prefix.join(&site))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .filter_map(|e| {
                e.path()
                    .strip_prefix(prefix)
                    .ok()
                    .map(|rel| rel.to_string_lossy().into_owned())
            })
            .collect();
        out.extend(extension_modules(files.iter().map(String::as_str), &site));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Where a module that did not import by its dotted name imports from, when it is
/// vendored code: the `ModuleNotFoundError` named a top-level module (`_pydevd_bundle`)
/// that lies in a folder above the module's file, below a regular package, without an
/// `__init__.py` of its own — a `sys.path` entry the package adds at run time
/// (debugpy's `debugpy/_vendored/pydevd`). Returns that folder (relative to the prefix)
/// and the module's name relative to it (`_pydevd_bundle.pydevd_cython`); `None` for
/// anything else, whose failure stands.
pub fn vendored_path_root(
    prefix: &std::path::Path,
    module: &ExtensionModule,
    missing: &str,
) -> Option<(String, String)> {
    let top = missing.split('.').next().filter(|t| !t.is_empty())?;
    let parts: Vec<&str> = module.name.split('.').collect();
    // The module's folder, relative to the prefix, ends with its dotted parent path.
    let (dir, _) = module.path.rsplit_once('/')?;
    let depth = parts.len().checked_sub(1)?;
    let dir_parts: Vec<&str> = dir.split('/').collect();
    let site = dir_parts.len().checked_sub(depth)?;
    let folder = |n: usize| dir_parts[..site + n].join("/");
    let is_package = |n: usize| prefix.join(folder(n)).join("__init__.py").is_file();
    // Deepest first; a root needs a regular package above it (a top-level folder without
    // `__init__.py` is a namespace package, imported by its dotted name).
    let module_prefix = format!("{top}.");
    (2..=depth)
        .rev()
        .filter(|&n| !is_package(n) && is_package(n - 1))
        .find_map(|n| {
            let root = folder(n);
            let here = prefix.join(&root);
            let has_top = here.join(top).is_dir()
                || here.join(format!("{top}.py")).is_file()
                || std::fs::read_dir(&here).ok()?.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with(&module_prefix) && name.ends_with(".so")
                });
            has_top.then(|| (root, parts[n..].join(".")))
        })
}

/// Imports one module in a fresh interpreter and reports, as one JSON line, whether it
/// imported, every warning raised while importing, and the GIL state afterwards.
pub const IMPORT_PROBE: &str = r#"
import json, sys, time, warnings
name = sys.argv[1]
before = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
start = time.perf_counter()
result = {"module": name, "gil_before": before}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        __import__(name)
        result["imported"] = True
    except BaseException as exc:
        result["imported"] = False
        result["error"] = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            result["missing"] = exc.name
result["seconds"] = round(time.perf_counter() - start, 4)
result["gil_after"] = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
result["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
print(json.dumps(result))
"#;

/// What [`IMPORT_PROBE`] printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub module: String,
    pub imported: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The module a `ModuleNotFoundError` named (`_cffi_backend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// Imported with this folder (relative to the prefix) first on `sys.path`, by its name
    /// relative to it: vendored code the package puts on `sys.path` itself
    /// ([`vendored_path_root`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_root: Option<String>,
    /// With `path_root`: the error of the import by the full dotted name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dotted_error: Option<String>,
    pub gil_before: bool,
    pub gil_after: bool,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub seconds: f64,
}

impl ImportResult {
    /// Importing it turned the GIL on (it was off before).
    pub fn reenabled_gil(&self) -> bool {
        self.imported && !self.gil_before && self.gil_after
    }

    /// It did not import only because a module outside its own package is missing
    /// (`zstandard._cffi` needs `_cffi_backend`).
    pub fn needs_outside_module(&self) -> Option<&str> {
        let missing = self.missing.as_deref().filter(|_| !self.imported)?;
        let top = |m: &str| m.split('.').next().unwrap_or(m).to_string();
        (top(missing) != top(&self.module)).then_some(missing)
    }

    /// The module's name as a reason gives it: with the folder it was imported from
    /// when that is vendored code (`_pydevd_bundle.pydevd_cython (from
    /// debugpy/_vendored/pydevd)`).
    pub fn described(&self) -> String {
        match &self.path_root {
            Some(root) => {
                let below = root
                    .split_once("site-packages/")
                    .map_or(root.as_str(), |(_, r)| r);
                format!("{} (from {below})", self.module)
            }
            None => self.module.clone(),
        }
    }

    /// The interpreter's own words about it, when it said so.
    pub fn gil_warning(&self) -> Option<&str> {
        self.warnings
            .iter()
            .map(String::as_str)
            .find(|w| w.contains("global interpreter lock"))
    }
}

/// Runs a snippet on N threads released together by a barrier, M rounds, and prints
/// one JSON line. argv: threads, rounds, then the snippet on stdin. Each thread gets
/// `thread_index` and `round_index` as globals. A crash shows as a signal of the
/// process; a hang as a timeout of the caller.
pub const STRESS_HARNESS: &str = r#"
import json, sys, threading, time, traceback
threads, rounds = int(sys.argv[1]), int(sys.argv[2])
code = compile(sys.stdin.read(), "<stress snippet>", "exec")
errors = []
lock = threading.Lock()
start = time.perf_counter()
for round_index in range(rounds):
    barrier = threading.Barrier(threads)
    def worker(thread_index):
        try:
            barrier.wait()
            exec(code, {"thread_index": thread_index, "round_index": round_index, "__name__": "__stress__"})
        except BaseException:
            with lock:
                errors.append(traceback.format_exc(limit=5))
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool: t.start()
    for t in pool: t.join()
    if errors:
        break
print(json.dumps({
    "threads": threads, "rounds": rounds, "errors": errors[:3], "error_count": len(errors),
    "seconds": round(time.perf_counter() - start, 3),
    "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
}))
"#;

/// The default stress snippet: every extension module imported from all threads at once
/// (fresh process, so the imports really race).
pub fn import_race_snippet(modules: &[ExtensionModule]) -> String {
    let names: Vec<String> = modules.iter().map(|m| format!("{:?}", m.name)).collect();
    format!(
        "import importlib\nfor name in [{}]:\n    importlib.import_module(name)\n",
        names.join(", ")
    )
}

/// What [`STRESS_HARNESS`] printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StressHarnessReport {
    pub threads: u32,
    pub rounds: u32,
    /// The first three tracebacks.
    #[serde(default)]
    pub errors: Vec<String>,
    /// How many threads raised in all.
    pub error_count: u64,
    pub seconds: f64,
    /// `sys._is_gil_enabled()` when the rounds were over.
    pub gil_enabled: bool,
}

/// Which code the threads of a stress run executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StressSource {
    /// The recipe's `extra.ftforge.stress.snippet`: a claim the package makes.
    #[serde(rename = "recipe stress snippet")]
    Recipe,
    /// No snippet declared: the extension modules imported from every thread at once.
    #[serde(rename = "import race")]
    ImportRace,
}

impl std::fmt::Display for StressSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StressSource::Recipe => "recipe stress snippet",
            StressSource::ImportRace => "import race",
        })
    }
}

/// What a stress run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StressResult {
    /// `PYTHON_GIL` value it ran with (`0`: GIL forced off; absent: unset).
    pub python_gil: Option<String>,
    pub snippet_source: StressSource,
    pub threads: u32,
    pub rounds: u32,
    pub passed: bool,
    /// `exception`, `crash (signal N)`, `timeout after Ns`, `exit code N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    pub seconds: f64,
    /// `sys._is_gil_enabled()` after the rounds, when the harness reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gil_enabled: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_extension_modules() {
        let sp = "lib/python3.14t/site-packages";
        let m = extension_module(
            "lib/python3.14t/site-packages/yaml/_yaml.cpython-314t-x86_64-linux-gnu.so",
            sp,
        )
        .unwrap();
        assert_eq!(m.name, "yaml._yaml");
        assert_eq!(m.abi, ModuleAbi::Version);
        let top = extension_module(
            "lib/python3.14t/site-packages/_cffi_backend.cpython-314t-x86_64-linux-gnu.so",
            sp,
        )
        .unwrap();
        assert_eq!(top.name, "_cffi_backend");
        let abi3 = extension_module("lib/python3.14t/site-packages/pkg/_x.abi3.so", sp).unwrap();
        assert_eq!(abi3.abi, ModuleAbi::Abi3);
        let sp15 = "lib/python3.15t/site-packages";
        let abi3t =
            extension_module("lib/python3.15t/site-packages/pkg/_x.abi3t.so", sp15).unwrap();
        assert_eq!(
            (abi3t.name.as_str(), abi3t.abi),
            ("pkg._x", ModuleAbi::Abi3t)
        );
        // A library-looking stem is still a module when its suffix is an ABI's.
        let lib = extension_module("lib/python3.15t/site-packages/libx.abi3t.so", sp15).unwrap();
        assert_eq!(lib.abi, ModuleAbi::Abi3t);
        assert_eq!(
            shared_stable_abi(&[abi3t.clone(), lib]),
            Some(ModuleAbi::Abi3t)
        );
        assert_eq!(shared_stable_abi(&[abi3t.clone(), m.clone()]), None);
        assert_eq!(shared_stable_abi(&[abi3t, abi3]), None);
        assert_eq!(shared_stable_abi(&[m]), None);
        assert_eq!(shared_stable_abi(&[]), None);
        let package = extension_module(
            "lib/python3.14t/site-packages/pytokens/__init__.cpython-314t-x86_64-linux-gnu.so",
            sp,
        )
        .unwrap();
        assert_eq!(package.name, "pytokens");
        assert!(extension_module("lib/python3.14t/site-packages/pkg/x.py", sp).is_none());
        assert!(extension_module(
            "lib/python3.14t/site-packages/numpy.libs/libgfortran-1.so",
            sp
        )
        .is_none());
        assert!(extension_module("lib/libfoo.so", sp).is_none());
    }

    #[test]
    fn finds_the_extension_modules_installed_in_an_environment() {
        let env = tempfile::tempdir().unwrap();
        let site = env.path().join("lib/python3.14t/site-packages");
        for file in [
            "yaml/_yaml.cpython-314t-x86_64-linux-gnu.so",
            "yaml/__init__.py",
            "_cffi_backend.cpython-314t-x86_64-linux-gnu.so",
            "numpy.libs/libgfortran-1.so",
        ] {
            let path = site.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        // The interpreter's own lib-dynload is not the environment's packages.
        let dynload = env.path().join("lib/python3.14t/lib-dynload");
        std::fs::create_dir_all(&dynload).unwrap();
        std::fs::write(dynload.join("_json.cpython-314t-x86_64-linux-gnu.so"), b"").unwrap();
        let names: Vec<String> = installed_extension_modules(env.path())
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["_cffi_backend", "yaml._yaml"]);
        assert!(installed_extension_modules(&env.path().join("missing")).is_empty());
    }

    /// A real extension module of the machine's Python exports its init function; a
    /// real shared library beside it does not.
    #[test]
    fn module_init_export_tells_modules_from_libraries() {
        let find = "import glob, os, sysconfig; d = os.path.join(sysconfig.get_path('platstdlib'), 'lib-dynload'); print(sorted(glob.glob(d + '/*.so'))[0])";
        let out = std::process::Command::new("python3")
            .args(["-c", find])
            .output()
            .expect("python3 runs");
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(path.ends_with(".so"), "no lib-dynload module here: {path}");
        let path = std::path::Path::new(&path);
        let stem = path.file_name().unwrap().to_string_lossy();
        let name = stem.split('.').next().unwrap();
        assert_eq!(defines_module_init(path, name), Some(true), "{path:?}");
        assert_eq!(defines_module_init(path, "pkg._other"), Some(false));
        assert_eq!(
            defines_module_init(std::path::Path::new("/nonexistent.so"), "x"),
            None
        );
    }

    #[test]
    fn gil_reenabling_is_read_from_the_states() {
        let r = ImportResult {
            module: "yaml._yaml".into(),
            imported: true,
            error: None,
            missing: None,
            path_root: None,
            dotted_error: None,
            gil_before: false,
            gil_after: true,
            warnings: vec!["RuntimeWarning: The global interpreter lock (GIL) has been enabled to load module 'yaml._yaml'".into()],
            seconds: 0.01,
        };
        assert!(r.reenabled_gil());
        assert!(r.gil_warning().unwrap().contains("yaml._yaml"));
    }

    /// debugpy's layout: `debugpy/_vendored/pydevd` has no `__init__.py` and is put on
    /// `sys.path` by debugpy; its Cython module imports `_pydevd_bundle` absolutely.
    #[test]
    fn vendored_code_imports_from_the_folder_it_expects_on_sys_path() {
        let prefix = tempfile::tempdir().unwrap();
        let sp = "lib/python3.14t/site-packages";
        let touch = |rel: &str| {
            let path = prefix.path().join(sp).join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        };
        for init in [
            "debugpy/__init__.py",
            "debugpy/_vendored/__init__.py",
            "debugpy/_vendored/pydevd/_pydevd_bundle/__init__.py",
            "google/protobuf/__init__.py",
            "google/protobuf/internal/__init__.py",
        ] {
            touch(init);
        }
        let so = "_pydevd_bundle/pydevd_cython.cpython-314t-x86_64-linux-gnu.so";
        touch(&format!("debugpy/_vendored/pydevd/{so}"));
        let module = extension_module(&format!("{sp}/debugpy/_vendored/pydevd/{so}"), sp).unwrap();
        assert_eq!(
            module.name,
            "debugpy._vendored.pydevd._pydevd_bundle.pydevd_cython"
        );
        assert_eq!(
            vendored_path_root(prefix.path(), &module, "_pydevd_bundle.pydevd_cython"),
            Some((
                format!("{sp}/debugpy/_vendored/pydevd"),
                "_pydevd_bundle.pydevd_cython".to_string()
            ))
        );
        // A module missing from outside the package is not a vendoring question.
        assert_eq!(
            vendored_path_root(prefix.path(), &module, "_cffi_backend"),
            None
        );
        // A top-level folder without `__init__.py` is a namespace package: its modules
        // import by their dotted names, and their failures stand.
        let so = "google/protobuf/internal/_api_implementation.cpython-314t-x86_64-linux-gnu.so";
        touch(so);
        let module = extension_module(&format!("{sp}/{so}"), sp).unwrap();
        assert_eq!(vendored_path_root(prefix.path(), &module, "protobuf"), None);
        assert_eq!(vendored_path_root(prefix.path(), &module, "internal"), None);
    }
}
