//! Party-info vectors.

use tm_core::partyinfo::{normalise_party_url, PartyInfo, Recipient};

use crate::support::{hex, key, load};

#[test]
fn tessera_parser_vectors() {
    let file = load("partyinfo/partyinfo-parser-test-vectors.json");
    for name in ["sampleDataOne", "sampleDataTwo"] {
        let vector = &file["vectors"][name];
        let mut bytes = hex(&vector["hex"]);
        let consumed = vector["decoded"]["consumed"].as_u64().expect("consumed") as usize;
        assert_eq!(bytes.len(), consumed);
        // The Java test appends zero bytes the parser ignores.
        let zeros = vector["trailing_zero_bytes_in_test"]
            .as_u64()
            .expect("zeros") as usize;
        bytes.extend(std::iter::repeat_n(0u8, zeros));
        let info = PartyInfo::decode(&bytes).expect("decodes");
        let decoded = &vector["decoded"];
        assert_eq!(info.url, decoded["url"].as_str().unwrap_or_default());
        let recipients = decoded["recipients"].as_array().expect("recipients");
        assert_eq!(info.recipients.len(), recipients.len());
        for pair in recipients {
            let expected = Recipient {
                key: key(&pair[0]),
                url: pair[1].as_str().unwrap_or_default().to_owned(),
            };
            assert!(info.recipients.contains(&expected), "{name}: {expected:?}");
        }
        let parties = decoded["parties"].as_array().expect("parties");
        assert_eq!(info.parties.len(), parties.len());
        for party in parties {
            let url = normalise_party_url(party.as_str().unwrap_or_default());
            assert!(url.ends_with('/'));
            assert!(info.parties.contains(&url), "{name}: {url}");
        }
        assert_eq!(PartyInfo::decode(&info.encode()).expect("round trip"), info);
    }
    // Party URLs are normalised: re-encoding the first sample gives a 22-byte party URL.
    let one = PartyInfo::decode(&hex(&file["vectors"]["sampleDataOne"]["hex"])).expect("decodes");
    assert_eq!(one.parties, vec!["http://localhost:8001/".to_owned()]);
}

#[test]
fn broadcast_and_reply_examples() {
    let file = load("partyinfo/partyinfo-parser-test-vectors.json");
    let derived = &file["derived_by_spec_author_not_from_tessera"];
    let broadcast = PartyInfo {
        url: "http://localhost:8080/".into(),
        recipients: vec![Recipient {
            key: key(&serde_json::Value::String(
                "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=".into(),
            )),
            url: "http://localhost:8080/".into(),
        }],
        parties: vec![],
    };
    assert_eq!(
        broadcast.encode(),
        hex(&derived["broadcast_example"]["hex"])
    );
    let reply = PartyInfo {
        url: "http://localhost:8081/".into(),
        ..PartyInfo::default()
    };
    assert_eq!(reply.encode(), hex(&derived["reply_example"]["hex"]));
    assert_eq!(PartyInfo::decode(&reply.encode()).expect("decodes"), reply);
}

#[test]
fn garbage_is_rejected() {
    assert!(PartyInfo::decode(&[]).is_err());
    assert!(PartyInfo::decode(&[0xff; 8]).is_err(), "negative length");
    let mut huge = vec![0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
    huge.extend_from_slice(b"short");
    assert!(PartyInfo::decode(&huge).is_err(), "length beyond the input");
    let mut bad_utf8 = 2u64.to_be_bytes().to_vec();
    bad_utf8.extend_from_slice(&[0xc3, 0x28]);
    assert!(PartyInfo::decode(&bad_utf8).is_err());
}
