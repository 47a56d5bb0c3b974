//! The party store (our tables tm_peer, tm_recipient), on both backends.

use crate::support::{both_backends, key};

both_backends! {
    fn peers_and_recipients(db) {
        let s = &db.store;
        assert!(s.add_peer("http://a:9001/").expect("add"));
        assert!(!s.add_peer("http://a:9001/").expect("add again"));
        let a = s.find_peer("http://a:9001/").expect("find").expect("peer");
        assert_eq!((a.last_contact, a.api_versions), (None, None));

        let versions = vec!["v1".to_owned(), "v2".to_owned(), "5.0".to_owned()];
        s.record_peer_contact("http://a:9001/", 1234, &versions).expect("contact");
        s.record_peer_contact("http://b:9001/", 5678, &[]).expect("contact adds");
        let a2 = s.find_peer("http://a:9001/").expect("find").expect("peer");
        assert_eq!(a2.last_contact, Some(1234));
        assert_eq!(a2.api_versions, Some(versions));
        assert_eq!(a2.created, a.created, "first-seen time is kept");
        let b = s.find_peer("http://b:9001/").expect("find").expect("peer");
        assert_eq!(b.api_versions, Some(vec![]));
        let urls: Vec<String> = s.list_peers().expect("list").into_iter().map(|p| p.url).collect();
        assert_eq!(urls, ["http://a:9001/", "http://b:9001/"]);

        s.upsert_recipient(&key(1), "http://a:9001/").expect("route");
        s.upsert_recipient(&key(2), "http://a:9001/").expect("route");
        s.upsert_recipient(&key(3), "http://c:9001/").expect("route adds the peer");
        assert!(s.find_peer("http://c:9001/").expect("find").is_some());
        // A key that moves to another node is routed there.
        s.upsert_recipient(&key(2), "http://b:9001/").expect("re-route");
        assert_eq!(s.find_recipient(&key(2)).expect("find").expect("route").peer_url, "http://b:9001/");
        assert_eq!(s.list_recipients().expect("list").len(), 3);
        assert_eq!(s.count_recipients().expect("count"), 3);

        assert!(s.remove_peer("http://a:9001/").expect("remove"));
        assert!(!s.remove_peer("http://a:9001/").expect("remove again"));
        assert!(s.find_recipient(&key(1)).expect("find").is_none(), "its keys go with it");
        assert!(s.find_recipient(&key(2)).expect("find").is_some());
        assert!(s.remove_recipient(&key(3)).expect("remove key"));
        assert!(!s.remove_recipient(&key(3)).expect("remove key again"));
        assert_eq!(s.list_recipients().expect("list").len(), 1);
        assert_eq!(s.count_recipients().expect("count"), 1);
    }
}
