//! Reading channels from anywhere: a directory, `file://` or `http(s)://` (optionally
//! `/label/NAME`). HTTP repodata is cached with its ETag / Last-Modified and
//! revalidated; package files are fetched, checked against the repodata sha256 and kept
//! by hash.

use std::path::{Path, PathBuf};

use rattler_conda_types::{RepoData, RepoDataRecord};
use sha2::{Digest, Sha256};
use url::Url;

use crate::compat::CompatData;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FetchError {
    #[error("`{0}` is not a channel (a directory, file:// or http(s):// URL)")]
    BadChannel(String),
    #[error("cannot fetch {url}: {message}")]
    Http { url: String, message: String },
    #[error("{url} is not valid repodata: {message}")]
    #[diagnostic(help("the channel's index may be damaged; `ftforge index -c DIR` rebuilds it"))]
    BadRepodata { url: String, message: String },
    #[error("{package}: sha256 mismatch — the repodata says {expected}, the file has {actual}")]
    #[diagnostic(help(
        "the channel serves a different file than it indexed; nothing was installed"
    ))]
    HashMismatch {
        package: String,
        expected: String,
        actual: String,
    },
    #[error("refusing an unsafe package: {0}")]
    #[diagnostic(help(
        "the package tries to write outside the environment; nothing was installed"
    ))]
    Unsafe(#[from] crate::archive::UnsafeArchive),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A channel location: where its subdirs are, and its root (for `compat.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelUrl {
    /// Ends with `/`; includes `label/NAME/` when a label was asked for.
    pub url: Url,
    /// The channel without the label.
    pub root: Url,
}

impl ChannelUrl {
    pub fn parse(arg: &str) -> Result<Self, FetchError> {
        let bad = || FetchError::BadChannel(arg.to_string());
        let mut url = if arg.starts_with("http://")
            || arg.starts_with("https://")
            || arg.starts_with("file://")
        {
            Url::parse(arg).map_err(|_| bad())?
        } else {
            let path = std::path::absolute(arg).map_err(|_| bad())?;
            Url::from_directory_path(&path).map_err(|_| bad())?
        };
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let root = match url.path().find("/label/") {
            Some(pos) => {
                let mut r = url.clone();
                r.set_path(&url.path()[..pos + 1]);
                r
            }
            None => url.clone(),
        };
        Ok(Self { url, root })
    }

    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }
}

/// Reads `url` (a file:// or http(s):// URL) with a revalidating cache for HTTP.
pub async fn get(
    client: &reqwest::Client,
    url: &Url,
    cache: &Path,
) -> Result<Option<Vec<u8>>, FetchError> {
    let http = |message: String| FetchError::Http {
        url: url.to_string(),
        message,
    };
    if url.scheme() == "file" {
        let path = url
            .to_file_path()
            .map_err(|_| http("not a local path".into()))?;
        return match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FetchError::Io {
                action: "read",
                path,
                source: e,
            }),
        };
    }
    let key = hex::encode(Sha256::digest(url.as_str().as_bytes()));
    let dir = cache.join("http");
    let body_path = dir.join(format!("{key}.body"));
    let meta_path = dir.join(format!("{key}.meta"));
    let meta: serde_json::Value = std::fs::read(&meta_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut request = client.get(url.clone());
    if body_path.is_file() {
        if let Some(etag) = meta["etag"].as_str() {
            request = request.header("If-None-Match", etag);
        }
        if let Some(modified) = meta["last_modified"].as_str() {
            request = request.header("If-Modified-Since", modified);
        }
    }
    let response = request.send().await.map_err(|e| http(e.to_string()))?;
    match response.status().as_u16() {
        304 => std::fs::read(&body_path)
            .map(Some)
            .map_err(|e| FetchError::Io {
                action: "read",
                path: body_path,
                source: e,
            }),
        404 => Ok(None),
        code if !(200..300).contains(&code) => Err(http(format!("HTTP {code}"))),
        _ => {
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from)
            };
            let new_meta = serde_json::json!({"etag": header("etag"), "last_modified": header("last-modified"), "url": url.as_str()});
            let bytes = response
                .bytes()
                .await
                .map_err(|e| http(e.to_string()))?
                .to_vec();
            std::fs::create_dir_all(&dir).map_err(|e| FetchError::Io {
                action: "create",
                path: dir.clone(),
                source: e,
            })?;
            let _ = std::fs::write(&body_path, &bytes);
            let _ = std::fs::write(&meta_path, new_meta.to_string());
            Ok(Some(bytes))
        }
    }
}

/// Every record of a channel's `subdir` (none when the subdir does not exist).
pub async fn records(
    client: &reqwest::Client,
    channel: &ChannelUrl,
    subdir: &str,
    cache: &Path,
) -> Result<Vec<RepoDataRecord>, FetchError> {
    let base = channel
        .url
        .join(&format!("{subdir}/"))
        .map_err(|e| FetchError::BadChannel(e.to_string()))?;
    let url = base
        .join("repodata.json")
        .map_err(|e| FetchError::BadChannel(e.to_string()))?;
    let Some(bytes) = get(client, &url, cache).await? else {
        return Ok(Vec::new());
    };
    let repodata: RepoData =
        serde_json::from_slice(&bytes).map_err(|e| FetchError::BadRepodata {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    let files_base = match repodata.info.as_ref().and_then(|i| i.base_url.as_deref()) {
        Some(b) => base
            .join(
                if b.ends_with('/') {
                    b.to_string()
                } else {
                    format!("{b}/")
                }
                .as_str(),
            )
            .unwrap_or(base.clone()),
        None => base.clone(),
    };
    let mut out = Vec::new();
    for (identifier, record) in repodata
        .conda_packages
        .iter()
        .chain(repodata.packages.iter())
    {
        let url =
            files_base
                .join(&identifier.to_string())
                .map_err(|e| FetchError::BadRepodata {
                    url: url.to_string(),
                    message: e.to_string(),
                })?;
        out.push(RepoDataRecord {
            package_record: record.clone(),
            identifier: identifier.clone(),
            url,
            channel: Some(channel.url.to_string()),
        });
    }
    Ok(out)
}

/// The channel's verdicts (`compat.json` at its root), if it has any.
pub async fn compat(
    client: &reqwest::Client,
    channel: &ChannelUrl,
    cache: &Path,
) -> Result<Option<CompatData>, FetchError> {
    let url = channel
        .root
        .join("compat.json")
        .map_err(|e| FetchError::BadChannel(e.to_string()))?;
    match get(client, &url, cache).await? {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| FetchError::BadRepodata {
                    url: url.to_string(),
                    message: e.to_string(),
                })
        }
    }
}

/// Fetches a package into `store` (named by sha256) and checks it against the record.
pub async fn verified_package(
    client: &reqwest::Client,
    record: &RepoDataRecord,
    store: &Path,
) -> Result<PathBuf, FetchError> {
    let name = record.identifier.to_string();
    let expected = record.package_record.sha256.map(hex::encode);
    if let Some(sha) = &expected {
        let cached = store.join(format!("{sha}-{name}"));
        if cached.is_file() {
            return Ok(cached);
        }
    }
    let bytes = if record.url.scheme() == "file" {
        let path = record
            .url
            .to_file_path()
            .map_err(|_| FetchError::BadChannel(record.url.to_string()))?;
        std::fs::read(&path).map_err(|e| FetchError::Io {
            action: "read",
            path,
            source: e,
        })?
    } else {
        let response = client
            .get(record.url.clone())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| FetchError::Http {
                url: record.url.to_string(),
                message: e.to_string(),
            })?;
        response
            .bytes()
            .await
            .map_err(|e| FetchError::Http {
                url: record.url.to_string(),
                message: e.to_string(),
            })?
            .to_vec()
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    let Some(expected) = expected else {
        return Err(FetchError::HashMismatch {
            package: name,
            expected: "(none in repodata)".into(),
            actual,
        });
    };
    if actual != expected {
        return Err(FetchError::HashMismatch {
            package: name,
            expected,
            actual,
        });
    }
    std::fs::create_dir_all(store).map_err(|e| FetchError::Io {
        action: "create",
        path: store.to_path_buf(),
        source: e,
    })?;
    let dest = store.join(format!("{expected}-{name}"));
    let tmp = tempfile::Builder::new()
        .suffix(&format!("-{name}"))
        .tempfile_in(store)
        .map_err(|e| FetchError::Io {
            action: "write",
            path: store.to_path_buf(),
            source: e,
        })?;
    std::fs::write(tmp.path(), &bytes).map_err(|e| FetchError::Io {
        action: "write",
        path: dest.clone(),
        source: e,
    })?;
    crate::archive::check(tmp.path()).map_err(|mut e| {
        e.archive = name.clone();
        e
    })?;
    tmp.persist(&dest).map_err(|e| FetchError::Io {
        action: "write",
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_arguments() {
        let c = ChannelUrl::parse("http://127.0.0.1:8000/ch/label/freethreading").unwrap();
        assert_eq!(
            c.url.as_str(),
            "http://127.0.0.1:8000/ch/label/freethreading/"
        );
        assert_eq!(c.root.as_str(), "http://127.0.0.1:8000/ch/");
        let d = ChannelUrl::parse("/srv/ft").unwrap();
        assert_eq!(d.url.as_str(), "file:///srv/ft/");
        assert!(d.is_local());
    }
}
