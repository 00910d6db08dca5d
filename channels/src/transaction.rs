//! Changing a prefix all or nothing. Before rattler's installer touches an environment,
//! every entry of it is hard-linked into a snapshot under `conda-meta/ftforge-transaction/`
//! (the installer replaces files, it never writes into them, so the snapshot keeps the old
//! contents: files, symlinks and `conda-meta` records alike). If the installer fails, or the
//! process dies while it links, the snapshot is put back and the prefix is exactly what it
//! was. Once the installer has finished, the journal says so and the snapshot is dropped;
//! a process that dies after that point leaves a complete install, and the next one only
//! removes the snapshot.
//!
//! Test hook: `FTFORGE_TEST_ABORT_AFTER_LINKED=N` aborts the process (SIGABRT, no cleanup)
//! as soon as the installer has linked N packages, so tests can interrupt an install at a
//! known point. It exists for tests only.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rattler_conda_types::{MatchSpec, PrefixRecord, RepoDataRecord};

/// The journal of an install in progress, relative to the prefix.
pub const JOURNAL_DIR: &str = "conda-meta/ftforge-transaction";
/// The advisory lock that keeps two ftforge installs out of one prefix at a time.
pub const LOCK_FILE: &str = "conda-meta/ftforge-transaction.lock";
/// The test hook's environment variable (see the module documentation).
pub const ABORT_HOOK: &str = "FTFORGE_TEST_ABORT_AFTER_LINKED";

const JOURNAL_FILE: &str = "journal.json";
const SNAPSHOT_DIR: &str = "snapshot";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TransactionError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a journal ftforge can read: {message}", path.display())]
    #[diagnostic(help(
        "it was left by an interrupted install; move it away to use the environment as it is"
    ))]
    BadJournal { path: PathBuf, message: String },
    #[error("cannot read the package records of {}: {source}", prefix.display())]
    Records {
        prefix: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} changed while this install was being planned", prefix.display())]
    #[diagnostic(help("another install ran into it at the same time; run this one again"))]
    Changed { prefix: PathBuf },
    #[error("cannot link the environment into {}; it was rolled back to what it held before", prefix.display())]
    Install {
        prefix: PathBuf,
        #[source]
        source: Box<rattler::install::InstallerError>,
    },
    #[error("cannot link the environment into {} ({install}), and putting it back failed", prefix.display())]
    #[diagnostic(help(
        "the snapshot of the environment is kept under conda-meta/ftforge-transaction; the next `ftforge install` into it tries the rollback again"
    ))]
    RollbackFailed {
        prefix: PathBuf,
        install: String,
        #[source]
        source: Box<TransactionError>,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TransactionError {
    let path = path.to_path_buf();
    move |source| TransactionError::Io {
        action,
        path,
        source,
    }
}

/// What the recovery of an interrupted install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// The install died before it changed anything; its partial snapshot was dropped.
    Discarded,
    /// The install died while linking; the prefix was put back exactly as it was.
    RolledBack,
    /// The install died after linking everything; only its snapshot was left to remove.
    Completed,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Recovery::Discarded => "discarded before it changed anything",
            Recovery::RolledBack => "rolled back",
            Recovery::Completed => "completed",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum State {
    /// The snapshot is being written; the prefix is untouched.
    Snapshotting,
    /// The snapshot is complete; the installer may have changed the prefix.
    Linking,
    /// The installer finished; the snapshot is no longer needed.
    Committed,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Journal {
    state: State,
}

/// Holds the prefix's install lock until dropped.
struct PrefixLock(#[allow(dead_code)] File);

fn lock(prefix: &Path) -> Result<PrefixLock, TransactionError> {
    let meta = prefix.join("conda-meta");
    std::fs::create_dir_all(&meta).map_err(io_err("create", &meta))?;
    let path = prefix.join(LOCK_FILE);
    let file = crate::layout::lock_file(&path)
        .map_err(|(action, source)| io_err(action, &path)(source))?;
    Ok(PrefixLock(file))
}

fn write_journal(dir: &Path, state: State) -> Result<(), TransactionError> {
    let path = dir.join(JOURNAL_FILE);
    let tmp = dir.join(format!("{JOURNAL_FILE}.tmp"));
    let bytes =
        serde_json::to_vec(&Journal { state }).map_err(|e| TransactionError::BadJournal {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let mut file = File::create(&tmp).map_err(io_err("write", &tmp))?;
    file.write_all(&bytes).map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("write", &path))
}

fn read_state(dir: &Path) -> Result<State, TransactionError> {
    let path = dir.join(JOURNAL_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Journal>(&bytes)
            .map(|j| j.state)
            .map_err(|e| TransactionError::BadJournal {
                path,
                message: e.to_string(),
            }),
        // Died before the journal was written: nothing had been changed yet.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::Snapshotting),
        Err(e) => Err(io_err("read", &path)(e)),
    }
}

/// Finishes what an interrupted install left in `prefix`: rolls it back if it died while
/// linking, otherwise drops its journal. `None` when there was nothing to recover.
pub fn recover(prefix: &Path) -> Result<Option<Recovery>, TransactionError> {
    if !prefix.join(JOURNAL_DIR).exists() {
        return Ok(None);
    }
    let _lock = lock(prefix)?;
    recover_locked(prefix)
}

fn recover_locked(prefix: &Path) -> Result<Option<Recovery>, TransactionError> {
    let dir = prefix.join(JOURNAL_DIR);
    if !dir.exists() {
        return Ok(None);
    }
    let recovery = match read_state(&dir)? {
        State::Snapshotting => Recovery::Discarded,
        State::Linking => {
            restore(prefix, &dir.join(SNAPSHOT_DIR))?;
            Recovery::RolledBack
        }
        State::Committed => Recovery::Completed,
    };
    drop_journal(&dir)?;
    Ok(Some(recovery))
}

/// Removes the journal: its state file first, so that a process dying while the snapshot
/// is deleted never leaves a `linking` journal with half a snapshot behind.
fn drop_journal(dir: &Path) -> Result<(), TransactionError> {
    let journal = dir.join(JOURNAL_FILE);
    match std::fs::remove_file(&journal) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("remove", &journal)(e)),
    }
    std::fs::remove_dir_all(dir).map_err(io_err("remove", dir))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let t = meta.file_type();
    Some(if t.is_dir() {
        Kind::Dir
    } else if t.is_symlink() {
        Kind::Symlink
    } else {
        Kind::File
    })
}

/// The entries of the prefix that belong to the transaction machinery, not to the
/// environment: never snapshotted, never rolled back.
fn is_machinery(rel: &Path) -> bool {
    rel == Path::new(JOURNAL_DIR) || rel == Path::new(LOCK_FILE)
}

fn entries(dir: &Path) -> Result<Vec<(std::ffi::OsString, Kind)>, TransactionError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("read", dir))? {
        let entry = entry.map_err(io_err("read", dir))?;
        let t = entry.file_type().map_err(io_err("read", &entry.path()))?;
        let kind = if t.is_dir() {
            Kind::Dir
        } else if t.is_symlink() {
            Kind::Symlink
        } else {
            Kind::File
        };
        out.push((entry.file_name(), kind));
    }
    Ok(out)
}

/// Copies `from` to `to` as a new directory entry for the same file: a hard link for
/// regular files (a copy where the filesystem has none), a new symlink for symlinks.
fn keep(from: &Path, to: &Path, kind: Kind) -> Result<(), TransactionError> {
    match kind {
        Kind::Symlink => {
            let target = std::fs::read_link(from).map_err(io_err("read", from))?;
            symlink(&target, to).map_err(io_err("create", to))
        }
        Kind::File => match std::fs::hard_link(from, to) {
            Ok(()) => Ok(()),
            Err(_) => std::fs::copy(from, to)
                .map(|_| ())
                .map_err(io_err("copy", from)),
        },
        Kind::Dir => std::fs::create_dir(to).map_err(io_err("create", to)),
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}

/// Hard-links every entry of `prefix` (but the machinery) into `snapshot`.
fn snapshot(prefix: &Path, snapshot: &Path) -> Result<(), TransactionError> {
    fn walk(prefix: &Path, snapshot: &Path, rel: &Path) -> Result<(), TransactionError> {
        for (name, kind) in entries(&prefix.join(rel))? {
            let rel = rel.join(&name);
            if is_machinery(&rel) {
                continue;
            }
            keep(&prefix.join(&rel), &snapshot.join(&rel), kind)?;
            if kind == Kind::Dir {
                walk(prefix, snapshot, &rel)?;
            }
        }
        Ok(())
    }
    std::fs::create_dir(snapshot).map_err(io_err("create", snapshot))?;
    walk(prefix, snapshot, Path::new(""))
}

/// Whether two paths are the same file (regular files) or the same link (symlinks).
fn same(a: &Path, b: &Path, kind: Kind) -> bool {
    match kind {
        Kind::Symlink => match (std::fs::read_link(a), std::fs::read_link(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        Kind::File => same_inode(a, b),
        Kind::Dir => true,
    }
}

#[cfg(unix)]
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(a), std::fs::symlink_metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_: &Path, _: &Path) -> bool {
    false
}

/// Makes `prefix` hold exactly what `snapshot` holds (the machinery aside). The snapshot
/// is only read, so a restore that dies half-way is simply run again.
fn restore(prefix: &Path, snapshot: &Path) -> Result<(), TransactionError> {
    // What the install added, or changed into something of another kind, goes.
    fn prune(prefix: &Path, snapshot: &Path, rel: &Path) -> Result<(), TransactionError> {
        for (name, kind) in entries(&prefix.join(rel))? {
            let rel = rel.join(&name);
            if is_machinery(&rel) {
                continue;
            }
            let here = prefix.join(&rel);
            let before = kind_of(&snapshot.join(&rel));
            match (kind, before) {
                (Kind::Dir, Some(Kind::Dir)) => prune(prefix, snapshot, &rel)?,
                (Kind::Dir, _) => {
                    std::fs::remove_dir_all(&here).map_err(io_err("remove", &here))?
                }
                (_, Some(Kind::File | Kind::Symlink)) if before == Some(kind) => {}
                _ => std::fs::remove_file(&here).map_err(io_err("remove", &here))?,
            }
        }
        Ok(())
    }
    // What the install removed or replaced comes back.
    fn put_back(prefix: &Path, snapshot: &Path, rel: &Path) -> Result<(), TransactionError> {
        for (name, kind) in entries(&snapshot.join(rel))? {
            let rel = rel.join(&name);
            let (kept, here) = (snapshot.join(&rel), prefix.join(&rel));
            if kind == Kind::Dir {
                if kind_of(&here).is_none() {
                    std::fs::create_dir(&here).map_err(io_err("create", &here))?;
                }
                put_back(prefix, snapshot, &rel)?;
                continue;
            }
            if kind_of(&here) == Some(kind) && same(&kept, &here, kind) {
                continue;
            }
            // Beside it first, then renamed over it: the prefix never lacks the file.
            let tmp = here.with_file_name(format!(".ftforge-restore-{}", name.to_string_lossy()));
            if kind_of(&tmp).is_some() {
                std::fs::remove_file(&tmp).map_err(io_err("remove", &tmp))?;
            }
            keep(&kept, &tmp, kind)?;
            std::fs::rename(&tmp, &here).map_err(io_err("restore", &here))?;
        }
        Ok(())
    }
    prune(prefix, snapshot, Path::new(""))?;
    put_back(prefix, snapshot, Path::new(""))
}

/// The package records a prefix holds (`conda-meta/*.json`).
pub fn installed(prefix: &Path) -> Result<Vec<PrefixRecord>, TransactionError> {
    PrefixRecord::collect_from_prefix::<PrefixRecord>(prefix).map_err(|source| {
        TransactionError::Records {
            prefix: prefix.to_path_buf(),
            source,
        }
    })
}

fn identities(records: &[PrefixRecord]) -> Vec<(String, Option<String>)> {
    let mut ids: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.file_name(),
                r.repodata_record.package_record.sha256.map(hex::encode),
            )
        })
        .collect();
    ids.sort();
    ids
}

/// What one install does to a prefix.
#[derive(Debug, Clone)]
pub struct Link {
    /// The whole environment wanted; packages to be installed with local, verified files.
    pub records: Vec<RepoDataRecord>,
    /// Every spec the environment was asked for, stored in the package records
    /// (`requested_specs`) so the next install keeps them. `None` leaves them as they are.
    pub requested_specs: Option<Vec<MatchSpec>>,
    /// The package records the install was planned against: the link is refused when the
    /// prefix holds others by the time it runs. `None` takes whatever is there.
    pub expected: Option<Vec<PrefixRecord>>,
}

/// Links `records` (local, already verified files) into `prefix`, all or nothing.
pub async fn link(
    prefix: &Path,
    records: Vec<RepoDataRecord>,
    package_cache: &Path,
) -> Result<(), TransactionError> {
    apply(
        prefix,
        Link {
            records,
            requested_specs: None,
            expected: None,
        },
        package_cache,
    )
    .await
    .map(|_| ())
}

/// Turns `prefix` into `link.records` under a journal: either the whole change happens or
/// the prefix stays as it was (see the module documentation). Returns what the recovery
/// of an earlier interrupted install did, if there was one.
pub async fn apply(
    prefix: &Path,
    link: Link,
    package_cache: &Path,
) -> Result<Option<Recovery>, TransactionError> {
    let _lock = lock(prefix)?;
    let recovered = recover_locked(prefix)?;
    let installed = installed(prefix)?;
    if let Some(expected) = &link.expected {
        if identities(expected) != identities(&installed) {
            return Err(TransactionError::Changed {
                prefix: prefix.to_path_buf(),
            });
        }
    }
    let dir = prefix.join(JOURNAL_DIR);
    std::fs::create_dir(&dir).map_err(io_err("create", &dir))?;
    write_journal(&dir, State::Snapshotting)?;
    snapshot(prefix, &dir.join(SNAPSHOT_DIR))?;
    write_journal(&dir, State::Linking)?;

    // One install at a time per package cache, from forgetting stale entries to writing
    // the marks: otherwise another process's install could remove an entry this one is
    // still extracting or linking (its mark is written only once it is done).
    // Waited for off the async workers: an install holding it awaits work of its own.
    let lock_path = package_cache.join(CACHE_LOCK);
    let _cache_lock = match std::fs::create_dir_all(package_cache) {
        Ok(()) => tokio::task::spawn_blocking(move || crate::layout::lock_file(&lock_path).ok())
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    forget_stale_cache_entries(package_cache, &link.records);
    let shas: Vec<(String, String)> = link
        .records
        .iter()
        .filter_map(|r| Some((cache_entry_name(r), hex::encode(r.package_record.sha256?))))
        .collect();
    let mut installer = rattler::install::Installer::new()
        .with_package_cache(rattler_cache::package_cache::PackageCache::new(
            package_cache,
        ))
        .with_installed_packages(installed);
    if let Some(specs) = link.requested_specs {
        installer = installer.with_requested_specs(specs);
    }
    if let Some(after) = std::env::var(ABORT_HOOK)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        installer = installer.with_reporter(AbortAfterLinked {
            after,
            linked: AtomicUsize::new(0),
        });
    }
    if let Err(e) = installer.install(prefix, link.records).await {
        let install = e.to_string();
        return Err(match recover_locked(prefix) {
            Ok(_) => TransactionError::Install {
                prefix: prefix.to_path_buf(),
                source: Box::new(e),
            },
            Err(rollback) => TransactionError::RollbackFailed {
                prefix: prefix.to_path_buf(),
                install,
                source: Box::new(rollback),
            },
        });
    }
    write_journal(&dir, State::Committed)?;
    drop_journal(&dir)?;

    let marks = package_cache.join(MARKS);
    if std::fs::create_dir_all(&marks).is_ok() {
        for (name, sha) in shas {
            let _ = std::fs::write(marks.join(name), sha);
        }
    }
    Ok(recovered)
}

/// The test hook: aborts the process once `after` packages are linked.
struct AbortAfterLinked {
    after: usize,
    linked: AtomicUsize,
}

impl rattler::install::Reporter for AbortAfterLinked {
    fn on_transaction_start(
        &self,
        _: &rattler::install::Transaction<PrefixRecord, RepoDataRecord>,
    ) {
    }
    fn on_transaction_operation_start(&self, _: usize) {}
    fn on_populate_cache_start(&self, _: usize, _: &RepoDataRecord) -> usize {
        0
    }
    fn on_validate_start(&self, _: usize) -> usize {
        0
    }
    fn on_validate_complete(&self, _: usize) {}
    fn on_download_start(&self, _: usize) -> usize {
        0
    }
    fn on_download_progress(&self, _: usize, _: u64, _: Option<u64>) {}
    fn on_download_completed(&self, _: usize) {}
    fn on_populate_cache_complete(&self, _: usize) {}
    fn on_unlink_start(&self, _: usize, _: &PrefixRecord) -> usize {
        0
    }
    fn on_unlink_complete(&self, _: usize) {}
    fn on_link_start(&self, _: usize, _: &RepoDataRecord) -> usize {
        0
    }
    fn on_link_complete(&self, _: usize) {
        if self.linked.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            std::process::abort();
        }
    }
    fn on_transaction_operation_complete(&self, _: usize) {}
    fn on_transaction_complete(&self) {}
    fn on_post_link_start(&self, _: &str, _: &str) -> usize {
        0
    }
    fn on_post_link_complete(&self, _: usize, _: bool) {}
    fn on_pre_unlink_start(&self, _: &str, _: &str) -> usize {
        0
    }
    fn on_pre_unlink_complete(&self, _: usize, _: bool) {}
}

/// Where ftforge notes the sha256 each package-cache entry was extracted from.
const MARKS: &str = ".ftforge-sha256";
/// The lock file serializing installs that share a package cache.
const CACHE_LOCK: &str = ".ftforge-cache.lock";

fn cache_entry_name(record: &RepoDataRecord) -> String {
    let name = record.identifier.to_string();
    name.trim_end_matches(".conda")
        .trim_end_matches(".tar.bz2")
        .to_string()
}

/// A package rebuilt under the same file name has other contents than the extracted
/// entry rattler's cache keeps by name: drop entries whose recorded sha256 differs (or
/// was never recorded by us), so the installer extracts the package at hand.
fn forget_stale_cache_entries(package_cache: &Path, records: &[RepoDataRecord]) {
    for record in records {
        let Some(sha) = record.package_record.sha256.map(hex::encode) else {
            continue;
        };
        let name = cache_entry_name(record);
        let entry = package_cache.join(&name);
        if !entry.exists() {
            continue;
        }
        let noted =
            std::fs::read_to_string(package_cache.join(MARKS).join(&name)).unwrap_or_default();
        if noted.trim() != sha {
            let _ = std::fs::remove_dir_all(&entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> Vec<(PathBuf, String)> {
        fn walk(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, String)>) {
            for (name, kind) in entries(&root.join(rel)).unwrap() {
                let rel = rel.join(name);
                if is_machinery(&rel) {
                    continue;
                }
                let full = root.join(&rel);
                let what = match kind {
                    Kind::Dir => {
                        walk(root, &rel, out);
                        "dir".to_string()
                    }
                    Kind::Symlink => format!("-> {}", std::fs::read_link(&full).unwrap().display()),
                    Kind::File => std::fs::read_to_string(&full).unwrap(),
                };
                out.push((rel, what));
            }
        }
        let mut out = Vec::new();
        walk(root, Path::new(""), &mut out);
        out.sort();
        out
    }

    /// A prefix as an install leaves it half-way: files removed, replaced (a new file at
    /// the old path), added, a directory added and one removed, a symlink retargeted.
    #[test]
    fn a_linking_journal_puts_back_exactly_what_the_prefix_held() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in ["conda-meta", "lib/pkg", "share/gone"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("conda-meta/a-1-0.json"), "{\"a\": 1}").unwrap();
        std::fs::write(p.join("lib/pkg/mod.py"), "old").unwrap();
        std::fs::write(p.join("lib/removed.py"), "removed").unwrap();
        std::fs::write(p.join("share/gone/x"), "x").unwrap();
        symlink(Path::new("pkg/mod.py"), &p.join("lib/link")).unwrap();
        let before = tree(p);

        let journal = p.join(JOURNAL_DIR);
        std::fs::create_dir(&journal).unwrap();
        write_journal(&journal, State::Snapshotting).unwrap();
        snapshot(p, &journal.join(SNAPSHOT_DIR)).unwrap();
        write_journal(&journal, State::Linking).unwrap();

        // What an installer does: it replaces, never writes into a file.
        std::fs::remove_file(p.join("lib/pkg/mod.py")).unwrap();
        std::fs::write(p.join("lib/pkg/mod.py"), "new").unwrap();
        std::fs::remove_file(p.join("lib/removed.py")).unwrap();
        std::fs::remove_dir_all(p.join("share/gone")).unwrap();
        std::fs::create_dir_all(p.join("share/added")).unwrap();
        std::fs::write(p.join("share/added/y"), "y").unwrap();
        std::fs::remove_file(p.join("lib/link")).unwrap();
        symlink(Path::new("elsewhere"), &p.join("lib/link")).unwrap();
        std::fs::remove_file(p.join("conda-meta/a-1-0.json")).unwrap();
        std::fs::write(p.join("conda-meta/a-2-0.json"), "{\"a\": 2}").unwrap();
        assert_ne!(tree(p), before);

        assert_eq!(recover(p).unwrap(), Some(Recovery::RolledBack));
        assert_eq!(tree(p), before);
        assert!(!journal.exists());
        assert_eq!(recover(p).unwrap(), None);
    }

    #[test]
    fn other_states_leave_the_prefix_as_it_is() {
        for (state, recovery) in [
            (Some(State::Snapshotting), Recovery::Discarded),
            (None, Recovery::Discarded),
            (Some(State::Committed), Recovery::Completed),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path();
            std::fs::create_dir_all(p.join("lib")).unwrap();
            std::fs::write(p.join("lib/a"), "a").unwrap();
            let journal = p.join(JOURNAL_DIR);
            std::fs::create_dir_all(journal.join(SNAPSHOT_DIR)).unwrap();
            if let Some(state) = state {
                write_journal(&journal, state).unwrap();
            }
            // After the snapshot was taken (or while it was), the prefix gained a file.
            std::fs::write(p.join("lib/b"), "b").unwrap();
            let now = tree(p);
            assert_eq!(recover(p).unwrap(), Some(recovery));
            assert_eq!(tree(p), now, "{state:?}");
            assert!(!journal.exists());
        }
    }

    #[test]
    fn an_unreadable_journal_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join(JOURNAL_DIR);
        std::fs::create_dir_all(&journal).unwrap();
        std::fs::write(journal.join(JOURNAL_FILE), "{\"state\": \"sideways\"}").unwrap();
        let err = recover(dir.path()).unwrap_err();
        assert!(err.to_string().contains("journal.json"), "{err}");
    }
}
