//! The emissions module version a chain runs (v10 on testnet, v9 on mainnet
//! today) and what depends on it: the REST prefix, the type URLs and the
//! event type names. One encoder serves both through this switch.

use crate::error::{Error, Result};

/// A supported emissions module version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emissions {
    V9,
    V10,
}

impl Emissions {
    /// Parses `v9` or `v10` (also `9`, `10`).
    pub fn parse(s: &str) -> Result<Emissions> {
        match s.trim().trim_start_matches('v') {
            "9" => Ok(Emissions::V9),
            "10" => Ok(Emissions::V10),
            _ => Err(Error::Usage(format!(
                "emissions version {s:?} is not supported; expected v9 or v10"
            ))),
        }
    }

    /// `v9` or `v10`.
    pub fn name(self) -> &'static str {
        match self {
            Emissions::V9 => "v9",
            Emissions::V10 => "v10",
        }
    }

    /// The REST prefix, e.g. `/emissions/v10`.
    pub fn rest_prefix(self) -> String {
        format!("/emissions/{}", self.name())
    }

    /// The protobuf package, e.g. `emissions.v10`.
    pub fn package(self) -> String {
        format!("emissions.{}", self.name())
    }

    /// A message type URL, e.g. `/emissions.v10.InsertWorkerPayloadRequest`.
    pub fn type_url(self, message: &str) -> String {
        format!("/{}.{message}", self.package())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(Emissions::parse("v10").unwrap(), Emissions::V10);
        assert_eq!(Emissions::parse("9").unwrap(), Emissions::V9);
        assert!(Emissions::parse("v11")
            .unwrap_err()
            .to_string()
            .contains("v11"));
        assert_eq!(Emissions::V9.rest_prefix(), "/emissions/v9");
        assert_eq!(
            Emissions::V10.type_url("InsertWorkerPayloadRequest"),
            "/emissions.v10.InsertWorkerPayloadRequest"
        );
    }
}
