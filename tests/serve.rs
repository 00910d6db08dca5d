//! The channel server end to end, on 127.0.0.1: the real `ftforge serve` answering curl,
//! py-rattler and `ftforge publish --channel http://…`. Static files with ETag and
//! Last-Modified (304 on a conditional GET), no escapes; uploads only with the token
//! (401 / 403 / 405), bounded (413), verified (400 for a tampered or misnamed package),
//! immutable unless forced (409), idempotent — and a refused upload leaves every file of
//! the channel as it was.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// One HTTP exchange by curl: status, response headers (lower-cased names), body.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    }
}

fn curl(args: &[&str]) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let body = dir.path().join("body");
    let out = run(Command::new("curl")
        .args(["-sS", "--path-as-is", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .args(args));
    assert!(out.status.success(), "curl {args:?}: {}", text(&out.stderr));
    Answer {
        status: text(&out.stdout).trim().parse().unwrap(),
        headers: std::fs::read_to_string(headers).unwrap_or_default(),
        body: std::fs::read_to_string(body).unwrap_or_default(),
    }
}

/// `PUT` of a file with a bearer token (or none).
fn put(url: &str, file: &Path, token: Option<&str>, extra: &[&str]) -> Answer {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["-T", file.to_str().unwrap()];
    if let Some(auth) = &auth {
        args.extend(["-H", auth.as_str()]);
    }
    args.extend(extra);
    args.push(url);
    curl(&args)
}

/// Every file of the channel (hidden ones too) with its contents' sha256.
fn snapshot(channel: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    let mut out = BTreeMap::new();
    let mut stack = vec![channel.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(channel).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, "dir".to_string());
                stack.push(path);
            } else {
                out.insert(
                    rel,
                    hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap())),
                );
            }
        }
    }
    out
}

fn token_file(dir: &Path, token: &str) -> PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Incompressible text of `len` bytes (a sha256 chain), to make a package large.
fn noise(len: usize) -> String {
    use sha2::Digest;
    let mut out = String::new();
    let mut state = sha2::Sha256::digest(b"seed");
    while out.len() < len {
        out.push_str(&hex::encode(state));
        state = sha2::Sha256::digest(state);
    }
    out.truncate(len);
    out
}

#[test]
fn static_files_answer_conditional_gets_and_nothing_outside_the_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (hello, channel) = hello_channel(dir.path());
    std::fs::write(dir.path().join("secret"), "outside").unwrap();
    let server = serve_with(&channel, &[]);
    let repodata = format!("{}/noarch/repodata.json", server.url);

    let first = curl(&[&repodata]);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(first.body.contains("hello-1.0-0.conda"), "{}", first.body);
    let etag = first.header("etag").expect("an ETag");
    let modified = first.header("last-modified").expect("a Last-Modified");

    let by_etag = curl(&["-H", &format!("If-None-Match: {etag}"), &repodata]);
    assert_eq!(by_etag.status, 304, "{}", by_etag.headers);
    assert!(by_etag.body.is_empty());
    assert_eq!(by_etag.header("etag"), Some(etag.clone()));
    let by_date = curl(&["-H", &format!("If-Modified-Since: {modified}"), &repodata]);
    assert_eq!(by_date.status, 304, "{}", by_date.headers);
    let stale = curl(&["-H", "If-None-Match: \"0-0\"", &repodata]);
    assert_eq!(stale.status, 200);

    // The package itself, byte for byte; HEAD has the headers and no body.
    let package = format!("{}/noarch/hello-1.0-0.conda", server.url);
    let fetched = dir.path().join("fetched.conda");
    let out = run(Command::new("curl")
        .args(["-sS", "-f", "-o"])
        .arg(&fetched)
        .arg(&package));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&hello).unwrap()
    );
    let head = curl(&["-I", &package]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type").as_deref(),
        Some("application/octet-stream")
    );

    // Nothing outside the channel, no hidden files, no uploads without a token.
    for path in [
        "/../secret",
        "/%2e%2e/secret",
        "/noarch/../../secret",
        "/noarch/.ftforge.lock",
    ] {
        let answer = curl(&[&format!("{}{path}", server.url)]);
        assert!(
            answer.status == 400 || answer.status == 404,
            "{path}: {}",
            answer.status
        );
        assert!(!answer.body.contains("outside"), "{path}: {}", answer.body);
    }
    let refused = put(
        &format!("{}/noarch/hello-1.0-0.conda", server.url),
        &hello,
        Some("anything"),
        &[],
    );
    assert_eq!(refused.status, 405, "{}", refused.body);
    assert!(
        refused.body.contains("--upload-token-file"),
        "{}",
        refused.body
    );
}

#[test]
fn uploads_need_the_token_are_verified_and_a_refused_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, channel) = hello_channel(dir.path());
    let pkgs = dir.path().join("pkgs");
    let token = "correct-horse-battery-staple";
    let token_path = token_file(dir.path(), token);

    // A token file other users can read is refused.
    let loose = dir.path().join("loose-token");
    std::fs::write(&loose, token).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(ftforge()
        .args(["serve", "--port", "0", "--upload-token-file"])
        .arg(&loose)
        .arg(&channel));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("readable by every"),
        "{}",
        text(&out.stderr)
    );

    let server = serve_with(
        &channel,
        &[
            "--upload-token-file",
            token_path.to_str().unwrap(),
            "--max-upload-size",
            "20000",
        ],
    );
    let world = make_package(
        &pkgs,
        "world",
        "1.0",
        "0",
        "noarch",
        &[("share/world.txt", "world")],
    );
    let world_url = format!("{}/noarch/world-1.0-0.conda", server.url);

    // Every refusal: its status, a body naming the problem, the channel untouched.
    let before = snapshot(&channel);
    let refuse = |answer: Answer, status: u16, says: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert!(
            answer.body.contains(says),
            "expected `{says}` in {}",
            answer.body
        );
        assert_eq!(
            snapshot(&channel),
            before,
            "a refused upload changed the channel"
        );
    };
    refuse(
        put(&world_url, &world, None, &[]),
        401,
        "Authorization: Bearer",
    );
    refuse(put(&world_url, &world, Some("wrong"), &[]), 403, "token");
    refuse(
        put(&world_url, &world, Some(&format!("{token}x")), &[]),
        403,
        "token",
    );

    let big_dir = dir.path().join("big");
    std::fs::create_dir(&big_dir).unwrap();
    let big = make_package(
        &big_dir,
        "big",
        "1.0",
        "0",
        "noarch",
        &[("share/big.txt", &noise(60_000))],
    );
    assert!(std::fs::metadata(&big).unwrap().len() > 20_000);
    refuse(
        put(
            &format!("{}/noarch/big-1.0-0.conda", server.url),
            &big,
            Some(token),
            &[],
        ),
        413,
        "20000 bytes",
    );
    // Without a Content-Length (chunked), the limit is enforced while receiving.
    refuse(
        put(
            &format!("{}/noarch/big-1.0-0.conda", server.url),
            &big,
            Some(token),
            &["-H", "Transfer-Encoding: chunked"],
        ),
        413,
        "20000 bytes",
    );

    // Tampered: one byte of the compressed payload flipped.
    let tampered_dir = dir.path().join("tampered");
    std::fs::create_dir(&tampered_dir).unwrap();
    let tampered = tampered_dir.join("world-1.0-0.conda");
    let mut bytes = std::fs::read(&world).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&tampered, &bytes).unwrap();
    refuse(
        put(&world_url, &tampered, Some(token), &[]),
        400,
        "not a readable conda package",
    );
    // Intact bytes, but not the ones the client said it sent.
    refuse(
        put(
            &world_url,
            &world,
            Some(token),
            &["-H", &format!("X-Sha256: {}", "0".repeat(64))],
        ),
        400,
        "sha256",
    );
    // A package under another package's name, or in another subdir.
    refuse(
        put(
            &format!("{}/noarch/world-2.0-0.conda", server.url),
            &world,
            Some(token),
            &[],
        ),
        400,
        "version 1.0",
    );
    refuse(
        put(
            &format!("{}/linux-64/world-1.0-0.conda", server.url),
            &world,
            Some(token),
            &[],
        ),
        400,
        "subdir noarch",
    );
    refuse(
        put(
            &format!("{}/nonsense/world-1.0-0.conda", server.url),
            &world,
            Some(token),
            &[],
        ),
        400,
        "not a platform subdir",
    );
    // An archive that would write outside the environment.
    let evil = make_package(
        &pkgs,
        "evil",
        "1.0",
        "0",
        "noarch",
        &[("../escaped.txt", "x")],
    );
    refuse(
        put(
            &format!("{}/noarch/evil-1.0-0.conda", server.url),
            &evil,
            Some(token),
            &[],
        ),
        400,
        "outside the environment",
    );
    // A verdict about a package the channel does not have.
    let verdict = |filename: &str| {
        serde_json::json!([{
            "package": "world", "version": "1.0", "abi": "any", "python": "",
            "freethreading": false, "verdict": "pure-python", "filename": filename,
            "subdir": "noarch", "reason": "uploaded by the test", "evidence": {},
            "recorded_at": "2026-01-01T00:00:00Z"
        }])
        .to_string()
    };
    let compat_url = format!("{}/ftforge/compat", server.url);
    let auth = format!("Authorization: Bearer {token}");
    refuse(
        curl(&[
            "-X",
            "POST",
            "-H",
            &auth,
            "--data-binary",
            &verdict("world-1.0-0.conda"),
            &compat_url,
        ]),
        400,
        "upload the package first",
    );
    refuse(
        curl(&[
            "-X",
            "POST",
            "--data-binary",
            &verdict("world-1.0-0.conda"),
            &compat_url,
        ]),
        401,
        "Authorization",
    );

    // The real upload path: `ftforge publish --channel http://…`.
    let publish = |package: &Path, force: bool| {
        let mut cmd = ftforge();
        cmd.arg("publish")
            .arg(package)
            .args(["--channel", &server.url, "--upload-token-file"])
            .arg(&token_path);
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd)
    };
    let out = publish(&world, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "added      noarch/world-1.0-0.conda"
    );
    let repodata = std::fs::read_to_string(channel.join("noarch/repodata.json")).unwrap();
    assert!(repodata.contains("world-1.0-0.conda"), "{repodata}");
    assert!(channel.join("label/gil/noarch/world-1.0-0.conda").is_file());

    // The same content again changes nothing.
    let published = snapshot(&channel);
    let out = publish(&world, false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "unchanged  noarch/world-1.0-0.conda"
    );
    let again = put(&world_url, &world, Some(token), &[]);
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(again.body.contains("\"unchanged\""), "{}", again.body);
    assert_eq!(snapshot(&channel), published);

    // Other content under the same name: 409, unless forced.
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let changed = make_package(
        &other_dir,
        "world",
        "1.0",
        "0",
        "noarch",
        &[("share/world.txt", "another world")],
    );
    let out = publish(&changed, false);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("409") && stderr.contains("different content"),
        "{stderr}"
    );
    assert_eq!(snapshot(&channel), published);
    let out = publish(&changed, true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "replaced   noarch/world-1.0-0.conda"
    );

    // Its verdict and its build report, now that it is published.
    let recorded = curl(&[
        "-X",
        "POST",
        "-H",
        &auth,
        "--data-binary",
        &verdict("world-1.0-0.conda"),
        &compat_url,
    ]);
    assert_eq!(recorded.status, 200, "{}", recorded.body);
    assert!(compat(&channel)["records"]
        .as_object()
        .unwrap()
        .keys()
        .any(|k| k.starts_with("world/1.0")));
    let report = curl(&[
        "-X",
        "PUT",
        "-H",
        &auth,
        "--data-binary",
        "{\"key\": \"k1\"}",
        &format!("{}/ftforge/builds/k1.json", server.url),
    ]);
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(channel.join("ftforge/builds/k1.json").is_file());

    // An independent client installs what was uploaded, over HTTP.
    let prefix = dir.path().join("env");
    py_rattler_install(&server.url, &prefix, &["world"]);
    assert_eq!(
        std::fs::read_to_string(prefix.join("share/world.txt")).unwrap(),
        "another world"
    );
}
