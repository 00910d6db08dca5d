//! Conda channels on disk: layout (`<channel>/<subdir>/repodata.json`), publishing
//! packages into them incrementally and atomically, and rebuilding an index.

pub mod abi_tag;
pub mod archive;
pub mod compat;
pub mod fetch;
pub mod install;
pub mod labels;
pub mod layout;
pub mod matrix;
pub mod publish;
pub mod serve;
pub mod system;
pub mod transaction;
pub mod upload;

/// The platform subdir of this machine (`linux-64`).
pub fn platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "linux-aarch64",
        ("macos", "x86_64") => "osx-64",
        ("macos", "aarch64") => "osx-arm64",
        _ => "linux-64",
    }
}

pub use compat::{CompatData, CompatRecord, Severity, Verdict};
pub use layout::{Channel, ChannelError};
pub use publish::{PublishOutcome, Published};
