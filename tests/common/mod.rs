//! Shared helpers of the integration tests: the real binary, a persistent test cache,
//! the shipped recipes and a Python that has py-rattler.

#![allow(dead_code)]

pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Kept between test runs (sources, builds, package cache) so reruns are quick:
/// `FTFORGE_TEST_CACHE`, or `target/ftforge-test-cache`.
pub fn test_cache() -> PathBuf {
    let dir = std::env::var_os("FTFORGE_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target").join("ftforge-test-cache"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `ftforge` binary with the test cache.
pub fn ftforge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftforge"));
    cmd.env("FTFORGE_CACHE_DIR", test_cache())
        .env_remove("FTFORGE_CHANNEL");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command starts");
    out
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Python interpreter used to drive py-rattler (`FTFORGE_TEST_PYTHON` or python3).
pub fn host_python() -> String {
    std::env::var("FTFORGE_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Installs `specs` from `channel` into `prefix` with py-rattler; returns its JSON.
pub fn py_rattler_install(channel: &str, prefix: &Path, specs: &[&str]) -> serde_json::Value {
    let script = repo_root().join("tests/support/py_rattler_install.py");
    let attempt = || {
        run(Command::new(host_python())
            .arg(&script)
            .arg(channel)
            .arg(prefix)
            .args(specs))
    };
    let mut out = attempt();
    // py-rattler has been seen dying by a signal at exit when two installs run at once;
    // that is the client's crash, not an answer: ask it once more.
    if std::os::unix::process::ExitStatusExt::signal(&out.status).is_some() {
        out = attempt();
    }
    assert!(
        out.status.success(),
        "py-rattler could not install {specs:?} from {channel} ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("py-rattler printed no JSON ({e}): {stdout}"))
}

/// The channel the integration tests share: the interpreters (built once, then reused
/// from the build cache) plus whatever each test adds. Serialized within a test binary.
pub fn interpreter_channel() -> PathBuf {
    interpreter_build().0
}

/// The shared channel and the build reports (`ftforge build --json`) of its interpreters.
pub fn interpreter_build() -> (PathBuf, serde_json::Value) {
    static BUILD: std::sync::Mutex<Option<(PathBuf, serde_json::Value)>> =
        std::sync::Mutex::new(None);
    let mut done = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = done.as_ref() {
        return found.clone();
    }
    let channel = test_cache().join("channel-main");
    let out = run(ftforge()
        .args(["build", "recipes/python", "--json", "--channel"])
        .arg(&channel)
        .current_dir(repo_root()));
    assert!(
        out.status.success(),
        "interpreter build failed:\n{}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    let reports: serde_json::Value =
        serde_json::from_str(&text(&out.stdout)).expect("build --json prints the reports");
    *done = Some((channel.clone(), reports.clone()));
    (channel, reports)
}

/// A recipe of a package that turns the GIL back on when imported on a free-threaded
/// interpreter: pyyaml pinned at 6.0.2 (recipes/pyyaml follows the newest release).
pub const GIL_REENABLING_RECIPE: &str = "tests/fixtures/pyyaml-6.0.2";

/// The version a shipped recipe (`recipes/NAME/recipe.yaml`) pins in its `context`:
/// `ftforge recipe update` moves it, so tests read it rather than repeat it.
pub fn shipped_version(name: &str) -> String {
    let path = repo_root().join("recipes").join(name).join("recipe.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("version: \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{} has no `version: \"…\"` line", path.display()))
        .to_string()
}

/// The shared channel with `recipes` (folders relative to the repository: recipes/NAME,
/// tests/fixtures/…) built into it, for the variants `args` select (e.g.
/// `["--python", "3.14"]`).
pub fn channel_with(recipes: &[&str], args: &[&str]) -> PathBuf {
    let channel = interpreter_channel();
    let out = run(ftforge()
        .arg("build")
        .args(recipes)
        .args(args)
        .arg("--channel")
        .arg(&channel)
        .current_dir(repo_root()));
    assert!(
        out.status.success(),
        "building {recipes:?} failed:\n{}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    channel
}

/// `compat.json` of a channel.
pub fn compat(channel: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(channel.join("compat.json")).unwrap()).unwrap()
}

/// Writes a minimal `.conda` package by hand (outer zip, info and pkg tar.zst), so tests
/// can make many packages, or malicious ones, quickly. `entries` are (path, contents);
/// a contents starting with `->` makes a symlink to the rest.
pub fn make_package(
    dir: &Path,
    name: &str,
    version: &str,
    build: &str,
    subdir: &str,
    entries: &[(&str, &str)],
) -> PathBuf {
    make_package_depending(dir, name, version, build, subdir, &[], entries)
}

/// [`make_package`] with run dependencies (`depends` of `index.json`).
pub fn make_package_depending(
    dir: &Path,
    name: &str,
    version: &str,
    build: &str,
    subdir: &str,
    depends: &[&str],
    entries: &[(&str, &str)],
) -> PathBuf {
    use std::io::Write;
    let index = serde_json::json!({
        "name": name, "version": version, "build": build, "build_number": 0,
        "subdir": subdir, "depends": depends, "noarch": if subdir == "noarch" { Some("generic") } else { None },
    });
    let paths: Vec<serde_json::Value> = entries
        .iter()
        .filter(|(p, _)| !p.starts_with("info/"))
        .map(|(p, c)| serde_json::json!({"_path": p, "path_type": if c.starts_with("->") { "softlink" } else { "hardlink" }}))
        .collect();
    let info = vec![
        ("info/index.json".to_string(), index.to_string()),
        (
            "info/paths.json".to_string(),
            serde_json::json!({"paths": paths, "paths_version": 1}).to_string(),
        ),
    ];
    let tar_zst = |items: &[(String, String)]| -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents) in items {
            let mut header = tar::Header::new_gnu();
            {
                // Written byte by byte: tar::Builder refuses `..`, and tests need it.
                let raw = header.as_gnu_mut().unwrap();
                raw.name = [0; 100];
                raw.name[..path.len()].copy_from_slice(path.as_bytes());
            }
            header.set_mode(0o644);
            if let Some(target) = contents.strip_prefix("->") {
                header.set_entry_type(tar::EntryType::Symlink);
                header.as_gnu_mut().unwrap().linkname[..target.len()]
                    .copy_from_slice(target.as_bytes());
                header.set_size(0);
                header.set_cksum();
                builder.append(&header, std::io::empty()).unwrap();
            } else {
                header.set_size(contents.len() as u64);
                header.set_cksum();
                builder.append(&header, contents.as_bytes()).unwrap();
            }
        }
        zstd::encode_all(&builder.into_inner().unwrap()[..], 3).unwrap()
    };
    let pkg: Vec<(String, String)> = entries
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    let stem = format!("{name}-{version}-{build}");
    let path = dir.join(format!("{stem}.conda"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("metadata.json", stored).unwrap();
    zip.write_all(br#"{"conda_pkg_format_version": 2}"#)
        .unwrap();
    zip.start_file(format!("pkg-{stem}.tar.zst"), stored)
        .unwrap();
    zip.write_all(&tar_zst(&pkg)).unwrap();
    zip.start_file(format!("info-{stem}.tar.zst"), stored)
        .unwrap();
    zip.write_all(&tar_zst(&info)).unwrap();
    zip.finish().unwrap();
    path
}

/// `ftforge serve DIR --port 0 ARGS…`, stopped when dropped; `url` has no trailing `/`.
pub struct Served {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(dir: &Path) -> Served {
    serve_with(dir, &[])
}

pub fn serve_with(dir: &Path, args: &[&str]) -> Served {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .args(["serve", "--port", "0"])
        .args(args)
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    Served {
        child,
        url: line.trim().trim_end_matches('/').to_string(),
    }
}

/// A copy of the shared interpreter channel in `dir` (the interpreters and whatever
/// other tests published), for a test that must see its own builds happen.
pub fn interpreter_channel_copy(dir: &Path) -> PathBuf {
    let source = interpreter_channel();
    let copy = dir.join("channel");
    let out = run(Command::new("cp").arg("-a").arg(&source).arg(&copy));
    assert!(out.status.success(), "cp -a failed: {}", text(&out.stderr));
    copy
}

/// The free-threaded CPython 3.14 packages (`python`, `python_abi`, and the C library
/// packages python depends on) of the shared test
/// channel, for tests that need an interpreter but not this commit's build of it:
/// packages the channel already holds are used (so a change to the packaging code does
/// not rebuild them), and the interpreters are built only when there are none.
pub fn cp314t_interpreter_packages() -> Vec<PathBuf> {
    interpreter_packages("cp314t")
}

/// [`cp314t_interpreter_packages`] for any ABI the shared channel builds (`cp314`, …).
pub fn interpreter_packages(tag: &str) -> Vec<PathBuf> {
    let version = format!("{}.{}", &tag[2..3], tag[3..].trim_end_matches('t'));
    let find = |channel: &Path| -> Option<Vec<PathBuf>> {
        // The newest build (repodata `timestamp`) when the channel holds several.
        let pick = |subdir: &str, start: &str, end: &str| {
            let repodata: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(channel.join(subdir).join("repodata.json")).ok()?,
            )
            .ok()?;
            let mut found: Vec<(u64, String)> = repodata["packages.conda"]
                .as_object()?
                .iter()
                .filter(|(file, _)| file.starts_with(start) && file.ends_with(end))
                .map(|(file, r)| (r["timestamp"].as_u64().unwrap_or(0), file.clone()))
                .collect();
            found.sort();
            found.pop().map(|(_, file)| channel.join(subdir).join(file))
        };
        Some(vec![
            pick(
                "linux-64",
                &format!("python-{version}."),
                &format!("_{tag}.conda"),
            )?,
            pick(
                "noarch",
                &format!("python_abi-{version}-"),
                &format!("_{tag}.conda"),
            )?,
        ])
    };
    let shared = test_cache().join("channel-main");
    let (channel, files) = match find(&shared) {
        Some(files) => (shared, files),
        None => {
            let built = interpreter_channel();
            let files = find(&built)
                .unwrap_or_else(|| panic!("the interpreter build publishes {tag} packages"));
            (built, files)
        }
    };
    with_dependencies(&channel, files)
}

/// `files` (packages of `channel`) and, from the channel's repodata, the packages their
/// `depends` name, recursively: the C libraries an interpreter links (openssl, tk, …).
/// Virtual packages (`__glibc`) and names the channel lacks are skipped.
pub fn with_dependencies(channel: &Path, files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut records: Vec<(String, String, Vec<String>)> = Vec::new();
    for subdir in ["linux-64", "noarch"] {
        let Ok(text) = std::fs::read_to_string(channel.join(subdir).join("repodata.json")) else {
            continue;
        };
        let repodata: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in ["packages", "packages.conda"] {
            for (file, record) in repodata[key].as_object().into_iter().flatten() {
                let depends = record["depends"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str())
                    .map(|d| d.split_whitespace().next().unwrap_or_default().to_string())
                    .collect();
                records.push((
                    format!("{subdir}/{file}"),
                    record["name"].as_str().unwrap_or_default().to_string(),
                    depends,
                ));
            }
        }
    }
    records.sort();
    let mut out = files.clone();
    let mut wanted: Vec<String> = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(channel)
            .unwrap_or(file)
            .to_string_lossy()
            .into_owned();
        if let Some((_, _, depends)) = records.iter().find(|(f, _, _)| *f == rel) {
            wanted.extend(depends.iter().cloned());
        }
    }
    let mut seen: Vec<String> = Vec::new();
    while let Some(name) = wanted.pop() {
        if name.starts_with("__") || seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        // The newest file of that name (an interpreter's own packages are given).
        if let Some((file, _, depends)) = records.iter().rev().find(|(_, n, _)| *n == name) {
            let path = channel.join(file);
            if !out.iter().any(|o| o.file_name() == path.file_name()) {
                if name == "python" || name == "python_abi" {
                    continue;
                }
                out.push(path);
                wanted.extend(depends.iter().cloned());
            }
        }
    }
    out
}

/// `dir/channel` holding only the interpreters of the ABIs `tags` (`cp314t`, `cp314`),
/// published by `ftforge publish`.
pub fn channel_with_interpreters(dir: &Path, tags: &[&str]) -> PathBuf {
    let channel = dir.join("channel");
    let out = run(ftforge()
        .arg("publish")
        .args(tags.iter().flat_map(|tag| interpreter_packages(tag)))
        .arg("-c")
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    channel
}

/// `dir/channel` with one small noarch package (`hello 1.0`, built into `dir/pkgs`)
/// published by `ftforge publish`; returns the package file and the channel.
pub fn hello_channel(dir: &Path) -> (PathBuf, PathBuf) {
    let pkgs = dir.join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let hello = make_package(
        &pkgs,
        "hello",
        "1.0",
        "0",
        "noarch",
        &[("share/hello.txt", "hi")],
    );
    let channel = dir.join("channel");
    let out = run(ftforge().arg("publish").arg(&hello).arg("-c").arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    (hello, channel)
}

/// A recipe (in `dir/name`) building tests/fixtures/abi3t-counter as the package `name`
/// with the module `<name>._counter`: `suffix` names the module's file (`abi3t`, `abi3`,
/// or `version` for the interpreter's own suffix), `version_independent` sets
/// `build.python.version_independent`, the script sleeps `sleep` seconds first (a window
/// to kill a worker in), and `number` is the build number.
pub fn counter_recipe(
    dir: &Path,
    name: &str,
    suffix: &str,
    version_independent: bool,
    sleep: u32,
    number: u32,
) -> PathBuf {
    let recipe = dir.join(name);
    std::fs::create_dir_all(&recipe).unwrap();
    let fixture = repo_root().join("tests/fixtures/abi3t-counter");
    let python = if version_independent {
        "  python:\n    version_independent: true\n"
    } else {
        ""
    };
    std::fs::write(
        recipe.join("recipe.yaml"),
        format!(
            r#"schema_version: 1
package:
  name: {name}
  version: "1.0.0"
source:
  path: {fixture}
build:
  number: {number}
{python}  script:
    content:
      - sleep {sleep}
      - bash build.sh
    env:
      PACKAGE: {package}
      SUFFIX: {suffix}
requirements:
  build:
    - ${{{{ compiler('c') }}}}
  host:
    - python
  run:
    - python
about:
  summary: A C extension module of the tests ({suffix}).
"#,
            fixture = fixture.display(),
            package = name.replace('-', "_"),
        ),
    )
    .unwrap();
    recipe
}
