//! What the P2P endpoint fuzz targets share (`fuzz_targets/p2p_*.rs`).
//!
//! One [`Harness`] per process, built on first use: a current-thread tokio runtime, an
//! in-memory SQLite store (`jdbc:sqlite::memory:`) seeded with real rows, an in-process enclave
//! holding two fixed keys, and four [`Node`]s over them that differ only in the settings an
//! input can choose (enhanced privacy on or off, peer discovery on or off). Nothing leaves the
//! process: the only peer the store routes a key to is [`PeerStub`], a loopback listener in
//! this process that records what it is sent and answers at once; remote key validation (which
//! would call the URL a party info names) is off.
//!
//! Every key, payload and group is built from fixed bytes ([`Fixtures`]), so the seed inputs a
//! target writes into its corpus directory at start ([`write_seeds`]) match the rows of any
//! later run, and a corpus kept between runs stays meaningful.
//!
//! The store is rebuilt from the seed rows every [`reset_every`] executions (after a full
//! consistency scan, [`Harness::check_store`]), so that it stays small and the per-input checks
//! stay cheap. A crash that needs state an earlier input left behind may therefore not
//! reproduce from its artifact alone: rerun the artifact with `TM_FUZZ_RESET_EVERY=1` (a fresh
//! store before every input) to see whether it does.

use std::collections::HashSet;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use tm_client::p2p::{P2pClient, P2pTimeouts};
use tm_core::nacl::MasterKey;
use tm_core::partyinfo::{normalise_party_url, PartyInfo, Recipient};
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::seal::{PrivacyMetadata, SealRandomness};
use tm_core::version::SUPPORTED_API_VERSIONS;
use tm_core::{EncodedPayload, KeyPair, Keyring, PayloadCodec, PrivacyMode, PrivateKey, PublicKey};
use tm_enclave::{Enclave, EnclaveClient};
use tm_manager::{GroupSummary, Node, Settings};
use tm_store::{AsyncStore, PrivacyGroupRow, Store, StoredTransaction};

/// This node's P2P URL (nothing listens there; nothing calls it).
pub const OWN_URL: &str = "http://127.0.0.1:9001/";
/// Name of the resident group configured on this node.
pub const RESIDENT_GROUP: &str = "fuzz-resident";

/// Executions between two rebuilds of the store (`TM_FUZZ_RESET_EVERY`, default 5000; 1 gives
/// every input a fresh store, to reproduce an artifact exactly).
pub fn reset_every() -> u64 {
    static EVERY: LazyLock<u64> = LazyLock::new(|| {
        std::env::var("TM_FUZZ_RESET_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(5000)
    });
    *EVERY
}

fn pair(n: u8) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_bytes([n; 32]))
}

fn randomness(n: u8) -> SealRandomness {
    SealRandomness {
        master_key: MasterKey::from_bytes([n; 32]),
        cipher_text_nonce: [n ^ 0x55; 24],
        recipient_nonce: [n ^ 0xaa; 24],
    }
}

/// The fixed keys and payloads rows and seeds are made of.
pub struct Fixtures {
    /// Our default key.
    pub our_a: PublicKey,
    /// Our second key.
    pub our_b: PublicKey,
    /// The key of the peer ([`PeerStub`]), routed to it in the store.
    pub remote: PublicKey,
    /// A key no one here knows.
    pub stranger: PublicKey,
    our_pairs: Vec<KeyPair>,
    /// A transaction we sent, held complete (as a send stores it): our_a → [remote, our_a].
    pub sent: EncodedPayload,
    /// A transaction we sent, held as rebuilt from the remote's copy (its box only); the
    /// complete payload is `sent_rebuilt_full`.
    pub sent_rebuilt: EncodedPayload,
    /// See `sent_rebuilt`.
    pub sent_rebuilt_full: EncodedPayload,
    /// remote → [our_a, our_b]; we hold our_a's copy.
    pub pushed_full: EncodedPayload,
    /// Our_a's copy of `pushed_full` (held).
    pub pushed_a: EncodedPayload,
    /// Our_b's copy of `pushed_full` (not held: pushing it merges).
    pub pushed_b: EncodedPayload,
    /// remote → [our_a], not held.
    pub fresh: EncodedPayload,
    /// remote → [our_a, our_b], not held.
    pub fresh_both: EncodedPayload,
    /// remote → one box for our_b, no keys (the form very old nodes pushed), not held.
    pub fresh_old_form: EncodedPayload,
    /// remote → [our_a, stranger]: a box for a key we do not hold.
    pub to_stranger: EncodedPayload,
    /// remote → [our_a, remote], party protection, our copy held.
    pub pp_base: EncodedPayload,
    /// party protection, affected by `pp_base`; our copy, not held.
    pub pp_child: EncodedPayload,
    /// remote → [our_a, remote], PSV, our copy held.
    pub psv_base: EncodedPayload,
    /// PSV, affected by `psv_base`; our copy, not held.
    pub psv_child: EncodedPayload,
    /// A validation challenge to our_a holding a UUID (what `validated_keys` sends).
    pub challenge: EncodedPayload,
    /// A validation payload to our_a whose plain text is no UUID.
    pub challenge_not_uuid: EncodedPayload,
    /// The privacy group held (ACTIVE, PANTHEON, [our_a, remote]).
    pub group: PrivacyGroupRecord,
}

impl Fixtures {
    fn build() -> Self {
        let ours = vec![pair(1), pair(2)];
        let remote_pair = pair(3);
        let our_a = ours[0].public.clone();
        let our_b = ours[1].public.clone();
        let remote = remote_pair.public.clone();
        let stranger = pair(4).public;
        let us = Keyring::new(ours.clone());
        let them = Keyring::new(vec![remote_pair]);
        let plain = PrivacyMetadata::default();
        let seal = |ring: &Keyring,
                    msg: &[u8],
                    from: &PublicKey,
                    to: &[PublicKey],
                    meta: &PrivacyMetadata,
                    n: u8| {
            ring.encrypt_payload_with(msg, from, to, meta, &randomness(n))
                .expect("fixture encrypts")
        };
        let sent = seal(&us, b"sent by us", &our_a, &[remote.clone(), our_a.clone()], &plain, 10);
        let sent_rebuilt_full =
            seal(&us, b"rebuilt", &our_a, &[remote.clone(), our_a.clone()], &plain, 11);
        let sent_rebuilt = sent_rebuilt_full.for_recipient(&remote).expect("copy");
        let pushed_full =
            seal(&them, b"pushed to us", &remote, &[our_a.clone(), our_b.clone()], &plain, 20);
        let pushed_a = pushed_full.for_recipient(&our_a).expect("copy");
        let pushed_b = pushed_full.for_recipient(&our_b).expect("copy");
        let fresh = seal(&them, b"fresh", &remote, &[our_a.clone()], &plain, 21);
        let fresh_both =
            seal(&them, b"fresh both", &remote, &[our_a.clone(), our_b.clone()], &plain, 22);
        let mut fresh_old_form = seal(&them, b"old form", &remote, &[our_b.clone()], &plain, 23);
        fresh_old_form.recipient_keys.clear();
        let to_stranger = seal(
            &them,
            b"stranger",
            &remote,
            &[our_a.clone(), stranger.clone()],
            &plain,
            24,
        );
        let both = [our_a.clone(), remote.clone()];
        let pp = PrivacyMetadata {
            privacy_mode: PrivacyMode::PartyProtection,
            ..PrivacyMetadata::default()
        };
        let pp_base_full = seal(&them, b"pp base", &remote, &both, &pp, 30);
        let pp_child_full = seal(
            &them,
            b"pp child",
            &remote,
            &both,
            &PrivacyMetadata {
                affected: vec![(pp_base_full.hash(), pp_base_full.clone())],
                ..pp.clone()
            },
            31,
        );
        let psv = PrivacyMetadata {
            privacy_mode: PrivacyMode::PrivateStateValidation,
            exec_hash: b"0xfuzzexec".to_vec(),
            ..PrivacyMetadata::default()
        };
        let psv_base_full = seal(&them, b"psv base", &remote, &both, &psv, 32);
        let psv_child_full = seal(
            &them,
            b"psv child",
            &remote,
            &both,
            &PrivacyMetadata {
                affected: vec![(psv_base_full.hash(), psv_base_full.clone())],
                ..psv.clone()
            },
            33,
        );
        let challenge = seal(
            &them,
            b"0f6f6a2e-3c1d-4b8e-9a57-2b8c7d1e5f40",
            &remote,
            &[our_a.clone()],
            &plain,
            40,
        );
        let challenge_not_uuid =
            seal(&them, b"not a uuid", &remote, &[our_a.clone()], &plain, 41);
        let group = PrivacyGroupRecord {
            name: "held".into(),
            description: "a group we hold".into(),
            members: vec![our_a.clone(), remote.clone()],
            seed: b"fuzz-seed".to_vec(),
            group_type: "PANTHEON".into(),
            state: "ACTIVE".into(),
        };
        Self {
            our_pairs: ours,
            sent,
            sent_rebuilt,
            sent_rebuilt_full,
            pushed_a,
            pushed_b,
            pushed_full,
            fresh,
            fresh_both,
            fresh_old_form,
            to_stranger,
            pp_base: pp_base_full.for_recipient(&our_a).expect("copy"),
            pp_child: pp_child_full.for_recipient(&our_a).expect("copy"),
            psv_base: psv_base_full.for_recipient(&our_a).expect("copy"),
            psv_child: psv_child_full.for_recipient(&our_a).expect("copy"),
            challenge,
            challenge_not_uuid,
            group,
            our_a,
            our_b,
            remote,
            stranger,
        }
    }

    /// Our public keys.
    pub fn ours(&self) -> [PublicKey; 2] {
        [self.our_a.clone(), self.our_b.clone()]
    }

    /// The rows every store starts with (besides the party store and the group).
    fn rows(&self) -> [&EncodedPayload; 5] {
        [
            &self.sent,
            &self.sent_rebuilt,
            &self.pushed_a,
            &self.pp_base,
            &self.psv_base,
        ]
    }
}

/// One request a [`PeerStub`] received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request path (`/push`, `/pushBatch`, ...).
    pub path: String,
    /// The caller's `tesseraSupportedApiVersions` values, comma-joined.
    pub versions: String,
    /// The body.
    pub body: Vec<u8>,
}

/// The peer the store routes `remote` to: a loopback listener in this process, served by one
/// thread, that records every request and answers it at once (`/push`: 201 with the pushed
/// payload's hash; anything else: 200, empty). Resends reach their network call through it
/// without leaving the process or waiting on a timeout.
pub struct PeerStub {
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl PeerStub {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the peer stub");
        let port = listener.local_addr().expect("stub address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if let Ok(mut stream) = stream {
                    let _ = answer(&mut stream, &served);
                }
            }
        });
        Self {
            url: normalise_party_url(&format!("http://127.0.0.1:{port}")),
            log,
        }
    }

    /// Takes what the stub received so far.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *lock(&self.log))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn answer(stream: &mut TcpStream, log: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_owned();
    let mut length = 0usize;
    let mut versions = Vec::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse().unwrap_or(0);
            } else if name == "tesserasupportedapiversions" {
                versions.push(value.trim().to_owned());
            }
        }
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let versions = versions.join(",");
    let (status, text) = if path.ends_with("/push") {
        let codec = PayloadCodec::preferred_for(versions.split(','));
        match codec.decode(&body) {
            Ok(payload) => ("201 Created", payload.hash().to_base64()),
            Err(e) => ("400 Bad Request", e.to_string()),
        }
    } else {
        ("200 OK", String::new())
    };
    lock(log).push(Received {
        path,
        versions,
        body,
    });
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

/// The settings an input can choose.
#[derive(Clone, Copy, Debug, Default)]
pub struct Variant {
    /// `features.enablePrivacyEnhancements`.
    pub enhancements: bool,
    /// `disablePeerDiscovery` (only the configured peer may send party info).
    pub no_discovery: bool,
}

impl Variant {
    /// Bits 3 and 4 of a flags byte.
    pub fn from_flags(flags: u8) -> Self {
        Self {
            enhancements: flags & 0x08 != 0,
            no_discovery: flags & 0x10 != 0,
        }
    }

    /// The flags byte for this variant with header choice `header` (bits 0-2).
    pub fn flags(self, header: u8) -> u8 {
        (header & 7) | (u8::from(self.enhancements) << 3) | (u8::from(self.no_discovery) << 4)
    }

    fn index(self) -> usize {
        usize::from(self.enhancements) | (usize::from(self.no_discovery) << 1)
    }
}

/// The `tesseraSupportedApiVersions` header values an input can send (bits 0-2 of its flags
/// byte): none, CBOR-capable lists, LEGACY-only lists, and one longer than the party store
/// holds (1024 characters).
pub fn header_values(flags: u8) -> Vec<String> {
    match flags & 7 {
        0 => Vec::new(),
        1 => vec!["5.0".into()],
        2 => vec![SUPPORTED_API_VERSIONS.join(",")],
        3 => vec!["1.0,2.0,2.1,3.0,4.0".into()],
        4 => vec!["v1".into(), " 5.0 , v2".into()],
        5 => vec!["5.0x,v2".into(), String::new()],
        6 => vec![format!("{},5.0", "9.9,".repeat(300))],
        _ => vec![",,".into()],
    }
}

struct State {
    store: AsyncStore,
    nodes: Vec<Node>,
    execs: u64,
}

/// The node under test, built once per process.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    /// The enclave the nodes use (the targets open boxes with it to check stored rows).
    pub enclave: Arc<Enclave>,
    p2p: P2pClient,
    /// The peer the store routes `remote` to.
    pub peer: PeerStub,
    /// The keys, rows and seeds.
    pub fx: Fixtures,
    state: Mutex<State>,
}

/// What a target sees while it runs one input.
pub struct Ctx<'a> {
    h: &'a Harness,
    state: &'a State,
}

impl Ctx<'_> {
    /// The node with these settings.
    pub fn node(&self, variant: Variant) -> &Node {
        &self.state.nodes[variant.index()]
    }

    /// The store the nodes share (blocking calls, from the fuzzing thread).
    pub fn store(&self) -> &Store {
        self.state.store.blocking()
    }

    /// Runs a future on the harness's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.h.rt.block_on(f)
    }

    /// The harness.
    pub fn harness(&self) -> &Harness {
        self.h
    }

    /// The fixtures.
    pub fn fx(&self) -> &Fixtures {
        &self.h.fx
    }
}

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::build);

/// The harness of this process.
pub fn harness() -> &'static Harness {
    &HARNESS
}

impl Harness {
    fn build() -> Self {
        // Blocking-pool threads (the store's calls) live for the whole run: a thread started
        // again after its idle timeout registers thread-local destructors that LeakSanitizer
        // reports as a leak of the input that happened to start it (seen in p2p_push after
        // 1.6 million executions: 96 bytes from `__cxa_thread_atexit_impl`).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(4)
            .thread_keep_alive(Duration::from_secs(365 * 24 * 3600))
            .build()
            .expect("tokio runtime");
        let fx = Fixtures::build();
        let enclave = Arc::new(Enclave::new(fx.our_pairs.clone(), Vec::new()));
        let p2p = P2pClient::new(P2pTimeouts::without_retries(
            Duration::from_secs(2),
            Duration::from_secs(2),
        ))
        .expect("P2P client");
        let peer = PeerStub::start();
        let state = Mutex::new(new_state(&rt, &fx, &enclave, &p2p, &peer));
        Self {
            rt,
            enclave,
            p2p,
            peer,
            fx,
            state,
        }
    }

    /// Runs one input: `f` gets the nodes and the store. Every [`reset_every`] executions the
    /// whole store is checked ([`Harness::check_store`]) and rebuilt from the seed rows.
    pub fn run<T>(&self, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
        let mut state = lock(&self.state);
        if state.execs >= reset_every() {
            self.check_store(state.store.blocking());
            let misaligned = MISALIGNED.load(Ordering::Relaxed);
            if misaligned > 0 {
                eprintln!("tm-fuzz: tolerated so far: {misaligned} checks of a row with more boxes than keys (TM_FUZZ_TOLERATE=misaligned)");
            }
            *state = new_state(&self.rt, &self.fx, &self.enclave, &self.p2p, &self.peer);
        }
        state.execs += 1;
        let ctx = Ctx {
            h: self,
            state: &state,
        };
        f(&ctx)
    }

    /// Invariants of the whole store, whatever inputs came before:
    ///
    /// - every transaction row decodes, is stored under its own hash and could be opened by
    ///   someone (`check_storable`); a row whose sender is not ours holds boxes only for our
    ///   keys (a recipient is pushed its own box);
    /// - every privacy group row decodes, passes `PrivacyGroupRecord::check` and is stored
    ///   under its own id;
    /// - no key of ours is routed to a peer, and every route's peer is in the party store;
    /// - every peer has had a contact, no candidate is a peer, and the candidates stay within
    ///   their cap (`tm_manager::party::MAX_CANDIDATES`).
    pub fn check_store(&self, store: &Store) {
        let ours = self.fx.ours();
        let mut after = None;
        loop {
            let page = store
                .page_payloads(after.as_ref(), 200)
                .expect("every stored transaction decodes");
            let Some(last) = page.last() else { break };
            after = Some(last.hash.clone());
            for row in &page {
                check_row(row, &ours);
            }
        }
        for row in store
            .list_privacy_groups()
            .expect("every stored privacy group can be read")
        {
            let record = row.record().expect("every stored privacy group decodes");
            record.check().expect("every stored privacy group is valid");
            assert_eq!(record.id(), row.id, "a privacy group is stored under its id");
        }
        for route in store.list_recipients().expect("routes can be read") {
            assert!(
                !ours.contains(&route.public_key),
                "a key of ours is routed to {}",
                route.peer_url
            );
            assert!(
                store
                    .find_peer(&route.peer_url)
                    .expect("peer can be read")
                    .is_some(),
                "a route points to a peer the party store does not hold"
            );
        }
        for peer in store.list_peers().expect("peers can be read") {
            assert!(peer.last_contact.is_some(), "{} is a peer never heard from", peer.url);
        }
        let cap = tm_manager::party::MAX_CANDIDATES;
        let candidates = store
            .oldest_candidates(u32::try_from(cap + 1).unwrap_or(u32::MAX))
            .expect("candidates can be read");
        assert!(candidates.len() <= cap, "more candidates than the cap");
        for candidate in candidates {
            assert!(
                store.find_peer(&candidate.url).expect("peer can be read").is_none(),
                "{} is both a peer and a candidate",
                candidate.url
            );
        }
    }
}

/// Rows with more boxes than keys seen while `TM_FUZZ_TOLERATE=misaligned` (see
/// [`check_row`]).
static MISALIGNED: AtomicU64 = AtomicU64::new(0);

/// Whether `TM_FUZZ_TOLERATE` names `what`: a known finding a long run steps over (counted,
/// and reported at every store rebuild) instead of stopping at. Known: `misaligned`, a push
/// of a keyless box into a row that lists keys leaves the row with more boxes than keys
/// (the keys no longer line up with the boxes; see fuzz/README.md).
fn tolerated(what: &str) -> bool {
    static TOLERATE: LazyLock<String> =
        LazyLock::new(|| std::env::var("TM_FUZZ_TOLERATE").unwrap_or_default());
    TOLERATE.split(',').any(|t| t.trim() == what)
}

/// The invariants of one stored transaction row (see [`Harness::check_store`]). Returns
/// `false` for a row with the known misalignment when it is tolerated: the caller skips the
/// checks that assume boxes and keys line up.
pub fn check_row(row: &StoredTransaction, ours: &[PublicKey]) -> bool {
    assert_eq!(row.payload.hash(), row.hash, "a row is stored under its hash");
    let p = &row.payload;
    if !p.recipient_keys.is_empty()
        && p.recipient_keys.len() < p.recipient_boxes.len()
        && p.privacy_mode != PrivacyMode::PrivateStateValidation
        && tolerated("misaligned")
    {
        MISALIGNED.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    if let Err(e) = row.payload.check_storable() {
        panic!(
            "stored row {} no longer passes check_storable ({e}): keys {}, boxes {}",
            row.hash,
            row.payload.recipient_keys.len(),
            row.payload.recipient_boxes.len()
        );
    }
    if !ours.contains(&row.payload.sender) {
        for key in row
            .payload
            .recipient_keys
            .iter()
            .take(row.payload.recipient_boxes.len())
        {
            assert!(
                ours.contains(key),
                "row {} from another node holds a box for {key}, not ours",
                row.hash
            );
        }
    }
    true
}

fn new_state(
    rt: &tokio::runtime::Runtime,
    fx: &Fixtures,
    enclave: &Arc<Enclave>,
    p2p: &P2pClient,
    peer: &PeerStub,
) -> State {
    let store = rt
        .block_on(AsyncStore::connect(
            "jdbc:sqlite::memory:".into(),
            None,
            None,
            true,
            1,
        ))
        .expect("in-memory store");
    let blocking = store.blocking();
    for row in fx.rows() {
        blocking.store_payload(row).expect("seed row");
    }
    blocking
        .save_privacy_group(&PrivacyGroupRow::from_record(&fx.group))
        .expect("seed group");
    let versions: Vec<String> = SUPPORTED_API_VERSIONS.iter().map(|v| v.to_string()).collect();
    blocking
        .replace_peer_recipients(&peer.url, 1, &versions, std::slice::from_ref(&fx.remote))
        .expect("seed party store");
    // A peer heard from once (the party store holds only nodes it had a contact with).
    blocking
        .record_peer_contact("http://127.0.0.1:1/", 1, &versions)
        .expect("seed peer");
    let enclave = EnclaveClient::Local(Arc::clone(enclave));
    let nodes = (0..4)
        .map(|i| {
            let settings = Settings {
                own_url: OWN_URL.into(),
                configured_peers: vec![peer.url.clone()],
                disable_peer_discovery: i & 2 != 0,
                use_white_list: false,
                // On, the node would call the URL each party info names: never in a fuzz run.
                remote_key_validation: false,
                privacy_enhancements: i & 1 != 0,
                party_info_interval: Duration::from_secs(5),
                resend_wait_time: Duration::from_secs(2),
                peer_grace_period: Duration::from_secs(300),
                send_timeout: Duration::from_millis(4500),
                multiple_private_states: true,
                resident_groups: vec![GroupSummary {
                    id: RESIDENT_GROUP.as_bytes().to_vec(),
                    name: RESIDENT_GROUP.into(),
                    description: String::new(),
                    group_type: "RESIDENT".into(),
                    members: vec![fx.our_a.to_base64(), fx.remote.to_base64()],
                }],
            };
            Node::new(settings, store.clone(), enclave.clone(), p2p.clone())
        })
        .collect();
    State {
        store,
        nodes,
        execs: 0,
    }
}

/// Writes `seeds` as `seed-<name>` into the corpus directory libFuzzer was given (the first
/// command-line argument that is a directory), before it reads the directory: call from the
/// target's `init`. A run on single files (reproducing an artifact) writes nothing.
pub fn write_seeds(seeds: &[(String, Vec<u8>)]) {
    let Some(dir) = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(std::path::PathBuf::from)
        .find(|p| p.is_dir())
    else {
        return;
    };
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{name}"));
        if let Err(e) = std::fs::write(&path, bytes) {
            eprintln!("cannot write seed {}: {e}", path.display());
        }
    }
}

/// A flags byte followed by a body: the input of the targets with a version-header choice.
pub fn flagged(flags: u8, body: Vec<u8>) -> Vec<u8> {
    let mut input = Vec::with_capacity(body.len() + 1);
    input.push(flags);
    input.extend(body);
    input
}

/// A party info seed.
pub fn party_info(url: &str, recipients: &[(&PublicKey, &str)], parties: &[&str]) -> Vec<u8> {
    PartyInfo {
        url: url.into(),
        recipients: recipients
            .iter()
            .map(|(key, url)| Recipient {
                key: (*key).clone(),
                url: (*url).into(),
            })
            .collect(),
        parties: parties.iter().map(|p| (*p).into()).collect(),
    }
    .encode()
}

/// Base64 as the JSON bodies carry it.
pub fn b64(bytes: &[u8]) -> String {
    tm_core::b64::encode(bytes)
}

/// Whether every key of `a` is in `b`.
pub fn keys_within(a: &[PublicKey], b: &[PublicKey]) -> bool {
    let b: HashSet<&PublicKey> = b.iter().collect();
    a.iter().all(|k| b.contains(k))
}

/// The copy of a stored transaction a resend may send `requester`: the whole payload if it is
/// the sender, else exactly its own box, as the stored row holds it, in standard privacy for
/// a legacy resend.
pub fn assert_copy_for(copy: &EncodedPayload, requester: &PublicKey, held: &EncodedPayload) {
    assert!(
        held.is_same_transaction(copy),
        "a resent copy is the stored transaction"
    );
    if &held.sender == requester {
        return;
    }
    assert_eq!(
        copy.recipient_boxes.len(),
        1,
        "a recipient is resent its own box only"
    );
    assert_eq!(
        copy.recipient_keys.first(),
        Some(requester),
        "a recipient's copy names it first"
    );
    let at = held
        .recipient_keys
        .iter()
        .position(|k| k == requester)
        .expect("a copy is resent only to a recipient");
    assert_eq!(
        held.recipient_boxes.get(at),
        copy.recipient_boxes.first(),
        "a recipient is resent the box held for it"
    );
    if copy.privacy_mode != PrivacyMode::PrivateStateValidation {
        assert_eq!(copy.recipient_keys.len(), 1, "only the requester is listed");
    }
}

/// Every box of a stored row that this node should be able to open does: for a transaction we
/// sent, every box with the sender's key; for another node's, every box (each for one of our
/// keys, [`check_row`]) with its key; a keyless box (the very old form) with any of our keys.
pub fn assert_boxes_open(enclave: &Enclave, held: &EncodedPayload, ours: &[PublicKey]) {
    let own = ours.contains(&held.sender);
    let single = |keys: Vec<PublicKey>, b: &tm_core::payload::RecipientBox| EncodedPayload {
        sender: held.sender.clone(),
        cipher_text: held.cipher_text.clone(),
        cipher_text_nonce: held.cipher_text_nonce.clone(),
        recipient_boxes: vec![b.clone()],
        recipient_nonce: held.recipient_nonce.clone(),
        recipient_keys: keys,
        ..EncodedPayload::default()
    };
    if held.recipient_keys.is_empty() {
        if !own {
            for b in &held.recipient_boxes {
                if let Err(e) = enclave.unencrypt_transaction(&single(Vec::new(), b), None) {
                    panic!("a stored keyless box does not open with any key of ours: {e}");
                }
            }
        }
        return;
    }
    for (key, b) in held.recipient_keys.iter().zip(&held.recipient_boxes) {
        let with = if own { &held.sender } else { key };
        if let Err(e) = enclave.unencrypt_transaction(&single(vec![key.clone()], b), Some(with)) {
            panic!("the stored box for {key} does not open with {with}: {e}");
        }
    }
}

/// What a `/push` or `/pushBatch` entry may do to the row under its hash: `before` and
/// `after` are that row around the call, `pushed` the entry, `shared` whether another entry of
/// the batch has the same hash. A stored entry leaves a row that passes [`check_row`], is the
/// same transaction (with a subset of its affected transactions), holds every box the merge
/// had to add (with its key), opens ([`assert_boxes_open`]), and if it is a transaction we
/// hold complete, gained no recipient.
pub fn assert_stored(
    enclave: &Enclave,
    pushed: &EncodedPayload,
    before: Option<&StoredTransaction>,
    after: Option<&StoredTransaction>,
    ours: &[PublicKey],
    shared: bool,
) {
    let row = after.expect("a stored push has a row");
    if !check_row(row, ours) {
        return;
    }
    let held = &row.payload;
    // The manager drops affected transactions whose security hash does not verify before it
    // stores a push (Tessera's `storePayload`): the row holds a subset of the pushed ones.
    for (hash, security) in &held.affected_contract_transactions {
        assert_eq!(
            pushed.affected_contract_transactions.get(hash),
            Some(security),
            "the row holds an affected transaction the push did not carry"
        );
    }
    let as_held = EncodedPayload {
        affected_contract_transactions: held.affected_contract_transactions.clone(),
        ..pushed.clone()
    };
    assert!(
        held.is_same_transaction(&as_held),
        "the row is the pushed transaction"
    );
    // Tessera's merge: a box already held is a no-op (whatever key it comes with); outside
    // PSV so is a box for a key already held; any other box is added, with its key unless the
    // held copy has boxes but no keys. Checked against the row before this push only (`before`
    // is that row when no other entry of a batch shares the hash; else `None` skips this).
    if let Some(old) = before.filter(|_| !shared) {
        let was = &old.payload;
        let psv = was.privacy_mode == PrivacyMode::PrivateStateValidation;
        let keyless = was.recipient_keys.is_empty() && !was.recipient_boxes.is_empty();
        for (i, b) in pushed.recipient_boxes.iter().enumerate() {
            if pushed.recipient_boxes.iter().filter(|o| *o == b).count() > 1
                || was.recipient_boxes.contains(b)
            {
                continue;
            }
            let key = pushed.recipient_keys.get(i);
            if let Some(key) = key {
                if !psv && was.recipient_keys.contains(key) {
                    continue;
                }
            }
            assert!(
                held.recipient_boxes.contains(b),
                "a stored push lost box {i}"
            );
            if let Some(key) = key.filter(|_| !keyless) {
                assert!(
                    held.recipient_keys.contains(key),
                    "a stored push added box {i} without its key {key}"
                );
            }
        }
    } else if before.is_none() && !shared {
        // A new row holds what was pushed.
        assert_eq!(held.recipient_boxes, pushed.recipient_boxes, "a new row holds the pushed boxes");
        assert_eq!(held.recipient_keys, pushed.recipient_keys, "a new row holds the pushed keys");
    }
    if let Some(old) = before {
        let p = &old.payload;
        if ours.contains(&p.sender)
            && p.recipient_keys.contains(&p.sender)
            && p.recipient_boxes.len() == p.recipient_keys.len()
        {
            let was: HashSet<&PublicKey> = p.recipient_keys.iter().collect();
            let now: HashSet<&PublicKey> = held.recipient_keys.iter().collect();
            assert_eq!(
                was, now,
                "a transaction we hold complete gained a recipient"
            );
        }
    }
    assert_boxes_open(enclave, held, ours);
}
