//! PRIVACY_GROUP, on both backends.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tm_core::payload::PrivacyGroupId;
use tm_core::privacy_group::{lookup_id, PrivacyGroupRecord};
use tm_core::PublicKey;
use tm_store::{PrivacyGroupRow, StoreError};

use crate::support::{both_backends, key, now_millis, TestDb};

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

/// Why a merge of `update_privacy_groups` in these tests gave up.
#[derive(Debug)]
enum MergeError {
    Refused(String),
    // Read through `Debug` when a test fails.
    #[allow(dead_code)]
    Store(StoreError),
}

impl From<StoreError> for MergeError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

fn resident(name: &str, members: &[u8]) -> PrivacyGroupRecord {
    PrivacyGroupRecord {
        group_type: "RESIDENT".to_owned(),
        ..group(name, members, "ACTIVE")
    }
}

/// Adds `member` to the resident group `name` among `stored` (creating it), after `pause`:
/// the read-merge-write a starting instance does, slowed down so that instances overlap.
fn add_member(
    stored: Vec<PrivacyGroupRow>,
    name: &str,
    member: u8,
    pause: Duration,
) -> Result<Vec<PrivacyGroupRow>, MergeError> {
    std::thread::sleep(pause);
    let id = PrivacyGroupId(name.as_bytes().to_vec());
    let mut record = match stored.iter().find(|row| row.id == id) {
        Some(row) => row
            .record()
            .map_err(|e| MergeError::Refused(e.to_string()))?,
        None => resident(name, &[]),
    };
    if !record.members.contains(&key(member)) {
        record.members.push(key(member));
    }
    Ok(vec![PrivacyGroupRow::from_record(&record)])
}

fn members(db: &TestDb, name: &str) -> BTreeSet<PublicKey> {
    let row = db
        .store
        .find_privacy_group(&PrivacyGroupId(name.as_bytes().to_vec()))
        .expect("find")
        .expect("the group is stored");
    row.record().expect("decodes").members.into_iter().collect()
}

both_backends! {
    fn update_privacy_groups_saves_what_the_merge_returns(db) {
        let other = group("other", &[9], "ACTIVE");
        db.store.save_privacy_group(&PrivacyGroupRow::from_record(&other)).expect("save");
        let saved = db.store
            .update_privacy_groups(|stored| {
                // Every stored group is seen, in id order.
                assert_eq!(stored.len(), 1);
                assert_eq!(stored[0].record().expect("decodes"), other);
                Ok::<_, MergeError>(vec![PrivacyGroupRow::from_record(&resident("r", &[1, 2]))])
            })
            .expect("saved");
        assert_eq!(saved.len(), 1);
        let row = db.store.find_privacy_group(&saved[0].id).expect("find").expect("row");
        assert_eq!(row.record().expect("decodes"), resident("r", &[1, 2]));
        assert_eq!(row.lookup_id, lookup_id(&[key(1), key(2)]).0);

        // Saving again replaces the data and keeps the first insert time.
        db.store
            .update_privacy_groups(|_| {
                Ok::<_, MergeError>(vec![PrivacyGroupRow::from_record(&resident("r", &[1, 2, 3]))])
            })
            .expect("saved");
        let updated = db.store.find_privacy_group(&saved[0].id).expect("find").expect("row");
        assert_eq!(updated.record().expect("decodes"), resident("r", &[1, 2, 3]));
        assert_eq!(updated.timestamp, row.timestamp);

        // Nothing to save writes nothing.
        let none = db.store.update_privacy_groups(|_| Ok::<_, MergeError>(vec![])).expect("ok");
        assert!(none.is_empty());
        assert_eq!(db.store.list_privacy_groups().expect("list").len(), 2);
    }

    fn a_refused_merge_writes_nothing(db) {
        db.store
            .update_privacy_groups(|_| {
                Ok::<_, MergeError>(vec![PrivacyGroupRow::from_record(&resident("kept", &[1]))])
            })
            .expect("saved");
        let before = db.store.list_privacy_groups().expect("list");
        let error = db.store
            .update_privacy_groups(|_| {
                // Rows the merge would have written before failing are rolled back too.
                Err::<Vec<PrivacyGroupRow>, _>(MergeError::Refused("no".into()))
            })
            .expect_err("refused");
        assert!(matches!(error, MergeError::Refused(ref m) if m == "no"), "{error:?}");
        assert_eq!(db.store.list_privacy_groups().expect("list"), before);
        // The store is still usable afterwards (the transaction and its lock are gone).
        db.store
            .update_privacy_groups(|stored| {
                assert_eq!(stored.len(), 1);
                Ok::<_, MergeError>(vec![])
            })
            .expect("ok");
    }

    fn instances_merging_at_once_each_see_what_the_other_saved(db) {
        // Instances (pools of their own, as replicas starting together) each add their own key
        // to the same group, and to a group of their own, with a pause between reading and
        // writing: without mutual exclusion one would overwrite the other's member.
        const INSTANCES: u8 = 4;
        let barrier = Arc::new(Barrier::new(usize::from(INSTANCES)));
        let handles: Vec<_> = (1..=INSTANCES)
            .map(|n| {
                let store = db.another_instance(false, 2);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .update_privacy_groups(|stored| {
                            let mut rows =
                                add_member(stored.clone(), "shared", n, Duration::from_millis(100))?;
                            rows.extend(add_member(stored, &format!("own-{n}"), n, Duration::ZERO)?);
                            Ok::<_, MergeError>(rows)
                        })
                        .expect("merged")
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("instance thread");
        }
        let all: BTreeSet<PublicKey> = (1..=INSTANCES).map(key).collect();
        assert_eq!(members(db, "shared"), all);
        for n in 1..=INSTANCES {
            assert_eq!(members(db, &format!("own-{n}")), BTreeSet::from([key(n)]));
        }
    }
}
