//! A package index with the simple API in its JSON form (PEP 691): a project's page,
//! its source distributions by version, and the release a PEP 508 requirement selects.
//! The index is the one pip is configured with (`mirrors::pip_index_url`); no host is
//! written here.

use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::{Requirement, VersionOrUrl};
use serde::Deserialize;

use crate::source::root_cause;

/// The media type of PEP 691's JSON project pages.
const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum IndexError {
    #[error("cannot read {page}: {message}")]
    Page { page: String, message: String },
    #[error("`{input}` is not a PEP 508 requirement:\n{message}")]
    #[diagnostic(help("write NAME, NAME==VERSION or NAME>=VERSION,<VERSION"))]
    BadRequirement { input: String, message: String },
    #[error("`{requirement}` names a URL; only versions from the index can be used")]
    UrlRequirement { requirement: String },
    #[error("{project} has no source distribution on {index}")]
    #[diagnostic(help(
        "ftforge builds from sdists; a project that publishes only wheels needs a hand-written recipe"
    ))]
    NoSdists { project: String, index: String },
    #[error("no release of {project} with a source distribution satisfies `{requirement}` (releases with one: {available})")]
    #[diagnostic(help(
        "pre-releases and yanked files are only chosen when the requirement pins them"
    ))]
    NoMatch {
        project: String,
        requirement: String,
        available: String,
    },
    #[error("the index gives no sha256 for {filename}; ftforge only uses downloads it can verify")]
    NoHash { filename: String },
}

/// One file on a project page (PEP 691 `files` entry).
#[derive(Debug, Clone, Deserialize)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub hashes: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    pub requires_python: Option<String>,
    /// `false`, `true` or the reason given as a string (PEP 592).
    #[serde(default)]
    pub yanked: Yanked,
    #[serde(default, rename = "upload-time")]
    pub upload_time: Option<String>,
}

/// PEP 592's `yanked`: a flag or a reason.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum Yanked {
    #[default]
    No,
    Flag(bool),
    Reason(String),
}

impl Yanked {
    pub fn is_yanked(&self) -> bool {
        match self {
            Yanked::No => false,
            Yanked::Flag(b) => *b,
            Yanked::Reason(_) => true,
        }
    }
}

/// A project's page on the index.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectPage {
    pub name: String,
    pub files: Vec<IndexFile>,
    /// The page's own URL (file URLs may be relative to it).
    #[serde(skip)]
    pub url: String,
}

/// A release's source distribution, as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdistRelease {
    /// The project name as the index spells it.
    pub project: String,
    pub version: Version,
    /// The version as written in the file name (what the recipe's `version` says).
    pub version_text: String,
    pub filename: String,
    /// Absolute download URL.
    pub url: String,
    pub sha256: String,
    pub requires_python: Option<String>,
    pub yanked: bool,
    pub upload_time: Option<String>,
}

/// PEP 503 name normalization: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if matches!(c, '-' | '_' | '.') {
            '-'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// Parses a PEP 508 requirement given on a command line (`frozenlist==1.5.0`).
pub fn parse_requirement(input: &str) -> Result<Requirement, IndexError> {
    let requirement =
        Requirement::from_str(input.trim()).map_err(|e| IndexError::BadRequirement {
            input: input.to_string(),
            message: e.to_string(),
        })?;
    if matches!(requirement.version_or_url, Some(VersionOrUrl::Url(_))) {
        return Err(IndexError::UrlRequirement {
            requirement: input.to_string(),
        });
    }
    Ok(requirement)
}

/// The page URL of `project` on `index`.
pub fn project_page_url(index: &str, project: &str) -> String {
    format!(
        "{}/{}/",
        index.trim_end_matches('/'),
        normalize_name(project)
    )
}

/// Reads a project's page (PEP 691 JSON).
pub async fn fetch_project(
    client: &reqwest::Client,
    index: &str,
    project: &str,
) -> Result<ProjectPage, IndexError> {
    let page = project_page_url(index, project);
    let fail = |message: String| IndexError::Page {
        page: page.clone(),
        message,
    };
    let response = client
        .get(&page)
        .header("Accept", SIMPLE_JSON)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| fail(root_cause(&e)))?;
    let base = response.url().to_string();
    let body = response.bytes().await.map_err(|e| fail(root_cause(&e)))?;
    let mut parsed: ProjectPage = serde_json::from_slice(&body).map_err(|e| {
        fail(format!(
            "not a PEP 691 JSON project page ({e}); is the index a simple API?"
        ))
    })?;
    parsed.url = base;
    Ok(parsed)
}

impl ProjectPage {
    /// The absolute URL of one of the page's files.
    pub fn file_url(&self, file: &IndexFile) -> Result<String, IndexError> {
        let base = url::Url::parse(&self.url).map_err(|e| IndexError::Page {
            page: self.url.clone(),
            message: e.to_string(),
        })?;
        base.join(&file.url)
            .map(|u| u.to_string())
            .map_err(|e| IndexError::Page {
                page: self.url.clone(),
                message: format!("bad file URL `{}`: {e}", file.url),
            })
    }

    /// The file named `filename` (compared case-insensitively).
    pub fn file(&self, filename: &str) -> Option<&IndexFile> {
        self.files
            .iter()
            .find(|f| f.filename.eq_ignore_ascii_case(filename))
    }

    /// Every release that has a source distribution, newest first (one file per
    /// version: `.tar.gz` preferred over `.zip`). Files without a parsable version
    /// are left out.
    pub fn sdist_releases(&self) -> Vec<SdistRelease> {
        let mut out: Vec<SdistRelease> = Vec::new();
        for file in &self.files {
            let Some((version_text, rank)) = sdist_version(&self.name, &file.filename) else {
                continue;
            };
            let Ok(version) = Version::from_str(&version_text) else {
                continue;
            };
            let Ok(url) = self.file_url(file) else {
                continue;
            };
            let release = SdistRelease {
                project: self.name.clone(),
                version,
                version_text,
                filename: file.filename.clone(),
                url,
                sha256: file
                    .hashes
                    .get("sha256")
                    .map(|h| h.to_ascii_lowercase())
                    .unwrap_or_default(),
                requires_python: file.requires_python.clone(),
                yanked: file.yanked.is_yanked(),
                upload_time: file.upload_time.clone(),
            };
            match out.iter_mut().find(|r| r.version == release.version) {
                Some(existing) if sdist_rank(&existing.filename) > rank => *existing = release,
                Some(_) => {}
                None => out.push(release),
            }
        }
        out.sort_by(|a, b| b.version.cmp(&a.version));
        out
    }

    /// The release `requirement` selects: the newest with an sdist whose version
    /// satisfies it. Pre-releases only with `pre` or when the requirement names one;
    /// yanked files only when the requirement pins that version with `==`.
    pub fn select(
        &self,
        requirement: &Requirement,
        pre: bool,
        index: &str,
    ) -> Result<SdistRelease, IndexError> {
        self.newest(requirement, pre, 1, index)?
            .pop()
            .ok_or_else(|| IndexError::NoSdists {
                project: self.name.clone(),
                index: index.to_string(),
            })
    }

    /// The `count` newest releases `requirement` selects (see [`Self::select`]),
    /// newest first; an error when there is none.
    pub fn newest(
        &self,
        requirement: &Requirement,
        pre: bool,
        count: usize,
        index: &str,
    ) -> Result<Vec<SdistRelease>, IndexError> {
        let releases = self.sdist_releases();
        if releases.is_empty() {
            return Err(IndexError::NoSdists {
                project: self.name.clone(),
                index: index.to_string(),
            });
        }
        let specifiers = match &requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(s)) => s.clone(),
            _ => pep440_rs::VersionSpecifiers::empty(),
        };
        let pre = pre || specifiers.iter().any(|s| s.any_prerelease());
        let pinned = specifiers.len() == 1
            && matches!(
                specifiers[0].operator(),
                pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual
            );
        let chosen: Vec<SdistRelease> = releases
            .iter()
            .filter(|r| specifiers.contains(&r.version))
            .filter(|r| pre || !r.version.any_prerelease())
            .filter(|r| pinned || !r.yanked)
            .take(count)
            .cloned()
            .collect();
        if chosen.is_empty() {
            return Err(IndexError::NoMatch {
                project: self.name.clone(),
                requirement: requirement.to_string(),
                available: releases
                    .iter()
                    .take(8)
                    .map(|r| r.version_text.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        // The newest must be verifiable; older ones without a hash are left out.
        if chosen[0].sha256.len() != 64 {
            return Err(IndexError::NoHash {
                filename: chosen[0].filename.clone(),
            });
        }
        Ok(chosen
            .into_iter()
            .filter(|r| r.sha256.len() == 64)
            .collect())
    }
}

/// Resolves a requirement on `index` to one sdist release.
pub async fn resolve(
    client: &reqwest::Client,
    index: &str,
    requirement: &Requirement,
    pre: bool,
) -> Result<SdistRelease, IndexError> {
    let page = fetch_project(client, index, requirement.name.as_ref()).await?;
    page.select(requirement, pre, index)
}

/// Sdist archive kinds, best first.
pub const SDIST_SUFFIXES: [&str; 4] = [".tar.gz", ".zip", ".tar.bz2", ".tgz"];

fn sdist_rank(filename: &str) -> usize {
    let lower = filename.to_ascii_lowercase();
    SDIST_SUFFIXES
        .iter()
        .position(|s| lower.ends_with(s))
        .unwrap_or(SDIST_SUFFIXES.len())
}

/// The version part of an sdist file name of `project` (`rpds_py-0.22.3.tar.gz` →
/// `0.22.3`) and the archive's rank; `None` for wheels and other files.
pub fn sdist_version(project: &str, filename: &str) -> Option<(String, usize)> {
    let rank = sdist_rank(filename);
    let suffix = SDIST_SUFFIXES.get(rank)?;
    let stem = &filename[..filename.len() - suffix.len()];
    let wanted = normalize_name(project);
    // The name part may contain `-` (old sdists): the version starts after the `-`
    // whose prefix normalizes to the project's name.
    stem.match_indices('-').find_map(|(i, _)| {
        (normalize_name(&stem[..i]) == wanted).then(|| (stem[i + 1..].to_string(), rank))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(files: &[(&str, bool)]) -> ProjectPage {
        ProjectPage {
            name: "rpds-py".into(),
            url: "http://127.0.0.1:9/simple/rpds-py/".into(),
            files: files
                .iter()
                .map(|(name, yanked)| IndexFile {
                    filename: name.to_string(),
                    url: format!("../../files/{name}"),
                    hashes: [("sha256".to_string(), "a".repeat(64))].into(),
                    requires_python: None,
                    yanked: Yanked::Flag(*yanked),
                    upload_time: None,
                })
                .collect(),
        }
    }

    #[test]
    fn sdist_names_give_versions() {
        assert_eq!(
            sdist_version("rpds-py", "rpds_py-0.22.3.tar.gz"),
            Some(("0.22.3".into(), 0))
        );
        assert_eq!(
            sdist_version("zope.interface", "zope.interface-7.1.zip"),
            Some(("7.1".into(), 1))
        );
        assert_eq!(
            sdist_version("rpds-py", "rpds_py-0.22.3-cp313-cp313t-manylinux.whl"),
            None
        );
        assert_eq!(sdist_version("rpds-py", "other-1.0.tar.gz"), None);
    }

    #[test]
    fn newest_final_release_unless_pinned_or_pre() {
        let p = page(&[
            ("rpds_py-0.21.0.tar.gz", false),
            ("rpds_py-0.22.0.tar.gz", true),
            ("rpds_py-0.22.3.zip", false),
            ("rpds_py-0.22.3.tar.gz", false),
            ("rpds_py-0.23.0rc1.tar.gz", false),
            ("rpds_py-0.23.0-cp314-cp314t-manylinux.whl", false),
        ]);
        let pick = |r: &str, pre: bool| {
            p.select(&parse_requirement(r).unwrap(), pre, "idx")
                .map(|r| r.filename)
        };
        assert_eq!(pick("rpds-py", false).unwrap(), "rpds_py-0.22.3.tar.gz");
        assert_eq!(pick("rpds-py", true).unwrap(), "rpds_py-0.23.0rc1.tar.gz");
        assert_eq!(
            pick("rpds-py<0.22.3", false).unwrap(),
            "rpds_py-0.21.0.tar.gz"
        );
        assert_eq!(
            pick("rpds-py==0.22.0", false).unwrap(),
            "rpds_py-0.22.0.tar.gz"
        );
        assert_eq!(
            pick("rpds-py>=0.23.0rc1", false).unwrap(),
            "rpds_py-0.23.0rc1.tar.gz"
        );
        assert!(matches!(
            p.select(&parse_requirement("rpds-py>1").unwrap(), false, "idx"),
            Err(IndexError::NoMatch { .. })
        ));
        let url = &p.sdist_releases()[1].url;
        assert_eq!(url, "http://127.0.0.1:9/files/rpds_py-0.22.3.tar.gz");
    }
}
