//! Uploads to a channel server (`ftforge serve --upload-token-file`): the bearer token
//! read from a file and compared in constant time, the checks a received package must
//! pass before it is published, and the HTTP client `ftforge publish --channel http://…`
//! (and later a remote build worker) uploads with.
//!
//! The HTTP API (docs/channels.md, "Serving and uploads"):
//! `PUT /<subdir>/<name>-<version>-<build>.conda[?force=true]` publishes a package,
//! `POST /ftforge/compat` records verdicts (a JSON list of [`CompatRecord`]s),
//! `PUT /ftforge/builds/<key>.json` and `PUT /ftforge/failures/<key>.json` store a
//! build's report or remembered failure. Every one needs `Authorization: Bearer TOKEN`.

use std::path::{Path, PathBuf};

use rattler_conda_types::{PackageRecord, Subdir};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::compat::CompatRecord;
use crate::publish::{record_for, Published};

/// The header a client names the sha256 of the bytes it sends with (hex); the server
/// refuses the upload when the bytes it received hash differently.
pub const SHA256_HEADER: &str = "x-sha256";

/// The kinds of JSON documents stored under `<channel>/ftforge/<kind>/<key>.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKind {
    /// `ftforge/builds/<key>.json`: the report of a build, its reuse record.
    Build,
    /// `ftforge/failures/<key>.json`: a failed build, not retried until it changes.
    Failure,
}

impl StoredKind {
    pub fn dir(self) -> &'static str {
        match self {
            StoredKind::Build => "builds",
            StoredKind::Failure => "failures",
        }
    }

    pub fn from_dir(dir: &str) -> Option<Self> {
        match dir {
            "builds" => Some(StoredKind::Build),
            "failures" => Some(StoredKind::Failure),
            _ => None,
        }
    }
}

/// A build key usable as a file name: letters, digits, `-`, `_`, `.`, not starting with `.`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TokenError {
    #[error("cannot read the upload token file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the upload token file {path} is readable by every user (mode {mode:o})")]
    #[diagnostic(help("a token others can read is no secret: `chmod 600 {}`", path.display()))]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error("the upload token file {path} is empty")]
    #[diagnostic(help("write a long random token into it, e.g. `openssl rand -hex 32 > FILE`"))]
    Empty { path: PathBuf },
}

/// The shared secret uploads are authorized with. Read from a file (never the command
/// line, where every user sees it in the process list); its `Debug` does not show it.
#[derive(Clone)]
pub struct UploadToken {
    secret: String,
}

impl std::fmt::Debug for UploadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadToken(..)")
    }
}

impl UploadToken {
    /// Reads the token (the file's content without surrounding whitespace). A file
    /// every user may read is refused.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        use std::os::unix::fs::PermissionsExt;
        let read = |source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
        if mode & 0o004 != 0 {
            return Err(TokenError::WorldReadable {
                path: path.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
        let secret = std::fs::read_to_string(path)
            .map_err(read)?
            .trim()
            .to_string();
        if secret.is_empty() {
            return Err(TokenError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self { secret })
    }

    /// Whether `presented` is the token. Both are hashed first and the digests compared
    /// in constant time, so neither the content nor the length leaks through timing.
    pub fn matches(&self, presented: &str) -> bool {
        let ours = Sha256::digest(self.secret.as_bytes());
        let theirs = Sha256::digest(presented.as_bytes());
        ours.ct_eq(&theirs).into()
    }

    /// The `Authorization` header value.
    /// The token itself, for handing to a process that uploads on our behalf (a
    /// cluster worker, which writes it to a file only it can read).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.secret)
    }
}

/// Why a received package is not published (the server answers 400 with the message).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackageRefusal {
    #[error("`{0}` is not a platform subdir (linux-64, noarch, …)")]
    Subdir(String),
    #[error("`{0}` is not a package file name: it must be <name>-<version>-<build>.conda")]
    FileName(String),
    #[error("the received bytes have sha256 {received}, the request said {claimed}")]
    Sha256Mismatch { received: String, claimed: String },
    #[error("{filename} is not a readable conda package: {message}")]
    Unreadable { filename: String, message: String },
    #[error("{filename}: its info/index.json says {actual}")]
    NameMismatch { filename: String, actual: String },
    #[error("{filename} was sent to {url_subdir}/ but its info/index.json says subdir {actual}")]
    SubdirMismatch {
        filename: String,
        url_subdir: String,
        actual: String,
    },
    #[error("unsafe archive: {0}")]
    Unsafe(String),
}

/// Checks the URL's subdir and file name before any byte is received.
pub fn check_target(subdir: &str, filename: &str) -> Result<(), PackageRefusal> {
    if subdir.parse::<Subdir>().is_err() || subdir.contains(['/', '.']) {
        return Err(PackageRefusal::Subdir(subdir.to_string()));
    }
    let well_formed = filename.ends_with(".conda")
        && !filename.starts_with('.')
        && filename.matches('-').count() >= 2
        && filename
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '!'));
    if !well_formed {
        return Err(PackageRefusal::FileName(filename.to_string()));
    }
    Ok(())
}

/// Checks a received package (`path`, named like the upload's file name) before it is
/// published: its sha256 against the one the client claimed, that it is a readable
/// `.conda` whose `info/index.json` names exactly this file and this subdir, and that no
/// entry escapes the environment it would be installed into.
pub fn verify_package(
    path: &Path,
    subdir: &str,
    received_sha256: &str,
    claimed_sha256: Option<&str>,
) -> Result<PackageRecord, PackageRefusal> {
    let filename = path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default()
        .to_string();
    check_target(subdir, &filename)?;
    if let Some(claimed) = claimed_sha256 {
        if !claimed.trim().eq_ignore_ascii_case(received_sha256) {
            return Err(PackageRefusal::Sha256Mismatch {
                received: received_sha256.to_string(),
                claimed: claimed.trim().to_string(),
            });
        }
    }
    let (record, _) = record_for(path).map_err(|e| PackageRefusal::Unreadable {
        filename: filename.clone(),
        message: match e {
            crate::ChannelError::BadPackage { message, .. } => message,
            other => other.to_string(),
        },
    })?;
    let named = format!(
        "{}-{}-{}.conda",
        record.name.as_normalized(),
        record.version,
        record.build
    );
    if named != filename {
        return Err(PackageRefusal::NameMismatch {
            filename,
            actual: format!(
                "name {}, version {}, build {} ({named})",
                record.name.as_normalized(),
                record.version,
                record.build
            ),
        });
    }
    if record.subdir != subdir {
        return Err(PackageRefusal::SubdirMismatch {
            filename,
            url_subdir: subdir.to_string(),
            actual: record.subdir.clone(),
        });
    }
    crate::archive::check(path).map_err(|e| PackageRefusal::Unsafe(e.problem))?;
    Ok(record)
}

/// Why an upload from this side failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UploadError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Package(#[from] crate::ChannelError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url} is not a channel URL to upload to: {message}")]
    BadUrl { url: String, message: String },
    #[error("uploading to {url}: {source}")]
    Http { url: Url, source: reqwest::Error },
    #[error("{url} refused the upload ({status}): {message}")]
    #[diagnostic(help("{}", refusal_help(*status)))]
    Refused {
        url: Url,
        status: u16,
        message: String,
    },
    #[error("{url} answered with something that is not the expected JSON: {source}")]
    BadAnswer { url: Url, source: serde_json::Error },
}

fn refusal_help(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            "check --upload-token-file: it must hold the token the server was started with"
        }
        405 => {
            "the server takes no uploads: start it with `ftforge serve --upload-token-file FILE`"
        }
        409 => {
            "a published build is immutable: bump the build number, or pass --force to replace it"
        }
        413 => "the server's --max-upload-size is smaller than this file",
        _ => "the server's message says what it refused",
    }
}

/// `url` with `path` appended to its path (keeping any path the channel URL has).
fn join(channel: &Url, path: &str) -> Result<Url, UploadError> {
    let mut base = channel.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path).map_err(|e| UploadError::BadUrl {
        url: channel.to_string(),
        message: e.to_string(),
    })
}

/// Sends `request` and returns the body of a successful answer; a refusal is
/// `UploadError::Refused` with the server's words.
async fn answer(url: &Url, request: reqwest::RequestBuilder) -> Result<Vec<u8>, UploadError> {
    let response = request.send().await.map_err(|source| UploadError::Http {
        url: url.clone(),
        source,
    })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|source| UploadError::Http {
        url: url.clone(),
        source,
    })?;
    if !status.is_success() {
        return Err(UploadError::Refused {
            url: url.clone(),
            status: status.as_u16(),
            message: String::from_utf8_lossy(&body).trim().to_string(),
        });
    }
    Ok(body.to_vec())
}

/// Uploads one `.conda` to the channel server at `channel` (`http://HOST:PORT/`):
/// `PUT /<subdir>/<file>` with its sha256 in `X-Sha256`, the file streamed from disk.
/// The server publishes it like `ftforge publish` does and answers what happened
/// (`added`, `unchanged` or — with `force` — `replaced`).
pub async fn upload_package(
    client: &reqwest::Client,
    channel: &Url,
    token: &UploadToken,
    package: &Path,
    force: bool,
) -> Result<Published, UploadError> {
    upload_package_to(client, channel, None, token, package, force).await
}

/// [`upload_package`] into a label of its own (`label/python_rc`: built with or for a
/// release candidate; `PUT /label/<label>/<subdir>/<file>`), or main with `None`.
pub async fn upload_package_to(
    client: &reqwest::Client,
    channel: &Url,
    label: Option<&str>,
    token: &UploadToken,
    package: &Path,
    force: bool,
) -> Result<Published, UploadError> {
    // Reading the record locally finds the subdir and refuses a broken file early.
    let (record, filename) = {
        let package = package.to_path_buf();
        tokio::task::spawn_blocking(move || record_for(&package))
            .await
            .map_err(|e| UploadError::Read {
                path: PathBuf::new(),
                source: std::io::Error::other(e),
            })??
    };
    let sha256 = record.sha256.map(hex::encode).unwrap_or_default();
    let under = label.map(|l| format!("label/{l}/")).unwrap_or_default();
    let mut url = join(channel, &format!("{under}{}/{}", record.subdir, filename))?;
    if force {
        url.set_query(Some("force=true"));
    }
    let file = tokio::fs::File::open(package)
        .await
        .map_err(|source| UploadError::Read {
            path: package.to_path_buf(),
            source,
        })?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let request = client
        .put(url.clone())
        .header(reqwest::header::AUTHORIZATION, token.bearer())
        .header(SHA256_HEADER, &sha256)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(
            reqwest::header::CONTENT_LENGTH,
            record.size.unwrap_or_default(),
        )
        .body(body);
    let body = answer(&url, request).await?;
    serde_json::from_slice(&body).map_err(|source| UploadError::BadAnswer { url, source })
}

/// Records verdicts on the channel server (`POST /ftforge/compat`); every record that
/// names a file must name one already published there. Returns how many were recorded.
pub async fn upload_compat(
    client: &reqwest::Client,
    channel: &Url,
    token: &UploadToken,
    records: &[CompatRecord],
) -> Result<usize, UploadError> {
    let url = join(channel, "ftforge/compat")?;
    let request = client
        .post(url.clone())
        .header(reqwest::header::AUTHORIZATION, token.bearer())
        .json(records);
    let body = answer(&url, request).await?;
    let recorded: CompatRecorded =
        serde_json::from_slice(&body).map_err(|source| UploadError::BadAnswer { url, source })?;
    Ok(recorded.recorded)
}

/// Stores a build report or failure (`PUT /ftforge/<builds|failures>/<key>.json`).
pub async fn upload_stored(
    client: &reqwest::Client,
    channel: &Url,
    token: &UploadToken,
    kind: StoredKind,
    key: &str,
    json: Vec<u8>,
) -> Result<(), UploadError> {
    if !valid_key(key) {
        return Err(UploadError::BadUrl {
            url: channel.to_string(),
            message: format!("`{key}` is not a build key"),
        });
    }
    let url = join(channel, &format!("ftforge/{}/{key}.json", kind.dir()))?;
    let request = client
        .put(url.clone())
        .header(reqwest::header::AUTHORIZATION, token.bearer())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json);
    answer(&url, request).await?;
    Ok(())
}

/// The server's answer to `POST /ftforge/compat`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CompatRecorded {
    pub recorded: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_keys() {
        assert!(check_target("linux-64", "a-1.0-h0_0.conda").is_ok());
        assert!(check_target("noarch", "a-1.0-py_0.conda").is_ok());
        assert!(check_target("..", "a-1.0-h0_0.conda").is_err());
        assert!(check_target("linux-64", "a.conda").is_err());
        assert!(check_target("linux-64", "a-1-0.tar.gz").is_err());
        assert!(check_target("linux-64", "../a-1-0.conda").is_err());
        assert!(valid_key("0123abc"));
        assert!(!valid_key("../x"));
        assert!(!valid_key(".hidden"));
    }

    #[test]
    fn tokens_compare_whole() {
        let token = UploadToken {
            secret: "s3cret".into(),
        };
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cretX"));
        assert!(!token.matches(""));
    }
}
