//! PRIVACY_GROUP, on both backends.

use tm_core::payload::PrivacyGroupId;
use tm_core::privacy_group::{lookup_id, PrivacyGroupRecord};
use tm_store::PrivacyGroupRow;

use crate::support::{both_backends, key, now_millis};

fn group(name: &str, members: &[u8], state: &str) -> PrivacyGroupRecord {
    PrivacyGroupRecord {
        name: name.to_owned(),
        description: format!("{name} group"),
        members: members.iter().map(|m| key(*m)).collect(),
        seed: vec![],
        group_type: "LEGACY".to_owned(),
        state: state.to_owned(),
    }
}

both_backends! {
    fn save_find_list_groups(db) {
        let a = group("a", &[1, 2], "ACTIVE");
        let b = group("b", &[1, 2, 3], "ACTIVE");
        let before = now_millis();
        for g in [&a, &b] {
            db.store.save_privacy_group(&PrivacyGroupRow::from_record(g)).expect("save");
        }
        let row = db.store.find_privacy_group(&a.id()).expect("find").expect("row");
        assert_eq!(row.record().expect("decodes"), a);
        assert!(row.timestamp.expect("timestamp") >= before);
        assert!(db.store.find_privacy_group(&PrivacyGroupId(vec![0; 32])).expect("find").is_none());

        let by_lookup = db.store
            .find_privacy_groups_by_lookup_id(&lookup_id(&a.members).0)
            .expect("lookup");
        assert_eq!(by_lookup.len(), 1);
        assert_eq!(by_lookup[0].id, a.id());
        assert_eq!(db.store.list_privacy_groups().expect("list").len(), 2);

        // Saving again updates the data (e.g. a group marked deleted) and keeps the insert time.
        let deleted = group("a", &[1, 2], "DELETED");
        db.store.save_privacy_group(&PrivacyGroupRow::from_record(&deleted)).expect("update");
        let updated = db.store.find_privacy_group(&a.id()).expect("find").expect("row");
        assert_eq!(updated.record().expect("decodes").state, "DELETED");
        assert_eq!(updated.timestamp, row.timestamp);
    }

    fn retrieve_or_save_keeps_the_first(db) {
        let first = group("r", &[4, 5], "ACTIVE");
        let stored = db.store.retrieve_or_save_privacy_group(&PrivacyGroupRow::from_record(&first)).expect("save");
        assert_eq!(stored.record().expect("decodes"), first);
        let second = group("r", &[4, 5], "DELETED");
        let stored = db.store.retrieve_or_save_privacy_group(&PrivacyGroupRow::from_record(&second)).expect("retrieve");
        assert_eq!(stored.record().expect("decodes"), first);
    }
}
