//! Privacy-group record decoder: never panics; whatever decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::privacy_group::PrivacyGroupRecord;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = PrivacyGroupRecord::decode(data) {
        let again = PrivacyGroupRecord::decode(&record.encode()).expect("re-encoded record decodes");
        assert_eq!(again, record);
    }
});
