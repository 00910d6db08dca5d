//! `ftforge serve`: serves a channel directory over HTTP (127.0.0.1 unless `--bind`
//! says otherwise) until stopped; with `--upload-token-file`, accepts authenticated
//! uploads that are published like local builds.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ftforge_channels::serve::ServeConfig;
use ftforge_channels::upload::UploadToken;
use miette::{IntoDiagnostic, Result};

use super::OutputArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// The channel directory to serve
    #[arg(default_value = "channel")]
    dir: PathBuf,
    /// The address to listen on (0.0.0.0: every interface; put TLS in front, docs/channels.md)
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port (0: any free port, printed on start)
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Accept uploads authorized by the token in this file (not readable by other users);
    /// without it the server takes no uploads
    #[arg(long, value_name = "FILE")]
    upload_token_file: Option<PathBuf>,
    /// The largest upload accepted, in bytes (suffixes K, M, G, KiB, MiB, GiB)
    #[arg(long, value_name = "SIZE", default_value = "2GiB", value_parser = parse_size)]
    max_upload_size: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// `2GiB`, `500M`, `1024`: a size in bytes (K/M/G are powers of 1000, KiB/MiB/GiB of 1024).
fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 2GiB, 500M, 1048576)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (K, M, G, KiB, MiB, GiB)"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

pub async fn exec(args: ServeArgs) -> Result<ExitCode> {
    let root = args.dir.canonicalize().into_diagnostic()?;
    let upload_token = args
        .upload_token_file
        .as_deref()
        .map(UploadToken::from_file)
        .transpose()?;
    let uploads = upload_token.is_some();
    let config = ServeConfig {
        root: root.clone(),
        upload_token,
        max_upload_size: args.max_upload_size,
    };
    config.prepare().into_diagnostic()?;
    let (listener, addr) = ftforge_channels::serve::bind((args.bind, args.port).into())
        .await
        .into_diagnostic()?;
    // The first line on stdout is the URL (tests and scripts read it).
    if args.output.json {
        println!(
            "{}",
            serde_json::json!({"url": format!("http://{addr}/"), "root": root, "uploads": uploads})
        );
    } else {
        println!("http://{addr}/");
    }
    args.output.note(&format!(
        "serving {} ({}; Ctrl-C stops)",
        root.display(),
        if uploads {
            "uploads need the token"
        } else {
            "no uploads"
        }
    ));
    let output = args.output;
    ftforge_channels::serve::serve(listener, config, move |line| output.note(line))
        .await
        .into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("500M"), Ok(500_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1 parsec").is_err());
    }
}
