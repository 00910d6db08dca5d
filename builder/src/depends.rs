//! An output's `depends` and `constrains`: its run requirements (a bare `python` of a
//! compiled package pinned to the ABI's minor version), its `pin_compatible` pins
//! applied to the host environment's packages, and the run-exports of the host
//! packages (`weak` + `strong` for compiled packages, `noarch` for noarch ones, and the
//! `*_constrains` as constraints), minus what `ignore_run_exports` drops.

use ftforge_interpreter::PythonAbi;
use rattler_conda_types::package::RunExportsJson;
use rattler_conda_types::RepoDataRecord;

use crate::job::INTERPRETER_PACKAGE;
use crate::recipe::{Recipe, RecipeError, RenderedOutput};

/// A package of the host environment and what it exports (`info/run_exports.json`).
#[derive(Debug, Clone)]
pub struct HostPackage {
    pub record: RepoDataRecord,
    pub run_exports: Option<RunExportsJson>,
}

/// Reads the run-exports of each host package once (from its archive).
pub fn host_packages(records: &[RepoDataRecord]) -> Vec<HostPackage> {
    records
        .iter()
        .map(|record| HostPackage {
            record: record.clone(),
            run_exports: crate::env::run_exports(record),
        })
        .collect()
}

/// What goes into `index.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependencies {
    pub depends: Vec<String>,
    pub constrains: Vec<String>,
}

fn spec_name(spec: &str) -> &str {
    spec.split_whitespace().next().unwrap_or_default()
}

/// A compiled package's `python`: the ABI's minor version (`>=3.14,<3.15.0a0`), or,
/// built against a release candidate, from that candidate on (`>=3.15.0rc2,<3.16.0a0`):
/// `3.15.0rc2` sorts before `3.15`, and a release candidate has the final's ABI.
fn python_pin(abi: &PythonAbi, host: &[HostPackage]) -> String {
    let prerelease = host
        .iter()
        .map(|p| &p.record.package_record)
        .find(|r| r.name.as_normalized() == INTERPRETER_PACKAGE)
        .map(|r| r.version.as_str().into_owned())
        .filter(|v| ftforge_interpreter::abi::is_prerelease(v));
    match prerelease {
        Some(version) => abi.python_range_spec_from(&version),
        None => abi.python_range_spec(),
    }
}

/// An abi3t package's `python`: every interpreter from the one it was built with on
/// (`python >=3.15`; `>=3.15.0rc2` when that is a release candidate).
fn abi3t_python(abi: &PythonAbi, host: &[HostPackage]) -> String {
    let range = python_pin(abi, host);
    let floor = range.split(',').next().unwrap_or(&range);
    floor.to_string()
}

/// The `depends` and `constrains` of one output built against `host`.
pub fn dependencies(
    recipe: &Recipe,
    output: &RenderedOutput,
    abi: Option<&PythonAbi>,
    host: &[HostPackage],
) -> Result<Dependencies, RecipeError> {
    let noarch = output.noarch.is_some();
    let mut depends: Vec<String> = Vec::new();
    for req in &output.requirements.run {
        let name = spec_name(req);
        match (name, abi, noarch) {
            (INTERPRETER_PACKAGE, Some(abi), false) if output.abi3t => {
                depends.push(abi3t_python(abi, host))
            }
            (INTERPRETER_PACKAGE, Some(abi), false) => depends.push(python_pin(abi, host)),
            _ => depends.push(req.clone()),
        }
    }
    if let (true, Some(abi)) = (output.abi3t, abi) {
        if !depends.iter().any(|d| spec_name(d) == INTERPRETER_PACKAGE) {
            depends.push(abi3t_python(abi, host));
        }
    }
    let mut constrains = output.requirements.run_constraints.clone();
    for pinned in &output.pin_compatible {
        let name = &pinned.pin.name;
        let Some(package) = host
            .iter()
            .find(|p| p.record.package_record.name.as_normalized() == name)
        else {
            return Err(recipe
                .error(
                    pinned.span.as_ref(),
                    format!("pin_compatible('{name}'): `{name}` is not in the host environment"),
                )
                .with_help(format!(
                    "list `{name}` under `requirements.host`; the host environment only takes packages the channel has"
                )));
        };
        let record = &package.record.package_record;
        let spec = pinned
            .pin
            .apply(&record.version.to_string(), record.build.as_ref())
            .map_err(|e| {
                recipe.error(
                    pinned.span.as_ref(),
                    format!("pin_compatible('{name}'): {e}"),
                )
            })?;
        if pinned.constraint {
            constrains.push(spec);
        } else {
            depends.push(spec);
        }
    }
    let ignore = &output.requirements.ignore_run_exports;
    let ignored_name = |spec: &str| ignore.by_name.iter().any(|n| n == spec_name(spec));
    // Only the packages the recipe asks for export (as conda-build and rattler-build
    // do): what they bring along exports through them (tk → xorg-libx11), so a recipe
    // needing tk does not depend on libxcb itself.
    let direct: Vec<&str> = output
        .requirements
        .host
        .iter()
        .chain(&output.requirements.build)
        .map(|r| spec_name(r))
        .collect();
    for package in host {
        let Some(exports) = &package.run_exports else {
            continue;
        };
        let from = package.record.package_record.name.as_normalized();
        if ignore.from_package.iter().any(|p| p == from) || !direct.contains(&from) {
            continue;
        }
        let (deps, cons): (Vec<&String>, Vec<&String>) = if noarch {
            (exports.noarch.iter().collect(), Vec::new())
        } else {
            (
                exports.weak.iter().chain(&exports.strong).collect(),
                exports
                    .weak_constrains
                    .iter()
                    .chain(&exports.strong_constrains)
                    .collect(),
            )
        };
        for spec in deps {
            // An abi3t package is for free-threaded and GIL interpreters alike: the
            // interpreter's `python_abi` pin would tie it to the one it was built with.
            if ignored_name(spec) || output.abi3t && spec_name(spec) == "python_abi" {
                continue;
            }
            let name = spec_name(spec);
            if !depends.iter().any(|d| spec_name(d) == name) {
                depends.push(spec.clone());
            }
        }
        for spec in cons {
            if !ignored_name(spec) && !constrains.contains(spec) {
                constrains.push(spec.clone());
            }
        }
    }
    Ok(Dependencies {
        depends,
        constrains,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rattler_conda_types::package::BuildString;
    use rattler_conda_types::{PackageName, PackageRecord, VersionWithSource};

    use super::*;

    fn host(name: &str, version: &str, build: &str, exports: RunExportsJson) -> HostPackage {
        let record = PackageRecord::new(
            PackageName::from_str(name).unwrap(),
            VersionWithSource::from_str(version).unwrap(),
            BuildString::from_str(build).unwrap(),
        );
        HostPackage {
            record: RepoDataRecord {
                package_record: record,
                identifier: format!("{name}-{version}-{build}.conda").parse().unwrap(),
                url: url::Url::parse(&format!("file:///channel/{name}.conda")).unwrap(),
                channel: None,
            },
            run_exports: Some(exports),
        }
    }

    fn recipe(dir: &std::path::Path, text: &str) -> Recipe {
        std::fs::write(dir.join("recipe.yaml"), text).unwrap();
        Recipe::load(dir).unwrap()
    }

    #[test]
    fn strong_weak_and_constraint_exports_apply_unless_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: ext, version: \"1\"}\nrequirements:\n  host: [libzstd, libfoo, numpy]\n  run:\n    - ${{ pin_compatible('numpy', upper_bound='x.x') }}\n  ignore_run_exports:\n    by_name: [libbar]\n    from_package: [libfoo]\n",
        );
        let rendered = r.render(&Default::default()).unwrap();
        let host = [
            host(
                "libzstd",
                "1.5.6",
                "h0_0",
                RunExportsJson {
                    weak: vec!["libzstd >=1.5.6,<1.6.0a0".into()],
                    strong: vec!["libgcc >=14".into(), "libbar >=1".into()],
                    weak_constrains: vec!["zstd-static ==1.5.6".into()],
                    strong_constrains: vec!["libstdcxx >=14".into()],
                    noarch: vec!["libzstd".into()],
                },
            ),
            host(
                "libfoo",
                "2.0",
                "h0_0",
                RunExportsJson {
                    weak: vec!["libfoo >=2".into()],
                    ..Default::default()
                },
            ),
            host("numpy", "2.1.3", "py314h0_0", RunExportsJson::default()),
        ];
        let deps = dependencies(&r, &rendered.outputs[0], None, &host).unwrap();
        assert_eq!(
            deps.depends,
            vec![
                "numpy >=2.1.3,<2.2.0a0",
                "libzstd >=1.5.6,<1.6.0a0",
                "libgcc >=14"
            ]
        );
        assert_eq!(
            deps.constrains,
            vec!["zstd-static ==1.5.6", "libstdcxx >=14"]
        );
    }

    #[test]
    fn noarch_outputs_take_only_noarch_exports_and_pins_need_their_host_package() {
        let dir = tempfile::tempdir().unwrap();
        let r = recipe(
            dir.path(),
            "package: {name: pure, version: \"1\"}\nbuild: {noarch: python}\nrequirements:\n  host: [python]\n  run: [python]\n",
        );
        let rendered = r.render(&Default::default()).unwrap();
        let python = host(
            "python",
            "3.14.7",
            "h0_0_cp314t",
            RunExportsJson {
                weak: vec!["python_abi 3.14.* *_cp314t".into()],
                noarch: vec!["python".into()],
                ..Default::default()
            },
        );
        let deps = dependencies(&r, &rendered.outputs[0], None, &[python]).unwrap();
        assert_eq!(deps.depends, vec!["python"]);
        assert!(deps.constrains.is_empty());

        let r = recipe(
            dir.path(),
            "package: {name: ext, version: \"1\"}\nrequirements:\n  run:\n    - ${{ pin_compatible('numpy') }}\n",
        );
        let rendered = r.render(&Default::default()).unwrap();
        let err = dependencies(&r, &rendered.outputs[0], None, &[]).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(
            err.message.contains("not in the host environment"),
            "{}",
            err.message
        );
    }

    fn free_threaded(python: &str) -> crate::variants::Variant {
        use crate::variants::{Variant, VariantValue};
        Variant(
            [
                ("python".to_string(), VariantValue::String(python.into())),
                ("is_freethreading".to_string(), VariantValue::Bool(true)),
            ]
            .into(),
        )
    }

    /// Built against a release candidate, a compiled package accepts it and the final
    /// (`3.15.0rc2` sorts before `3.15`); an abi3t package (`version_independent` on
    /// 3.15) takes every later interpreter and no `python_abi` pin.
    #[test]
    fn release_candidates_and_abi3t_packages_pin_python_as_they_must() {
        let dir = tempfile::tempdir().unwrap();
        let python = host(
            "python",
            "3.15.0rc2",
            "h0_0_cp315t",
            RunExportsJson {
                weak: vec!["python_abi 3.15.* *_cp315t".into()],
                ..Default::default()
            },
        );
        let variant = free_threaded("3.15.* *_cp315t");
        let abi = PythonAbi::new(3, 15, true);
        let plain = recipe(
            dir.path(),
            "package: {name: ext, version: \"1\"}\nrequirements:\n  host: [python]\n  run: [python]\n",
        );
        let rendered = plain.render(&variant).unwrap();
        assert!(!rendered.outputs[0].abi3t);
        let deps = dependencies(
            &plain,
            &rendered.outputs[0],
            Some(&abi),
            std::slice::from_ref(&python),
        )
        .unwrap();
        assert_eq!(
            deps.depends,
            vec!["python >=3.15.0rc2,<3.16.0a0", "python_abi 3.15.* *_cp315t"]
        );

        let abi3t = recipe(
            dir.path(),
            "package: {name: ext, version: \"1\"}\nbuild:\n  python: {version_independent: true}\nrequirements:\n  host: [python]\n",
        );
        let rendered = abi3t.render(&variant).unwrap();
        let output = &rendered.outputs[0];
        assert!(output.abi3t);
        assert!(
            output.build_string.starts_with("abi3t_h"),
            "{}",
            output.build_string
        );
        let deps = dependencies(&abi3t, output, Some(&abi), &[python]).unwrap();
        assert_eq!(deps.depends, vec!["python >=3.15.0rc2"]);

        // Before 3.15 there is no abi3t: the key changes nothing.
        let old = free_threaded("3.14.* *_cp314t");
        let rendered = abi3t.render(&old).unwrap();
        assert!(!rendered.outputs[0].abi3t);
        assert!(
            rendered.outputs[0].build_string.starts_with("py314t"),
            "{}",
            rendered.outputs[0].build_string
        );
    }
}
