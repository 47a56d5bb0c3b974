//! The recovery staging tables (ST_TRANSACTION, ST_AFFECTED_TRANSACTION), on both backends:
//! staging what peers resend, Tessera's dependency stages, and the order recovery reads them.

use tm_core::payload::SecurityHash;
use tm_core::{EncodedPayload, PayloadCodec, PrivacyMode};
use tm_store::{StagedPayload, StagingCounts};

use crate::support::{both_backends, payload};

/// `child` with `parents` as affected transactions (party protection).
fn affecting(mut child: EncodedPayload, parents: &[&EncodedPayload]) -> EncodedPayload {
    child.privacy_mode = PrivacyMode::PartyProtection;
    for parent in parents {
        child
            .affected_contract_transactions
            .insert(parent.hash(), SecurityHash(vec![7; 64]));
    }
    child
}

fn legacy(payloads: &[&EncodedPayload]) -> Vec<(Vec<u8>, EncodedPayload)> {
    payloads
        .iter()
        .map(|p| (PayloadCodec::Legacy.encode(p), (*p).clone()))
        .collect()
}

/// Every staged row, page by page, in recovery's order.
fn read_all(store: &tm_store::Store, page: u32) -> Vec<StagedPayload> {
    let mut all: Vec<StagedPayload> = Vec::new();
    loop {
        let rows = store.staging_page(all.last(), page).expect("a page");
        if rows.is_empty() {
            return all;
        }
        assert!(rows.len() <= page as usize);
        all.extend(rows);
    }
}

/// Runs the stages as recovery does; returns how many rows each stage got.
fn stage_all(store: &tm_store::Store, limit: u32) -> Vec<usize> {
    let mut per_stage = Vec::new();
    for stage in 1.. {
        let n = store.stage_next(limit, stage).expect("a staging pass");
        if n == 0 {
            return per_stage;
        }
        per_stage.push(n);
    }
    unreachable!()
}

both_backends! {
    fn staged_rows_keep_what_the_peer_sent(db) {
        let parent = payload("parent", &[1]);
        let child = affecting(payload("child", &[1]), &[&parent]);
        db.store.stage_payloads(&legacy(&[&parent, &child])).expect("staged");
        assert_eq!(
            db.store.staging_counts().expect("counts"),
            StagingCounts { payloads: 2, staged: 0, affected: 1 }
        );
        // Tessera's layout: base64 hash, LEGACY bytes as received, the privacy flag.
        let rows = db.store.staging_page(None, 10).expect("rows");
        assert_eq!(rows.len(), 2);
        let by_hash = |p: &EncodedPayload| {
            rows.iter().find(|r| r.hash == p.hash().to_base64()).expect("a row per payload").clone()
        };
        let row = by_hash(&child);
        assert_eq!(row.payload, PayloadCodec::Legacy.encode(&child));
        assert_eq!(row.privacy_mode, Some(1));
        assert_eq!(row.stage, None);
        assert_eq!(by_hash(&parent).privacy_mode, Some(0));
        db.store.clear_staging().expect("cleared");
        assert!(db.store.staging_counts().expect("counts").is_empty());
    }

    fn batches_from_two_instances_take_distinct_ids(db) {
        let first = payload("first", &[1]);
        db.store.stage_payloads(&legacy(&[&first])).expect("staged");
        let other = db.another_instance(false, 2);
        let second = payload("second", &[2]);
        let third = payload("third", &[3]);
        other.stage_payloads(&legacy(&[&second, &third])).expect("staged");
        let ids: Vec<i64> = read_all(&db.store, 10).into_iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "three distinct ids: {ids:?}");
    }

    fn stages_follow_affected_transactions(db) {
        // grandparent <- parent <- child, and a standalone one; staged out of order, and the
        // same parent twice (two peers resent it).
        let grandparent = payload("grandparent", &[1]);
        let parent = affecting(payload("parent", &[1]), &[&grandparent]);
        let child = affecting(payload("child", &[1]), &[&parent, &grandparent]);
        let alone = payload("alone", &[1]);
        db.store
            .stage_payloads(&legacy(&[&child, &parent, &alone, &grandparent, &parent]))
            .expect("staged");
        assert_eq!(stage_all(&db.store, 10_000), vec![2, 2, 1]);
        let rows = read_all(&db.store, 2);
        let stage_of = |p: &EncodedPayload| {
            let hash = p.hash().to_base64();
            let stages: Vec<Option<i64>> =
                rows.iter().filter(|r| r.hash == hash).map(|r| r.stage).collect();
            assert!(stages.windows(2).all(|w| w[0] == w[1]), "copies share a stage");
            stages[0]
        };
        assert_eq!(stage_of(&grandparent), Some(1));
        assert_eq!(stage_of(&alone), Some(1));
        assert_eq!(stage_of(&parent), Some(2));
        assert_eq!(stage_of(&child), Some(3));
        // Read back in stage order, every row once.
        assert_eq!(rows.len(), 5);
        assert!(rows.windows(2).all(|w| w[0].stage <= w[1].stage));
        assert_eq!(db.store.staging_counts().expect("counts").staged, 5);
    }

    fn a_missing_affected_transaction_leaves_its_dependants_unstaged(db) {
        // As in Tessera: an affected transaction nobody resent blocks the row (and what
        // depends on it); unstaged rows are read last.
        let absent = payload("absent", &[1]);
        let orphan = affecting(payload("orphan", &[1]), &[&absent]);
        let after_orphan = affecting(payload("after-orphan", &[1]), &[&orphan]);
        let fine = payload("fine", &[1]);
        db.store.stage_payloads(&legacy(&[&after_orphan, &orphan, &fine])).expect("staged");
        assert_eq!(stage_all(&db.store, 10_000), vec![1]);
        let counts = db.store.staging_counts().expect("counts");
        assert_eq!((counts.payloads, counts.staged), (3, 1));
        let rows = read_all(&db.store, 1);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].hash, fine.hash().to_base64());
        assert!(rows[1..].iter().all(|r| r.stage.is_none()));
        assert!(rows[1].hash < rows[2].hash, "unstaged rows by hash");
    }

    fn a_stage_takes_at_most_its_limit(db) {
        let many: Vec<EncodedPayload> = (0..7).map(|i| payload(&format!("p{i}"), &[1])).collect();
        let refs: Vec<&EncodedPayload> = many.iter().collect();
        db.store.stage_payloads(&legacy(&refs)).expect("staged");
        assert_eq!(stage_all(&db.store, 3), vec![3, 3, 1]);
        let hashes: Vec<String> = read_all(&db.store, 4).into_iter().map(|r| r.hash).collect();
        let mut expected: Vec<String> = many.iter().map(|p| p.hash().to_base64()).collect();
        expected.sort();
        let mut got = hashes.clone();
        got.sort();
        assert_eq!(got, expected);
    }
}
