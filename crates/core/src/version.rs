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

/// A header our P2P client adds to its binary requests (party info among them): the sending
/// node merges a push that carries several of its keys' boxes (docs/p2p.md, "One push per
/// node"). Tessera ignores it; Tessera's own receiver merges only the first box of a push into
/// a copy it holds, so it is never sent such a push.
pub const GROUPED_PUSH_HEADER: &str = "tm-grouped-push";

/// The value of [`GROUPED_PUSH_HEADER`].
pub const GROUPED_PUSH_VALUE: &str = "merge";

/// What the party store records among a peer's API versions when its party info carried
/// [`GROUPED_PUSH_HEADER`]: a name no Tessera version takes, never sent to anyone.
pub const GROUPED_PUSH_MARK: &str = "tm:grouped-push";

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
