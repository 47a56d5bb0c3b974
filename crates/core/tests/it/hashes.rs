//! Digests and privacy group ids.

use tm_core::privacy_group::{
    generate_id, java_hash_code, lookup_id, rlp_encode_element, rlp_encode_list,
};
use tm_core::TxHash;

use crate::support::{b64, hex, key, load};

#[test]
fn payload_digests() {
    let file = load("hashes/digests-and-privacy-group-ids.json");
    let digest = &file["payload_digest"];
    let input = digest["default_sha3_512"]["input_ascii"]
        .as_str()
        .unwrap_or_default()
        .as_bytes();
    assert_eq!(
        TxHash::of_cipher_text(input).to_base64(),
        digest["default_sha3_512"]["expected_base64"]
            .as_str()
            .unwrap_or_default()
    );
    let orion = &digest["orion_mode_sha512_256"];
    let input = orion["input_ascii"].as_str().unwrap_or_default().as_bytes();
    assert_eq!(
        TxHash::of_cipher_text_orion(input).to_base64(),
        orion["expected_base64"].as_str().unwrap_or_default()
    );
}

#[test]
fn privacy_group_ids() {
    let file = load("hashes/digests-and-privacy-group-ids.json");
    let groups = &file["privacy_group_ids"];
    let members = &groups["members_base64"];
    for (name, code) in groups["java_Arrays_hashCode_of_members"]
        .as_object()
        .expect("codes")
    {
        assert_eq!(
            i64::from(java_hash_code(key(&members[name]).as_bytes())),
            code.as_i64().expect("int"),
            "{name}"
        );
    }
    let cases = groups["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let keys: Vec<_> = case["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| key(&members[m.as_str().expect("name")]))
            .collect();
        let seed = if let Some(s) = case.get("seed_base64") {
            Some(b64(s))
        } else {
            case.get("seed_hex").map(hex)
        };
        let id = generate_id(&keys, seed.as_deref());
        assert_eq!(
            tm_core::b64::encode(id.as_bytes()),
            case["expected_base64"].as_str().unwrap_or_default(),
            "{}",
            case["name"]
        );
        let mut sorted: Vec<_> = case["sorted_order"]
            .as_array()
            .expect("order")
            .iter()
            .map(key)
            .collect();
        let mut items: Vec<&[u8]> = sorted.iter().map(|k| k.as_bytes()).collect();
        if let Some(seed) = &seed {
            items.push(seed);
        }
        assert_eq!(rlp_encode_list(&items), hex(&case["rlp_input_hex"]));
        if case.get("seed_hex").is_some() {
            assert_eq!(lookup_id(&keys), id);
        }
        // Duplicates do not change the id.
        sorted.extend(keys.iter().cloned());
        assert_eq!(generate_id(&sorted, seed.as_deref()), id);
    }
    let empty = &groups["empty_member_list_id_derived"];
    assert_eq!(rlp_encode_list(&[]), hex(&empty["rlp_input_hex"]));
    assert_eq!(
        tm_core::b64::encode(generate_id(&[], None).as_bytes()),
        empty["expected_base64"].as_str().unwrap_or_default()
    );
}

#[test]
fn rlp_length_quirk() {
    let file = load("hashes/digests-and-privacy-group-ids.json");
    let quirk = &file["rlp_quirk"];
    let long = rlp_encode_element(&[1u8; 300]);
    assert_eq!(
        long[..3].to_vec(),
        hex(&quirk["element_of_300_bytes_0x01"]["expected_prefix_hex"])
    );
    assert_eq!(long.len(), 303);
    let short = rlp_encode_element(&[1u8; 54]);
    assert_eq!(
        short[..1].to_vec(),
        hex(&quirk["element_of_54_bytes_0x01"]["expected_prefix_hex"])
    );
    assert_eq!(
        short.len() as u64,
        quirk["element_of_54_bytes_0x01"]["total_length"]
            .as_u64()
            .expect("len")
    );
    assert_eq!(
        rlp_encode_element(&[9]),
        hex(&quirk["single_byte_0x09"]["expected_hex"])
    );
    assert_eq!(
        rlp_encode_element(&[]),
        hex(&quirk["empty_or_null"]["expected_hex"])
    );
    // A length whose lowest byte is zero has no length bytes at all.
    assert_eq!(rlp_encode_element(&[1u8; 512])[0], 0xb7);
    assert_eq!(rlp_encode_element(&[0x80]), vec![0x81, 0x80]);
}
