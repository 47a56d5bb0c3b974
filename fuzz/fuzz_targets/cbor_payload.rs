//! CBOR payload decoder: never panics; whatever decodes re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::codec::{decode_cbor, encode_cbor};

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = decode_cbor(data) {
        let again = decode_cbor(&encode_cbor(&payload)).expect("re-encoded payload decodes");
        assert_eq!(again, payload);
    }
});
