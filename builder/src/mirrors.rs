//! `mirror://NAME/path` URLs (as in Nix): NAME is looked up in a mirror table built
//! from the machine's own configuration, so no registry host is written in recipes.

use std::path::Path;

/// Where a mirror URL can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// A plain URL.
    Url(String),
    /// A file of a project on a package index with the simple API (PEP 691 JSON):
    /// the file's URL is looked up by name on the project's page.
    IndexProject {
        index: String,
        project: String,
        filename: String,
    },
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Candidate::Url(u) => f.write_str(u),
            Candidate::IndexProject {
                index,
                project,
                filename,
            } => {
                write!(f, "{}/{project}/ ({filename})", index.trim_end_matches('/'))
            }
        }
    }
}

/// Resolves a source URL into candidates, best first. `mirror://pypi/…/PROJECT/FILE`
/// (PyPI's `packages/source/<l>/<project>/<file>` layout) is looked up on the index
/// pip is configured with; other mirrors map to base URLs.
pub fn resolve_candidates(url: &str) -> Result<Vec<Candidate>, MirrorError> {
    if let Some(path) = url.strip_prefix("mirror://pypi/") {
        if std::env::var("FTFORGE_MIRROR_PYPI").is_err() {
            let mut parts = path.rsplit('/');
            let filename = parts.next().unwrap_or_default().to_string();
            let project = parts.next().unwrap_or_default().to_string();
            let index = pip_index_url().ok_or_else(|| MirrorError {
                name: "pypi".into(),
                env_key: "FTFORGE_MIRROR_PYPI".into(),
            })?;
            return Ok(vec![Candidate::IndexProject {
                index,
                project,
                filename,
            }]);
        }
    }
    Ok(resolve(url)?.into_iter().map(Candidate::Url).collect())
}

/// Resolves `mirror://NAME/rest` to candidate URLs, best first. Plain URLs pass through.
///
/// Sources of the table, in order: `FTFORGE_MIRROR_<NAME>` (environment, a base URL),
/// then built-in resolvers: `debian` reads apt's sources (both the one-line
/// `sources.list` format and deb822 `.sources` files).
pub fn resolve(url: &str) -> Result<Vec<String>, MirrorError> {
    let Some(rest) = url.strip_prefix("mirror://") else {
        return Ok(vec![url.to_string()]);
    };
    let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
    let env_key = format!(
        "FTFORGE_MIRROR_{}",
        name.to_ascii_uppercase().replace('-', "_")
    );
    if let Ok(base) = std::env::var(&env_key) {
        return Ok(base.split_whitespace().map(|b| join(b, path)).collect());
    }
    let bases = match name {
        "debian" => debian_archives(Path::new("/etc/apt")),
        _ => Vec::new(),
    };
    if bases.is_empty() {
        return Err(MirrorError {
            name: name.to_string(),
            env_key,
        });
    }
    Ok(bases.iter().map(|b| join(b, path)).collect())
}

#[derive(Debug, thiserror::Error)]
#[error("no mirror is configured for `mirror://{name}/`; set {env_key} to a base URL")]
pub struct MirrorError {
    pub name: String,
    pub env_key: String,
}

fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Debian archive base URLs (ending in `/debian`) from apt's configuration under `etc_apt`.
pub fn debian_archives(etc_apt: &Path) -> Vec<String> {
    let mut files = vec![etc_apt.join("sources.list")];
    if let Ok(entries) = std::fs::read_dir(etc_apt.join("sources.list.d")) {
        let mut more: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    let mut uris = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let deb822 = file.extension().is_some_and(|e| e == "sources");
        uris.extend(if deb822 {
            deb822_uris(&text)
        } else {
            one_line_uris(&text)
        });
    }
    let mut out: Vec<String> = Vec::new();
    for uri in uris {
        let uri = uri.trim_end_matches('/').to_string();
        if uri.ends_with("/debian") && !out.contains(&uri) {
            out.push(uri);
        }
    }
    out
}

/// The package index the machine's pip uses (its configured `index-url`, else pip's
/// default), so no index host is written into ftforge.
pub fn pip_index_url() -> Option<String> {
    const ASK_PIP: &str = r#"
from pip._internal.configuration import Configuration
from pip._internal.models.index import PyPI
config = Configuration(isolated=False)
config.load()
index = None
for key in (":env:.index-url", "download.index-url", "install.index-url", "global.index-url"):
    try:
        index = config.get_value(key)
        break
    except Exception:
        pass
print(index or PyPI.simple_url)
"#;
    let python = std::env::var("FTFORGE_PIP_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(ASK_PIP)
        .output()
        .ok()?;
    let index = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !index.is_empty()).then_some(index)
}

/// `deb [opts] URI suite components` lines.
fn one_line_uris(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("deb ") || l.starts_with("deb-src "))
        .filter_map(|l| {
            let rest = l.split_once(' ')?.1.trim_start();
            let rest = if rest.starts_with('[') {
                rest.split_once(']')?.1
            } else {
                rest
            };
            rest.split_whitespace().next().map(String::from)
        })
        .collect()
}

/// `URIs:` fields of deb822 stanzas.
fn deb822_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("URIs:"))
        .flat_map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_apt_formats() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sources.list"),
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\ndeb http://sec.example/debian-security bookworm-security main\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("sources.list.d")).unwrap();
        std::fs::write(
            dir.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://two.example/debian/\nSuites: bookworm\n",
        )
        .unwrap();
        assert_eq!(
            debian_archives(dir.path()),
            vec![
                "http://one.example/debian".to_string(),
                "http://two.example/debian".to_string()
            ]
        );
    }

    #[test]
    fn plain_urls_pass_through_and_unknown_mirrors_explain() {
        assert_eq!(
            resolve("https://x.example/a.tar.gz").unwrap(),
            vec!["https://x.example/a.tar.gz"]
        );
        let err = resolve("mirror://nowhere-known/a").unwrap_err();
        assert!(err.to_string().contains("FTFORGE_MIRROR_NOWHERE_KNOWN"));
    }
}
