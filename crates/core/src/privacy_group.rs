//! Privacy group ids (`PrivacyGroupUtil`, docs/protocol.md §3.7).

use sha3::{Digest, Keccak256};

use crate::codec::reader::{put_array, put_field, Reader};
use crate::payload::PrivacyGroupId;
use crate::{CodecError, PublicKey};

/// The seed Tessera appends to compute the id a group is looked up by.
pub const LOOKUP_ID_SEED: [u8; 20] = [
    0x53, 0x75, 0xba, 0x87, 0x1e, 0x5c, 0x3d, 0x0f, 0x1d, 0x05, 0x5b, 0x5d, 0xa0, 0xac, 0x02, 0xea,
    0x03, 0x5b, 0xed, 0x38,
];

/// Java's `Arrays.hashCode(byte[])`: `h = 31 * h + b` over signed bytes, 32-bit wrapping.
pub fn java_hash_code(bytes: &[u8]) -> i32 {
    bytes.iter().fold(1i32, |h, &b| {
        h.wrapping_mul(31).wrapping_add(i32::from(b as i8))
    })
}

/// `generateId(members, seed)`: Keccak-256 over Tessera's RLP of the distinct members,
/// stably sorted by Java hash code, with the seed (if any) appended.
pub fn generate_id(members: &[PublicKey], seed: Option<&[u8]>) -> PrivacyGroupId {
    let mut distinct: Vec<&[u8]> =
        crate::partyinfo::first_of_each(members.iter().map(PublicKey::as_bytes).collect());
    distinct.reserve(1);
    distinct.sort_by_key(|bytes| java_hash_code(bytes));
    if let Some(seed) = seed {
        distinct.push(seed);
    }
    PrivacyGroupId(Keccak256::digest(rlp_encode_list(&distinct)).to_vec())
}

/// The id a group of these members is looked up by.
pub fn lookup_id(members: &[PublicKey]) -> PrivacyGroupId {
    generate_id(members, Some(&LOOKUP_ID_SEED))
}

/// Tessera's long-form RLP length: the 4-byte little-endian length, cut at its first zero
/// byte, in little-endian order. Correct up to 255; a Tessera quirk beyond (`RlpEncodeUtil`).
fn quirky_length(len: usize) -> Vec<u8> {
    (len as u32)
        .to_le_bytes()
        .into_iter()
        .take_while(|b| *b != 0)
        .collect()
}

/// `RlpEncodeUtil.encodeRLPElement`.
pub fn rlp_encode_element(data: &[u8]) -> Vec<u8> {
    match data.len() {
        0 => vec![0x80],
        1 if data[0] <= 0x7f => vec![data[0]],
        len @ 1..=55 => {
            let mut out = Vec::with_capacity(len + 1);
            out.push(0x80 + len as u8);
            out.extend_from_slice(data);
            out
        }
        len => {
            let length = quirky_length(len);
            let mut out = Vec::with_capacity(1 + length.len() + len);
            out.push(0xb7 + length.len() as u8);
            out.extend_from_slice(&length);
            out.extend_from_slice(data);
            out
        }
    }
}

/// `RlpEncodeUtil.encodeList`.
pub fn rlp_encode_list(items: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = items
        .iter()
        .flat_map(|item| rlp_encode_element(item))
        .collect();
    let mut out = Vec::with_capacity(body.len() + 5);
    if body.len() <= 55 {
        out.push(0xc0 + body.len() as u8);
    } else {
        let length = quirky_length(body.len());
        out.push(0xf7 + length.len() as u8);
        out.extend_from_slice(&length);
    }
    out.extend_from_slice(&body);
    out
}

/// Tessera's group types (`PrivacyGroup.Type`).
pub const GROUP_TYPES: [&str; 3] = ["LEGACY", "PANTHEON", "RESIDENT"];

/// Tessera's group states (`PrivacyGroup.State`).
pub const GROUP_STATES: [&str; 2] = ["ACTIVE", "DELETED"];

/// A privacy group as nodes exchange it (`PrivacyGroupUtil.encode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivacyGroupRecord {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Member keys.
    pub members: Vec<PublicKey>,
    /// Seed (Besu-style groups).
    pub seed: Vec<u8>,
    /// Type name: `LEGACY`, `PANTHEON` or `RESIDENT`.
    pub group_type: String,
    /// State name: `ACTIVE` or `DELETED`.
    pub state: String,
}

impl PrivacyGroupRecord {
    /// The group's id, recomputed from its type, members and seed as the receiver does.
    pub fn id(&self) -> PrivacyGroupId {
        match self.group_type.as_str() {
            "RESIDENT" => PrivacyGroupId(self.name.as_bytes().to_vec()),
            "PANTHEON" => generate_id(&self.members, Some(&self.seed)),
            _ => generate_id(&self.members, None),
        }
    }

    /// Whether a record from the network can be a group at all: its type is one of
    /// [`GROUP_TYPES`] and its state one of [`GROUP_STATES`] (exactly, as Java's
    /// `Enum.valueOf` reads them), it has members, every member is a 32-byte key, and a
    /// resident group has a name (its id). The decoder accepts any text in these fields.
    pub fn check(&self) -> Result<(), CodecError> {
        let invalid = |message: String| Err(CodecError::Invalid(message));
        if !GROUP_TYPES.contains(&self.group_type.as_str()) {
            return invalid(format!(
                "unknown privacy group type {:?} (expected one of {})",
                self.group_type,
                GROUP_TYPES.join(", ")
            ));
        }
        if !GROUP_STATES.contains(&self.state.as_str()) {
            return invalid(format!(
                "unknown privacy group state {:?} (expected one of {})",
                self.state,
                GROUP_STATES.join(", ")
            ));
        }
        if self.members.is_empty() {
            return invalid("a privacy group has at least one member".into());
        }
        for member in &self.members {
            let len = member.as_bytes().len();
            if len != crate::keys::NACL_KEY_LEN {
                return invalid(format!(
                    "privacy group member keys are {} bytes, got {len}",
                    crate::keys::NACL_KEY_LEN
                ));
            }
        }
        if self.group_type == "RESIDENT" && self.name.is_empty() {
            return invalid("a resident group needs a name (it is the group's id)".into());
        }
        Ok(())
    }

    /// `field(name) || field(description) || array(members) || field(seed) || field(type) ||
    /// field(state)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_field(&mut out, self.name.as_bytes());
        put_field(&mut out, self.description.as_bytes());
        put_array(&mut out, self.members.iter().map(PublicKey::as_bytes));
        put_field(&mut out, &self.seed);
        put_field(&mut out, self.group_type.as_bytes());
        put_field(&mut out, self.state.as_bytes());
        out
    }

    /// Decodes what [`PrivacyGroupRecord::encode`] writes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        const MAX: i64 = i32::MAX as i64;
        let mut r = Reader::new(bytes);
        let text = |b: &[u8], what: &str| {
            String::from_utf8(b.to_vec())
                .map_err(|_| CodecError::Invalid(format!("{what} is not UTF-8")))
        };
        let name = text(r.field("group name", MAX)?, "group name")?;
        let description = text(r.field("group description", MAX)?, "group description")?;
        let count = r.length("member count", MAX)?;
        let mut members = Vec::new();
        for _ in 0..count {
            members.push(PublicKey::from_bytes(r.field("member key", MAX)?));
        }
        let seed = r.field("group seed", MAX)?.to_vec();
        let group_type = text(r.field("group type", MAX)?, "group type")?;
        let state = text(r.field("group state", MAX)?, "group state")?;
        Ok(Self {
            name,
            description,
            members,
            seed,
            group_type,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> PrivacyGroupRecord {
        PrivacyGroupRecord {
            name: "group".into(),
            description: String::new(),
            members: vec![PublicKey::from_bytes(vec![1; 32])],
            seed: vec![7; 32],
            group_type: "PANTHEON".into(),
            state: "ACTIVE".into(),
        }
    }

    #[test]
    fn only_tessera_types_and_states_with_real_members_pass() {
        group().check().expect("valid");
        for group_type in GROUP_TYPES {
            for state in GROUP_STATES {
                let record = PrivacyGroupRecord {
                    group_type: group_type.into(),
                    state: state.into(),
                    ..group()
                };
                record.check().expect("a Tessera type and state");
            }
        }
        let refused = |record: PrivacyGroupRecord| record.check().expect_err("refused").to_string();
        for bad in ["BOGUS", "", "pantheon", "PANTHEON\0", " LEGACY"] {
            let message = refused(PrivacyGroupRecord {
                group_type: bad.into(),
                ..group()
            });
            assert!(message.contains("type"), "{bad:?}: {message}");
        }
        for bad in ["ACTIV\0", "", "active", "REMOVED"] {
            let message = refused(PrivacyGroupRecord {
                state: bad.into(),
                ..group()
            });
            assert!(message.contains("state"), "{bad:?}: {message}");
        }
        let message = refused(PrivacyGroupRecord {
            members: Vec::new(),
            ..group()
        });
        assert!(message.contains("member"), "{message}");
        let message = refused(PrivacyGroupRecord {
            members: vec![PublicKey::from_bytes(vec![1; 31])],
            ..group()
        });
        assert!(message.contains("32 bytes"), "{message}");
        let message = refused(PrivacyGroupRecord {
            group_type: "RESIDENT".into(),
            name: String::new(),
            ..group()
        });
        assert!(message.contains("name"), "{message}");
    }
}
