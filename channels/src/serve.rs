//! The channel server (`ftforge serve`), on axum and tower-http: channel files with the
//! content types conda clients expect, ETag / Last-Modified and conditional GET (304),
//! no path escapes and no hidden files; with an upload token, authenticated uploads of
//! packages, verdicts and build reports that go through the same publish path as local
//! builds (`Channel::publish`, `record_compat`, `update_labels`). The endpoints and
//! statuses are listed in docs/channels.md, "Serving and uploads".

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::compat::CompatRecord;
use crate::labels::PRERELEASE_LABEL;
use crate::layout::{Channel, ChannelError};
use crate::publish::PublishOutcome;
use crate::upload::{
    check_target, valid_key, verify_package, CompatRecorded, StoredKind, UploadToken, SHA256_HEADER,
};

/// Where uploads are received before they are checked (inside the channel, so the
/// publish copy stays on one file system; hidden, so never served).
pub const UPLOADS_DIR: &str = ".ftforge-uploads";

/// The largest upload accepted unless the server is told otherwise: 2 GiB.
pub const DEFAULT_MAX_UPLOAD_SIZE: u64 = 2 << 30;

/// JSON bodies (verdicts, reports) are read whole; this bounds them.
const MAX_JSON_SIZE: u64 = 64 << 20;

/// What the server serves and who may upload.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The channel directory.
    pub root: PathBuf,
    /// Uploads are accepted only with this token; `None` turns uploads off.
    pub upload_token: Option<UploadToken>,
    /// The largest upload body, in bytes.
    pub max_upload_size: u64,
}

impl ServeConfig {
    /// Makes the directory uploads are received in (when uploads are on), so that
    /// the first upload, accepted or refused, adds nothing else to the channel. `serve`
    /// does it too; call it first when the channel must be complete before a client
    /// is told the URL.
    pub fn prepare(&self) -> std::io::Result<()> {
        if self.upload_token.is_some() {
            std::fs::create_dir_all(self.root.join(UPLOADS_DIR))?;
        }
        Ok(())
    }

    /// Serving `root`, uploads off.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            upload_token: None,
            max_upload_size: DEFAULT_MAX_UPLOAD_SIZE,
        }
    }
}

/// Binds `addr` (use port 0 for any free port) and returns the listener and its address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

struct Server {
    config: ServeConfig,
    channel: Channel,
    on_request: Box<dyn Fn(&str) + Send + Sync>,
}

/// Serves the channel until the process ends; `on_request` sees `METHOD path status`
/// (and the reason of a refused upload).
pub async fn serve(
    listener: TcpListener,
    config: ServeConfig,
    on_request: impl Fn(&str) + Send + Sync + 'static,
) -> std::io::Result<()> {
    config.prepare()?;
    let server = Arc::new(Server {
        channel: Channel::new(&config.root),
        config,
        on_request: Box::new(on_request),
    });
    let app = axum::Router::new().fallback(handle).with_state(server);
    axum::serve(listener, app).await
}

async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    let method = request.method().clone();
    let target = request.uri().to_string();
    let response = match method {
        Method::GET | Method::HEAD => get(&server, request).await,
        Method::PUT | Method::POST => upload(&server, request).await,
        _ => Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server takes GET and HEAD, and PUT/POST uploads",
        )),
    }
    .unwrap_or_else(IntoResponse::into_response);
    (server.on_request)(&format!("{method} {target} {}", response.status()));
    response
}

/// A plain-text answer naming the problem (and a header some statuses need).
struct Refusal {
    status: StatusCode,
    message: String,
    header: Option<(header::HeaderName, &'static str)>,
}

impl Refusal {
    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.header = Some((name, value));
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.message),
        )
            .into_response();
        if let Some((name, value)) = self.header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

fn refuse(status: StatusCode, message: &str) -> Refusal {
    Refusal {
        status,
        message: message.to_string(),
        header: None,
    }
}

fn json_answer(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("zst") => "application/zstd",
        Some("html") => "text/html; charset=utf-8",
        Some("conda") | Some("bz2") => "application/octet-stream",
        Some("txt") | Some("log") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file a request path names, if it stays inside `root` (a directory means its
/// `index.html`). Hidden names (`.ftforge.lock`, the uploads being received) are
/// not served either.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A validator that changes whenever the file is replaced (size and mtime in ns).
fn etag(meta: &std::fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{:x}-{:x}\"", meta.len(), modified)
}

/// GET and HEAD of a channel file. The ETag check is ours; tower-http's `ServeFile`
/// streams the file and handles Last-Modified / If-Modified-Since and ranges.
async fn get(server: &Server, mut request: Request) -> Result<Response, Refusal> {
    let Some(path) = resolve(&server.config.root, request.uri().path()) else {
        return Err(refuse(StatusCode::NOT_FOUND, "not found"));
    };
    let meta = match tokio::fs::metadata(&path).await {
        Ok(meta) if meta.is_file() => meta,
        _ => return Err(refuse(StatusCode::NOT_FOUND, "not found")),
    };
    let etag = etag(&meta);
    let headers = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ];
    if let Some(wanted) = request.headers().get(header::IF_NONE_MATCH) {
        let wanted = wanted.to_str().unwrap_or_default();
        if wanted.trim() == "*" || wanted.split(',').any(|t| t.trim() == etag) {
            return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
        }
        // RFC 9110 13.1.3: with If-None-Match, If-Modified-Since is ignored.
        request.headers_mut().remove(header::IF_MODIFIED_SINCE);
    }
    let served = match tower_http::services::ServeFile::new(&path)
        .oneshot(request)
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    let mut response = served;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let out = response.headers_mut();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                out.insert(name, value);
            }
        }
        if response.status().is_success() {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
        }
    }
    Ok(response)
}

/// Checks the bearer token: `Err` is the 401/403/405 answer.
fn authorize(server: &Server, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = &server.config.upload_token else {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "uploads are disabled on this server: start `ftforge serve` with --upload-token-file FILE",
        )
        .with_header(header::ALLOW, "GET, HEAD"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "an upload needs the header `Authorization: Bearer <token>`",
        )
        .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"ftforge\"")),
        Some(presented) if !token.matches(presented.trim()) => Err(refuse(
            StatusCode::FORBIDDEN,
            "the upload token is not the one this server was started with",
        )),
        Some(_) => Ok(()),
    }
}

fn too_large(limit: u64) -> Refusal {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the upload is larger than this server's limit of {limit} bytes (--max-upload-size)"
        ),
    )
}

/// PUT a package, POST verdicts, PUT a build report or failure.
async fn upload(server: &Arc<Server>, request: Request) -> Result<Response, Refusal> {
    authorize(server, request.headers())?;
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["ftforge", "compat"]) => upload_compat(server, request).await,
        (&Method::PUT, ["ftforge", kind, file]) if StoredKind::from_dir(kind).is_some() => {
            let kind = StoredKind::from_dir(kind).expect("matched above");
            match file.strip_suffix(".json").filter(|key| valid_key(key)) {
                Some(key) => upload_stored(server, kind, key.to_string(), request).await,
                None => Err(refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("`{file}` is not <build key>.json"),
                )),
            }
        }
        (&Method::PUT, [subdir, filename]) => {
            let (subdir, filename) = (subdir.to_string(), filename.to_string());
            upload_package(server, None, subdir, filename, request).await
        }
        // Packages built with or for a release candidate live in their own label.
        (&Method::PUT, ["label", label, subdir, filename]) if *label == PRERELEASE_LABEL => {
            let (subdir, filename) = (subdir.to_string(), filename.to_string());
            upload_package(server, Some(PRERELEASE_LABEL), subdir, filename, request).await
        }
        _ => Err(refuse(
            StatusCode::NOT_FOUND,
            "uploads go to PUT /<subdir>/<name>-<version>-<build>.conda (or /label/python_rc/<subdir>/…), POST /ftforge/compat, \
             PUT /ftforge/builds/<key>.json or PUT /ftforge/failures/<key>.json",
        )),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads a whole JSON body of at most `MAX_JSON_SIZE` (or the upload limit if smaller).
async fn json_body(server: &Server, request: Request) -> Result<axum::body::Bytes, Refusal> {
    let limit = MAX_JSON_SIZE.min(server.config.max_upload_size);
    if declared_length(request.headers()).is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(request.into_body(), limit as usize)
        .await
        .map_err(|_| too_large(limit))
}

fn internal(error: impl std::fmt::Display) -> Refusal {
    refuse(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string())
}

async fn upload_package(
    server: &Arc<Server>,
    label: Option<&'static str>,
    subdir: String,
    filename: String,
    request: Request,
) -> Result<Response, Refusal> {
    check_target(&subdir, &filename)
        .map_err(|refusal| refuse(StatusCode::BAD_REQUEST, &refusal.to_string()))?;
    let limit = server.config.max_upload_size;
    if declared_length(request.headers()).is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let force = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "force=true" || p == "force=1"));
    let claimed = request
        .headers()
        .get(SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    // Received into a directory of its own, under the file's own name (the package
    // readers go by the extension), removed whatever happens.
    let receiving = |e: std::io::Error| internal(format!("cannot receive the upload: {e}"));
    let incoming = tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(server.config.root.join(UPLOADS_DIR))
        .map_err(receiving)?;
    let received = incoming.path().join(&filename);
    let mut file = tokio::fs::File::create(&received)
        .await
        .map_err(receiving)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = request.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                &format!("the upload was cut off: {e}"),
            )
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(receiving)?;
    }
    file.sync_all().await.map_err(receiving)?;
    drop(file);
    let received_sha256 = hex::encode(hasher.finalize());

    let server = server.clone();
    let mut published = tokio::task::spawn_blocking(move || {
        let _incoming = incoming;
        verify_package(&received, &subdir, &received_sha256, claimed.as_deref())
            .map_err(|refusal| refuse(StatusCode::BAD_REQUEST, &refusal.to_string()))?;
        let target = label.map_or_else(|| server.channel.clone(), |l| server.channel.label_root(l));
        let published = target
            .publish(std::slice::from_ref(&received), force)
            .map_err(|e| match e {
                ChannelError::Conflict { .. } => refuse(
                    StatusCode::CONFLICT,
                    &format!("{e}; add ?force=true to replace it"),
                ),
                ChannelError::BadPackage { .. } => refuse(StatusCode::BAD_REQUEST, &e.to_string()),
                other => internal(other),
            })?;
        server.channel.update_labels().map_err(internal)?;
        Ok::<_, Refusal>(published)
    })
    .await
    .map_err(internal)??;
    let one = published
        .pop()
        .ok_or_else(|| internal("nothing was published"))?;
    let status = match one.outcome {
        PublishOutcome::Added => StatusCode::CREATED,
        PublishOutcome::Unchanged | PublishOutcome::Replaced => StatusCode::OK,
    };
    Ok(json_answer(status, &one))
}

async fn upload_compat(server: &Arc<Server>, request: Request) -> Result<Response, Refusal> {
    let bytes = json_body(server, request).await?;
    let records: Vec<CompatRecord> = serde_json::from_slice(&bytes).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            &format!("the body is not a JSON list of compat records: {e}"),
        )
    })?;
    let server = server.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        // A verdict about a file must come after the file: otherwise the labels would
        // judge a package the channel does not have.
        for record in &records {
            if let (Some(filename), Some(subdir)) = (&record.filename, &record.subdir) {
                let mut published = false;
                if check_target(subdir, filename).is_ok() {
                    for channel in server.channel.with_prerelease_label() {
                        published |= channel
                            .read_repodata(subdir)
                            .map_err(internal)?
                            .conda_packages
                            .keys()
                            .any(|k| k.to_string() == *filename);
                    }
                }
                if !published {
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "the verdict of {} {} names {subdir}/{filename}, which is not published here: upload the package first",
                            record.package, record.version
                        ),
                    ));
                }
            }
        }
        let recorded = records.len();
        server.channel.record_compat(records).map_err(internal)?;
        server.channel.update_labels().map_err(internal)?;
        Ok(recorded)
    })
    .await
    .map_err(internal)??;
    Ok(json_answer(StatusCode::OK, &CompatRecorded { recorded }))
}

async fn upload_stored(
    server: &Arc<Server>,
    kind: StoredKind,
    key: String,
    request: Request,
) -> Result<Response, Refusal> {
    let bytes = json_body(server, request).await?;
    if let Err(e) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            &format!("the body is not a JSON object: {e}"),
        ));
    }
    let dir = server.config.root.join("ftforge").join(kind.dir());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|e| ChannelError::Io {
            action: "create",
            path: dir.clone(),
            source: e,
        })?;
        crate::layout::write_atomically(&dir.join(format!("{key}.json")), &bytes)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(refuse(StatusCode::OK, "stored").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_root() {
        let root = Path::new("/srv/ch");
        assert_eq!(
            resolve(root, "/linux-64/repodata.json"),
            Some(PathBuf::from("/srv/ch/linux-64/repodata.json"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(root, "/linux-64/.ftforge.lock"), None);
        assert_eq!(resolve(root, "/.ftforge-uploads/x"), None);
        assert_eq!(
            content_type(Path::new("x/repodata.json")),
            "application/json"
        );
    }
}
