//! Sources: downloads verified by sha256 into a content-addressed cache (a second build
//! never downloads), mirror fallback, local paths, extraction and patches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::mirrors::{self, Candidate, MirrorError};
use crate::progress::{Reporter, Step};
use crate::recipe::Source;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SourceError {
    #[error(
        "sha256 mismatch for {url}\n  expected (recipe): {expected}\n  actual (download): {actual}"
    )]
    #[diagnostic(help("the file was not used. If the recipe's hash is outdated, update `sha256:`; otherwise the mirror serves a different file"))]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("could not fetch `{name}` from any of its URLs:\n{attempts}")]
    #[diagnostic(help(
        "on an offline machine, put the file in the cache with `ftforge source add FILE`"
    ))]
    Unreachable { name: String, attempts: String },
    #[error("source `{url}` has no sha256; ftforge only uses downloads it can verify")]
    MissingHash { url: String },
    #[error("`{0}` is not a sha256 (64 hex digits)")]
    BadHash(String),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot extract {archive}: {message}")]
    Extract { archive: PathBuf, message: String },
    #[error("patch {patch} does not apply: {message}")]
    Patch { patch: PathBuf, message: String },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + use<> {
    let path = path.to_path_buf();
    move |source| SourceError::Io {
        action,
        path,
        source,
    }
}

/// Where downloads are kept, named by their sha256.
#[derive(Debug, Clone)]
pub struct SourceCache {
    pub root: PathBuf,
}

/// ftforge's cache directory: `$FTFORGE_CACHE_DIR`, else `$XDG_CACHE_HOME/ftforge`,
/// else `~/.cache/ftforge`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FTFORGE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("ftforge")
}

pub fn sha256_file(path: &Path) -> Result<String, SourceError> {
    let mut file = std::fs::File::open(path).map_err(io("read", path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io("read", path))?;
    Ok(hex::encode(hasher.finalize()))
}

fn check_hash(hash: &str) -> Result<String, SourceError> {
    let lower = hash.trim().to_ascii_lowercase();
    if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(lower)
    } else {
        Err(SourceError::BadHash(hash.to_string()))
    }
}

impl SourceCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn path_for(&self, sha256: &str) -> PathBuf {
        self.root.join(sha256)
    }

    /// The cached file for `sha256`, re-verified (a corrupted entry is removed).
    pub fn get(&self, sha256: &str) -> Result<Option<PathBuf>, SourceError> {
        let path = self.path_for(sha256);
        if !path.is_file() {
            return Ok(None);
        }
        if sha256_file(&path)? == sha256 {
            Ok(Some(path))
        } else {
            let _ = std::fs::remove_file(&path);
            Ok(None)
        }
    }

    /// Puts a local file into the cache (for offline machines); returns its sha256.
    pub fn add_file(&self, file: &Path) -> Result<(String, PathBuf), SourceError> {
        let sha = sha256_file(file)?;
        std::fs::create_dir_all(&self.root).map_err(io("create", &self.root))?;
        let dest = self.path_for(&sha);
        if !dest.is_file() {
            let tmp = tempfile::NamedTempFile::new_in(&self.root)
                .map_err(io("create a file in", &self.root))?;
            std::fs::copy(file, tmp.path()).map_err(io("copy", file))?;
            tmp.persist(&dest).map_err(|e| SourceError::Io {
                action: "write",
                path: dest.clone(),
                source: e.error,
            })?;
        }
        Ok((sha, dest))
    }

    /// The file with `sha256`, from the cache or downloaded from the first URL that
    /// works (mirror URLs resolved). Downloads land in a temporary file and are renamed
    /// into place only after the hash matched.
    pub async fn fetch(
        &self,
        urls: &[String],
        sha256: &str,
        client: &reqwest::Client,
        job: &str,
        reporter: &dyn Reporter,
    ) -> Result<PathBuf, SourceError> {
        let sha256 = check_hash(sha256)?;
        if let Some(path) = self.get(&sha256)? {
            return Ok(path);
        }
        std::fs::create_dir_all(&self.root).map_err(io("create", &self.root))?;
        reporter.step(job, Step::Fetch);
        let mut attempts = Vec::new();
        let mut first_failure: Option<String> = None;
        for url in urls {
            let candidates = match mirrors::resolve_candidates(url) {
                Ok(c) => c,
                Err(e) => {
                    attempts.push(format!("  {url}: {e}"));
                    continue;
                }
            };
            for candidate in candidates {
                let result = match &candidate {
                    Candidate::Url(u) => self.download(u, &sha256, client, job, reporter).await,
                    Candidate::IndexProject {
                        index,
                        project,
                        filename,
                    } => match index_file_url(client, index, project, filename).await {
                        Ok(u) => self.download(&u, &sha256, client, job, reporter).await,
                        Err(e) => Err(e),
                    },
                };
                let candidate = candidate.to_string();
                match result {
                    Ok(path) => {
                        if let Some(failed) = &first_failure {
                            reporter.note(
                                job,
                                &format!("{failed} was unreachable; fetched {candidate} instead"),
                            );
                        }
                        return Ok(path);
                    }
                    Err(err @ SourceError::HashMismatch { .. }) => return Err(err),
                    Err(err) => {
                        first_failure.get_or_insert_with(|| candidate.clone());
                        attempts.push(format!("  {candidate}: {err}"));
                    }
                }
            }
        }
        let name = urls
            .first()
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or("source")
            .to_string();
        Err(SourceError::Unreachable {
            name,
            attempts: attempts.join("\n"),
        })
    }

    async fn download(
        &self,
        url: &str,
        sha256: &str,
        client: &reqwest::Client,
        job: &str,
        reporter: &dyn Reporter,
    ) -> Result<PathBuf, SourceError> {
        let net = |e: reqwest::Error| SourceError::Io {
            action: "download",
            path: PathBuf::from(url),
            source: std::io::Error::other(root_cause(&e)),
        };
        if let Some(local) = url.strip_prefix("file://") {
            // Hash the file where it is; only a match enters the cache (a mismatch
            // must not touch the cache: its entry for that content may be valid).
            let actual = sha256_file(Path::new(local))?;
            if actual != sha256 {
                return Err(SourceError::HashMismatch {
                    url: url.into(),
                    expected: sha256.into(),
                    actual,
                });
            }
            return self.add_file(Path::new(local)).map(|(_, path)| path);
        }
        let response = client
            .get(url)
            .send()
            .await
            .map_err(net)?
            .error_for_status()
            .map_err(net)?;
        let total = response.content_length();
        let tmp = tempfile::NamedTempFile::new_in(&self.root)
            .map_err(io("create a file in", &self.root))?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(net)?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(io("write", &tmp_path))?;
            done += chunk.len() as u64;
            reporter.progress(job, done, total);
        }
        file.flush().await.map_err(io("write", &tmp_path))?;
        drop(file);
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            return Err(SourceError::HashMismatch {
                url: url.into(),
                expected: sha256.into(),
                actual,
            });
        }
        let dest = self.path_for(sha256);
        tmp_path.persist(&dest).map_err(|e| SourceError::Io {
            action: "write",
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(dest)
    }
}

/// Looks a file up on a project's page of a simple-API index (PEP 691 JSON).
async fn index_file_url(
    client: &reqwest::Client,
    index: &str,
    project: &str,
    filename: &str,
) -> Result<String, SourceError> {
    let page_url = crate::pypi::project_page_url(index, project);
    let fail = |message: String| SourceError::Io {
        action: "look up",
        path: PathBuf::from(&page_url),
        source: std::io::Error::other(message),
    };
    let page = crate::pypi::fetch_project(client, index, project)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let file = page
        .file(filename)
        .ok_or_else(|| fail(format!("the project has no file named {filename}")))?;
    page.file_url(file).map_err(|e| fail(e.to_string()))
}

/// An error with its chain of causes, on one line.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}

/// An HTTP client with sensible timeouts for source downloads.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("ftforge/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Fetches, verifies, extracts and patches every source of a recipe into `work_dir`.
pub async fn prepare_sources(
    recipe_dir: &Path,
    sources: &[Source],
    work_dir: &Path,
    cache: &SourceCache,
    client: &reqwest::Client,
    job: &str,
    reporter: &dyn Reporter,
) -> Result<(), SourceError> {
    std::fs::create_dir_all(work_dir).map_err(io("create", work_dir))?;
    for source in sources {
        let dest = match &source.target_directory {
            Some(dir) => work_dir.join(dir),
            None => work_dir.to_path_buf(),
        };
        std::fs::create_dir_all(&dest).map_err(io("create", &dest))?;
        if !source.url.is_empty() {
            let sha = source
                .sha256
                .as_deref()
                .ok_or_else(|| SourceError::MissingHash {
                    url: source.url[0].clone(),
                })?;
            let file = cache.fetch(&source.url, sha, client, job, reporter).await?;
            let name = source.file_name.clone().unwrap_or_else(|| {
                source.url[0]
                    .rsplit('/')
                    .next()
                    .unwrap_or("source")
                    .to_string()
            });
            reporter.step(job, Step::Extract);
            if is_archive(&name) {
                extract(&file, &name, &dest)?;
            } else {
                let target = dest.join(&name);
                std::fs::copy(&file, &target).map_err(io("copy", &file))?;
            }
        } else if let Some(path) = &source.path {
            let from = recipe_dir.join(path);
            copy_tree(&from, &dest)?;
        }
        for patch in &source.patches {
            apply_patch(&recipe_dir.join(patch), &dest)?;
        }
    }
    Ok(())
}

fn is_archive(name: &str) -> bool {
    [
        ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst", ".tar", ".zip",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

/// Extracts an archive into `dest`, dropping a single top-level directory.
fn extract(archive: &Path, name: &str, dest: &Path) -> Result<(), SourceError> {
    let staging = tempfile::tempdir_in(dest).map_err(io("create a directory in", dest))?;
    let status = if name.ends_with(".zip") {
        std::process::Command::new("unzip")
            .arg("-q")
            .arg(archive)
            .arg("-d")
            .arg(staging.path())
            .output()
    } else {
        std::process::Command::new("tar")
            .arg("-xf")
            .arg(archive)
            .arg("-C")
            .arg(staging.path())
            .output()
    }
    .map_err(|e| SourceError::Extract {
        archive: archive.into(),
        message: e.to_string(),
    })?;
    if !status.status.success() {
        return Err(SourceError::Extract {
            archive: archive.into(),
            message: String::from_utf8_lossy(&status.stderr).trim().to_string(),
        });
    }
    let entries: Vec<_> = std::fs::read_dir(staging.path())
        .map_err(io("read", staging.path()))?
        .filter_map(|e| e.ok())
        .collect();
    let root = if entries.len() == 1 && entries[0].path().is_dir() {
        entries[0].path()
    } else {
        staging.path().to_path_buf()
    };
    for entry in std::fs::read_dir(&root).map_err(io("read", &root))? {
        let entry = entry.map_err(io("read", &root))?;
        let target = dest.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(io("move into place", &target))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), SourceError> {
    if from.is_file() {
        let target = to.join(from.file_name().unwrap_or_default());
        std::fs::copy(from, &target).map_err(io("copy", from))?;
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry.map_err(|e| SourceError::Io {
            action: "read",
            path: from.into(),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).map_err(io("create", &target))?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io("copy", entry.path()))?;
        }
    }
    Ok(())
}

fn apply_patch(patch: &Path, dir: &Path) -> Result<(), SourceError> {
    let out = std::process::Command::new("patch")
        .args(["-p1", "--forward", "--batch", "-i"])
        .arg(patch)
        .current_dir(dir)
        .output()
        .map_err(|e| SourceError::Patch {
            patch: patch.into(),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SourceError::Patch {
            patch: patch.into(),
            message: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[tokio::test]
    async fn file_urls_are_verified_and_cached_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, b"hello").unwrap();
        let sha = sha256_file(&file).unwrap();
        let cache = SourceCache::new(dir.path().join("cache"));
        let client = http_client();
        let url = format!("file://{}", file.display());
        let got = cache
            .fetch(&[url.clone()], &sha, &client, "t", &Silent)
            .await
            .unwrap();
        assert_eq!(got, cache.path_for(&sha));
        let wrong = "0".repeat(64);
        let err = cache
            .fetch(&[url], &wrong, &client, "t", &Silent)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&wrong) && text.contains(&sha), "{text}");
        assert!(!cache.path_for(&wrong).exists());
        // The valid entry for that content stays: a wrong hash in one recipe must not
        // delete what another recipe fetched correctly.
        assert!(cache.path_for(&sha).is_file());
        assert_eq!(cache.get(&sha).unwrap(), Some(cache.path_for(&sha)));
    }

    #[tokio::test]
    async fn unreachable_urls_fall_back_and_say_which() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.txt");
        std::fs::write(&file, b"data").unwrap();
        let sha = sha256_file(&file).unwrap();
        let cache = SourceCache::new(dir.path().join("cache"));
        let urls = vec![
            "http://127.0.0.1:9/b.txt".to_string(),
            format!("file://{}", file.display()),
        ];
        struct Notes(std::sync::Mutex<Vec<String>>);
        impl Reporter for Notes {
            fn note(&self, _job: &str, message: &str) {
                self.0.lock().unwrap().push(message.to_string());
            }
        }
        let notes = Notes(Default::default());
        cache
            .fetch(&urls, &sha, &http_client(), "t", &notes)
            .await
            .unwrap();
        let notes = notes.0.into_inner().unwrap();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("127.0.0.1:9") && notes[0].contains("file://"),
            "{notes:?}"
        );
    }
}
