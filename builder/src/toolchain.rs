//! Build requirements made real: every entry of `requirements.build` is resolved, before
//! anything is fetched or built, to a package of the channel (installed into the
//! build's prefix) or — explicitly, by the table below — to programs of the machine
//! found on PATH (or, for rustup's and cargo's programs, in `$CARGO_HOME/bin`), whose
//! `--version` is recorded. Anything else is an error at the requirement's line.
//! docs/recipes.md shows the same table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use rattler_conda_types::{MatchSpec, ParseStrictness, RepoDataRecord, Version};

use crate::env;
use crate::recipe::{target_platform, Recipe, RecipeError, RenderedRecipe};

/// A build requirement as the build will use it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResolvedTool {
    /// The requirement as rendered (`gxx_linux-64`, `cmake >=3.20`).
    pub requirement: String,
    #[serde(flatten)]
    pub source: ToolSource,
}

/// Where a build requirement comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ToolSource {
    /// A package of the channel (with its dependencies), installed into the build's
    /// prefix before the script runs.
    Channel {
        package: String,
        version: String,
        #[serde(skip)]
        records: Vec<RepoDataRecord>,
    },
    /// Programs of the machine, found on PATH.
    Machine { programs: Vec<Program> },
}

/// One program of the machine's toolchain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Program {
    pub name: String,
    pub path: PathBuf,
    /// The first line `PROGRAM --version` printed.
    pub version: String,
}

/// A build requirement ftforge maps to the machine: the programs it needs (each a list
/// of alternatives, the first found on PATH is used) and what to install for it.
pub struct MachineTool {
    /// The requirement's package name; compilers and `sysroot` carry `_<platform>`
    /// (`gcc_linux-64`, what `compiler('c')` renders to).
    pub name: &'static str,
    pub programs: &'static [&'static [&'static str]],
    pub install: &'static str,
}

/// Compilers (`compiler(lang)` → `<name>_<platform>`) and `stdlib('c')` (`sysroot`).
pub const COMPILERS: &[MachineTool] = &[
    MachineTool {
        name: "gcc",
        programs: &[&["cc", "gcc"]],
        install: "gcc",
    },
    MachineTool {
        name: "gxx",
        programs: &[&["c++", "g++"]],
        install: "g++",
    },
    MachineTool {
        name: "gfortran",
        programs: &[&["gfortran"]],
        install: "gfortran",
    },
    MachineTool {
        name: "clang",
        programs: &[&["clang"]],
        install: "clang",
    },
    MachineTool {
        name: "clangxx",
        programs: &[&["clang++"]],
        install: "clang",
    },
    MachineTool {
        name: "rust",
        programs: &[&["cargo"], &["rustc"]],
        install: "cargo and rustc (rustup, or the `cargo` package)",
    },
    MachineTool {
        name: "sysroot",
        programs: &[&["ldd"]],
        install: "libc6-dev (the C library the machine's compilers use)",
    },
];

/// Build tools, named as conda-forge names their packages.
pub const TOOLS: &[MachineTool] = &[
    MachineTool {
        name: "rust",
        programs: &[&["cargo"], &["rustc"]],
        install: "cargo and rustc (rustup, or the `cargo` package)",
    },
    MachineTool {
        name: "cargo",
        programs: &[&["cargo"], &["rustc"]],
        install: "cargo and rustc (rustup, or the `cargo` package)",
    },
    MachineTool {
        name: "c-compiler",
        programs: &[&["cc", "gcc"]],
        install: "gcc",
    },
    MachineTool {
        name: "cxx-compiler",
        programs: &[&["c++", "g++"]],
        install: "g++",
    },
    MachineTool {
        name: "fortran-compiler",
        programs: &[&["gfortran"]],
        install: "gfortran",
    },
    MachineTool {
        name: "cmake",
        programs: &[&["cmake"]],
        install: "cmake",
    },
    MachineTool {
        name: "ninja",
        programs: &[&["ninja"]],
        install: "ninja-build",
    },
    MachineTool {
        name: "make",
        programs: &[&["make"]],
        install: "make",
    },
    MachineTool {
        name: "meson",
        programs: &[&["meson"]],
        install: "meson",
    },
    MachineTool {
        name: "pkg-config",
        programs: &[&["pkg-config", "pkgconf"]],
        install: "pkg-config",
    },
    MachineTool {
        name: "pkgconf",
        programs: &[&["pkgconf", "pkg-config"]],
        install: "pkgconf",
    },
    MachineTool {
        name: "patch",
        programs: &[&["patch"]],
        install: "patch",
    },
    MachineTool {
        name: "m4",
        programs: &[&["m4"]],
        install: "m4",
    },
    MachineTool {
        name: "autoconf",
        programs: &[&["autoconf"]],
        install: "autoconf",
    },
    MachineTool {
        name: "automake",
        programs: &[&["automake"]],
        install: "automake",
    },
    MachineTool {
        name: "libtool",
        programs: &[&["libtoolize"]],
        install: "libtool",
    },
    MachineTool {
        name: "bison",
        programs: &[&["bison"]],
        install: "bison",
    },
    MachineTool {
        name: "flex",
        programs: &[&["flex"]],
        install: "flex",
    },
    MachineTool {
        name: "perl",
        programs: &[&["perl"]],
        install: "perl",
    },
    MachineTool {
        name: "git",
        programs: &[&["git"]],
        install: "git",
    },
    MachineTool {
        name: "swig",
        programs: &[&["swig"]],
        install: "swig",
    },
    MachineTool {
        name: "nasm",
        programs: &[&["nasm"]],
        install: "nasm",
    },
    MachineTool {
        name: "gettext",
        programs: &[&["msgfmt"]],
        install: "gettext",
    },
    MachineTool {
        name: "texinfo",
        programs: &[&["makeinfo"]],
        install: "texinfo",
    },
];

/// The machine tool a requirement's package name stands for, if any.
pub fn machine_tool(name: &str) -> Option<&'static MachineTool> {
    let platform_suffix = format!("_{}", target_platform());
    match name.strip_suffix(&platform_suffix) {
        Some(compiler) => COMPILERS.iter().find(|t| t.name == compiler),
        None => TOOLS.iter().find(|t| t.name == name),
    }
}

/// Resolves every build requirement of the recipe's (not skipped) outputs, in order,
/// each once.
pub fn resolve(
    recipe: &Recipe,
    rendered: &RenderedRecipe,
    channel_records: &[RepoDataRecord],
) -> Result<Vec<ResolvedTool>, RecipeError> {
    let dirs = search_dirs(
        std::env::var_os("PATH"),
        std::env::var_os("CARGO_HOME"),
        std::env::var_os("HOME"),
    );
    let mut tools: Vec<ResolvedTool> = Vec::new();
    for output in rendered.outputs.iter().filter(|o| !o.skipped) {
        for (i, requirement) in output.requirements.build.iter().enumerate() {
            if tools.iter().any(|t| &t.requirement == requirement) {
                continue;
            }
            let span = output.build_spans.get(i).copied().flatten();
            let located = |message: String| recipe.error(span.as_ref(), message);
            let spec = MatchSpec::from_str(requirement, ParseStrictness::Lenient).map_err(|e| {
                located(format!(
                    "build requirement `{requirement}` is not a match spec: {e}"
                ))
            })?;
            let Some(name) = spec.name.as_exact().map(|n| n.as_normalized().to_string()) else {
                return Err(located(format!(
                    "build requirement `{requirement}` names no single package"
                )));
            };
            let solved = channel_records
                .iter()
                .any(|r| r.package_record.name.as_normalized() == name)
                .then(|| {
                    env::solve(
                        std::slice::from_ref(requirement),
                        channel_records,
                        env::Unmatched::Refuse,
                    )
                })
                .and_then(Result::ok)
                .map(|s| s.records);
            let main = solved.as_ref().and_then(|records| {
                records
                    .iter()
                    .find(|r| r.package_record.name.as_normalized() == name)
            });
            let source = if let (Some(records), Some(main)) = (&solved, main) {
                ToolSource::Channel {
                    package: main.identifier.to_string(),
                    version: main.package_record.version.to_string(),
                    records: records.clone(),
                }
            } else if let Some(tool) = machine_tool(&name) {
                machine(tool, &spec, requirement, &dirs).map_err(|(message, help)| {
                    located(message)
                        .with_label("this build requirement")
                        .with_help(help)
                })?
            } else {
                let known: Vec<String> = COMPILERS
                    .iter()
                    .map(|t| format!("{}_{}", t.name, target_platform()))
                    .chain(TOOLS.iter().map(|t| t.name.to_string()))
                    .collect();
                return Err(located(format!(
                    "build requirement `{requirement}` is neither a package of the channel nor a tool ftforge takes from the machine"
                ))
                .with_label("this build requirement")
                .with_help(format!(
                    "build `{name}` into the channel first, or use one of the machine tools ftforge knows (docs/recipes.md): {}",
                    known.join(", ")
                )));
            };
            tools.push(ResolvedTool {
                requirement: requirement.clone(),
                source,
            });
        }
    }
    Ok(tools)
}

/// Where machine programs are looked for: PATH's directories, then cargo's `bin`
/// directory (`$CARGO_HOME/bin`, else `$HOME/.cargo/bin`), where rustup and cargo
/// install `cargo` and `rustc` but which a non-login shell's PATH often lacks.
fn search_dirs(
    path: Option<std::ffi::OsString>,
    cargo_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let cargo_home = cargo_home
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            home.filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".cargo"))
        });
    if let Some(bin) = cargo_home.map(|c| c.join("bin")) {
        if !dirs.contains(&bin) {
            dirs.push(bin);
        }
    }
    dirs
}

/// The directories of the machine programs among `tools` that `path` (a PATH value)
/// does not name, for the build script's PATH: a program ftforge resolved must be the
/// one the build runs.
pub fn program_dirs_off_path(tools: &[ResolvedTool], path: &std::ffi::OsStr) -> Vec<PathBuf> {
    let on_path: Vec<PathBuf> = std::env::split_paths(path).collect();
    let mut out: Vec<PathBuf> = Vec::new();
    for tool in tools {
        if let ToolSource::Machine { programs } = &tool.source {
            for dir in programs.iter().filter_map(|p| p.path.parent()) {
                if !on_path.iter().any(|d| d == dir) && !out.iter().any(|d| d == dir) {
                    out.push(dir.to_path_buf());
                }
            }
        }
    }
    out
}

/// The channel packages among `tools` (with their dependencies), to install into the
/// build's prefix.
pub fn channel_records(tools: &[ResolvedTool]) -> Vec<RepoDataRecord> {
    let mut out: Vec<RepoDataRecord> = Vec::new();
    for tool in tools {
        if let ToolSource::Channel { records, .. } = &tool.source {
            for record in records {
                if !out.iter().any(|r| r.identifier == record.identifier) {
                    out.push(record.clone());
                }
            }
        }
    }
    out
}

/// The programs of `tool` on PATH with their versions, or (message, help).
fn machine(
    tool: &MachineTool,
    spec: &MatchSpec,
    requirement: &str,
    dirs: &[PathBuf],
) -> Result<ToolSource, (String, String)> {
    let mut programs = Vec::new();
    for alternatives in tool.programs {
        let Some((name, path)) = alternatives
            .iter()
            .find_map(|name| find_program(name, dirs).map(|p| (*name, p)))
        else {
            return Err((
                format!(
                    "build requirement `{requirement}`: `{}` is not on PATH",
                    alternatives.join("` or `")
                ),
                format!(
                    "install {} (on Debian: apt-get install {}); ftforge takes `{}` from the machine",
                    tool.install,
                    tool.install.split_whitespace().next().unwrap_or(tool.install),
                    requirement
                ),
            ));
        };
        let version = version_line(&path).map_err(|e| {
            (
                format!(
                    "build requirement `{requirement}`: `{} --version` failed: {e}",
                    path.display()
                ),
                format!("check that {} works", path.display()),
            )
        })?;
        programs.push(Program {
            name: name.to_string(),
            path,
            version,
        });
    }
    if let Some(wanted) = &spec.version {
        let first = &programs[0];
        let found = version_in(&first.version);
        match found {
            Some(v) if wanted.matches(&v) => {}
            Some(v) => {
                return Err((
                    format!(
                        "build requirement `{requirement}`: the machine's `{}` is version {v}",
                        first.name
                    ),
                    format!("`{}` says: {}", first.path.display(), first.version),
                ))
            }
            None => {
                return Err((
                    format!(
                        "build requirement `{requirement}`: cannot tell the version of `{}` to check `{wanted}`",
                        first.name
                    ),
                    format!("`{}` says: {}", first.path.display(), first.version),
                ))
            }
        }
    }
    Ok(ToolSource::Machine { programs })
}

/// The program `name` found where build requirements are looked for (PATH, then cargo's
/// `bin` directory).
pub fn program_on_path(name: &str) -> Option<PathBuf> {
    let dirs = search_dirs(
        std::env::var_os("PATH"),
        std::env::var_os("CARGO_HOME"),
        std::env::var_os("HOME"),
    );
    find_program(name, &dirs)
}

/// The first executable file named `name` in `dirs`.
fn find_program(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter().map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The first non-empty line of `PROGRAM --version` (stdout, else stderr).
fn version_line(program: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .arg("--version")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("exit status {}", out.status));
    }
    let first = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(String::from)
    };
    first(&out.stdout)
        .or_else(|| first(&out.stderr))
        .ok_or_else(|| "it printed nothing".into())
}

/// The first `N.N[.N…]` word of a version line (`gcc (Debian 12.2.0-14) 12.2.0` → 12.2.0).
fn version_in(line: &str) -> Option<Version> {
    line.split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '(' | ')' | ',' | ';')))
        .filter(|w| {
            w.contains('.')
                && w.split('.')
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        })
        .find_map(|w| Version::from_str(w).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_words_are_found_in_version_lines() {
        let v = |line: &str| version_in(line).map(|v| v.to_string());
        assert_eq!(
            v("gcc (Debian 12.2.0-14) 12.2.0").as_deref(),
            Some("12.2.0")
        );
        assert_eq!(v("cmake version 3.25.1").as_deref(), Some("3.25.1"));
        assert_eq!(v("1.11.1").as_deref(), Some("1.11.1"));
        assert_eq!(
            v("cargo 1.85.0 (d73d2caf9 2024-12-31)").as_deref(),
            Some("1.85.0")
        );
        assert_eq!(
            v("ldd (Debian GLIBC 2.36-9+deb12u14) 2.36").as_deref(),
            Some("2.36")
        );
        assert_eq!(v("nothing here"), None);
    }

    #[test]
    fn compilers_carry_the_platform_and_tools_do_not() {
        let gxx = format!("gxx_{}", target_platform());
        assert_eq!(machine_tool(&gxx).unwrap().programs, &[&["c++", "g++"][..]]);
        assert!(machine_tool("gxx").is_none());
        assert_eq!(machine_tool("ninja").unwrap().install, "ninja-build");
        assert!(machine_tool("nonexistent-tool-xyz").is_none());
        // conda-forge's `rust` package (and a bare `cargo`) are the machine's cargo and
        // rustc, as `compiler('rust')` is.
        let rust = format!("rust_{}", target_platform());
        for name in [rust.as_str(), "rust", "cargo"] {
            assert_eq!(
                machine_tool(name).unwrap().programs,
                &[&["cargo"][..], &["rustc"][..]],
                "{name}"
            );
        }
    }

    #[test]
    fn cargo_bin_is_searched_after_path() {
        let dirs = search_dirs(
            Some("/usr/local/bin:/usr/bin".into()),
            None,
            Some("/home/u".into()),
        );
        assert_eq!(
            dirs,
            [
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/usr/bin"),
                PathBuf::from("/home/u/.cargo/bin")
            ]
        );
        // CARGO_HOME wins over HOME; a directory already on PATH is not repeated.
        let dirs = search_dirs(
            Some("/opt/cargo/bin:/usr/bin".into()),
            Some("/opt/cargo".into()),
            Some("/home/u".into()),
        );
        assert_eq!(
            dirs,
            [PathBuf::from("/opt/cargo/bin"), PathBuf::from("/usr/bin")]
        );
        assert_eq!(search_dirs(None, None, None), Vec::<PathBuf>::new());
    }

    #[test]
    fn programs_off_path_are_added_to_the_scripts_path() {
        let machine = |paths: &[&str]| ResolvedTool {
            requirement: "x".into(),
            source: ToolSource::Machine {
                programs: paths
                    .iter()
                    .map(|p| Program {
                        name: "p".into(),
                        path: PathBuf::from(p),
                        version: "p 1.0".into(),
                    })
                    .collect(),
            },
        };
        let tools = [
            machine(&["/usr/bin/cc"]),
            machine(&["/home/u/.cargo/bin/cargo", "/home/u/.cargo/bin/rustc"]),
        ];
        assert_eq!(
            program_dirs_off_path(&tools, std::ffi::OsStr::new("/usr/local/bin:/usr/bin")),
            [PathBuf::from("/home/u/.cargo/bin")]
        );
        assert!(
            program_dirs_off_path(&tools, std::ffi::OsStr::new("/home/u/.cargo/bin:/usr/bin"))
                .is_empty()
        );
    }
}
