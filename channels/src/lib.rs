//! Conda channels on disk: layout (`<channel>/<subdir>/repodata.json`), publishing
//! packages into them incrementally and atomically, and rebuilding an index.

pub mod compat;
pub mod layout;
pub mod publish;

pub use compat::{CompatData, CompatRecord, Verdict};
pub use layout::{Channel, ChannelError};
pub use publish::{PublishOutcome, Published};
