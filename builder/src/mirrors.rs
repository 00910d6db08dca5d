//! `mirror://NAME/path` URLs (as in Nix): NAME is looked up in a mirror table built
//! from the machine's own configuration, so no registry host is written in recipes.

use std::path::Path;

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
