//! Turning a build's new files into a `.conda` package (CEP 35): prefix detection for
//! relocation, and the `info/` metadata conda clients read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rattler_conda_types::compression_level::CompressionLevel;
use rattler_conda_types::package::{
    EntryPoint, IndexJson, LinkJson, NoArchLinks, PackageFile as _, PythonEntryPoints,
};
use sha2::{Digest, Sha256};

use crate::recipe::{target_platform, RenderedOutput, RunExports};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PackageError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the generated index.json of {name} is invalid: {message}")]
    BadIndex { name: String, message: String },
    #[error(
        "the entry point `{command}` of {name} would replace {path}, which the build installed"
    )]
    #[diagnostic(help("rename the entry point or stop the build from installing that script"))]
    EntryPointClash {
        name: String,
        command: String,
        path: String,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + use<> {
    let path = path.to_path_buf();
    move |source| PackageError::Io {
        action,
        path,
        source,
    }
}

/// One file of a package as `info/paths.json` describes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathEntry {
    #[serde(rename = "_path")]
    pub path: String,
    pub path_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_in_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_placeholder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<&'static str>,
}

/// Describes one file under `prefix`: hash, size and whether (and how) it embeds the
/// build prefix. Byte-compiled `.pyc` files are left alone: CPython fixes their
/// `co_filename` when it loads them from a new location.
pub fn describe_file(prefix: &Path, rel: &Path) -> Result<PathEntry, PackageError> {
    let full = prefix.join(rel);
    let meta = std::fs::symlink_metadata(&full).map_err(io("read", &full))?;
    let path = rel.to_string_lossy().replace('\\', "/");
    if meta.file_type().is_symlink() {
        return Ok(PathEntry {
            path,
            path_type: "softlink",
            sha256: None,
            size_in_bytes: None,
            prefix_placeholder: None,
            file_mode: None,
        });
    }
    let bytes = std::fs::read(&full).map_err(io("read", &full))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let placeholder = prefix.to_string_lossy();
    let embeds_prefix =
        !path.ends_with(".pyc") && memchr::memmem::find(&bytes, placeholder.as_bytes()).is_some();
    let (prefix_placeholder, file_mode) = if embeds_prefix {
        let binary = memchr::memchr(0, &bytes).is_some();
        (
            Some(placeholder.to_string()),
            Some(if binary { "binary" } else { "text" }),
        )
    } else {
        (None, None)
    };
    Ok(PathEntry {
        path,
        path_type: "hardlink",
        sha256: Some(sha),
        size_in_bytes: Some(bytes.len() as u64),
        prefix_placeholder,
        file_mode,
    })
}

/// Where a file of the build prefix goes in the package (`None`: left out).
pub fn packaged_path(
    rel: &Path,
    noarch_python: Option<&ftforge_interpreter::PythonAbi>,
) -> Option<PathBuf> {
    let Some(abi) = noarch_python else {
        return Some(rel.to_path_buf());
    };
    // Byte code is compiled by the installer for the interpreter it meets.
    if rel.components().any(|c| c.as_os_str() == "__pycache__") {
        return None;
    }
    if let Ok(rest) = rel.strip_prefix(abi.site_packages_dir()) {
        return Some(Path::new("site-packages").join(rest));
    }
    if let Ok(rest) = rel.strip_prefix("bin") {
        return Some(Path::new("python-scripts").join(rest));
    }
    Some(rel.to_path_buf())
}

/// Everything needed to write one package.
pub struct PackageInput<'a> {
    pub output: &'a RenderedOutput,
    /// The build prefix (the placeholder) holding the files.
    pub prefix: &'a Path,
    /// Files relative to `prefix` that belong to this package.
    pub files: &'a [PathBuf],
    /// For `noarch: python` packages: the ABI they were built with, whose
    /// site-packages and `bin/` become `site-packages/` and `python-scripts/` (CEP 17
    /// lets the installer put them into whichever interpreter the environment has).
    pub noarch_python: Option<ftforge_interpreter::PythonAbi>,
    pub depends: Vec<String>,
    pub constrains: Vec<String>,
    pub run_exports: &'a RunExports,
    pub recipe_dir: &'a Path,
    pub rendered_recipe: &'a serde_json::Value,
    pub extra_about: serde_json::Value,
    /// Milliseconds since the epoch for `index.json`'s timestamp and the archive's file
    /// times: the same inputs give a byte-identical package.
    pub timestamp: i64,
}

/// Writes `<out_dir>/<name>-<version>-<build>.conda` and returns its path.
pub fn write_package(input: &PackageInput<'_>, out_dir: &Path) -> Result<PathBuf, PackageError> {
    let output = input.output;
    let staging = tempfile::tempdir_in(out_dir).map_err(io("create a directory in", out_dir))?;
    let root = staging.path();
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for rel in input.files {
        let Some(packaged) = packaged_path(rel, input.noarch_python.as_ref()) else {
            continue;
        };
        let mut entry = describe_file(input.prefix, rel)?;
        entry.path = packaged.to_string_lossy().into_owned();
        let src = input.prefix.join(rel);
        let dest = root.join(&packaged);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        }
        if entry.path_type == "softlink" {
            let target = std::fs::read_link(&src).map_err(io("read", &src))?;
            std::os::unix::fs::symlink(&target, &dest).map_err(io("link", &dest))?;
        } else if std::fs::hard_link(&src, &dest).is_err() {
            std::fs::copy(&src, &dest).map_err(io("copy", &src))?;
        }
        files.push(dest);
        entries.push(entry);
    }

    // Console scripts of `build.python.entry_points`: noarch: python packages list them
    // in info/link.json and the installer writes them for the environment's python;
    // other packages carry `bin/<command>` themselves.
    let noarch_python = output.links_as_noarch_python();
    for entry in &output.entry_points {
        let packaged = if noarch_python {
            format!("python-scripts/{}", entry.command)
        } else {
            format!("bin/{}", entry.command)
        };
        if entries.iter().any(|e: &PathEntry| e.path == packaged) {
            return Err(PackageError::EntryPointClash {
                name: output.name.clone(),
                command: entry.command.clone(),
                path: packaged,
            });
        }
        if !noarch_python {
            let (entry, file) = entry_point_script(root, input.prefix, entry)?;
            entries.push(entry);
            files.push(file);
        }
    }

    let info = root.join("info");
    std::fs::create_dir_all(info.join("recipe")).map_err(io("create", &info))?;
    let mut write_json = |name: &str, value: &serde_json::Value| -> Result<(), PackageError> {
        let path = info.join(name);
        let text = serde_json::to_string_pretty(value).expect("json values serialize");
        std::fs::write(&path, text).map_err(io("write", &path))?;
        files.push(path);
        Ok(())
    };

    let index = index_json(input)?;
    write_json("index.json", &index)?;
    write_json(
        "paths.json",
        &serde_json::json!({"paths": entries, "paths_version": 1}),
    )?;
    let mut about = serde_json::to_value(&output.about).unwrap_or_default();
    if let (Some(obj), serde_json::Value::Object(extra)) =
        (about.as_object_mut(), &input.extra_about)
    {
        obj.extend(extra.clone());
    }
    write_json("about.json", &about)?;
    write_json(
        "hash_input.json",
        &serde_json::to_value(&output.hash_input).unwrap_or_default(),
    )?;
    if !input.run_exports.is_empty() {
        write_json(
            "run_exports.json",
            &serde_json::to_value(input.run_exports.to_json()).unwrap_or_default(),
        )?;
    }
    if noarch_python {
        let link = LinkJson {
            noarch: NoArchLinks::Python(PythonEntryPoints {
                entry_points: output.entry_points.clone(),
            }),
            package_metadata_version: 1,
        };
        write_json("link.json", &serde_json::to_value(link).unwrap_or_default())?;
    }
    write_json("recipe/rendered_recipe.json", input.rendered_recipe)?;
    // The recipe as written: recipe.yaml and the small files next to it.
    for entry in std::fs::read_dir(input.recipe_dir).map_err(io("read", input.recipe_dir))? {
        let entry = entry.map_err(io("read", input.recipe_dir))?;
        let meta = entry.metadata().map_err(io("read", &entry.path()))?;
        if meta.is_file() && meta.len() < 1 << 20 {
            let dest = info.join("recipe").join(entry.file_name());
            std::fs::copy(entry.path(), &dest).map_err(io("copy", &entry.path()))?;
            files.push(dest);
        }
    }
    let files_list: String = entries.iter().map(|e| format!("{}\n", e.path)).collect();
    let files_path = info.join("files");
    std::fs::write(&files_path, files_list).map_err(io("write", &files_path))?;
    files.push(files_path);

    let out_path = out_dir.join(format!("{}.conda", output.dist_name()));
    let tmp = tempfile::NamedTempFile::new_in(out_dir).map_err(io("create a file in", out_dir))?;
    let timestamp =
        jiff::Timestamp::from_millisecond(input.timestamp).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    rattler_package_streaming::write::write_conda_package(
        tmp.as_file(),
        root,
        &files,
        CompressionLevel::Numeric(10),
        None,
        &output.dist_name(),
        Some(&timestamp),
        None,
    )
    .map_err(io("write", &out_path))?;
    ftforge_channels::layout::persist_readable(tmp, &out_path).map_err(|e| PackageError::Io {
        action: "write",
        path: out_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(out_path)
}

/// `bin/<command>` of a package that is not noarch: python, written as conda writes
/// entry points, with the build prefix in its shebang (replaced on install).
fn entry_point_script(
    root: &Path,
    prefix: &Path,
    entry: &EntryPoint,
) -> Result<(PathEntry, PathBuf), PackageError> {
    use std::os::unix::fs::PermissionsExt;
    let placeholder = prefix.to_string_lossy().into_owned();
    let (import_name, _) = entry
        .function
        .split_once('.')
        .unwrap_or((&entry.function, ""));
    let text = format!(
        "#!{placeholder}/bin/python\n\
         # -*- coding: utf-8 -*-\n\
         import re\n\
         import sys\n\n\
         from {module} import {import_name}\n\n\
         if __name__ == '__main__':\n\
         \tsys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])\n\
         \tsys.exit({function}())\n",
        module = entry.module,
        function = entry.function,
    );
    let rel = format!("bin/{}", entry.command);
    let dest = root.join(&rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    std::fs::write(&dest, &text).map_err(io("write", &dest))?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        .map_err(io("make executable", &dest))?;
    let entry = PathEntry {
        path: rel,
        path_type: "hardlink",
        sha256: Some(hex::encode(Sha256::digest(text.as_bytes()))),
        size_in_bytes: Some(text.len() as u64),
        prefix_placeholder: Some(placeholder),
        file_mode: Some("text"),
    };
    Ok((entry, dest))
}

fn index_json(input: &PackageInput<'_>) -> Result<serde_json::Value, PackageError> {
    let output = input.output;
    let mut index = serde_json::json!({
        "name": output.name,
        "version": output.version,
        "build": output.build_string,
        "build_number": output.build_number,
        "depends": input.depends,
        "subdir": output.subdir(),
        "timestamp": input.timestamp,
    });
    let obj = index.as_object_mut().expect("object literal");
    if !input.constrains.is_empty() {
        obj.insert("constrains".into(), input.constrains.clone().into());
    }
    if let Some(license) = &output.about.license {
        obj.insert("license".into(), license.clone().into());
    }
    if let Some(family) = &output.about.license_family {
        obj.insert("license_family".into(), family.clone().into());
    }
    // An abi3t package is a platform package linked as noarch: python (its files go to
    // whichever site-packages the environment's interpreter has).
    if output.abi3t {
        obj.insert("noarch".into(), "python".into());
    }
    match output.noarch {
        Some(kind) => {
            obj.insert("noarch".into(), kind.as_str().into());
        }
        None => {
            let (platform, arch) = target_platform().split_once('-').unwrap_or(("linux", "64"));
            let arch = match arch {
                "64" => "x86_64",
                other => other,
            };
            obj.insert("platform".into(), platform.into());
            obj.insert("arch".into(), arch.into());
        }
    }
    if !output.track_features.is_empty() {
        obj.insert(
            "track_features".into(),
            output.track_features.join(" ").into(),
        );
    }
    if let Some(sp) = &output.site_packages_path {
        obj.insert("python_site_packages_path".into(), sp.clone().into());
    }
    let text = index.to_string();
    IndexJson::from_str(&text).map_err(|e| PackageError::BadIndex {
        name: output.name.clone(),
        message: e.to_string(),
    })?;
    Ok(index)
}

/// Files under `prefix` (relative paths), for before/after comparison of a build.
pub fn snapshot(prefix: &Path) -> BTreeMap<PathBuf, ()> {
    walkdir::WalkDir::new(prefix)
        .min_depth(1)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| {
            e.path()
                .strip_prefix(prefix)
                .ok()
                .map(|p| (p.to_path_buf(), ()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package of `recipe_text` (one output) holding `files` of a placeholder prefix.
    fn package_of(dir: &Path, recipe_text: &str) -> (PathBuf, PathBuf) {
        let recipe_dir = dir.join("recipe");
        std::fs::create_dir_all(&recipe_dir).unwrap();
        std::fs::write(recipe_dir.join("recipe.yaml"), recipe_text).unwrap();
        let recipe = crate::recipe::Recipe::load(&recipe_dir).unwrap();
        let rendered = recipe.render(&Default::default()).unwrap();
        let prefix = dir.join("host_env_placehold_placehold_placehold");
        std::fs::create_dir_all(prefix.join("share")).unwrap();
        std::fs::write(prefix.join("share/data.txt"), "data").unwrap();
        let out_dir = dir.join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        let input = PackageInput {
            output: &rendered.outputs[0],
            prefix: &prefix,
            files: &[PathBuf::from("share/data.txt")],
            noarch_python: None,
            depends: Vec::new(),
            constrains: Vec::new(),
            run_exports: &rendered.outputs[0].requirements.run_exports,
            recipe_dir: &recipe_dir,
            rendered_recipe: &rendered.rendered,
            extra_about: serde_json::json!({}),
            timestamp: recipe.timestamp_millis(),
        };
        (write_package(&input, &out_dir).unwrap(), prefix)
    }

    #[tokio::test]
    async fn entry_points_of_compiled_packages_are_installed_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let (package, placeholder) = package_of(
            dir.path(),
            "package: {name: tool, version: \"1.0\"}\nbuild:\n  python:\n    entry_points:\n      - sc-hello = sortedcontainers:SortedList\nrequirements:\n  run_exports:\n    weak_constraints: [tool >=1]\n",
        );
        let unpacked = dir.path().join("unpacked");
        rattler_package_streaming::fs::extract(&package, &unpacked).unwrap();
        let paths: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(unpacked.join("info/paths.json")).unwrap(),
        )
        .unwrap();
        let script = paths["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["_path"] == "bin/sc-hello")
            .expect("bin/sc-hello is in paths.json");
        assert_eq!(script["file_mode"], "text");
        assert_eq!(
            script["prefix_placeholder"],
            placeholder.to_string_lossy().as_ref()
        );
        let exports: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(unpacked.join("info/run_exports.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            exports,
            serde_json::json!({"weak_constrains": ["tool >=1"]})
        );
        assert!(!unpacked.join("info/link.json").exists());

        // Installed by rattler (what ftforge and conda clients use): the shebang names
        // the environment's python.
        let record = crate::testing::local_record(&package).unwrap();
        let prefix = dir.path().join("env");
        crate::testing::install(&prefix, vec![record], &dir.path().join("pkgs"))
            .await
            .unwrap();
        let installed = std::fs::read_to_string(prefix.join("bin/sc-hello")).unwrap();
        assert!(
            installed.starts_with(&format!("#!{}/bin/python\n", prefix.display())),
            "{installed}"
        );
        assert!(installed.contains("from sortedcontainers import SortedList"));
        assert!(installed.contains("sys.exit(SortedList())"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(prefix.join("bin/sc-hello"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "executable");
    }

    #[test]
    fn entry_points_of_noarch_python_packages_go_to_link_json() {
        let dir = tempfile::tempdir().unwrap();
        let (package, _) = package_of(
            dir.path(),
            "package: {name: tool, version: \"1.0\"}\nbuild:\n  noarch: python\n  python:\n    entry_points:\n      - sc-hello = sortedcontainers:SortedList\n",
        );
        let unpacked = dir.path().join("unpacked");
        rattler_package_streaming::fs::extract(&package, &unpacked).unwrap();
        let link: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(unpacked.join("info/link.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            link,
            serde_json::json!({"noarch": {"type": "python", "entry_points": ["sc-hello = sortedcontainers:SortedList"]}, "package_metadata_version": 1})
        );
        assert!(!unpacked.join("bin/sc-hello").exists());
        assert!(!unpacked.join("python-scripts/sc-hello").exists());
    }

    #[test]
    fn prefix_detection_distinguishes_text_and_binary() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("host_env_placehold_placehold");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        let p = prefix.to_string_lossy().to_string();
        std::fs::write(prefix.join("bin/script"), format!("#!{p}/bin/python\n")).unwrap();
        std::fs::write(
            prefix.join("bin/lib.so"),
            [b"\x7fELF\0".as_slice(), p.as_bytes(), b"/lib\0"].concat(),
        )
        .unwrap();
        std::fs::write(prefix.join("bin/x.pyc"), p.as_bytes()).unwrap();
        std::fs::write(prefix.join("bin/plain"), b"nothing").unwrap();
        let text = describe_file(&prefix, Path::new("bin/script")).unwrap();
        assert_eq!(
            (text.file_mode, text.prefix_placeholder.as_deref()),
            (Some("text"), Some(p.as_str()))
        );
        assert_eq!(
            describe_file(&prefix, Path::new("bin/lib.so"))
                .unwrap()
                .file_mode,
            Some("binary")
        );
        assert_eq!(
            describe_file(&prefix, Path::new("bin/x.pyc"))
                .unwrap()
                .file_mode,
            None
        );
        let plain = describe_file(&prefix, Path::new("bin/plain")).unwrap();
        assert_eq!(plain.file_mode, None);
        assert_eq!(plain.size_in_bytes, Some(7));
    }
}
