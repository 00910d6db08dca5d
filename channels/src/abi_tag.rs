//! [`PythonAbi`] in stored JSON: its tag (`"cp314t"`), and the ABI column of a verdict,
//! where a package built without an interpreter variant is `"any"` (version 1 files
//! also wrote `""` or `"noarch"`; they are read as `any`).

use ftforge_interpreter::PythonAbi;
use serde::{Deserialize, Deserializer, Serializer};

/// How a verdict for no particular interpreter is spelled in keys and JSON.
pub const ANY: &str = "any";

/// `#[serde(with = "abi_tag")]` for a `PythonAbi`.
pub fn serialize<S: Serializer>(abi: &PythonAbi, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&abi.tag())
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PythonAbi, D::Error> {
    let tag = String::deserialize(d)?;
    tag.parse().map_err(serde::de::Error::custom)
}

/// The column text of an ABI: its tag, or [`ANY`].
pub fn column_text(abi: Option<&PythonAbi>) -> String {
    abi.map(PythonAbi::tag).unwrap_or_else(|| ANY.to_string())
}

/// `#[serde(with = "abi_tag::column")]` for an `Option<PythonAbi>` that is `"any"`
/// when absent.
pub mod column {
    use super::*;

    pub fn serialize<S: Serializer>(abi: &Option<PythonAbi>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&column_text(abi.as_ref()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PythonAbi>, D::Error> {
        let tag = Option::<String>::deserialize(d)?.unwrap_or_default();
        match tag.as_str() {
            ANY | "" | "noarch" => Ok(None),
            tag => tag.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// `#[serde(with = "abi_tag::optional")]` for an `Option<PythonAbi>` that is `null`
/// when absent.
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(abi: &Option<PythonAbi>, s: S) -> Result<S::Ok, S::Error> {
        match abi {
            Some(abi) => s.serialize_some(&abi.tag()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PythonAbi>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Row {
        #[serde(with = "super")]
        abi: PythonAbi,
        #[serde(with = "super::column")]
        column: Option<PythonAbi>,
    }

    #[test]
    fn tags_and_the_any_column_round_trip_and_version_1_spellings_read() {
        let row = Row {
            abi: PythonAbi::new(3, 14, true),
            column: None,
        };
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json, serde_json::json!({"abi": "cp314t", "column": "any"}));
        assert_eq!(serde_json::from_value::<Row>(json).unwrap(), row);
        for old in ["", "noarch"] {
            let row: Row =
                serde_json::from_value(serde_json::json!({"abi": "cp313", "column": old})).unwrap();
            assert_eq!(row.column, None);
        }
        assert!(
            serde_json::from_value::<Row>(serde_json::json!({"abi": "py3", "column": "any"}))
                .is_err()
        );
    }
}
