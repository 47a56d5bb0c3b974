//! `POST /pushPrivacyGroup` over the route's whole path: the body decodes
//! (`PrivacyGroupRecord::decode`, a 400 otherwise) and `Node::receive_privacy_group` checks it
//! (`PrivacyGroupRecord::check`, the configured resident group, the held group's data) and
//! stores it against the seeded group.
//!
//! Invariants, for any input: no panic; a refused record changed no group (the row under its
//! id and the number of groups are as before); an accepted `ACTIVE` record is held exactly as
//! sent, and if a group was held under its id it was that very record; an accepted `DELETED`
//! record either was not held (and still is not) or replaced the held group that differs from
//! it only by its state; a resident group configured here is never stored from a push; every
//! group row decodes and is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_fuzz::{harness, RESIDENT_GROUP};

fn seeds() -> Vec<(String, Vec<u8>)> {
    let fx = &harness().fx;
    let held = fx.group.clone();
    let with = |f: &dyn Fn(&mut PrivacyGroupRecord)| {
        let mut r = held.clone();
        f(&mut r);
        r.encode()
    };
    vec![
        ("held-again".into(), held.encode()),
        ("held-deleted".into(), with(&|r| r.state = "DELETED".into())),
        ("held-renamed".into(), with(&|r| r.name = "renamed".into())),
        ("new-legacy".into(), with(&|r| {
            r.group_type = "LEGACY".into();
            r.seed = b"another".to_vec();
        })),
        ("new-deleted".into(), with(&|r| {
            r.seed = b"never held".to_vec();
            r.state = "DELETED".into();
        })),
        ("configured-resident".into(), with(&|r| {
            r.group_type = "RESIDENT".into();
            r.name = RESIDENT_GROUP.into();
            r.seed = Vec::new();
        })),
        ("other-resident".into(), with(&|r| {
            r.group_type = "RESIDENT".into();
            r.name = "other-resident".into();
            r.seed = Vec::new();
        })),
        ("bad-type".into(), with(&|r| r.group_type = "legacy".into())),
        ("stranger-member".into(), with(&|r| {
            r.members.push(fx.stranger.clone());
            r.seed = b"third".to_vec();
        })),
    ]
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let h = harness();
        h.run(|cx| {
            let Ok(record) = PrivacyGroupRecord::decode(data) else { return };
            let store = cx.store();
            let id = record.id();
            let before = store.find_privacy_group(&id).expect("group");
            let count = store.list_privacy_groups().expect("groups").len();
            let result = cx.block_on(cx.node(tm_fuzz::Variant::default()).receive_privacy_group(record.clone()));
            let after = store.find_privacy_group(&id).expect("group");
            let held = |row: &Option<tm_store::PrivacyGroupRow>| {
                row.as_ref().map(|r| r.record().expect("a stored group decodes"))
            };
            match result {
                Err(_) => {
                    assert_eq!(before, after, "a refused group changed the row");
                    assert_eq!(count, store.list_privacy_groups().expect("groups").len(), "a refused group added a row");
                }
                Ok(()) => {
                    let now = held(&after);
                    let was = held(&before);
                    if let Some(now) = &now {
                        now.check().expect("a stored group is valid");
                        assert_eq!(now.id(), id);
                    }
                    if record.state == "DELETED" {
                        match &was {
                            None => assert!(now.is_none(), "a deleted group we did not hold was stored"),
                            Some(was) => {
                                assert_eq!(now.as_ref(), Some(&record), "a deletion is stored as sent");
                                assert_eq!(
                                    &PrivacyGroupRecord { state: record.state.clone(), ..was.clone() },
                                    &record,
                                    "a deletion only changes the state"
                                );
                            }
                        }
                    } else {
                        assert_eq!(now.as_ref(), Some(&record), "an accepted group is held as sent");
                        if let Some(was) = &was {
                            assert_eq!(was, &record, "a held group was replaced");
                        }
                    }
                    assert!(
                        !(record.group_type == "RESIDENT" && record.name == RESIDENT_GROUP && was.is_none() && now.is_some()),
                        "the configured resident group was stored from a push"
                    );
                }
            }
        });
    }
);
