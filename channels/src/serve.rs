//! A small static HTTP server for channel directories on loopback: GET and HEAD,
//! content types conda clients expect, ETag / If-None-Match, no path escapes.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Binds `addr` (use port 0 for any free port) and returns the listener and its address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `root` until the process ends; `on_request` sees `METHOD path status`.
pub async fn serve(
    listener: TcpListener,
    root: PathBuf,
    on_request: impl Fn(&str) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let on_request = std::sync::Arc::new(on_request);
    loop {
        let (stream, _) = listener.accept().await?;
        let root = root.clone();
        let on_request = on_request.clone();
        tokio::spawn(async move {
            let _ = handle(stream, &root, &*on_request).await;
        });
    }
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

/// The file a request path names, if it stays inside `root`.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => out.push(part),
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

async fn handle(
    stream: TcpStream,
    root: &Path,
    on_request: &(dyn Fn(&str) + Send + Sync),
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut if_none_match = None;
        let mut close = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("if-none-match:") {
                if_none_match = Some(v.trim().to_string());
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let (status, headers, body) =
            respond(root, &method, &target, if_none_match.as_deref()).await;
        on_request(&format!("{method} {target} {status}"));
        let mut head = format!("HTTP/1.1 {status}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        write.write_all(head.as_bytes()).await?;
        if method != "HEAD" {
            write.write_all(&body).await?;
        }
        write.flush().await?;
        if close {
            return Ok(());
        }
    }
}

async fn respond(
    root: &Path,
    method: &str,
    target: &str,
    if_none_match: Option<&str>,
) -> (String, Vec<(String, String)>, Vec<u8>) {
    let text = |status: &str, msg: &str| {
        (
            status.to_string(),
            vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Content-Length".into(), msg.len().to_string()),
            ],
            msg.as_bytes().to_vec(),
        )
    };
    if method != "GET" && method != "HEAD" {
        return text("405 Method Not Allowed", "only GET and HEAD\n");
    }
    let Some(path) = resolve(root, target) else {
        return text("400 Bad Request", "bad path\n");
    };
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return text("404 Not Found", "not found\n");
    };
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{:x}-{:x}\"", meta.len(), modified);
    let mut headers = vec![
        ("Content-Type".to_string(), content_type(&path).to_string()),
        ("ETag".to_string(), etag.clone()),
        ("Cache-Control".to_string(), "no-cache".to_string()),
    ];
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        headers.push(("Content-Length".into(), "0".into()));
        return ("304 Not Modified".into(), headers, Vec::new());
    }
    let mut body = Vec::new();
    if method == "GET" {
        match tokio::fs::File::open(&path).await {
            Ok(mut f) => {
                if f.read_to_end(&mut body).await.is_err() {
                    return text("500 Internal Server Error", "read error\n");
                }
            }
            Err(_) => return text("404 Not Found", "not found\n"),
        }
    }
    headers.push(("Content-Length".into(), meta.len().to_string()));
    ("200 OK".into(), headers, body)
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
        assert_eq!(
            content_type(Path::new("x/repodata.json")),
            "application/json"
        );
    }
}
