//! Environments built from a channel directory: the packages that satisfy a list of
//! specs with their dependencies, solved by `rattler_solve`'s resolvo (as `ftforge
//! install` solves), for build host prefixes and test prefixes.

use std::collections::HashSet;
use std::path::PathBuf;

use ftforge_channels::{Channel, ChannelError};
use rattler_conda_types::package::{PackageFile, RunExportsJson};
use rattler_conda_types::{
    match_spec::Matches, MatchSpec, ParseMatchSpecError, ParseStrictness, RepoDataRecord,
};
use rattler_solve::{resolvo, SolveError, SolverImpl, SolverTask};

/// Why an environment could not be put together.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EnvError {
    #[error("cannot read the packages of the channel {}", channel.display())]
    Channel {
        channel: PathBuf,
        #[source]
        source: ChannelError,
    },
    #[error("{} is not an absolute path (package URLs need one)", path.display())]
    RelativePath { path: PathBuf },
    #[error("`{spec}` is not a valid package spec")]
    BadSpec {
        spec: String,
        #[source]
        source: ParseMatchSpecError,
    },
    /// The channel has packages of that name, but none the spec accepts.
    #[error("the channel has {name}, but nothing matching `{spec}` (it has: {})", found.join(", "))]
    NoMatch {
        spec: String,
        name: String,
        /// `version build` of every record of that name.
        found: Vec<String>,
    },
    /// Each spec has candidates, but no set of packages satisfies them all.
    #[error("no environment satisfies {}:\n{message}", specs.join(", "))]
    Conflict { specs: Vec<String>, message: String },
}

/// A host spec the channel cannot satisfy: the build gets it from pip's build isolation
/// instead (build requirements such as `pip` or `setuptools`, or a version the channel
/// does not have, such as scipy's `cython >=3.2.0,<3.3.0` beside the channel's 3.3.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeftToPip {
    /// The package name the spec asks for.
    pub name: String,
    /// The spec as the recipe gave it.
    pub spec: String,
    /// `version build` of the channel's packages of that name, none of which the spec
    /// accepts (empty: the channel has no package of that name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_has: Vec<String>,
}

impl LeftToPip {
    /// `cython` or `cython >=3.2.0,<3.3.0 (the channel has 3.3.1 py314h…_0)`.
    pub fn describe(&self) -> String {
        if self.channel_has.is_empty() {
            self.name.clone()
        } else {
            format!(
                "{} (the channel has {})",
                self.spec,
                self.channel_has.join(", ")
            )
        }
    }
}

/// What a spec means that names packages of the channel but accepts none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// An error, [`EnvError::NoMatch`] (test environments, build tools).
    Refuse,
    /// Left to pip like a name the channel lacks (a host environment: pip's build
    /// isolation installs a release the spec accepts). Not the interpreter's spec: a
    /// version of it the channel lacks stays [`EnvError::NoMatch`] (`plan_job` reports it
    /// as `MissingInterpreter`; a channel with no interpreter at all is refused when the
    /// build starts).
    LeaveToPip,
}

/// A solved environment.
#[derive(Debug, Clone, Default)]
pub struct Solved {
    /// Every package of the environment (the specs' and their dependencies').
    pub records: Vec<RepoDataRecord>,
    /// Specs whose name the channel does not have at all.
    pub left_to_pip: Vec<LeftToPip>,
}

/// Every package of a channel directory and of its `python_rc` label (the platform
/// subdir and `noarch` of each), as records with `file://` URLs. Specs pin the
/// interpreter, so a release candidate is only taken where a spec asks for it.
pub fn channel_records(channel: &Channel) -> Result<Vec<RepoDataRecord>, EnvError> {
    let mut out = Vec::new();
    for channel in channel.with_prerelease_label() {
        out.extend(one_channel_records(&channel)?);
    }
    Ok(out)
}

fn one_channel_records(channel: &Channel) -> Result<Vec<RepoDataRecord>, EnvError> {
    let mut out = Vec::new();
    for subdir in [crate::recipe::target_platform(), "noarch"] {
        let repodata = channel
            .read_repodata(subdir)
            .map_err(|source| EnvError::Channel {
                channel: channel.root.clone(),
                source,
            })?;
        for (identifier, record) in repodata
            .conda_packages
            .iter()
            .chain(repodata.packages.iter())
        {
            let path = channel.subdir_path(subdir).join(identifier.to_string());
            let url = url::Url::from_file_path(&path)
                .map_err(|()| EnvError::RelativePath { path: path.clone() })?;
            out.push(RepoDataRecord {
                package_record: record.clone(),
                identifier: identifier.clone(),
                url,
                channel: None,
            });
        }
    }
    Ok(out)
}

/// Solves `specs` against `records` with resolvo.
///
/// A spec whose package name no record has is not an error: it is returned in
/// [`Solved::left_to_pip`]. A spec whose name the records have but that no record
/// satisfies is [`EnvError::NoMatch`], or left to pip too with [`Unmatched::LeaveToPip`]
/// (not the interpreter's); specs that each have candidates but cannot be
/// satisfied together are [`EnvError::Conflict`] with the solver's explanation.
/// When two records share a file name, the earlier one is used (list a package just
/// built before the channel's older copy of the same file).
pub fn solve<S: AsRef<str>>(
    specs: &[S],
    records: &[RepoDataRecord],
    unmatched: Unmatched,
) -> Result<Solved, EnvError> {
    let mut seen = HashSet::new();
    let records: Vec<&RepoDataRecord> = records
        .iter()
        .filter(|r| seen.insert(&r.identifier.identifier))
        .collect();
    let mut wanted = Vec::new();
    let mut left_to_pip = Vec::new();
    for text in specs {
        let text = text.as_ref();
        let spec = MatchSpec::from_str(text, ParseStrictness::Lenient).map_err(|source| {
            EnvError::BadSpec {
                spec: text.to_string(),
                source,
            }
        })?;
        let same_name: Vec<&RepoDataRecord> = records
            .iter()
            .copied()
            .filter(|r| spec.name.matches(&r.package_record.name))
            .collect();
        if same_name.is_empty() {
            left_to_pip.push(LeftToPip {
                name: spec.name.to_string(),
                spec: text.to_string(),
                channel_has: Vec::new(),
            });
            continue;
        }
        if !same_name.iter().any(|r| spec.matches(&r.package_record)) {
            let name = same_name[0].package_record.name.as_normalized().to_string();
            let mut found: Vec<String> = same_name
                .iter()
                .map(|r| format!("{} {}", r.package_record.version, r.package_record.build))
                .collect();
            found.sort();
            found.dedup();
            if unmatched == Unmatched::LeaveToPip && name != crate::job::INTERPRETER_PACKAGE {
                left_to_pip.push(LeftToPip {
                    name,
                    spec: text.to_string(),
                    channel_has: found,
                });
                continue;
            }
            return Err(EnvError::NoMatch {
                spec: text.to_string(),
                name,
                found,
            });
        }
        wanted.push((text.to_string(), spec));
    }
    if wanted.is_empty() {
        return Ok(Solved {
            records: Vec::new(),
            left_to_pip,
        });
    }
    let mut task = SolverTask::from_iter([records.iter().copied()]);
    task.specs = wanted.iter().map(|(_, spec)| spec.clone()).collect();
    task.virtual_packages = ftforge_channels::system::virtual_packages();
    let solved = resolvo::Solver
        .solve(task)
        .map_err(|err| EnvError::Conflict {
            specs: wanted.iter().map(|(text, _)| text.clone()).collect(),
            message: match err {
                SolveError::Unsolvable(lines) => lines.join("\n"),
                other => other.to_string(),
            },
        })?;
    Ok(Solved {
        records: solved.records,
        left_to_pip,
    })
}

/// A package's `info/run_exports.json`, read from its archive.
pub fn run_exports(record: &RepoDataRecord) -> Option<RunExportsJson> {
    let path = record.url.to_file_path().ok()?;
    let kind = rattler_conda_types::package::CondaArchiveType::try_from(path.as_path())?;
    let bytes = rattler_package_streaming::seek::read_package_file_content(
        std::fs::File::open(&path).ok()?,
        kind,
        RunExportsJson::package_path(),
    )
    .ok()?;
    RunExportsJson::from_str(&String::from_utf8_lossy(&bytes)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as our channels hold them: `python_abi` pins the interpreter ABI.
    fn record(name: &str, version: &str, build: &str, depends: &[&str]) -> RepoDataRecord {
        let mut package_record: rattler_conda_types::PackageRecord =
            serde_json::from_value(serde_json::json!({
                "name": name, "version": version, "build": build, "build_number": 0,
                "subdir": "linux-64",
            }))
            .unwrap();
        package_record.depends = depends.iter().map(|s| s.to_string()).collect();
        if let Some(number) = build.rsplit('_').find_map(|part| part.parse().ok()) {
            package_record.build_number = number;
        }
        if build.ends_with("_cp314t") && name == "python" {
            package_record.track_features = vec!["py_freethreading".into()];
        }
        let file = format!("{name}-{version}-{build}.conda");
        RepoDataRecord {
            package_record,
            identifier: file.parse().unwrap(),
            url: url::Url::parse(&format!("file:///channel/linux-64/{file}")).unwrap(),
            channel: None,
        }
    }

    /// Both interpreters of 3.14 (the GIL one with build number 100, as shipped),
    /// their `python_abi`, and cffi built for each ABI.
    fn channel() -> Vec<RepoDataRecord> {
        vec![
            record(
                "python",
                "3.14.7",
                "h1_0_cp314t",
                &["python_abi 3.14.* *_cp314t"],
            ),
            record(
                "python",
                "3.14.7",
                "h1_100_cp314",
                &["python_abi 3.14.* *_cp314"],
            ),
            record("python_abi", "3.14", "8_cp314t", &[]),
            record("python_abi", "3.14", "8_cp314", &[]),
            record(
                "cffi",
                "2.0.0",
                "py314th1_0",
                &["python_abi 3.14.* *_cp314t", "python >=3.14,<3.15.0a0"],
            ),
            record(
                "cffi",
                "2.0.0",
                "py314h1_0",
                &["python_abi 3.14.* *_cp314", "python >=3.14,<3.15.0a0"],
            ),
        ]
    }

    fn builds(solved: &Solved) -> Vec<String> {
        let mut out: Vec<String> = solved
            .records
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.package_record.name.as_normalized(),
                    r.package_record.build
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_interpreter_variant_spec_is_honoured() {
        let solved = solve(
            &["python 3.14.* *_cp314t", "pip", "setuptools"],
            &channel(),
            Unmatched::Refuse,
        )
        .unwrap();
        assert_eq!(
            builds(&solved),
            ["python h1_0_cp314t", "python_abi 8_cp314t"]
        );
        let names: Vec<&str> = solved.left_to_pip.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["pip", "setuptools"]);
    }

    /// The greedy picker took the specs in order and never went back: `cffi` first got
    /// the GIL build (the last of two equal candidates), and the environment ended with
    /// the free-threaded interpreter, cffi for the GIL ABI and both `python_abi`s. The
    /// solver finds the one consistent environment whatever the order.
    #[test]
    fn an_abi_conflict_the_greedy_picker_got_wrong() {
        // cffi's GIL build is listed last: the greedy picker's tie-break took it.
        let solved = solve(
            &["cffi", "python 3.14.* *_cp314t"],
            &channel(),
            Unmatched::Refuse,
        )
        .unwrap();
        assert_eq!(
            builds(&solved),
            [
                "cffi py314th1_0",
                "python h1_0_cp314t",
                "python_abi 8_cp314t"
            ]
        );
        assert!(solved.left_to_pip.is_empty());
    }

    /// A newer version whose dependency has no build for this ABI is passed over for
    /// an older one that works (the greedy picker took the newest and lost the dependency).
    #[test]
    fn backtracks_to_a_version_whose_dependencies_exist() {
        let mut records = channel();
        records.push(record(
            "ext",
            "2.0",
            "py314th1_0",
            &["python_abi 3.14.* *_cp314t", "cffi >=3"],
        ));
        records.push(record(
            "ext",
            "1.0",
            "py314th1_0",
            &["python_abi 3.14.* *_cp314t", "cffi >=1"],
        ));
        let solved = solve(
            &["python 3.14.* *_cp314t", "ext"],
            &records,
            Unmatched::Refuse,
        )
        .unwrap();
        let ext = solved
            .records
            .iter()
            .find(|r| r.package_record.name.as_normalized() == "ext")
            .unwrap();
        assert_eq!(ext.package_record.version.as_str(), "1.0");
    }

    #[test]
    fn a_conflict_is_an_error_with_the_solvers_words() {
        let mut records = channel();
        records.retain(|r| r.package_record.build.as_str() != "py314th1_0");
        let err = solve(
            &["python 3.14.* *_cp314t", "cffi"],
            &records,
            Unmatched::Refuse,
        )
        .unwrap_err();
        let EnvError::Conflict { specs, message } = &err else {
            panic!("{err}");
        };
        assert_eq!(specs, &["python 3.14.* *_cp314t", "cffi"]);
        assert!(message.contains("cffi"), "{message}");
    }

    #[test]
    fn a_name_the_channel_has_without_a_match_is_an_error() {
        let err = solve(&["python 3.13.* *_cp313t"], &channel(), Unmatched::Refuse).unwrap_err();
        match err {
            EnvError::NoMatch { name, found, .. } => {
                assert_eq!(name, "python");
                assert_eq!(found, ["3.14.7 h1_0_cp314t", "3.14.7 h1_100_cp314"]);
            }
            other => panic!("{other}"),
        }
        assert!(matches!(
            solve(&["python >>3"], &channel(), Unmatched::Refuse),
            Err(EnvError::BadSpec { .. })
        ));
    }

    /// In a host environment a version the channel lacks is left to pip (scipy 1.18.1
    /// asks for `cython >=3.2.0,<3.3.0`; a channel holding the catalog's cython 3.3.1 made
    /// the build stop with no verdict); the interpreter never is.
    #[test]
    fn a_host_spec_without_a_match_is_left_to_pip_but_not_the_interpreter() {
        let solved = solve(
            &["python 3.14.* *_cp314t", "cffi >=99", "setuptools"],
            &channel(),
            Unmatched::LeaveToPip,
        )
        .unwrap();
        assert_eq!(
            solved.left_to_pip,
            [
                LeftToPip {
                    name: "cffi".into(),
                    spec: "cffi >=99".into(),
                    channel_has: vec!["2.0.0 py314h1_0".into(), "2.0.0 py314th1_0".into()],
                },
                LeftToPip {
                    name: "setuptools".into(),
                    spec: "setuptools".into(),
                    channel_has: Vec::new(),
                },
            ]
        );
        assert_eq!(
            solved.left_to_pip[0].describe(),
            "cffi >=99 (the channel has 2.0.0 py314h1_0, 2.0.0 py314th1_0)"
        );
        assert_eq!(solved.left_to_pip[1].describe(), "setuptools");
        assert!(!solved
            .records
            .iter()
            .any(|r| r.package_record.name.as_normalized() == "cffi"));
        let err = solve(
            &["python 3.13.* *_cp313t"],
            &channel(),
            Unmatched::LeaveToPip,
        )
        .unwrap_err();
        assert!(matches!(err, EnvError::NoMatch { .. }), "{err}");
    }

    /// A package just built comes before the channel's copy of the same file name.
    #[test]
    fn the_first_record_of_a_file_name_wins() {
        let mut fresh = record(
            "cffi",
            "2.0.0",
            "py314th1_0",
            &["python_abi 3.14.* *_cp314t"],
        );
        fresh.url = url::Url::parse("file:///work/pkgs/cffi-2.0.0-py314th1_0.conda").unwrap();
        fresh.package_record.sha256 = Some([7; 32].into());
        let mut records = vec![fresh.clone()];
        records.extend(channel());
        let solved = solve(
            &["python 3.14.* *_cp314t", "cffi"],
            &records,
            Unmatched::Refuse,
        )
        .unwrap();
        let cffi = solved
            .records
            .iter()
            .find(|r| r.package_record.name.as_normalized() == "cffi")
            .unwrap();
        assert_eq!(cffi.url, fresh.url);
    }
}
