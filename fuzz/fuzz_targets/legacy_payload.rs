//! LEGACY payload decoder: never panics; whatever decodes re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::codec::{decode_legacy, encode_legacy};

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = decode_legacy(data) {
        let again = decode_legacy(&encode_legacy(&payload)).expect("re-encoded payload decodes");
        assert_eq!(again, payload);
    }
});
