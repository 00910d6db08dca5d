//! Terminal styling of the shared vocabulary: a verdict is coloured by its severity
//! (`Verdict::severity`, the one table every view draws from).

use ftforge_channels::{Severity, Verdict};

/// The verdict's name in its severity's colour.
pub fn verdict(v: Verdict) -> console::StyledObject<&'static str> {
    let text = console::style(v.as_str());
    match v.severity() {
        Severity::Good => text.green(),
        Severity::Warn => text.yellow(),
        Severity::Bad => text.red(),
        Severity::Neutral => text.dim(),
    }
}
