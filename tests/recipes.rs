//! Recipes mean what they say, checked with the real binary on recipes written into a
//! temporary directory: build requirements are resolved to the machine's tools (and
//! recorded), a missing tool or an unsupported key stops the build at its recipe line,
//! and a zip group broken by a variants override is a located error, not a panic.
//! None of these recipes needs an interpreter, except the host-environment plan (it
//! builds nothing; it reads the shared interpreters).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::*;

/// A recipe folder `name` under `dir` holding `recipe.yaml`.
fn write_recipe(dir: &Path, name: &str, text: &str) -> PathBuf {
    let recipe = dir.join(name);
    std::fs::create_dir_all(&recipe).unwrap();
    std::fs::write(recipe.join("recipe.yaml"), text).unwrap();
    recipe
}

/// The C++ project of tests/fixtures/cmake-hello built with CMake and Ninja; `extra`
/// is appended to `requirements.build` and `source` replaces the fixture's path.
fn cmake_recipe(source: &str, extra: &str) -> String {
    format!(
        r#"schema_version: 1
package:
  name: cmake-hello
  version: "1.0.0"
source:
  {source}
build:
  number: 0
  script:
    - cmake -S . -B _build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX"
    - cmake --build _build
    - cmake --install _build
requirements:
  build:
    - ${{{{ compiler('cxx') }}}}
    - cmake
    - ninja
{extra}tests:
  - script:
      - test "$(hello-ftforge)" = "hello from C++ 17, sum 10"
about:
  summary: A C++ program built by the machine's toolchain.
"#
    )
}

fn fixture_source() -> String {
    format!(
        "path: {}",
        repo_root().join("tests/fixtures/cmake-hello").display()
    )
}

/// A source no build may fetch: nothing listens on port 9 of the loopback.
const UNFETCHABLE: &str = "url: http://127.0.0.1:9/never-fetched.tar.gz\n  sha256: 0000000000000000000000000000000000000000000000000000000000000000";

/// `info/<name>` of a `.conda` package.
fn info_file(package: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(package).unwrap()).unwrap();
    let info_name = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.starts_with("info-"))
        .unwrap()
        .to_string();
    let mut compressed = Vec::new();
    archive
        .by_name(&info_name)
        .unwrap()
        .read_to_end(&mut compressed)
        .unwrap();
    let tar_bytes = zstd::decode_all(&compressed[..]).unwrap();
    let mut tar = tar::Archive::new(&tar_bytes[..]);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("info").join(name) {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("{} has no info/{name}", package.display());
}

/// The first line `program --version` prints, as the test sees it.
fn version_line(program: &str) -> String {
    let out = std::process::Command::new(program)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed for this test (.ci/setup): {e}"));
    text(&out.stdout)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_cxx_cmake_ninja_recipe_builds_with_the_machine_toolchain_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(
        dir.path(),
        "cmake-hello",
        &cmake_recipe(&fixture_source(), ""),
    );
    let channel = dir.path().join("channel");
    let out = run(ftforge()
        .args(["build", "--json", "--force"])
        .arg(&recipe)
        .arg("--channel")
        .arg(&channel));
    assert!(
        out.status.success(),
        "the C++ recipe did not build:\n{}",
        text(&out.stderr)
    );
    let reports: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let report = &reports[0];
    let output = &report["outputs"][0];
    assert!(
        output["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["passed"] == true),
        "the installed program did not print its line: {output}"
    );

    // The tools, as the build report and the package's about.json record them.
    let package = channel
        .join(output["subdir"].as_str().unwrap())
        .join(output["filename"].as_str().unwrap());
    let about: serde_json::Value =
        serde_json::from_str(&info_file(&package, "about.json")).unwrap();
    let platform = output["subdir"].as_str().unwrap();
    for toolchain in [&report["toolchain"], &about["extra"]["toolchain"]] {
        let tools = toolchain
            .as_array()
            .unwrap_or_else(|| panic!("no toolchain: {report}"));
        let requirements: Vec<&str> = tools
            .iter()
            .map(|t| t["requirement"].as_str().unwrap())
            .collect();
        assert_eq!(
            requirements,
            vec![format!("gxx_{platform}").as_str(), "cmake", "ninja"]
        );
        for (tool, program) in tools.iter().zip(["c++", "cmake", "ninja"]) {
            assert_eq!(tool["from"], "machine", "{tool}");
            let found = &tool["programs"][0];
            assert_eq!(found["name"], program, "{tool}");
            assert!(
                Path::new(found["path"].as_str().unwrap()).is_file(),
                "{tool}"
            );
            assert_eq!(found["version"], version_line(program), "{tool}");
        }
    }
    let rendered = info_file(&package, "recipe/rendered_recipe.json");
    assert!(
        rendered.contains(&format!("\"gxx_{platform}\"")) && !rendered.contains("stub"),
        "{rendered}"
    );
}

#[test]
fn a_missing_build_tool_fails_at_its_recipe_line_before_sources_are_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    let text_of = cmake_recipe(UNFETCHABLE, "    - nonexistent-tool-xyz\n");
    let recipe = write_recipe(dir.path(), "needs-missing-tool", &text_of);
    let at = format!(
        "recipe.yaml:{}:7",
        line_of(&text_of, "nonexistent-tool-xyz")
    );
    let out = run(ftforge()
        .arg("build")
        .arg(&recipe)
        .arg("--channel")
        .arg(&channel));
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&at) && stderr.contains("nonexistent-tool-xyz"),
        "the error must name the requirement and its line:\n{stderr}"
    );
    assert!(
        stderr.contains("neither a package of the channel nor a tool"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("never-fetched") && !stderr.contains("cannot prepare the sources"),
        "the tool is checked before the sources are fetched:\n{stderr}"
    );

    // A tool ftforge knows, missing from PATH: the error says what to install.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(which("c++"), bin.join("c++")).unwrap();
    let text_of = cmake_recipe(UNFETCHABLE, "");
    let recipe = write_recipe(dir.path(), "needs-cmake", &text_of);
    let at = format!("recipe.yaml:{}:7", line_of(&text_of, "- cmake\n"));
    let out = run(ftforge()
        .arg("build")
        .arg(&recipe)
        .arg("--channel")
        .arg(&channel)
        .env("PATH", &bin));
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&at) && stderr.contains("`cmake` is not on PATH"),
        "{stderr}"
    );
    assert!(stderr.contains("apt-get install cmake"), "{stderr}");
}

/// stderr with miette's line wrapping undone (margins dropped, whitespace collapsed).
fn flat(stderr: &[u8]) -> String {
    text(stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the recipe"));
    text[..at].matches('\n').count() + 1
}

fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

#[test]
fn a_key_ftforge_does_not_carry_out_fails_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(
        dir.path(),
        "with-files",
        "package:\n  name: with-files\n  version: \"1.0\"\nbuild:\n  script: mkdir -p $PREFIX/share && touch $PREFIX/share/a $PREFIX/share/b\n  files:\n    - share/a\n",
    );
    let out = run(ftforge()
        .arg("build")
        .arg(&recipe)
        .arg("--channel")
        .arg(dir.path().join("channel")));
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("recipe.yaml:6:3")
            && stderr.contains("`build.files` is not supported by ftforge yet"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("channel/noarch/repodata.json").is_file()
            || !std::fs::read_to_string(dir.path().join("channel/noarch/repodata.json"))
                .unwrap()
                .contains("with-files"),
        "nothing was published"
    );
}

#[test]
fn a_zip_group_broken_by_an_override_is_a_located_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("variants.yaml"),
        "python: [\"3.14.* *_cp314t\", \"3.14.* *_cp314\"]\nis_freethreading: [true, false]\nzip_keys:\n  - [python, is_freethreading]\n",
    )
    .unwrap();
    let recipe = write_recipe(
        dir.path(),
        "ft-only",
        "package: {name: ft-only, version: \"1.0\"}\nrequirements:\n  host: [python]\n",
    );
    std::fs::write(
        recipe.join("variants.yaml"),
        "# only the free-threaded build\nis_freethreading: [true]\n",
    )
    .unwrap();
    let out = run(ftforge()
        .arg("build")
        .arg(&recipe)
        .arg("--channel")
        .arg(dir.path().join("channel")));
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("ft-only/variants.yaml:2:1")
            && stderr.contains("the zipped keys [python, is_freethreading]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`python` has 2") && stderr.contains("`is_freethreading` has 1"),
        "{stderr}"
    );
}

#[test]
fn an_entry_point_of_a_noarch_recipe_is_a_command_once_installed() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    ftforge_channels::Channel::new(&channel)
        .publish(&cp314t_interpreter_packages(), false)
        .unwrap();
    std::fs::write(
        dir.path().join("variants.yaml"),
        "python: [\"3.14.* *_cp314t\"]\nis_freethreading: [true]\nzip_keys: [[python, is_freethreading]]\n",
    )
    .unwrap();
    // The shipped recipe, with the entry point a new user would add.
    let shipped =
        std::fs::read_to_string(repo_root().join("recipes/sortedcontainers/recipe.yaml")).unwrap();
    let with_entry_point = shipped.replacen(
        "  noarch: python\n",
        "  noarch: python\n  python:\n    entry_points:\n      - sc-hello = sortedcontainers:SortedList\n",
        1,
    );
    assert_ne!(shipped, with_entry_point);
    let recipe = write_recipe(dir.path(), "sortedcontainers", &with_entry_point);
    let out = run(ftforge()
        .args(["build", "--json"])
        .arg(&recipe)
        .arg("--channel")
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reports: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let output = &reports[0]["outputs"][0];
    let package = channel
        .join("noarch")
        .join(output["filename"].as_str().unwrap());
    let link: serde_json::Value = serde_json::from_str(&info_file(&package, "link.json")).unwrap();
    assert_eq!(
        link["noarch"]["entry_points"],
        serde_json::json!(["sc-hello = sortedcontainers:SortedList"])
    );

    // Installed by an independent client, the command exists and runs the function.
    let prefix = dir.path().join("env");
    py_rattler_install(
        channel.to_str().unwrap(),
        &prefix,
        &["sortedcontainers", "python 3.14.* *_cp314t"],
    );
    let command = prefix.join("bin/sc-hello");
    assert!(command.is_file(), "no bin/sc-hello in {}", prefix.display());
    let ran = run(&mut std::process::Command::new(&command));
    // `sys.exit(SortedList())`: a non-integer exit value is printed, status 1.
    assert_eq!(ran.status.code(), Some(1), "{}", text(&ran.stderr));
    assert_eq!(text(&ran.stderr).trim(), "SortedList([])");
}

/// One `ccache --print-stats` counter of the cache in `dir`.
fn ccache_stat(dir: &Path, counter: &str) -> u64 {
    let out = run(std::process::Command::new("ccache")
        .arg("--print-stats")
        .env("CCACHE_DIR", dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(counter)?.strip_prefix('\t')?.parse().ok())
        .unwrap_or_else(|| panic!("ccache has no counter {counter}"))
}

/// The compiler cache (docs/recipes.md): the same C++ project built again in another
/// work directory — as the two interpreters' builds of one package are — compiles from
/// ccache (ccache's own counters say so; the work directory's path must not be part of
/// what is hashed; the second work directory is given relative, which ccache must
/// never see), and the build report names ccache. `FTFORGE_COMPILER_CACHE=off` builds
/// without it.
#[test]
fn a_build_in_another_work_directory_compiles_from_the_compiler_cache() {
    let ccache = which("ccache");
    let dir = tempfile::tempdir().unwrap();
    let recipe = write_recipe(
        dir.path(),
        "cmake-hello",
        &cmake_recipe(&fixture_source(), "").replace(
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
        ),
    );
    let channel = dir.path().join("channel");
    let cache = dir.path().join("ccache");
    let build = |work: &Path, off: bool| {
        let mut cmd = ftforge();
        cmd.args(["build", "--json", "--force"])
            .arg(&recipe)
            .arg("--channel")
            .arg(&channel)
            .arg("--work-dir")
            .arg(work)
            .current_dir(dir.path())
            .env("CCACHE_DIR", &cache);
        if off {
            cmd.env("FTFORGE_COMPILER_CACHE", "off");
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let reports: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
        reports[0]["compiler_cache"].clone()
    };
    let hits =
        || ccache_stat(&cache, "direct_cache_hit") + ccache_stat(&cache, "preprocessed_cache_hit");
    let ccache = ccache.to_str().unwrap();
    assert_eq!(build(&dir.path().join("work-a"), false), ccache);
    let misses = ccache_stat(&cache, "cache_miss");
    assert!(
        misses >= 1,
        "the first build compiled nothing through ccache"
    );
    assert_eq!(hits(), 0);
    assert_eq!(build(Path::new("work-b"), false), ccache);
    assert_eq!(
        ccache_stat(&cache, "cache_miss"),
        misses,
        "the second build missed"
    );
    let second = hits();
    assert!(
        second >= misses,
        "{second} hits for {misses} compiled files"
    );
    assert!(build(Path::new("work-c"), true).is_null());
    assert_eq!(
        (ccache_stat(&cache, "cache_miss"), hits()),
        (misses, second)
    );
}

/// A host requirement the channel cannot satisfy for the job's interpreter is left to
/// pip's build isolation, with what the channel has, rather than stopping the job with
/// no verdict: a package built only for the other ABI (the catalog's mypy, built for
/// cp314t, asked for by pytokens' cp314 build) and a version the channel lacks (scipy's
/// `cython >=3.2.0,<3.3.0` beside cython 3.3.1). `ftforge plan` shows it without
/// building.
#[test]
fn host_requirements_the_channel_cannot_satisfy_are_left_to_pip() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = interpreter_channel_copy(tmp.path());
    let pkgs = tmp.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let platform = ftforge_channels::platform();
    let for_cp314t = make_package_depending(
        &pkgs,
        "ft-only-tool",
        "1.0",
        "py314th0_0",
        platform,
        &["python_abi 3.14.* *_cp314t"],
        &[("lib/ft-only-tool.txt", "x")],
    );
    let old = make_package(
        &pkgs,
        "old-tool",
        "1.0",
        "h0_0",
        "noarch",
        &[("old.txt", "x")],
    );
    let out = run(ftforge()
        .arg("publish")
        .arg(&for_cp314t)
        .arg(&old)
        .arg("-c")
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let recipes = tmp.path().join("recipes");
    write_recipe(
        &recipes,
        "needs-tools",
        "package: {name: needs-tools, version: \"1.0\"}\nbuild:\n  script: exit 0\nrequirements:\n  host: [python, ft-only-tool, old-tool >=2]\n",
    );
    std::fs::write(
        recipes.join("variants.yaml"),
        "python: [\"3.14.* *_cp314\"]\nis_freethreading: [false]\nzip_keys: [[python, is_freethreading]]\n",
    )
    .unwrap();
    let out = run(ftforge()
        .args(["plan", "--json"])
        .arg(recipes.join("needs-tools"))
        .arg("--channel")
        .arg(&channel));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let row = &rows[0];
    assert_eq!(row["abi"], "cp314", "{rows:#}");
    let left = &row["not_in_channel"];
    assert_eq!(
        left,
        &serde_json::json!([
            {"name": "ft-only-tool", "spec": "ft-only-tool"},
            {"name": "old-tool", "spec": "old-tool >=2", "channel_has": ["1.0 h0_0"]},
        ]),
        "{rows:#}"
    );
    let host = row["host"].to_string();
    assert!(
        host.contains("_cp314.conda") || host.contains("cp314"),
        "the interpreter is in the host: {host}"
    );
    assert!(!host.contains("ft-only-tool"), "{host}");
}
