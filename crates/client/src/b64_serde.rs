//! Serde adapters for bytes carried as base64 strings in JSON (docs/protocol.md §4.2).

use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "tm_client::b64_serde")]` on a `Vec<u8>`.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&tm_core::b64::encode(bytes))
}

/// See [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    tm_core::b64::decode(&text, "base64 value").map_err(serde::de::Error::custom)
}

/// The same for a `Vec<Vec<u8>>` (a JSON array of base64 strings).
pub mod list {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises each element as base64.
    pub fn serialize<S: Serializer>(items: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(items.iter().map(tm_core::b64::encode))
    }

    /// Decodes each element; `null` is an empty list (GoQuorum sends `null` for "none").
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let items = Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default();
        items
            .iter()
            .map(|text| {
                tm_core::b64::decode(text, "base64 value").map_err(serde::de::Error::custom)
            })
            .collect()
    }
}
