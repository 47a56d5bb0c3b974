//! The peer state of the party store (migration 3): unreachable peers, the grace-period
//! removal and the candidates, on both backends.

use tm_store::{CandidatesAdded, MAX_PEER_ERROR_CHARS};

use crate::support::{both_backends, key, now_millis};

const A: &str = "http://a:9001/";
const B: &str = "http://b:9001/";

both_backends! {
    fn a_failed_attempt_marks_a_peer_unreachable_and_a_contact_clears_it(db) {
        let s = &db.store;
        let versions = vec!["5.0".to_owned()];
        s.record_peer_contact(A, 1000, &versions).expect("contact");
        let a = s.find_peer(A).expect("find").expect("peer");
        assert!(!a.is_unreachable());
        assert_eq!(a.last_error, None);

        // The first failure sets since when; the next ones only the error.
        assert!(s.mark_peer_unreachable(A, 2000, "connection refused").expect("mark"));
        let first = s.find_peer(A).expect("find").expect("peer");
        let since = first.unreachable_since.expect("unreachable since");
        assert!(since >= now_millis() - 60_000, "since is now: {since}");
        assert_eq!(first.last_error.as_deref(), Some("connection refused"));
        assert_eq!(first.last_contact, Some(1000), "the last contact is kept");
        assert!(s.mark_peer_unreachable(A, 3000, "timed out").expect("mark again"));
        let second = s.find_peer(A).expect("find").expect("peer");
        assert_eq!(second.unreachable_since, Some(since));
        assert_eq!(second.last_error.as_deref(), Some("timed out"));

        // A poll that reaches it clears the state and keeps the versions it advertised.
        s.record_peer_reached(A, 4000).expect("reached");
        let back = s.find_peer(A).expect("find").expect("peer");
        assert_eq!((back.unreachable_since, back.last_error), (None, None));
        assert_eq!(back.last_contact, Some(4000));
        assert_eq!(back.api_versions, Some(versions));

        // An attempt that started before the last contact (another replica reached it
        // meanwhile) leaves the peer as it is.
        assert!(!s.mark_peer_unreachable(A, 3999, "stale failure").expect("not marked"));
        assert!(!s.mark_peer_unreachable(A, 4000, "same instant").expect("not marked"));
        let kept = s.find_peer(A).expect("find").expect("peer");
        assert!(!kept.is_unreachable(), "{kept:?}");
        // Its own party info is a contact too: it clears the state.
        assert!(s.mark_peer_unreachable(A, 5000, "down").expect("mark"));
        s.record_peer_contact(A, 6000, &[]).expect("contact");
        let posted = s.find_peer(A).expect("find").expect("peer");
        assert_eq!((posted.unreachable_since, posted.last_error), (None, None));

        // A URL that is no peer is not added by a failure.
        assert!(!s.mark_peer_unreachable(B, 7000, "refused").expect("no peer"));
        assert!(s.find_peer(B).expect("find").is_none());
    }

    fn a_long_error_is_cut_to_the_column(db) {
        let s = &db.store;
        s.record_peer_contact(A, 1000, &[]).expect("contact");
        let long = "ü".repeat(MAX_PEER_ERROR_CHARS * 3);
        assert!(s.mark_peer_unreachable(A, 2000, &long).expect("mark"));
        let error = s.find_peer(A).expect("find").expect("peer").last_error.expect("error");
        assert_eq!(error.chars().count(), MAX_PEER_ERROR_CHARS);
    }

    fn a_peer_is_removed_with_its_keys_only_after_the_grace_period(db) {
        let s = &db.store;
        s.record_peer_contact(A, 10_000, &[]).expect("contact");
        s.upsert_recipient(&key(1), A).expect("route");
        s.upsert_recipient(&key(2), A).expect("route");
        s.record_peer_contact(B, 10_000, &[]).expect("contact");
        s.upsert_recipient(&key(3), B).expect("route");
        assert!(s.mark_peer_unreachable(A, 20_000, "down").expect("mark"));

        // Contacted at the cutoff or later: kept, with its keys.
        assert!(!s.remove_peer_if_stale(A, 10_000).expect("not stale"));
        assert!(!s.remove_peer_if_stale(A, 9_000).expect("not stale"));
        assert_eq!(s.find_recipient(&key(1)).expect("find").expect("routed").peer_url, A);

        // Older than the cutoff: removed with its keys, others untouched.
        assert!(s.remove_peer_if_stale(A, 10_001).expect("stale"));
        assert!(s.find_peer(A).expect("find").is_none());
        assert!(s.find_recipient(&key(1)).expect("find").is_none());
        assert!(s.find_recipient(&key(2)).expect("find").is_none());
        assert_eq!(s.find_recipient(&key(3)).expect("find").expect("routed").peer_url, B);
        assert!(!s.remove_peer_if_stale(A, 10_001).expect("gone already"));

        // A peer never contacted counts from when it was recorded.
        assert!(s.add_peer("http://c:9001/").expect("added"));
        let created = s.find_peer("http://c:9001/").expect("find").expect("peer").created;
        assert!(!s.remove_peer_if_stale("http://c:9001/", created).expect("fresh"));
        assert!(s.remove_peer_if_stale("http://c:9001/", created + 1).expect("stale"));
    }

    fn candidates_are_urls_that_are_no_peers_and_stop_at_the_cap(db) {
        let s = &db.store;
        s.record_peer_contact(A, 1000, &[]).expect("peer");
        let listed: Vec<String> = ["http://c:9001/", A, "http://d:9001/", "http://c:9001/"]
            .iter()
            .map(|u| (*u).to_owned())
            .collect();
        let added = s.add_candidates(&listed, 10).expect("add");
        assert_eq!(added, CandidatesAdded { added: 2, ignored: 0 });
        assert_eq!(s.add_candidates(&listed, 10).expect("again"), CandidatesAdded::default());
        assert_eq!(s.list_peers().expect("peers").len(), 1, "listing never adds a peer");
        assert!(s.find_candidate("http://c:9001/").expect("find").is_some());
        assert!(s.find_candidate(A).expect("find").is_none(), "a peer is no candidate");

        // Oldest first.
        db.exec("UPDATE tm_candidate SET created = 5 WHERE url = 'http://d:9001/'");
        let oldest: Vec<String> =
            s.oldest_candidates(10).expect("oldest").into_iter().map(|c| c.url).collect();
        assert_eq!(oldest, ["http://d:9001/", "http://c:9001/"]);
        assert_eq!(s.oldest_candidates(1).expect("one").len(), 1);

        // At the cap, new URLs are ignored and counted.
        let more: Vec<String> = (0..4).map(|i| format!("http://e{i}:9001/")).collect();
        let capped = s.add_candidates(&more, 3).expect("capped");
        assert_eq!(capped, CandidatesAdded { added: 1, ignored: 3 });
        assert_eq!(s.count_candidates().expect("count"), 3);

        // A candidate reached becomes a peer and is no candidate any more.
        s.record_peer_reached("http://d:9001/", 2000).expect("reached");
        let d = s.find_peer("http://d:9001/").expect("find").expect("a peer now");
        assert_eq!((d.last_contact, d.api_versions), (Some(2000), None));
        assert_eq!(s.count_candidates().expect("count"), 2);
        assert!(s.find_candidate("http://d:9001/").expect("find").is_none());
        assert!(s.remove_candidate("http://c:9001/").expect("dropped"));
        assert!(!s.remove_candidate("http://c:9001/").expect("dropped already"));
        assert_eq!(s.count_candidates().expect("count"), 1);
    }

    fn migration_3_turns_peers_never_heard_from_into_candidates(db) {
        // Back to the state before migration 3 (its down.sql), with rows an earlier version
        // wrote: a peer listed by someone (no contact, no key), one heard from, and one
        // without a contact that serves a key.
        let down = match db.backend {
            crate::support::Backend::Sqlite => include_str!(
                "../../../../migrations/sqlite/00000000000003_tm_peer_state/down.sql"
            ),
            crate::support::Backend::Postgres => include_str!(
                "../../../../migrations/postgres/00000000000003_tm_peer_state/down.sql"
            ),
        };
        db.exec(down);
        db.exec("DELETE FROM __diesel_schema_migrations WHERE version = '00000000000003'");
        db.exec(
            "INSERT INTO tm_peer (url, api_versions, last_contact, created) VALUES \
             ('http://listed:9001/', NULL, NULL, 7), \
             ('http://heard:9001/', '5.0', 9, 8), \
             ('http://routed:9001/', NULL, NULL, 6)",
        );
        let routed_key = key(4);
        let hex: String = routed_key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let literal = match db.backend {
            crate::support::Backend::Sqlite => format!("X'{hex}'"),
            crate::support::Backend::Postgres => format!("'\\x{hex}'::bytea"),
        };
        db.exec(&format!(
            "INSERT INTO tm_recipient (public_key, peer_url, updated) VALUES \
             ({literal}, 'http://routed:9001/', 6)"
        ));

        let s = db.another_instance(true, 1);
        let peers: Vec<String> = s.list_peers().expect("peers").into_iter().map(|p| p.url).collect();
        assert_eq!(peers, ["http://heard:9001/", "http://routed:9001/"]);
        let candidates = s.oldest_candidates(10).expect("candidates");
        assert_eq!(candidates.len(), 1);
        assert_eq!((candidates[0].url.as_str(), candidates[0].created), ("http://listed:9001/", 7));
        assert_eq!(s.find_recipient(&routed_key).expect("find").expect("kept").peer_url, "http://routed:9001/");
        let heard = s.find_peer("http://heard:9001/").expect("find").expect("peer");
        assert_eq!((heard.unreachable_since, heard.last_error), (None, None));
    }
}
