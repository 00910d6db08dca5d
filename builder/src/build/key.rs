//! Build keys and the channel's memory of earlier builds: a key covers everything that
//! can change a build's output (the rendered recipe, the variant, the recipe folder,
//! the host artifacts and the packaging code); reports and failures are stored under
//! it in `<channel>/ftforge/`.

use std::path::PathBuf;

use ftforge_channels::{Channel, ChannelError, CompatRecord};
use rattler_conda_types::RepoDataRecord;
use sha2::{Digest, Sha256};

use super::BuildReport;
use crate::job::Job;

/// Digest of the code that decides the bytes of a package (computed by the build
/// script from the sources): part of every build key.
pub const PACKAGING_DIGEST: &str = env!("FTFORGE_PACKAGING_DIGEST");

/// Digest of the code that decides verdicts: a verdict recorded with another digest is
/// judged again (the package is reused, the tests run again).
pub const JUDGING_DIGEST: &str = env!("FTFORGE_JUDGING_DIGEST");

/// The cache key of a build: everything that can change its output.
pub fn build_key(job: &Job, host: &[RepoDataRecord]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(PACKAGING_DIGEST.as_bytes());
    // The exact artifacts it is built against: a rebuilt dependency changes the key.
    let mut artifacts: Vec<String> = host
        .iter()
        .map(|r| hex::encode(r.package_record.sha256.unwrap_or_default()))
        .collect();
    artifacts.sort();
    hasher.update(artifacts.join(",").as_bytes());
    hasher.update(job.rendered.rendered.to_string().as_bytes());
    hasher.update(
        serde_json::to_string(job.variant())
            .unwrap_or_default()
            .as_bytes(),
    );
    // Every file of the recipe folder (build.sh, patches, sources it ships), and of
    // each `path:` source (which may lie outside it).
    hasher.update(job.rendered.recipe_digest.as_bytes());
    for source in &job.rendered.sources {
        if let Some(path) = &source.path {
            hasher.update(crate::recipe::tree_digest(&job.recipe.dir.join(path)).as_bytes());
        }
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

fn store_path(channel: &Channel, kind: &str, key: &str) -> PathBuf {
    channel
        .root
        .join("ftforge")
        .join(kind)
        .join(format!("{key}.json"))
}

fn store(channel: &Channel, kind: &str, key: &str, json: Vec<u8>) -> Result<(), ChannelError> {
    let path = store_path(channel, kind, key);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ChannelError::Io {
            action: "create",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    ftforge_channels::layout::write_atomically(&path, &json)
}

/// The stored report of an earlier identical build whose packages are all still in
/// the channel.
pub fn reusable_report(channel: &Channel, key: &str) -> Option<BuildReport> {
    let text = std::fs::read_to_string(store_path(channel, "builds", key)).ok()?;
    let report: BuildReport = serde_json::from_str(&text).ok()?;
    let all_there = report.outputs.iter().all(|o| {
        channel
            .published_path(o.label.as_deref(), &o.subdir, &o.filename)
            .is_file()
    });
    all_there.then_some(report)
}

/// Stores a build's report under its key.
pub fn remember_report(channel: &Channel, report: &BuildReport) -> Result<(), ChannelError> {
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    store(channel, "builds", &report.key, json)
}

/// The verdict of an earlier identical build that failed (`--force` retries it).
/// Failures judged by other code are not reused.
pub fn cached_failure(channel: &Channel, key: &str) -> Option<CompatRecord> {
    let text = std::fs::read_to_string(store_path(channel, "failures", key)).ok()?;
    let stored: StoredFailure = serde_json::from_str(&text).ok()?;
    (stored.judged_with == JUDGING_DIGEST).then_some(stored.record)
}

/// `ftforge/failures/<key>.json`: a failed build's verdict and the judge that made it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StoredFailure {
    pub judged_with: String,
    pub record: CompatRecord,
}

/// The stored form of a failure's verdict (made by this code's judge).
pub fn failure_json(record: &CompatRecord) -> Vec<u8> {
    let stored = StoredFailure {
        judged_with: JUDGING_DIGEST.to_string(),
        record: record.clone(),
    };
    serde_json::to_vec_pretty(&stored).unwrap_or_default()
}

/// Remembers that the build with `key` failed, so an unchanged rebuild does not retry.
pub fn remember_failure(
    channel: &Channel,
    key: &str,
    record: &CompatRecord,
) -> Result<(), ChannelError> {
    store(channel, "failures", key, failure_json(record))
}
