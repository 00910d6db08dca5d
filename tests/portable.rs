//! The interpreter runs on machines it was not built on: installed by py-rattler, every
//! ELF file's libraries resolve inside the environment or to the C runtime; the
//! interpreter imports its C modules and speaks TLS inside a root file system that has
//! glibc and nothing else; the packages declare the glibc they need, and a client on an
//! older glibc is refused. Also: a recipe that asks for the overlinking check fails
//! when its library links one of the machine's.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// The C runtime an environment may take from the machine (the glibc family), written
/// out here from the issue rather than taken from `builder::linkage::C_RUNTIME`, so that
/// a too-generous list there cannot make this test pass.
const C_RUNTIME: &[&str] = &[
    "linux-vdso.so.1",
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
];

/// One environment per ABI, installed by py-rattler from the shared channel.
fn environment(tag: &str) -> PathBuf {
    static ENVS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut envs = ENVS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = envs.iter().find(|(t, _)| t == tag) {
        return p.clone();
    }
    let channel = interpreter_channel();
    let prefix = test_cache().join("portable").join(format!("env-{tag}"));
    let _ = std::fs::remove_dir_all(&prefix);
    let spec = format!("python 3.14.* *_{tag}");
    let solved = py_rattler_install(channel.to_str().unwrap(), &prefix, &[spec.as_str()]);
    let names: Vec<&str> = solved["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for lib in [
        "openssl",
        "sqlite",
        "tk",
        "xorg-libx11",
        "ncurses",
        "libffi",
        "zlib",
    ] {
        assert!(names.contains(&lib), "{tag}: {lib} not in {names:?}");
    }
    envs.push((tag.to_string(), prefix.clone()));
    prefix
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"\x7fELF"
}

/// Every library `ldd` resolves for `file` (with LD_LIBRARY_PATH unset) that is neither
/// inside `prefix` nor the C runtime, as `file: line`.
fn foreign_libraries(prefix: &Path, file: &Path) -> Vec<String> {
    let out = Command::new("ldd")
        .arg(file)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("ldd runs");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    if stdout.contains("not a dynamic executable") || stderr.contains("not a dynamic executable") {
        return Vec::new();
    }
    if !out.status.success() {
        return vec![format!("{}: ldd failed: {stderr}", file.display())];
    }
    // A shared object that needs no library at all.
    if stdout.trim() == "statically linked" {
        return Vec::new();
    }
    let prefix = prefix.to_string_lossy();
    let mut bad = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let name = line.split_whitespace().next().unwrap_or_default();
        let base = name.rsplit('/').next().unwrap_or(name);
        let resolved = line
            .split("=> ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or(name);
        let ok = if line.contains("not found") {
            false
        } else {
            resolved.starts_with(prefix.as_ref()) || C_RUNTIME.contains(&base)
        };
        if !ok {
            bad.push(format!("{}: {line}", file.display()));
        }
    }
    bad
}

#[test]
fn every_library_of_an_installed_environment_resolves_inside_it_or_to_glibc() {
    for tag in ["cp314t", "cp314"] {
        let prefix = environment(tag);
        let mut checked = 0;
        let mut bad = Vec::new();
        for entry in walkdir::WalkDir::new(&prefix) {
            let entry = entry.unwrap();
            if !is_elf(entry.path()) {
                continue;
            }
            checked += 1;
            bad.extend(foreign_libraries(&prefix, entry.path()));
        }
        assert!(
            bad.is_empty(),
            "{tag}: libraries from outside the environment:\n{}",
            bad.join("\n")
        );
        // The interpreter, libpython, ~70 stdlib modules and the libraries' own files.
        assert!(checked > 80, "{tag}: only {checked} ELF files");
        eprintln!("{tag}: {checked} ELF files, each resolves inside the environment or to glibc");
    }
}

/// A root file system made of the machine's glibc package and nothing else.
fn glibc_only_root(root: &Path) {
    let out = run(Command::new("dpkg").args(["-L", "libc6"]));
    assert!(out.status.success(), "dpkg -L libc6: {}", text(&out.stderr));
    let mut copied = 0;
    for line in text(&out.stdout).lines() {
        let src = Path::new(line);
        let Ok(meta) = std::fs::symlink_metadata(src) else {
            continue;
        };
        // Directories (and, on merged-/usr systems, symlinks to them such as /lib64)
        // become real directories of the root as files are copied into them.
        if std::fs::metadata(src).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let dest = root.join(line.trim_start_matches('/'));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src).unwrap();
            let _ = std::fs::remove_file(&dest);
            std::os::unix::fs::symlink(target, &dest).unwrap();
        } else {
            std::fs::copy(src, &dest).unwrap();
        }
        copied += 1;
    }
    assert!(copied > 10, "libc6 has {copied} files");
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    for lib in [
        "libssl.so.3",
        "libsqlite3.so.0",
        "libffi.so.8",
        "libX11.so.6",
        "libtcl8.6.so",
    ] {
        assert!(
            !walkdir::WalkDir::new(root)
                .into_iter()
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy() == lib),
            "{lib} is in the glibc-only root"
        );
    }
}

/// A CA and a server certificate for localhost signed by it, made with openssl.
fn make_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = run(Command::new("openssl").args(args).current_dir(dir));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ftforge test CA",
        // What Python's strict verification (VERIFY_X509_STRICT, 3.13+) asks of a CA.
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nauthorityKeyIdentifier=keyid\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A TLS server on 127.0.0.1 (the machine's Python) answering `pong <line>`.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server(cert: &Path, key: &Path) -> TlsServer {
    let script = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.create_server(("127.0.0.1", 0))
print(srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"pong " + tls.recv(100))
    except Exception as e:
        print("server:", e, file=sys.stderr, flush=True)
"#;
    let mut child = Command::new(host_python())
        .arg("-c")
        .arg(script)
        .arg(cert)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the machine's python starts");
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server prints its port");
    TlsServer { child, port }
}

/// What the interpreter checks inside the root: every module the issue names imports,
/// TLS to the test's server verifies against the test's CA, and the GIL state.
const IN_ROOT: &str = r#"
import json, socket, ssl, sys
import sqlite3, ctypes, zlib, bz2, lzma, readline, curses, decimal, uuid, pyexpat, tkinter
import _decimal, _uuid, _ctypes, _tkinter, _curses, _sqlite3, _hashlib
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"ping")
        reply = tls.recv(100).decode()
conn = sqlite3.connect(":memory:")
print(json.dumps({
    "gil": sys._is_gil_enabled(),
    "reply": reply,
    "openssl": ssl.OPENSSL_VERSION,
    "sqlite": sqlite3.sqlite_version,
    "tk": _tkinter.TK_VERSION,
    "zlib": zlib.ZLIB_RUNTIME_VERSION,
    "decimal": decimal.Decimal(1) / decimal.Decimal(7) == decimal.Decimal("0.1428571428571428571428571429"),
    "ctypes": ctypes.CDLL(None).strlen(b"four"),
}))
"#;

#[test]
fn the_interpreter_runs_in_a_root_that_has_only_glibc() {
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_ca(work.path());
    let server = tls_server(&cert, &key);
    for (tag, gil) in [("cp314t", false), ("cp314", true)] {
        let prefix = environment(tag);
        let root = work.path().join(format!("root-{tag}"));
        glibc_only_root(&root);
        // The environment at the same absolute path inside the root, as installed.
        let inside = root.join(prefix.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        let out = run(Command::new("cp").arg("-a").arg(&prefix).arg(&inside));
        assert!(out.status.success(), "cp: {}", text(&out.stderr));
        std::fs::copy(&ca, root.join("ca.pem")).unwrap();
        // /proc, as on any running Linux system: the loader reads /proc/self/exe to
        // expand `$ORIGIN` for the main program (bin/python → $ORIGIN/../lib). It is
        // mounted in a mount namespace of its own, then the root is entered.
        std::fs::create_dir_all(root.join("proc")).unwrap();
        let out = run(Command::new("unshare")
            .args(["--mount", "--fork", "--", "/bin/sh", "-c"])
            .arg("mount -t proc proc \"$0/proc\" && exec chroot \"$0\" \"$@\"")
            .arg(&root)
            .arg(prefix.join("bin/python"))
            .args(["-c", IN_ROOT, "/ca.pem", &server.port.to_string()])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8"));
        assert!(
            out.status.success(),
            "{tag} inside a glibc-only root ({}):\n{}\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        let got: serde_json::Value =
            serde_json::from_str(text(&out.stdout).trim()).expect("one JSON line");
        eprintln!("{tag} in a glibc-only root: {got}");
        assert_eq!(got["gil"], gil, "{got}");
        assert_eq!(got["reply"], "pong ping", "{got}");
        assert_eq!(got["decimal"], true, "{got}");
        assert_eq!(got["ctypes"], 4, "{got}");
        // This channel's OpenSSL and SQLite, not the build machine's (3.0 and 3.40).
        assert!(got["openssl"].as_str().unwrap().contains("3.5."), "{got}");
        assert!(
            got["sqlite"].as_str().unwrap().starts_with("3.46."),
            "{got}"
        );
    }
}

#[test]
fn packages_declare_their_glibc_and_older_systems_are_refused() {
    let (channel, reports) = interpreter_build();
    // The files this commit's interpreter build made or reused (the shared channel may
    // hold older builds too).
    let built: Vec<String> = reports
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["outputs"].as_array().unwrap().iter())
        .map(|o| o["filename"].as_str().unwrap().to_string())
        .collect();
    let repodata: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(channel.join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    // This build's pythons and the libraries they depend on.
    let pythons: Vec<PathBuf> = built
        .iter()
        .filter(|f| f.starts_with("python-3.14.7"))
        .map(|f| channel.join("linux-64").join(f))
        .collect();
    let current: Vec<String> = with_dependencies(&channel, pythons.clone())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut floors = Vec::new();
    for (file, record) in repodata["packages.conda"].as_object().unwrap() {
        let name = record["name"].as_str().unwrap();
        if !current.contains(file) || !["python", "openssl", "tk", "sqlite"].contains(&name) {
            continue;
        }
        let glibc: Vec<&str> = record["depends"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d.as_str())
            .filter(|d| d.starts_with("__glibc "))
            .collect();
        assert_eq!(glibc.len(), 1, "{file}: {:?}", record["depends"]);
        let version = glibc[0].trim_start_matches("__glibc >=");
        let minor: u32 = version.split('.').nth(1).unwrap().parse().unwrap();
        assert!((17..=36).contains(&minor), "{file}: {}", glibc[0]);
        floors.push((file.clone(), glibc[0].to_string()));
    }
    assert_eq!(
        floors.len(),
        5,
        "2 pythons, openssl, tk, sqlite: {floors:?}"
    );
    eprintln!("glibc floors: {floors:?}");
    // A channel with just these packages (the shared one may hold older builds).
    let dir = tempfile::tempdir().unwrap();
    let mut files = with_dependencies(&channel, pythons);
    files.extend(
        std::fs::read_dir(channel.join("noarch"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("python_abi-3.14-")
            }),
    );
    let out = run(ftforge()
        .arg("publish")
        .args(&files)
        .arg("-c")
        .arg(dir.path().join("channel")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let channel = dir.path().join("channel");

    // py-rattler with the machine's glibc reported as 2.17 refuses to solve; with the
    // machine's own glibc it solves.
    let prefix = tempfile::tempdir().unwrap();
    py_rattler_install(
        channel.to_str().unwrap(),
        &prefix.path().join("ok"),
        &["python 3.14.* *_cp314t"],
    );
    let out = run(Command::new(host_python())
        .arg(repo_root().join("tests/support/py_rattler_install.py"))
        .arg(&channel)
        .arg(prefix.path().join("old"))
        .arg("python 3.14.* *_cp314t")
        .env("CONDA_OVERRIDE_GLIBC", "2.17"));
    assert!(
        !out.status.success(),
        "solved on glibc 2.17: {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("__glibc"), "{stderr}");
    // So does ftforge's own installer.
    let out = run(ftforge()
        .args(["install", "--channel"])
        .arg(&channel)
        .arg("--prefix")
        .arg(prefix.path().join("env"))
        .arg("python 3.14.* *_cp314t")
        .env("CONDA_OVERRIDE_GLIBC", "2.17"));
    assert!(!out.status.success(), "ftforge installed on glibc 2.17");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("__glibc"), "{stderr}");
}

/// A library linking the machine's zlib: with `overlinking_behavior: error` the build
/// fails naming the file and the library; without it, it builds (and its rpath is
/// made relative). Needs no interpreter.
#[test]
fn overlinking_is_refused_when_the_recipe_asks() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channel");
    let recipe = |name: &str, check: bool| {
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let linking = if check {
            "  dynamic_linking:\n    overlinking_behavior: error\n"
        } else {
            ""
        };
        std::fs::write(
            folder.join("recipe.yaml"),
            format!(
                "schema_version: 1\npackage:\n  name: {name}\n  version: \"1.0\"\nbuild:\n  number: 0\n{linking}  script:\n    - mkdir -p $PREFIX/lib\n    - printf '#include <zlib.h>\\nconst char *v(void) {{ return zlibVersion(); }}\\n' > v.c\n    - cc -shared -fPIC -o $PREFIX/lib/lib{name}.so v.c -lz -Wl,-rpath,$PREFIX/lib\nrequirements:\n  build:\n    - ${{{{ compiler('c') }}}}\n"
            ),
        )
        .unwrap();
        folder
    };
    let build = |folder: &Path| {
        run(ftforge()
            .arg("build")
            .arg(folder)
            .args(["--fail-on", "build-failed"])
            .arg("--channel")
            .arg(&channel)
            .arg("--work-dir")
            .arg(dir.path().join("work")))
    };
    // A failing package is a result (`build-failed`), which --fail-on turns into exit 3.
    let out = build(&recipe("checked", true));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("lib/libchecked.so: needs libz.so.1"), "{all}");
    assert!(all.contains("missing_dso_allowlist"), "{all}");

    let out = build(&recipe("unchecked", false));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{all}");
    // Installed elsewhere, its rpath points next to itself, not into the build prefix.
    let prefix = dir.path().join("env");
    let out = run(ftforge()
        .args(["install", "--channel"])
        .arg(&channel)
        .arg("--prefix")
        .arg(&prefix)
        .arg("unchecked"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(Command::new("readelf")
        .arg("-d")
        .arg(prefix.join("lib/libunchecked.so")));
    let dynamic = text(&out.stdout);
    assert!(dynamic.contains("Library rpath: [$ORIGIN]"), "{dynamic}");
}
