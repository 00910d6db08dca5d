//! Source integrity end to end: a tarball with one byte changed, served by a real HTTP
//! server on 127.0.0.1 as the Debian mirror, is refused with both hashes shown and
//! nothing is built from it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

const SHA_3_14_7: &str = "3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81";

/// The real Python-3.14.7 tarball: from the test cache, or fetched from the Debian
/// archive with the shared helper.
fn real_tarball() -> PathBuf {
    let cached = test_cache().join("sources").join(SHA_3_14_7);
    if cached.is_file() {
        return cached;
    }
    let helper = repo_root().join("../shared/bin/fetch-debian-orig");
    let out = run(Command::new(helper)
        .args(["python3.14", "3.14.7"])
        .arg(test_cache().join("debian-orig")));
    assert!(
        out.status.success(),
        "fetch-debian-orig: {}",
        text(&out.stderr)
    );
    PathBuf::from(text(&out.stdout).trim())
}

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A static file server on 127.0.0.1 (Python's http.server) on a free port.
fn serve(dir: &Path) -> Server {
    let mut child = Command::new(host_python())
        .args(["-u", "-c", "import http.server, functools, sys\nh = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\ns = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\nprint(s.server_address[1], flush=True)\ns.serve_forever()"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap();
    Server(child, port)
}

#[test]
fn a_tampered_tarball_is_refused_with_both_hashes_and_nothing_is_built() {
    let mirror = tempfile::tempdir().unwrap();
    let pool = mirror.path().join("pool/main/p/python3.14");
    std::fs::create_dir_all(&pool).unwrap();
    let mut bytes = std::fs::read(real_tarball()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = pool.join("python3.14_3.14.7.orig.tar.xz");
    std::fs::write(&tampered, &bytes).unwrap();
    let tampered_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let server = serve(mirror.path());

    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let channel = tempfile::tempdir().unwrap();
    // The C libraries the interpreter links, from the shared channel: only python's
    // own tarball is fetched (from the tampered mirror).
    let libraries: Vec<_> = cp314t_interpreter_packages()
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("python")
        })
        .collect();
    assert!(libraries.len() > 10, "{libraries:?}");
    let published = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .arg("publish")
        .args(&libraries)
        .arg("-c")
        .arg(channel.path()));
    assert!(published.status.success(), "{}", text(&published.stderr));
    let out = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .args([
            "build",
            "recipes/python",
            "--variant",
            "freethreading",
            "--python",
            "3.14",
            "--channel",
        ])
        .arg(channel.path())
        .arg("--work-dir")
        .arg(work.path())
        .env("FTFORGE_CACHE_DIR", cache.path())
        .env(
            "FTFORGE_MIRROR_DEBIAN",
            format!("http://127.0.0.1:{}", server.1),
        )
        .current_dir(repo_root()));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the build must fail:\n{stderr}");
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert!(
        stderr.contains(SHA_3_14_7),
        "expected hash missing:\n{stderr}"
    );
    assert!(
        stderr.contains(&tampered_sha),
        "actual hash missing:\n{stderr}"
    );
    // Nothing entered the cache, nothing was extracted or built, nothing published.
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("sources"))
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert!(cached.is_empty(), "cache holds {cached:?}");
    let built: Vec<_> = walk(work.path())
        .into_iter()
        .filter(|p| p.ends_with("configure") || p.to_string_lossy().contains("/logs/"))
        .collect();
    assert!(built.is_empty(), "something was built: {built:?}");
    let published: Vec<String> = std::fs::read_dir(channel.path().join("linux-64"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("python-"))
        .collect();
    assert!(published.is_empty(), "published {published:?}");
}

#[test]
fn source_add_seeds_the_cache_by_sha256() {
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("hello.tar.gz");
    std::fs::write(&file, b"not really a tarball").unwrap();
    let out = run(Command::new(env!("CARGO_BIN_EXE_ftforge"))
        .args(["source", "add"])
        .arg(&file)
        .env("FTFORGE_CACHE_DIR", cache.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sha = text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        std::fs::read(cache.path().join("sources").join(&sha)).unwrap(),
        b"not really a tarball"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}
