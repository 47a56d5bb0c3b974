//! Party-info decoder: never panics; whatever decodes re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::partyinfo::PartyInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = PartyInfo::decode(data) {
        let again = PartyInfo::decode(&info.encode()).expect("re-encoded party info decodes");
        assert_eq!(again, info);
    }
});
