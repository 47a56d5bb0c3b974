//! API versions a node advertises (docs/protocol.md §4.4–§4.5).

/// The HTTP header every Tessera request and response carries, one value per version.
pub const VERSION_HEADER: &str = "tesseraSupportedApiVersions";

/// The version whose presence selects the CBOR codec.
pub const CBOR_VERSION: &str = "5.0";

/// The versions this node supports, as sent in [`VERSION_HEADER`] (sorted as Java strings,
/// as Tessera sends them).
pub const SUPPORTED_API_VERSIONS: [&str; 6] = ["2.1", "3.0", "4.0", "5.0", "v1", "v2"];

/// The same versions normalised to numbers, as `GET /version/api` returns them.
pub const API_VERSIONS_NUMERIC: [&str; 6] = ["1.0", "2.0", "2.1", "3.0", "4.0", "5.0"];

/// Splits the values of a version header: repeated headers and comma-joined values both work.
pub fn parse_header_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}
