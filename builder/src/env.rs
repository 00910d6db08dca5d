//! Environments built from a channel directory: picking the packages that satisfy a
//! list of specs (highest version, then build number) with their dependencies, for
//! build host prefixes and test prefixes.

use ftforge_channels::Channel;
use rattler_conda_types::package::{PackageFile, RunExportsJson};
use rattler_conda_types::{match_spec::Matches, MatchSpec, ParseStrictness, RepoDataRecord};

/// Every package of a channel directory (its platform subdir and `noarch`), as records
/// with `file://` URLs.
pub fn channel_records(channel: &Channel) -> Result<Vec<RepoDataRecord>, String> {
    let mut out = Vec::new();
    for subdir in [crate::recipe::target_platform(), "noarch"] {
        let repodata = channel.read_repodata(subdir).map_err(|e| e.to_string())?;
        for (identifier, record) in repodata
            .conda_packages
            .iter()
            .chain(repodata.packages.iter())
        {
            let path = channel.subdir_path(subdir).join(identifier.to_string());
            let Ok(url) = url::Url::from_file_path(&path) else {
                continue;
            };
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

/// The best record for `spec`: highest version, then highest build number.
pub fn best_match<'a>(
    spec: &MatchSpec,
    records: &'a [RepoDataRecord],
) -> Option<&'a RepoDataRecord> {
    records
        .iter()
        .filter(|r| spec.matches(&r.package_record))
        .max_by(|a, b| {
            (&a.package_record.version, a.package_record.build_number)
                .cmp(&(&b.package_record.version, b.package_record.build_number))
        })
}

/// Records for `specs` (taken in order: put the interpreter first) and, transitively,
/// their dependencies. Specs nothing in `records` satisfies are returned separately.
pub fn select(specs: &[String], records: &[RepoDataRecord]) -> (Vec<RepoDataRecord>, Vec<String>) {
    let mut chosen: Vec<RepoDataRecord> = Vec::new();
    let mut missing = Vec::new();
    let mut queue: std::collections::VecDeque<String> = specs.iter().cloned().collect();
    while let Some(text) = queue.pop_front() {
        let Ok(spec) = MatchSpec::from_str(&text, ParseStrictness::Lenient) else {
            missing.push(text);
            continue;
        };
        if chosen.iter().any(|r| spec.matches(&r.package_record)) {
            continue;
        }
        // Only candidates whose dependencies agree with what is already chosen (a cffi
        // built for cp314t does not join a cp314 environment).
        let consistent: Vec<RepoDataRecord> = records
            .iter()
            .filter(|r| agrees_with(r, &chosen))
            .cloned()
            .collect();
        match best_match(&spec, &consistent) {
            Some(record) => {
                queue.extend(record.package_record.depends.iter().cloned());
                chosen.push(record.clone());
            }
            None => missing.push(text),
        }
    }
    (chosen, missing)
}

/// Every dependency of `candidate` on a package already in `chosen` is satisfied by it.
fn agrees_with(candidate: &RepoDataRecord, chosen: &[RepoDataRecord]) -> bool {
    candidate.package_record.depends.iter().all(|dep| {
        let Ok(spec) = MatchSpec::from_str(dep, ParseStrictness::Lenient) else {
            return true;
        };
        let same_name: Vec<&RepoDataRecord> = chosen
            .iter()
            .filter(|r| spec.name.matches(&r.package_record.name))
            .collect();
        same_name.is_empty() || same_name.iter().any(|r| spec.matches(&r.package_record))
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
