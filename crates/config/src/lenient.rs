//! Scalars as Tessera's JSON binding (MOXy) accepts them: booleans and numbers may also be
//! written as strings (`"true"`, `"5000"`), as Tessera's own documentation does
//! (docs/protocol.md §12.1).
//! Overrides (`-o path=value`) always produce strings, so the typed model must accept both.

use serde::de::{self, Deserializer, Unexpected};
use serde::Deserialize;
use serde_json::Value;

/// A boolean given as `true`/`false` or as the strings `"true"`/`"false"` (any case).
pub fn bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Value::String(s) => Err(de::Error::invalid_value(
            Unexpected::Str(&s),
            &"true or false",
        )),
        other => Err(de::Error::invalid_type(unexpected(&other), &"a boolean")),
    }
}

/// An optional boolean, lenient as [`bool`].
pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        other => bool(other).map(Some).map_err(de::Error::custom),
    }
}

/// An optional integer given as a JSON number or a decimal string.
pub fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{n} is not an integer"))),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| de::Error::invalid_value(Unexpected::Str(&s), &"an integer")),
        other => Err(de::Error::invalid_type(unexpected(&other), &"an integer")),
    }
}

/// An integer, lenient as [`opt_i64`]; absent or null is 0 (Java's primitive default).
pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    opt_i64(deserializer).map(Option::unwrap_or_default)
}

/// A string map (`properties`): numbers and booleans are kept as their text.
pub fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let mut out = std::collections::BTreeMap::new();
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (key, value) in map {
                let text = match value {
                    Value::String(s) => s,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                out.insert(key, text);
            }
        }
        other => return Err(de::Error::invalid_type(unexpected(&other), &"an object")),
    }
    Ok(out)
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}
