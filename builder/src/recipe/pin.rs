//! `pin_subpackage(name, …)` and `pin_compatible(name, …)` as rattler-build evaluates
//! them: the template function records the pin (name and `exact` / `lower_bound` /
//! `upper_bound` / `build`), and the pin is applied once the pinned package's version
//! and build string are known — a sibling output's for `pin_subpackage`, the host
//! environment's package for `pin_compatible`.

use std::str::FromStr;

use rattler_conda_types::{MatchSpec, ParseStrictness, Version, VersionBumpType};
use serde::{Deserialize, Serialize};

/// One side of a pin: an expression such as `x.x` (that many segments of the pinned
/// version) or a literal version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PinBound {
    Expression(usize),
    Version(String),
}

impl TryFrom<String> for PinBound {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.chars().all(|c| c == 'x' || c == '.') {
            let segments = text.chars().filter(|c| *c == 'x').count();
            if segments == 0 {
                return Err(format!(
                    "`{text}` is an empty pin expression (at least `x`)"
                ));
            }
            return Ok(PinBound::Expression(segments));
        }
        Version::from_str(&text).map_err(|e| {
            format!("`{text}` is neither a pin expression like `x.x` nor a version: {e}")
        })?;
        Ok(PinBound::Version(text))
    }
}

impl From<PinBound> for String {
    fn from(bound: PinBound) -> String {
        match bound {
            PinBound::Expression(n) => vec!["x"; n].join("."),
            PinBound::Version(v) => v,
        }
    }
}

/// A pin as the template function recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<PinBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<PinBound>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
}

/// What a pin function renders to (`{"pin_subpackage": {...}}`, rattler-build's own
/// intermediate form), read back from the requirement list it was written into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PinFunction {
    #[serde(rename = "pin_subpackage")]
    Subpackage(Pin),
    #[serde(rename = "pin_compatible")]
    Compatible(Pin),
}

impl PinFunction {
    /// The pin a rendered requirement string holds, if it is one.
    pub fn parse(requirement: &str) -> Option<Result<PinFunction, String>> {
        let text = requirement.trim();
        if !(text.starts_with("{\"pin_subpackage\"") || text.starts_with("{\"pin_compatible\"")) {
            return None;
        }
        Some(serde_json::from_str(text).map_err(|e| e.to_string()))
    }

    /// The form the template function returns.
    pub fn render(&self) -> String {
        serde_json::to_string(self).expect("pins serialize")
    }

    pub fn pin(&self) -> &Pin {
        match self {
            PinFunction::Subpackage(p) | PinFunction::Compatible(p) => p,
        }
    }

    pub fn function_name(&self) -> &'static str {
        match self {
            PinFunction::Subpackage(_) => "pin_subpackage",
            PinFunction::Compatible(_) => "pin_compatible",
        }
    }
}

impl Pin {
    /// A pin with rattler-build's defaults: `lower_bound='x.x.x.x.x.x'`, `upper_bound='x'`.
    pub fn new(name: String) -> Self {
        Pin {
            name,
            lower_bound: Some(PinBound::Expression(6)),
            upper_bound: Some(PinBound::Expression(1)),
            exact: false,
            build: None,
        }
    }

    /// The match spec this pin gives for a package of `version` and `build_string`
    /// (`foo >=1.2.3,<2.0a0`; `foo ==1.2.3 h1234_0` when exact).
    pub fn apply(&self, version: &str, build_string: &str) -> Result<String, String> {
        let name = &self.name;
        if self.exact {
            return checked(format!("{name} =={version} {build_string}"));
        }
        let parsed = Version::from_str(version).map_err(|e| {
            format!("cannot pin `{name}`: its version `{version}` is not a version: {e}")
        })?;
        let mut bounds = Vec::new();
        match &self.lower_bound {
            Some(PinBound::Expression(n)) => {
                let lower = parsed
                    .with_segments(..(*n).min(parsed.segment_count()))
                    .ok_or_else(|| format!("cannot take {n} segments of `{version}`"))?;
                bounds.push(format!(">={lower}"));
            }
            Some(PinBound::Version(v)) => bounds.push(format!(">={v}")),
            None => {}
        }
        match &self.upper_bound {
            Some(PinBound::Expression(n)) => bounds.push(format!("<{}", increment(&parsed, *n)?)),
            Some(PinBound::Version(v)) => bounds.push(format!("<{v}")),
            None => {}
        }
        let build = self
            .build
            .as_ref()
            .map(|b| format!(" {b}"))
            .unwrap_or_default();
        checked(
            format!("{name} {}{build}", bounds.join(","))
                .trim()
                .to_string(),
        )
    }
}

/// The version after `version` at segment `segments` (`1.2.3`, 2 → `1.3.0a0`), as
/// rattler-build computes upper bounds.
fn increment(version: &Version, segments: usize) -> Result<Version, String> {
    let head = version
        .with_segments(..segments.min(version.segment_count()))
        .ok_or_else(|| format!("cannot take {segments} segments of `{version}`"))?;
    let bumped = head
        .bump(VersionBumpType::Segment(segments as i32 - 1))
        .map_err(|e| format!("cannot raise `{version}` at segment {segments}: {e}"))?;
    Ok(bumped.with_alpha().remove_local().into_owned())
}

fn checked(spec: String) -> Result<String, String> {
    MatchSpec::from_str(&spec, ParseStrictness::Lenient)
        .map_err(|e| format!("the pin gives `{spec}`, which is not a match spec: {e}"))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(lower: Option<&str>, upper: Option<&str>) -> Pin {
        Pin {
            lower_bound: lower.map(|s| PinBound::try_from(s.to_string()).unwrap()),
            upper_bound: upper.map(|s| PinBound::try_from(s.to_string()).unwrap()),
            ..Pin::new("foo".into())
        }
    }

    #[test]
    fn pins_apply_as_rattler_build_applies_them() {
        assert_eq!(
            pin(Some("x.x.x"), Some("x.x.x"))
                .apply("1.2.3", "h1_0")
                .unwrap(),
            "foo >=1.2.3,<1.2.4.0a0"
        );
        assert_eq!(
            Pin::new("foo".into()).apply("1.2.3", "h1_0").unwrap(),
            "foo >=1.2.3,<2.0a0"
        );
        assert_eq!(
            pin(None, Some("x.x")).apply("1.2.3", "h1_0").unwrap(),
            "foo <1.3.0a0"
        );
        assert_eq!(
            pin(Some("x.x.x"), Some("2.4"))
                .apply("1.2.3", "h1_0")
                .unwrap(),
            "foo >=1.2.3,<2.4"
        );
        let exact = Pin {
            exact: true,
            ..Pin::new("foo".into())
        };
        assert_eq!(
            exact.apply("1.2.3", "h1234_0").unwrap(),
            "foo ==1.2.3 h1234_0"
        );
        assert!(PinBound::try_from("".to_string()).is_err());
        assert!(PinBound::try_from(">=1".to_string()).is_err());
    }

    #[test]
    fn the_rendered_form_reads_back() {
        let f = PinFunction::Subpackage(Pin::new("foo".into()));
        let text = f.render();
        assert_eq!(
            text,
            r#"{"pin_subpackage":{"name":"foo","lower_bound":"x.x.x.x.x.x","upper_bound":"x"}}"#
        );
        assert_eq!(PinFunction::parse(&text).unwrap().unwrap(), f);
        assert!(PinFunction::parse("foo >=1").is_none());
    }
}
