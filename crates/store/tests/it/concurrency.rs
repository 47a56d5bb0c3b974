//! Two instances (two pools) writing the same and different hashes at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use tm_store::{Store, StoreOutcome};

use crate::support::{both_backends, copy_for, payload, TestDb};

const SHARED: usize = 12;
const RECIPIENTS: u8 = 6;
const THREADS_PER_INSTANCE: usize = 3;
const OWN_PER_THREAD: usize = 15;

fn run(db: &TestDb) {
    let tag = |i: usize| format!("{}-shared-{i}", db.url);
    let shared: Vec<_> = (0..SHARED)
        .map(|i| payload(&tag(i), &(1..=RECIPIENTS).collect::<Vec<_>>()))
        .collect();
    let instances = [db.another_instance(true, 3), db.another_instance(true, 3)];
    let barrier = Arc::new(Barrier::new(2 * THREADS_PER_INSTANCE));
    let mut handles = Vec::new();
    for (n, instance) in instances.iter().enumerate() {
        for t in 0..THREADS_PER_INSTANCE {
            let store: Store = instance.clone();
            let shared = shared.clone();
            let barrier = barrier.clone();
            let prefix = format!("{}-own-{n}-{t}", db.url);
            handles.push(std::thread::spawn(move || {
                barrier.wait();
                let mut own = Vec::new();
                for i in 0..OWN_PER_THREAD.max(SHARED) {
                    // Every thread pushes every recipient's copy of every shared hash, in an
                    // order of its own, so the same (hash, box) arrives many times at once.
                    if i < SHARED {
                        for r in 1..=RECIPIENTS {
                            let r = 1 + (r + (n * 3 + t) as u8) % RECIPIENTS;
                            let copy = copy_for(&shared[(i + t) % SHARED], r);
                            store
                                .store_payload(&copy)
                                .expect("shared store never fails");
                        }
                    }
                    if i < OWN_PER_THREAD {
                        let p = payload(&format!("{prefix}-{i}"), &[1]);
                        assert_eq!(
                            store.store_payload(&p).expect("own store"),
                            StoreOutcome::Inserted
                        );
                        own.push(p.hash());
                    }
                }
                own
            }));
        }
    }
    let mut own = BTreeSet::new();
    for h in handles {
        own.extend(h.join().expect("writer thread"));
    }
    let reader = &db.store;
    for p in &shared {
        let stored = reader
            .find_payload(&p.hash())
            .expect("find")
            .expect("stored")
            .payload;
        let keys: BTreeSet<_> = stored.recipient_keys.iter().cloned().collect();
        let boxes: BTreeSet<_> = stored.recipient_boxes.iter().cloned().collect();
        assert_eq!(
            stored.recipient_keys.len(),
            usize::from(RECIPIENTS),
            "no duplicate keys"
        );
        assert_eq!(
            keys,
            p.recipient_keys.iter().cloned().collect(),
            "every key merged"
        );
        assert_eq!(
            boxes,
            p.recipient_boxes.iter().cloned().collect(),
            "every box merged"
        );
        // Keys and boxes stay index-aligned.
        for (k, b) in stored.recipient_keys.iter().zip(&stored.recipient_boxes) {
            let i = p
                .recipient_keys
                .iter()
                .position(|x| x == k)
                .expect("known key");
            assert_eq!(&p.recipient_boxes[i], b);
        }
    }
    assert_eq!(own.len(), 2 * THREADS_PER_INSTANCE * OWN_PER_THREAD);
    assert_eq!(
        reader
            .find_payloads(&own.iter().cloned().collect::<Vec<_>>())
            .expect("find")
            .len(),
        own.len()
    );
    assert_eq!(
        reader.count_payloads().expect("count"),
        (SHARED + own.len()) as u64
    );
}

both_backends! {
    fn two_instances_lose_nothing(db) {
        run(db);
    }
}

/// Every writer stores a different recipient's copy of the same new hash at the same moment,
/// so inserts collide and the losers must merge into the winner's row.
fn same_new_hash_at_once(db: &TestDb) {
    const WRITERS: u8 = 6;
    const ROUNDS: usize = 15;
    let instances = [db.another_instance(true, 3), db.another_instance(true, 3)];
    let recipients: Vec<u8> = (1..=WRITERS).collect();
    for round in 0..ROUNDS {
        let full = payload(&format!("{}-race-{round}", db.url), &recipients);
        let barrier = Arc::new(Barrier::new(usize::from(WRITERS)));
        let handles: Vec<_> = (1..=WRITERS)
            .map(|r| {
                let store = instances[usize::from(r) % 2].clone();
                let copy = copy_for(&full, r);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.store_payload(&copy)
                })
            })
            .collect();
        let outcomes: Vec<StoreOutcome> = handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("store never fails"))
            .collect();
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == StoreOutcome::Inserted)
                .count(),
            1,
            "exactly one insert: {outcomes:?}"
        );
        let stored = db
            .store
            .find_payload(&full.hash())
            .expect("find")
            .expect("row")
            .payload;
        let keys: BTreeSet<_> = stored.recipient_keys.iter().cloned().collect();
        assert_eq!(
            keys.len(),
            usize::from(WRITERS),
            "round {round}: {stored:?}"
        );
        assert_eq!(stored.recipient_boxes.len(), usize::from(WRITERS));
    }
}

both_backends! {
    fn racing_inserts_of_one_hash_merge(db) {
        same_new_hash_at_once(db);
    }
}
