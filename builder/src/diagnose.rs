//! Why a build failed, read from its log: the compiler, linker, pkg-config, meson, CMake,
//! shell and pip messages that name something the build needed and did not find (a C
//! header, a library, a dependency, a program, a Python build requirement). The cause is
//! typed evidence of a `build-failed` verdict and is named in its reason (docs/compat.md).
//!
//! The log is read line by line. Messages that end a build (a compiler's fatal error, the
//! linker's, meson's `ERROR:`, CMake's errors, a missing command, pip's) are *hard*;
//! messages a build may print and survive (pkg-config not finding a package, CMake's
//! `-- Could NOT find` of an optional package) are *soft*. The cause is the last hard
//! message of the log, else the first compiler error, else the last soft one, else
//! [`FailureCause::Other`]: the end of a log is where a build stops, and probes that fail
//! early (a `setup.py` trying an optional extension) are followed by what really failed;
//! but of a compiler's errors the first is the one the others follow from.

use std::fmt;
use std::path::Path;

/// What a failed build lacked, as its log says.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FailureCause {
    /// A compiler could not find a header (`fatal error: yaml.h: No such file or
    /// directory`, clang's `'yaml.h' file not found`).
    MissingHeader { header: String },
    /// The linker (or meson's `find_library`) could not find a library: `-l<library>`.
    MissingLibrary { library: String },
    /// A dependency lookup of a build system failed (meson's `dependency()`, CMake's
    /// `find_package`, pkg-config).
    MissingDependency { name: String, tool: LookupTool },
    /// A program the build runs is not on PATH (`cargo: command not found`, meson's
    /// unknown compiler, setuptools-rust's `can't find Rust compiler`, maturin's `Cargo, the
    /// Rust package manager, is not installed or is not on PATH`).
    MissingTool { tool: String },
    /// pip's build isolation found no release of a build requirement
    /// (`No matching distribution found for maturin>=9`).
    MissingPythonPackage { requirement: String },
    /// The package's own build says it does not support free-threaded Python (orjson
    /// 3.13's build script: `orjson v3.13.0 does not support free-threaded Python`).
    RefusesFreeThreading { message: String },
    /// A configure step stopped with its own message (CMake's `CMake Error at
    /// CMakeLists.txt:46 (message):` and the lines under it).
    ConfigureError { message: String },
    /// The build fetches something from the network while it builds and could not get
    /// it (meson's wrap subprojects: `ERROR: could not get https://…; is the internet
    /// available?`; CMake's `file(DOWNLOAD)`/`ExternalProject`: `error: downloading
    /// 'https://…' failed`). Builds do that for a C library they did not find on the
    /// machine (matplotlib's freetype, pyzmq's libzmq and libsodium).
    DownloadFailed { url: String },
    /// A compiler rejected the sources (`_ruamel_yaml.c:2162:80: error: unknown type
    /// name …`, rustc's `error[E0425]: …`): the first such error of the log.
    CompileError { message: String },
    /// Nothing the diagnosis recognises: the log says why.
    #[default]
    Other,
}

/// The build-system lookup that did not find a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LookupTool {
    PkgConfig,
    Meson,
    Cmake,
}

impl LookupTool {
    pub fn as_str(self) -> &'static str {
        match self {
            LookupTool::PkgConfig => "pkg-config",
            LookupTool::Meson => "meson",
            LookupTool::Cmake => "CMake",
        }
    }
}

impl fmt::Display for LookupTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FailureCause {
    /// A stable short name, the `kind` of the serialized cause (for counting failures
    /// by cause): `missing-header`, `missing-library`, `missing-dependency`,
    /// `missing-tool`, `missing-python-package`, `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            FailureCause::MissingHeader { .. } => "missing-header",
            FailureCause::MissingLibrary { .. } => "missing-library",
            FailureCause::MissingDependency { .. } => "missing-dependency",
            FailureCause::MissingTool { .. } => "missing-tool",
            FailureCause::MissingPythonPackage { .. } => "missing-python-package",
            FailureCause::RefusesFreeThreading { .. } => "refuses-free-threading",
            FailureCause::ConfigureError { .. } => "configure-error",
            FailureCause::DownloadFailed { .. } => "download-failed",
            FailureCause::CompileError { .. } => "compile-error",
            FailureCause::Other => "other",
        }
    }

    /// Every kind, in the order [`FailureCause::kind`] lists them.
    pub const KINDS: &'static [&'static str] = &[
        "missing-header",
        "missing-library",
        "missing-dependency",
        "missing-tool",
        "missing-python-package",
        "refuses-free-threading",
        "configure-error",
        "download-failed",
        "compile-error",
        "other",
    ];

    /// What would let the build go further, for the verdict's reason.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            FailureCause::MissingHeader { .. }
            | FailureCause::MissingLibrary { .. }
            | FailureCause::MissingDependency { .. } => Some(
                "install the library's development files on the machine, or build a package that provides it into the channel and add it to requirements.host",
            ),
            FailureCause::MissingTool { .. } => Some(
                "install it on the machine, or add it to requirements.build",
            ),
            FailureCause::MissingPythonPackage { .. } => Some(
                "the index pip uses has no release that satisfies it; change the requirement or build it into the channel and add it to requirements.host",
            ),
            FailureCause::DownloadFailed { .. } => Some(
                "the build downloads what it did not find on the machine, and this machine cannot reach that address: install the library's development files on the machine, or build a package that provides it into the channel and add it to requirements.host",
            ),
            FailureCause::RefusesFreeThreading { .. }
            | FailureCause::ConfigureError { .. }
            | FailureCause::CompileError { .. }
            | FailureCause::Other => None,
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::MissingHeader { header } => write!(f, "missing C header {header}"),
            FailureCause::MissingLibrary { library } => write!(f, "cannot link -l{library}"),
            FailureCause::MissingDependency { name, tool } => {
                write!(f, "{tool} cannot find dependency {name}")
            }
            FailureCause::MissingTool { tool } => write!(f, "missing build tool {tool}"),
            FailureCause::MissingPythonPackage { requirement } => {
                write!(
                    f,
                    "no release of build requirement {requirement} on the index"
                )
            }
            FailureCause::RefusesFreeThreading { message } => {
                write!(f, "the build refuses free-threaded Python: {message}")
            }
            FailureCause::ConfigureError { message } => write!(f, "CMake error: {message}"),
            FailureCause::DownloadFailed { url } => {
                write!(f, "the build could not download {url}")
            }
            FailureCause::CompileError { message } => write!(f, "compile error: {message}"),
            FailureCause::Other => f.write_str("no cause recognised in the log"),
        }
    }
}

/// A cause and the log line that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Diagnosis {
    #[serde(flatten)]
    pub cause: FailureCause,
    /// The log line the cause was read from (without leading blanks and colour codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

impl Diagnosis {
    /// The reason of a `build-failed` verdict: `what` (e.g. `build script failed (exit
    /// status: 1)`) followed by the cause, and its hint when it has one, when one was
    /// recognised.
    pub fn reason(&self, what: &str) -> String {
        match (&self.cause, self.cause.hint()) {
            (FailureCause::Other, _) => what.to_string(),
            (cause, Some(hint)) => format!("{what}: {cause} ({hint})"),
            (cause, None) => format!("{what}: {cause}"),
        }
    }
}

/// How much of a log's end is read: causes are near the end, and a runaway log must not
/// be read whole into memory.
const READ_AT_MOST: u64 = 4 << 20;

/// The diagnosis of the log at `path`, or of `tail` (the log's last lines, kept in the
/// error) when the file cannot be read.
pub fn diagnose_file(path: &Path, tail: &str) -> Diagnosis {
    match read_end(path) {
        Ok(text) => diagnose(&text),
        Err(_) => diagnose(tail),
    }
}

fn read_end(path: &Path) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > READ_AT_MOST {
        file.seek(SeekFrom::Start(len - READ_AT_MOST))?;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The diagnosis of a build log's text.
pub fn diagnose(log: &str) -> Diagnosis {
    let lines: Vec<String> = log.lines().map(clean).collect();
    let mut hard = None;
    let mut first = None;
    let mut soft = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some((cause, strength)) = recognise(line, &lines[i + 1..]) {
            let found = Diagnosis {
                cause,
                line: Some(line.clone()),
            };
            match strength {
                Strength::Hard => hard = Some(found),
                Strength::First => first = first.or(Some(found)),
                Strength::Soft => soft = Some(found),
            }
        }
    }
    hard.or(first).or(soft).unwrap_or_default()
}

#[derive(Clone, Copy)]
enum Strength {
    /// The message ends the build.
    Hard,
    /// One of a series where the first explains the rest (a compiler's errors).
    First,
    /// A build may print it and go on.
    Soft,
}

/// The line without ANSI escape sequences, carriage-return progress and leading blanks
/// (pip indents its subprocesses' output).
fn clean(line: &str) -> String {
    let line = line.rsplit('\r').find(|s| !s.is_empty()).unwrap_or("");
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters and intermediates up to a final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// The text between the first `open` after `from` and the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// The word right after `marker` (up to blank, `:`, `'`, `"` or `,`).
fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ':' | '\'' | '"' | ','))
        .unwrap_or(rest.len());
    let word = &rest[..end];
    (!word.is_empty()).then_some(word)
}

/// A line in which a build says it does not support free-threaded Python: it names
/// free-threading and says "not supported" in one of the usual ways.
fn refuses_free_threading(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let names = [
        "free-threaded",
        "free threaded",
        "freethreaded",
        "free-threading",
        "nogil",
    ]
    .iter()
    .any(|n| lower.contains(n));
    let refuses = [
        "not support",
        "unsupported",
        "is not supported",
        "isn't supported",
        "not yet supported",
        "does not work",
    ]
    .iter()
    .any(|r| lower.contains(r));
    names && refuses && !lower.contains("warning")
}

/// Files a compiler reads that are not headers (a missing source file is another fault).
fn is_source_file(name: &str) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    matches!(
        ext.to_ascii_lowercase().as_str(),
        "c" | "cc"
            | "cpp"
            | "cxx"
            | "c++"
            | "m"
            | "mm"
            | "f"
            | "for"
            | "f77"
            | "f90"
            | "f95"
            | "s"
            | "o"
            | "a"
            | "so"
            | "pyx"
            | "cu"
    )
}

/// A program name as a build runs it: the last path component of a word.
fn program(word: &str) -> String {
    word.rsplit('/').next().unwrap_or(word).to_string()
}

/// The cause one log line states, with `after` (the lines that follow) for messages
/// that go on over several lines.
fn recognise(line: &str, after: &[String]) -> Option<(FailureCause, Strength)> {
    use FailureCause::*;
    use Strength::*;
    let next = after.first().map(String::as_str).unwrap_or("");

    // Compilers: gcc/g++ `file:1:10: fatal error: yaml.h: No such file or directory`,
    // clang `fatal error: 'yaml.h' file not found`.
    if line.contains("fatal error: ") {
        if let Some(header) = between(line, "fatal error: '", "' file not found") {
            return Some((
                MissingHeader {
                    header: header.to_string(),
                },
                Hard,
            ));
        }
        if let Some(header) = between(line, "fatal error: ", ": No such file or directory") {
            if !is_source_file(header) && !line.starts_with("cc1") {
                return Some((
                    MissingHeader {
                        header: header.to_string(),
                    },
                    Hard,
                ));
            }
        }
    }

    // Linkers: GNU ld `cannot find -lyaml: No such file or directory`, gold `error:
    // cannot find -lyaml`, lld `unable to find library -lyaml`, Apple ld `library not
    // found for -lyaml`, mold `library not found: yaml`.
    for marker in [
        "cannot find -l",
        "unable to find library -l",
        "library not found for -l",
    ] {
        if let Some(library) = word_after(line, marker) {
            return Some((
                MissingLibrary {
                    library: library.to_string(),
                },
                Hard,
            ));
        }
    }
    if line.starts_with("mold: ") {
        if let Some(library) = word_after(line, "library not found: ") {
            return Some((
                MissingLibrary {
                    library: library.to_string(),
                },
                Hard,
            ));
        }
    }

    // meson: `meson.build:2:6: ERROR: Dependency "openblas" not found (tried …)`,
    // `ERROR: Dependency lookup for openblas with method 'pkgconfig' failed`,
    // `ERROR: C shared or static library 'yamlx' not found`,
    // `ERROR: Unknown compiler(s): [['gfortran'], …]`,
    // `ERROR: Program 'cython' not found or not executable`.
    if line.contains("ERROR: ") {
        if let Some(name) = between(line, "ERROR: Dependency \"", "\" not found") {
            return Some((
                MissingDependency {
                    name: name.to_string(),
                    tool: LookupTool::Meson,
                },
                Hard,
            ));
        }
        if let Some(name) = between(line, "ERROR: Dependency lookup for ", " with method") {
            return Some((
                MissingDependency {
                    name: name.to_string(),
                    tool: LookupTool::Meson,
                },
                Hard,
            ));
        }
        if line.contains(" shared or static library '") && line.ends_with("' not found") {
            if let Some(library) = between(line, "library '", "' not found") {
                return Some((
                    MissingLibrary {
                        library: library.to_string(),
                    },
                    Hard,
                ));
            }
        }
        if let Some(first) = between(line, "ERROR: Unknown compiler(s): [['", "'") {
            return Some((
                MissingTool {
                    tool: program(first),
                },
                Hard,
            ));
        }
        if let Some(tool) = between(line, "ERROR: Program '", "' not found") {
            return Some((
                MissingTool {
                    tool: program(tool),
                },
                Hard,
            ));
        }
    }

    // CMake: `Could NOT find CURL (missing: CURL_LIBRARY …)` as an error (`-- Could NOT
    // find` is an optional package: soft), and config mode's `Could not find a package
    // configuration file provided by "GEOS"`.
    if let Some(rest) = line.strip_prefix("-- Could NOT find ") {
        let name = rest.split_whitespace().next()?;
        return Some((
            MissingDependency {
                name: name.to_string(),
                tool: LookupTool::Cmake,
            },
            Soft,
        ));
    }
    if let Some(rest) = line.strip_prefix("Could NOT find ") {
        let name = rest.split_whitespace().next()?;
        return Some((
            MissingDependency {
                name: name.to_string(),
                tool: LookupTool::Cmake,
            },
            Hard,
        ));
    }
    if let Some(name) = between(
        line,
        "Could not find a package configuration file provided by \"",
        "\"",
    ) {
        return Some((
            MissingDependency {
                name: name.to_string(),
                tool: LookupTool::Cmake,
            },
            Hard,
        ));
    }

    // pkg-config: `Package foo was not found in the pkg-config search path.`, pkgconf
    // `Package 'foo', required by 'virtual:world', not found`, old `No package 'foo'
    // found`. Builds probe with pkg-config and fall back, so these are soft.
    // CMake's pkg_check_modules prints them after `--   `.
    let bare = line.trim_start_matches(['-', ' ']);
    if let Some(rest) = bare.strip_prefix("Package ") {
        if let Some(name) = rest.strip_suffix(" was not found in the pkg-config search path.") {
            return Some((
                MissingDependency {
                    name: name.trim_matches('\'').to_string(),
                    tool: LookupTool::PkgConfig,
                },
                Soft,
            ));
        }
        if rest.contains("', required by '") && rest.ends_with("', not found") {
            let name = between(bare, "Package '", "'")?;
            return Some((
                MissingDependency {
                    name: name.to_string(),
                    tool: LookupTool::PkgConfig,
                },
                Soft,
            ));
        }
    }
    if let Some(name) = between(line, "No package '", "' found") {
        return Some((
            MissingDependency {
                name: name.to_string(),
                tool: LookupTool::PkgConfig,
            },
            Soft,
        ));
    }

    // Shells: bash `line 3: cargo: command not found`, dash `1: gfortran: not found`.
    if let Some(head) = line.strip_suffix(": command not found") {
        if let Some(tool) = head.rsplit(": ").next().filter(|t| !t.contains(' ')) {
            return Some((
                MissingTool {
                    tool: program(tool),
                },
                Hard,
            ));
        }
    }
    if let Some(head) = line.strip_suffix(": not found") {
        let mut parts = head.rsplitn(3, ": ");
        if let (Some(tool), Some(number), Some(_shell)) = (parts.next(), parts.next(), parts.next())
        {
            if number.chars().all(|c| c.is_ascii_digit()) && !tool.contains(' ') {
                return Some((
                    MissingTool {
                        tool: program(tool),
                    },
                    Hard,
                ));
            }
        }
    }
    // setuptools: `error: command 'gfortran' failed: No such file or directory`.
    if let Some(tool) = between(
        line,
        "error: command '",
        "' failed: No such file or directory",
    ) {
        return Some((
            MissingTool {
                tool: program(tool),
            },
            Hard,
        ));
    }
    // Python running a program that is not there:
    // `FileNotFoundError: [Errno 2] No such file or directory: 'cmake'`.
    if let Some(tool) = between(
        line,
        "FileNotFoundError: [Errno 2] No such file or directory: '",
        "'",
    ) {
        if !tool.contains('.') && !tool.is_empty() {
            return Some((
                MissingTool {
                    tool: program(tool),
                },
                Hard,
            ));
        }
    }
    // Rust: setuptools-rust `error: can't find Rust compiler`, maturin's build backend
    // `Cargo, the Rust package manager, is not installed or is not on PATH.`, maturin
    // `Cargo metadata failed. Do you have cargo in your PATH?` followed by `No such file
    // or directory`, rustc `error: linker `cc` not found`.
    if line.ends_with("can't find Rust compiler")
        || line.starts_with("Cargo, the Rust package manager, is not installed or is not on PATH")
    {
        return Some((
            MissingTool {
                tool: "cargo".to_string(),
            },
            Hard,
        ));
    }
    if line.contains("Do you have cargo in your PATH?")
        && next.contains("No such file or directory")
    {
        return Some((
            MissingTool {
                tool: "cargo".to_string(),
            },
            Hard,
        ));
    }
    if let Some(tool) = between(line, "error: linker `", "` not found") {
        return Some((
            MissingTool {
                tool: program(tool),
            },
            Hard,
        ));
    }

    // The package's build refusing free-threaded Python, in its own words.
    if refuses_free_threading(line) {
        return Some((
            RefusesFreeThreading {
                message: line.to_string(),
            },
            Hard,
        ));
    }

    // CMake stopping with a message of the project's: `CMake Error at CMakeLists.txt:46
    // (message):` then the message, indented, up to a blank line; or `CMake Error: …`.
    // (`Could NOT find …` under such a line is read above and comes later: it wins.)
    // Messages of CMake's own modules (`…/Modules/FindPkgConfig.cmake`) only repeat what
    // the lookup above them said.
    if line.starts_with("CMake Error at ")
        && line.ends_with("(message):")
        && !line.contains("/Modules/")
    {
        let message: Vec<&str> = after
            .iter()
            .map(String::as_str)
            .take_while(|l| !l.is_empty() && !l.starts_with("-- "))
            .collect();
        if !message.is_empty() {
            return Some((
                ConfigureError {
                    message: message.join(" "),
                },
                Hard,
            ));
        }
    }
    if let Some(message) = line.strip_prefix("CMake Error: ") {
        return Some((
            ConfigureError {
                message: message.to_string(),
            },
            Hard,
        ));
    }

    // Downloads during the build: meson `../extern/meson.build:12:18: ERROR: could not get
    // https://…/freetype-2.14.3.tar.xz; is the internet available?` (its earlier
    // `WARNING: failed to download …` lines are retries); CMake `error: downloading
    // 'https://…/libsodium-1.0.22-stable.tar.gz' failed`, under its `Each download
    // failed!` (a configure error, which this later line replaces).
    if let Some(url) = between(
        line,
        "ERROR: could not get ",
        "; is the internet available?",
    ) {
        return Some((
            DownloadFailed {
                url: url.to_string(),
            },
            Hard,
        ));
    }
    if let Some(url) = between(line, "error: downloading '", "' failed") {
        return Some((
            DownloadFailed {
                url: url.to_string(),
            },
            Hard,
        ));
    }

    // Compilers: gcc/clang `file.c:12:3: error: …`, rustc `error[E0425]: …`.
    if let Some((place, _)) = line.split_once(": error: ") {
        let file = place.split(':').next().unwrap_or("");
        let is_code = is_source_file(file)
            || matches!(
                file.rsplit_once('.').map(|(_, e)| e),
                Some("h" | "hpp" | "hh" | "hxx" | "pxd" | "pxi" | "inc")
            );
        if is_code && place.contains(':') {
            return Some((
                CompileError {
                    message: line.to_string(),
                },
                First,
            ));
        }
    }
    if line.starts_with("error[E") {
        let message = match after.iter().find(|l| l.starts_with("--> ")) {
            Some(at) => format!("{line} ({at})"),
            None => line.to_string(),
        };
        return Some((CompileError { message }, First));
    }

    // pip's build isolation: `ERROR: No matching distribution found for maturin>=9`.
    if let Some((_, requirement)) = line.split_once("No matching distribution found for ") {
        let requirement = requirement.trim();
        if !requirement.is_empty() {
            return Some((
                MissingPythonPackage {
                    requirement: requirement.to_string(),
                },
                Hard,
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(log: &str) -> FailureCause {
        diagnose(log).cause
    }

    fn header(h: &str) -> FailureCause {
        FailureCause::MissingHeader { header: h.into() }
    }

    fn library(l: &str) -> FailureCause {
        FailureCause::MissingLibrary { library: l.into() }
    }

    fn dependency(name: &str, tool: LookupTool) -> FailureCause {
        FailureCause::MissingDependency {
            name: name.into(),
            tool,
        }
    }

    fn tool(t: &str) -> FailureCause {
        FailureCause::MissingTool { tool: t.into() }
    }

    /// pip building python-ldap 3.4.8 on a machine without libldap2-dev (pip 23.2,
    /// setuptools, gcc 12), the lines around the error as pip printed them.
    const PYTHON_LDAP: &str = "\
      running build_ext
      building '_ldap' extension
      creating build/temp.linux-x86_64-cpython-311
      creating build/temp.linux-x86_64-cpython-311/Modules
      gcc -Wsign-compare -DNDEBUG -g -fwrapv -O3 -Wall -fPIC -DHAVE_SASL -DHAVE_TLS -DLDAPMODULE_VERSION=3.4.8 \"-DLDAPMODULE_AUTHOR=python-ldap project\" \"-DLDAPMODULE_LICENSE=Python style\" -IModules -I/tmp/diag/venv/include -I/root/.pyenv/versions/3.11.7/include/python3.11 -c Modules/LDAPObject.c -o build/temp.linux-x86_64-cpython-311/Modules/LDAPObject.o
      In file included from Modules/LDAPObject.c:3:
      Modules/common.h:15:10: fatal error: lber.h: No such file or directory
         15 | #include <lber.h>
            |          ^~~~~~~~
      compilation terminated.
      error: command '/usr/bin/gcc' failed with exit code 1
      [end of output]
  
  note: This error originates from a subprocess, and is likely not a problem with pip.
  ERROR: Failed building wheel for python-ldap
Failed to build python-ldap
ERROR: Failed to build one or more wheels
";

    #[test]
    fn gcc_missing_header_in_a_pip_log() {
        let d = diagnose(PYTHON_LDAP);
        assert_eq!(d.cause, header("lber.h"));
        assert_eq!(
            d.line.as_deref(),
            Some("Modules/common.h:15:10: fatal error: lber.h: No such file or directory")
        );
        assert_eq!(d.cause.kind(), "missing-header");
        assert_eq!(d.cause.to_string(), "missing C header lber.h");
        assert!(d
            .reason("build script failed (exit status: 1)")
            .starts_with(
                "build script failed (exit status: 1): missing C header lber.h (install "
            ));
    }

    #[test]
    fn clang_missing_header_and_paths_in_headers() {
        assert_eq!(
            cause("src/_yaml.c:1234:10: fatal error: 'yaml.h' file not found\n#include <yaml.h>\n         ^~~~~~~~\n1 error generated."),
            header("yaml.h")
        );
        assert_eq!(
            cause("src/x.cpp:3:10: fatal error: boost/optional.hpp: No such file or directory"),
            header("boost/optional.hpp")
        );
        // A missing source file is not a missing header.
        assert_eq!(
            cause(
                "cc1: fatal error: src/_cffi.c: No such file or directory\ncompilation terminated."
            ),
            FailureCause::Other
        );
    }

    #[test]
    fn linkers_missing_libraries() {
        // GNU ld 2.40 and gold as gcc 12 runs them.
        assert_eq!(
            cause("/usr/bin/ld: cannot find -lyaml_absent: No such file or directory\ncollect2: error: ld returned 1 exit status"),
            library("yaml_absent")
        );
        assert_eq!(
            cause("/usr/bin/ld.gold: error: cannot find -lyaml_absent\ncollect2: error: ld returned 1 exit status"),
            library("yaml_absent")
        );
        // Older GNU ld (no trailing reason), lld and Apple's ld.
        assert_eq!(cause("/usr/bin/ld: cannot find -lssl"), library("ssl"));
        assert_eq!(
            cause("ld.lld: error: unable to find library -lfoo"),
            library("foo")
        );
        assert_eq!(cause("ld: library not found for -lomp"), library("omp"));
    }

    #[test]
    fn meson_lookups() {
        // meson 1.12 `dependency('openblas')` and `cc.find_library('yamlx')`.
        let log = "Found CMake: /usr/bin/cmake (3.25.1)\n\
                   Run-time dependency openblas found: NO  (tried pkg-config and cmake)\n\
                   \n\
                   meson.build:2:6: ERROR: Dependency \"openblas\" not found (tried pkg-config and cmake)\n\
                   \n\
                   A full log can be found at /tmp/diag/ms/build/meson-logs/meson-log.txt\n";
        assert_eq!(cause(log), dependency("openblas", LookupTool::Meson));
        assert_eq!(
            cause("meson.build:4:3: ERROR: C shared or static library 'yamlx' not found"),
            library("yamlx")
        );
        assert_eq!(
            cause("meson.build:1:0: ERROR: Unknown compiler(s): [['gfortran'], ['flang-new'], ['flang'], ['nvfortran'], ['pgfortran'], ['ifort'], ['ifx'], ['g95']]"),
            tool("gfortran")
        );
        assert_eq!(
            cause("meson.build:2:5: ERROR: Program 'cython' not found or not executable"),
            tool("cython")
        );
    }

    #[test]
    fn cmake_lookups_hard_and_soft() {
        // CMake 3.25: an optional `find_package(CURL)`, then a REQUIRED one.
        let log = "-- Detecting C compile features - done\n\
                   -- Could NOT find CURL (missing: CURL_LIBRARY CURL_INCLUDE_DIR) \n\
                   CMake Error at /usr/share/cmake-3.25/Modules/FindPackageHandleStandardArgs.cmake:230 (message):\n  \
                   Could NOT find CURL (missing: CURL_LIBRARY CURL_INCLUDE_DIR)\n\
                   Call Stack (most recent call first):\n";
        let d = diagnose(log);
        assert_eq!(d.cause, dependency("CURL", LookupTool::Cmake));
        assert_eq!(
            d.line.as_deref(),
            Some("Could NOT find CURL (missing: CURL_LIBRARY CURL_INCLUDE_DIR)")
        );
        assert_eq!(d.cause.to_string(), "CMake cannot find dependency CURL");
        // Config mode.
        let log = "CMake Error at CMakeLists.txt:3 (find_package):\n  \
                   By not providing \"FindGEOS.cmake\" in CMAKE_MODULE_PATH this project has\n  \
                   asked CMake to find a package configuration file provided by \"GEOS\", but\n  \
                   CMake did not find one.\n\n  \
                   Could not find a package configuration file provided by \"GEOS\" with any of\n  \
                   the following names:\n";
        assert_eq!(cause(log), dependency("GEOS", LookupTool::Cmake));
    }

    #[test]
    fn pkg_config_is_soft() {
        // pkgconf 1.8 (Debian's pkg-config), and CMake's pkg_check_modules around it.
        let log = "Package openblas_absent was not found in the pkg-config search path.\n\
                   Perhaps you should add the directory containing `openblas_absent.pc'\n\
                   to the PKG_CONFIG_PATH environment variable\n\
                   Package 'openblas_absent', required by 'virtual:world', not found\n";
        assert_eq!(
            cause(log),
            dependency("openblas_absent", LookupTool::PkgConfig)
        );
        let log = "-- Checking for module 'geos'\n\
                   --   Package 'geos', required by 'virtual:world', not found\n\
                   CMake Error at /usr/share/cmake-3.25/Modules/FindPkgConfig.cmake:607 (message):\n  \
                   A required package was not found\n";
        assert_eq!(cause(log), dependency("geos", LookupTool::PkgConfig));
        assert_eq!(
            cause("No package 'libffi' found"),
            dependency("libffi", LookupTool::PkgConfig)
        );
        // A probe that failed before a hard error: the hard error is the cause.
        let log = "Package yaml-0.1 was not found in the pkg-config search path.\n\
                   /usr/bin/ld: cannot find -lyaml: No such file or directory\n";
        assert_eq!(cause(log), library("yaml"));
        // A soft message after a hard one does not replace it.
        let log = "/usr/bin/ld: cannot find -lyaml: No such file or directory\n\
                   Package yaml-0.1 was not found in the pkg-config search path.\n";
        assert_eq!(cause(log), library("yaml"));
    }

    #[test]
    fn missing_programs() {
        assert_eq!(
            cause("/work/x/build-foo.sh: line 3: cargo: command not found"),
            tool("cargo")
        );
        assert_eq!(
            cause("bash: line 1: cargo: command not found"),
            tool("cargo")
        );
        assert_eq!(cause("sh: 1: gfortran: not found"), tool("gfortran"));
        assert_eq!(
            cause("error: command 'gfortran' failed: No such file or directory"),
            tool("gfortran")
        );
        assert_eq!(
            cause("FileNotFoundError: [Errno 2] No such file or directory: 'cmake'"),
            tool("cmake")
        );
        // A data file a setup.py cannot open is not a program.
        assert_eq!(
            cause("FileNotFoundError: [Errno 2] No such file or directory: 'README.md'"),
            FailureCause::Other
        );
        // setuptools-rust 1.x and maturin 1.x without cargo on PATH.
        let log = "      running build_rust\n      error: can't find Rust compiler\n      \n      If you are using an outdated pip version, it is possible a prebuilt wheel is available for this package but pip is not able to install from it.\n";
        assert_eq!(cause(log), tool("cargo"));
        let log = "\u{1f4a5} maturin failed\n  Caused by: Cargo metadata failed. Do you have cargo in your PATH?\n  Caused by: No such file or directory (os error 2)\n";
        assert_eq!(cause(log), tool("cargo"));
        // maturin's build backend (1.9 and later) with MATURIN_NO_INSTALL_RUST, as pip
        // printed it building rpds-py 2026.9.1 without cargo on PATH.
        let log = "  Checking for Rust toolchain....\n\n  Cargo, the Rust package manager, is not installed or is not on PATH.\n  This package requires Rust and Cargo to compile extensions. Install it through\n  the system's package manager or via https://rustup.rs/\n\n  error: subprocess-exited-with-error\n";
        assert_eq!(cause(log), tool("cargo"));
        // The same maturin message for another failure of `cargo metadata` is not a
        // missing cargo.
        let log = "  Caused by: Cargo metadata failed. Do you have cargo in your PATH?\n  Caused by: `cargo metadata` exited with an error: error: failed to get `pyo3` as a dependency\n";
        assert_eq!(cause(log), FailureCause::Other);
        assert_eq!(
            cause("error: linker `cc` not found\n  |\n  = note: No such file or directory (os error 2)"),
            tool("cc")
        );
    }

    #[test]
    fn pip_build_requirements() {
        // pip 23.2 with a requirement no release satisfies.
        let log = "  ERROR: Could not find a version that satisfies the requirement maturin>=99 (from versions: 1.15.0, 1.16.0)\n  ERROR: No matching distribution found for maturin>=99\n  [end of output]\n";
        let c = cause(log);
        assert_eq!(
            c,
            FailureCause::MissingPythonPackage {
                requirement: "maturin>=99".into()
            }
        );
        assert_eq!(c.kind(), "missing-python-package");
    }

    #[test]
    fn colour_codes_and_carriage_returns_are_ignored() {
        let log = "\u{1b}[1m\u{1b}[31merror\u{1b}[0m: progress 10%\rsrc/a.c:1:10: \u{1b}[01;31m\u{1b}[Kfatal error: \u{1b}[m\u{1b}[Kzlib.h: No such file or directory";
        assert_eq!(cause(log), header("zlib.h"));
    }

    #[test]
    fn a_log_without_a_known_cause_is_other() {
        let d = diagnose("Traceback (most recent call last):\nRuntimeError: the build went wrong\nerror: subprocess-exited-with-error\n");
        assert_eq!(d, Diagnosis::default());
        assert_eq!(
            d.reason("build script failed (exit status: 1)"),
            "build script failed (exit status: 1)"
        );
        assert_eq!(FailureCause::Other.kind(), "other");
    }

    #[test]
    fn causes_serialise_with_their_kind_and_read_back() {
        let d = diagnose(PYTHON_LDAP);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["kind"], "missing-header");
        assert_eq!(json["header"], "lber.h");
        assert_eq!(serde_json::from_value::<Diagnosis>(json).unwrap(), d);
        let c = dependency("openblas", LookupTool::PkgConfig);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "missing-dependency", "name": "openblas", "tool": "pkg-config"})
        );
        let other = serde_json::to_value(Diagnosis::default()).unwrap();
        assert_eq!(other, serde_json::json!({"kind": "other"}));
        for (cause, kind) in [
            (header("a.h"), "missing-header"),
            (library("a"), "missing-library"),
            (c, "missing-dependency"),
            (tool("cargo"), "missing-tool"),
            (
                FailureCause::MissingPythonPackage {
                    requirement: "x".into(),
                },
                "missing-python-package",
            ),
            (FailureCause::Other, "other"),
        ] {
            assert_eq!(cause.kind(), kind);
            assert_eq!(serde_json::to_value(&cause).unwrap()["kind"], kind);
            assert!(FailureCause::KINDS.contains(&kind));
        }
    }

    #[test]
    fn the_end_of_a_long_log_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build.log");
        let mut text = "x".repeat(100) + "\n";
        text = text.repeat(50_000);
        text.push_str("/usr/bin/ld: cannot find -lz: No such file or directory\n");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(diagnose_file(&path, "").cause, library("z"));
        // An unreadable log: the tail kept in the error is read.
        assert_eq!(
            diagnose_file(&dir.path().join("gone.log"), "sh: 1: gfortran: not found").cause,
            tool("gfortran")
        );
    }

    /// orjson 3.13.0 for cp314t (maturin, pyo3): its build script refuses, in cargo's
    /// output as pip prints it (from the catalog run, 2026-12-05).
    #[test]
    fn a_build_that_refuses_free_threading_says_so() {
        let log = "\
  error: failed to run custom build command for `orjson v3.13.0 (/work/src)`

  Caused by:
    process didn't exit successfully: `/work/src/target/release/build/orjson-1/build-script-build` (exit status: 101)
    --- stderr

    thread 'main' panicked at build.rs:20:9:
    orjson v3.13.0 does not support free-threaded Python
    note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
  Error: command ['maturin', 'pep517', 'build-wheel'] returned non-zero exit status 1
  error: subprocess-exited-with-error
";
        let d = diagnose(log);
        assert_eq!(
            d.cause,
            FailureCause::RefusesFreeThreading {
                message: "orjson v3.13.0 does not support free-threaded Python".into()
            }
        );
        assert_eq!(d.cause.kind(), "refuses-free-threading");
        assert_eq!(
            d.reason("build script of orjson failed (exit code 1)"),
            "build script of orjson failed (exit code 1): the build refuses free-threaded Python: orjson v3.13.0 does not support free-threaded Python"
        );
        // A warning that mentions it is not a refusal.
        assert_eq!(
            cause("warning: the limited API is not supported on free-threaded builds; building a version-specific module"),
            FailureCause::Other
        );
    }

    /// llvmlite 0.50.0 against Debian's LLVM 14 (from the catalog run).
    #[test]
    fn a_cmake_message_is_the_cause() {
        let log = "\
  -- Found LLVM 14.0.6
  -- Using LLVMConfig.cmake in: /usr/lib/llvm-14/cmake
  CMake Error at CMakeLists.txt:46 (message):
    LLVM CMake export states LLVM version is 14, llvmlite only officially
    supports 22.


  -- Configuring incomplete, errors occurred!
  subprocess.CalledProcessError: Command '['cmake', '-G', 'Unix Makefiles', '/work/src/ffi']' returned non-zero exit status 1.
";
        let d = diagnose(log);
        assert_eq!(
            d.cause,
            FailureCause::ConfigureError {
                message: "LLVM CMake export states LLVM version is 14, llvmlite only officially supports 22.".into()
            }
        );
        assert_eq!(
            d.line.as_deref(),
            Some("CMake Error at CMakeLists.txt:46 (message):")
        );
        // A missing package reported under such a line is the more precise cause.
        let log = "\
CMake Error at /usr/share/cmake-3.25/Modules/FindPackageHandleStandardArgs.cmake:230 (message):
  Could NOT find CURL (missing: CURL_LIBRARY CURL_INCLUDE_DIR)
Call Stack (most recent call first):
";
        assert_eq!(cause(log), dependency("CURL", LookupTool::Cmake));
    }

    /// ruamel.yaml.clib 0.2.15 for cp314t: C generated by an old Cython, rejected by gcc
    /// (from the catalog run); the first error is the cause, not the last.
    #[test]
    fn the_first_compiler_error_is_the_cause() {
        let log = "\
  gcc -fno-strict-overflow -Wsign-compare -DNDEBUG -g -O3 -Wall -fPIC -c _ruamel_yaml.c -o build/_ruamel_yaml.o
  _ruamel_yaml.c:2162:80: error: unknown type name \u{2018}__pyx_vectorcallfunc\u{2019}; did you mean \u{2018}vectorcallfunc\u{2019}?
   2162 | static CYTHON_INLINE PyObject *__Pyx_PyVectorcall_FastCallDict(PyObject *func, __pyx_vectorcallfunc vc, PyObject *const *args, size_t nargs, PyObject *kw);
  _ruamel_yaml.c:31652:69: error: unknown type name \u{2018}__pyx_vectorcallfunc\u{2019}; did you mean \u{2018}vectorcallfunc\u{2019}?
  error: command '/usr/bin/gcc' failed with exit code 1
";
        let d = diagnose(log);
        assert_eq!(d.cause.kind(), "compile-error");
        assert!(
            d.cause
                .to_string()
                .starts_with("compile error: _ruamel_yaml.c:2162:80: error: unknown type name"),
            "{}",
            d.cause
        );
        // A missing header is still the cause when the compiler stops on it.
        assert_eq!(
            cause("a.c:1:10: fatal error: yaml.h: No such file or directory\nb.c:3:1: error: expected ';'"),
            header("yaml.h")
        );
        // rustc, with where.
        assert_eq!(
            cause("error[E0425]: cannot find value `x` in this scope\n --> src/lib.rs:3:5\n"),
            FailureCause::CompileError {
                message: "error[E0425]: cannot find value `x` in this scope (--> src/lib.rs:3:5)"
                    .into()
            }
        );
    }

    /// matplotlib 3.11.2 and pyzmq 27.3.0 for cp314t (from the catalog run, on a machine
    /// that reaches only the package registries): meson's wrap download of freetype, and
    /// CMake's download of libsodium under `Each download failed!`.
    #[test]
    fn a_download_during_the_build_is_the_cause() {
        let meson = "\
  Run-time dependency pybind11 found: YES 3.1.0
  Downloading freetype2 source from https://download.savannah.nongnu.org/releases/freetype/freetype-2.14.3.tar.xz
  <urlopen error [Errno -2] Name or service not known>
  WARNING: failed to download with error: could not get https://downloads.sourceforge.net/project/freetype/freetype2/2.14.3/freetype-2.14.3.tar.xz; is the internet available?. Trying after a delay...
  <urlopen error [Errno -2] Name or service not known>
  ERROR: Subproject freetype2 is buildable: NO

  ../extern/meson.build:12:18: ERROR: could not get https://downloads.sourceforge.net/project/freetype/freetype2/2.14.3/freetype-2.14.3.tar.xz; is the internet available?

  A full log can be found at /w/src/.mesonpy-9lp5p619/meson-logs/meson-log.txt
  error: subprocess-exited-with-error
  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed
";
        let d = diagnose(meson);
        let url = "https://downloads.sourceforge.net/project/freetype/freetype2/2.14.3/freetype-2.14.3.tar.xz";
        assert_eq!(d.cause, FailureCause::DownloadFailed { url: url.into() });
        assert_eq!(d.cause.kind(), "download-failed");
        assert!(d.reason("build script failed").starts_with(&format!(
            "build script failed: the build could not download {url} (the build downloads"
        )));

        let cmake = "\
  -- Using src='https://download.libsodium.org/libsodium/releases/libsodium-1.0.22-stable.tar.gz'
  -- Retry after 60 seconds (attempt #5) ...
  CMake Error at /tmp/t/build/bundled/src/bundled_libsodium-populate-stamp/download-bundled_libsodium-populate.cmake:170 (message):
    Each download failed!

      error: downloading 'https://download.libsodium.org/libsodium/releases/libsodium-1.0.22-stable.tar.gz' failed
            status_code: 6
            status_string: \"Couldn't resolve host name\"
            log:
            --- LOG BEGIN ---
            Could not resolve host: download.libsodium.org
            --- LOG END ---
";
        assert_eq!(
            cause(cmake),
            FailureCause::DownloadFailed {
                url: "https://download.libsodium.org/libsodium/releases/libsodium-1.0.22-stable.tar.gz".into()
            }
        );
    }
}
