//! The build stage: each output's script runs in the padded placeholder prefix with the
//! conda-build environment; the files it adds to the prefix are that output's.

use std::path::{Path, PathBuf};

use super::{BuildError, Workspace};
use crate::package::snapshot;
use crate::recipe::{RenderedOutput, Script};
use crate::script::run_logged;

/// Length of the placeholder prefix packages are built in (as rattler-build uses).
pub const PLACEHOLDER_LEN: usize = 255;

/// The padded placeholder prefix inside `work`.
pub(crate) fn placeholder_prefix(work: &Path) -> Option<PathBuf> {
    let base = work.join("host_env").to_string_lossy().into_owned();
    if base.len() + 10 > PLACEHOLDER_LEN {
        return None;
    }
    let mut path = base;
    while path.len() < PLACEHOLDER_LEN {
        path.push_str("_placehold");
    }
    path.truncate(PLACEHOLDER_LEN);
    Some(PathBuf::from(path))
}

/// Runs every output's script; returns, per output, the files it added to the prefix.
pub(crate) async fn run_scripts(ws: &Workspace<'_>) -> Result<Vec<Vec<PathBuf>>, BuildError> {
    let job = ws.job;
    let single = job.rendered.outputs.len() == 1;
    let mut files_of = Vec::new();
    for output in job.outputs() {
        let script = output.script.clone().or_else(|| {
            (single && job.recipe.dir.join("build.sh").is_file())
                .then(|| Script::Line("build.sh".into()))
        });
        let Some(script) = script else {
            files_of.push(Vec::new());
            continue;
        };
        let before = snapshot(&ws.prefix);
        let cmd = script_command(&script, output, ws)
            .map_err(ws.io("write the build script in", &ws.work))?;
        let log = ws.logs.join(format!("build-{}.log", output.name));
        run_logged(
            cmd,
            &format!("build script of {}", output.name),
            &log,
            &job.name,
            ws.reporter,
            true,
        )
        .await
        .map_err(|source| BuildError::Script {
            job: job.name.clone(),
            source,
        })?;
        let after = snapshot(&ws.prefix);
        let new = after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .filter(|p| !p.starts_with("conda-meta") && !p.starts_with("pkgs"))
            .cloned()
            .collect();
        files_of.push(new);
    }
    Ok(files_of)
}

/// The command running one output's script, with the build environment.
fn script_command(
    script: &Script,
    output: &RenderedOutput,
    ws: &Workspace<'_>,
) -> std::io::Result<tokio::process::Command> {
    let recipe = ws.job.recipe;
    let (lines, file, env) = match script {
        Script::Line(line) => (vec![line.clone()], None, Default::default()),
        Script::Lines(lines) => (lines.clone(), None, Default::default()),
        Script::Detailed(d) => (
            d.content.clone().unwrap_or_default(),
            d.file.clone(),
            d.env.clone(),
        ),
    };
    let file = file.or_else(|| match lines.as_slice() {
        [one] if one.ends_with(".sh") && recipe.dir.join(one).is_file() => Some(one.clone()),
        _ => None,
    });
    let script_path = match file {
        Some(f) => {
            let name = if f.ends_with(".sh") {
                f
            } else {
                format!("{f}.sh")
            };
            recipe.dir.join(name)
        }
        None => {
            let path = ws.work.join(format!("build-{}.sh", output.name));
            std::fs::write(&path, format!("set -euo pipefail\n{}\n", lines.join("\n")))?;
            path
        }
    };
    let prefix = &ws.prefix;
    let settings = ws.settings;
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-e").arg(&script_path).current_dir(&ws.src);
    // The compiler cache's links (ccache runs the next compiler of the name on PATH),
    // the host prefix, then the directories of machine tools ftforge resolved off PATH
    // (cargo in `~/.cargo/bin`), then PATH.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let cache = settings.compiler_cache.as_ref();
    let dirs = cache
        .map(|c| c.shims.clone())
        .into_iter()
        .chain(std::iter::once(prefix.join("bin")))
        .chain(crate::toolchain::program_dirs_off_path(&ws.tools, &path))
        .chain(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    cmd.env("PATH", path)
        .env("PREFIX", prefix)
        .env("BUILD_PREFIX", prefix)
        .env("SRC_DIR", &ws.src)
        .env("RECIPE_DIR", &recipe.dir)
        .env("CPU_COUNT", settings.cpu_count.to_string())
        .env("MAKEFLAGS", format!("-j{}", settings.cpu_count))
        .env("PKG_NAME", &output.name)
        .env("PKG_VERSION", &output.version)
        .env("PKG_BUILDNUM", output.build_number.to_string())
        .env("PKG_BUILD_STRING", &output.build_string)
        .env("target_platform", crate::recipe::target_platform())
        .env("build_platform", crate::recipe::target_platform())
        .env("SHLIB_EXT", ".so")
        // Compilers and tools that honour it embed this time instead of now.
        .env("SOURCE_DATE_EPOCH", (ws.timestamp / 1000).to_string())
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_WARN_SCRIPT_LOCATION", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // cargo (maturin, setuptools-rust): the build's own target directory inside its
        // sources (where cargo puts it by default, whatever the caller's environment or
        // cargo config say), and the job's share of the cores. CARGO_HOME, the registry
        // and network settings stay the machine's. maturin must use the cargo ftforge
        // resolved and recorded, not download a toolchain of its own when none is on
        // PATH (puccinialin).
        .env("CARGO_TARGET_DIR", ws.src.join("target"))
        .env("CARGO_BUILD_JOBS", settings.cpu_count.to_string())
        .env("CARGO_TERM_COLOR", "never")
        .env("MATURIN_NO_INSTALL_RUST", "1")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("CONDA_PREFIX")
        .env_remove("PYTHON_GIL");
    // The work root as the compiler sees it: `ws.work` is absolute with symlinks
    // resolved (a relative `--work-dir` would make ccache stop with an error).
    let work_root = ws.work.parent().unwrap_or(&settings.work_root);
    for (k, v) in cache.map(|c| c.env(work_root)).unwrap_or_default() {
        cmd.env(k, v);
    }
    if let Some(abi) = ws.job.abi {
        for (k, v) in abi.build_env(prefix) {
            cmd.env(k, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_is_exactly_255_characters() {
        let p = placeholder_prefix(Path::new("/tmp/work/python-3.14.7-h1234567_0_cp314t")).unwrap();
        assert_eq!(p.to_string_lossy().len(), PLACEHOLDER_LEN);
        assert!(p
            .to_string_lossy()
            .starts_with("/tmp/work/python-3.14.7-h1234567_0_cp314t/host_env_placehold"));
        assert!(placeholder_prefix(&PathBuf::from("/".repeat(250))).is_none());
    }
}
