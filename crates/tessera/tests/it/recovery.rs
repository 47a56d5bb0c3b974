//! Recovery (`--recover`): three nodes exchange transactions (standard, party protection chains
//! and private state validation chains), node 3 loses its database and recovers it from its
//! peers; then it serves every transaction it was party to with the right plaintext and privacy
//! data, and none it was not. Also: a peer down during recovery (partial success, then a second
//! run completes it), `/resend` ALL as the older way back, and a node whose replicas share a
//! PostgreSQL database.

use std::time::Duration;

use tm_client::p2p::{P2pClient, P2pTimeouts, ResendRequest, ResendType};
use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_client::ClientError;
use tm_core::{PublicKey, TxHash};
use tm_dev_support::postgres::Schema;
use tm_dev_support::{block_on, eventually, Service, TestNode};
use tm_manager::recovery::RecoveryResult;

/// What a test sent, and what every party must receive.
#[derive(Clone, Debug)]
struct Sent {
    hash: TxHash,
    plain: Vec<u8>,
    /// Every key party to it: the sender's and the recipients'.
    parties: Vec<PublicKey>,
    flag: i32,
    affected: Vec<String>,
    exec_hash: String,
}

/// Three nodes, peers of each other, enhanced privacy on; node 3 (`nodes[2]`) has two keys.
fn network(name: &str) -> Vec<TestNode> {
    let mut nodes = vec![
        TestNode::new(&format!("{name}-1"), 1, &[]),
        TestNode::new(&format!("{name}-2"), 1, &[]),
        TestNode::new(&format!("{name}-3"), 2, &[]),
    ];
    let urls: Vec<String> = nodes.iter().map(TestNode::p2p_url).collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        let others: Vec<String> = urls
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, u)| u.clone())
            .collect();
        node.set_peers(&others);
        node.config.features.enable_privacy_enhancements = true;
    }
    nodes
}

fn start(nodes: &mut [TestNode]) {
    for node in nodes.iter_mut() {
        node.start(Service::P2p).start(Service::Q2t);
    }
    wait_for_keys(nodes);
}

/// Waits until every running P2P service routes every key of the others.
fn wait_for_keys(nodes: &[TestNode]) {
    let p2p = P2pClient::new(P2pTimeouts::default()).expect("a P2P client");
    for node in nodes.iter().filter(|n| n.is_running(Service::P2p)) {
        for other in nodes {
            for key in &other.keys {
                let wanted = key.public.clone();
                assert!(
                    eventually(Duration::from_secs(30), || {
                        block_on(p2p.party_info_json(&node.p2p_url()))
                            .is_ok_and(|info| info.keys.iter().any(|k| k.key == wanted))
                    }),
                    "{} never learned the keys of {}",
                    node.name,
                    other.name
                );
            }
        }
    }
}

fn q2t(node: &TestNode) -> Q2tClient {
    Q2tClient::new(&node.q2t_url()).expect("a Q2T client")
}

/// Sends `plain` from `from` (a key of `node`) to `to`.
fn send(
    node: &TestNode,
    from: &PublicKey,
    to: &[PublicKey],
    plain: Vec<u8>,
    flag: i32,
    affected: &[&Sent],
    exec_hash: &str,
) -> Sent {
    let request = SendRequest {
        affected_contract_transactions: (!affected.is_empty())
            .then(|| affected.iter().map(|s| s.hash.to_base64()).collect()),
        exec_hash: (!exec_hash.is_empty()).then(|| exec_hash.to_owned()),
        privacy_flag: flag,
        ..SendRequest::new(plain.clone(), to).from_key(from)
    };
    let sent = block_on(q2t(node).send(&request, MediaType::Json))
        .unwrap_or_else(|e| panic!("send from {} (flag {flag}): {e}", node.name));
    let mut parties = vec![from.clone()];
    parties.extend(to.iter().cloned());
    Sent {
        hash: TxHash::from_base64(&sent.response.key).expect("a base64 hash"),
        plain,
        parties,
        flag,
        affected: affected.iter().map(|s| s.hash.to_base64()).collect(),
        exec_hash: exec_hash.to_owned(),
    }
}

fn key(node: &TestNode, i: usize) -> PublicKey {
    node.keys[i].public.clone()
}

/// A few hundred transactions among the three nodes: standard ones in every direction (some
/// not involving node 3), party protection chains between nodes 1 and 3, and private state
/// validation chains among all three.
fn exchange(nodes: &[TestNode], standard: usize, chains: usize) -> Vec<Sent> {
    let mut sent = Vec::new();
    for i in 0..standard {
        let from_node = i % 3;
        let from = key(&nodes[from_node], if from_node == 2 { i % 2 } else { 0 });
        let to: Vec<PublicKey> = match i % 5 {
            // Not involving node 3 at all (when node 3 does not send it).
            0 if from_node != 2 => vec![key(&nodes[(from_node + 1) % 2], 0)],
            1 => vec![key(&nodes[2], 1)],
            2 => vec![key(&nodes[0], 0), key(&nodes[1], 0)],
            3 => vec![key(&nodes[2], 0), key(&nodes[2], 1)],
            _ => vec![key(&nodes[(from_node + 1) % 3], 0)],
        };
        let mut to: Vec<PublicKey> = to.into_iter().filter(|k| k != &from).collect();
        // A transaction among node 3's own keys is held by no peer: nothing could recover it.
        let node3: Vec<PublicKey> = nodes[2].keys.iter().map(|k| k.public.clone()).collect();
        if from_node == 2 && to.iter().all(|k| node3.contains(k)) {
            to.push(key(&nodes[0], 0));
        }
        let plain = format!("standard {i}").into_bytes();
        sent.push(send(&nodes[from_node], &from, &to, plain, 0, &[], ""));
    }
    for chain in 0..chains {
        // Party protection between nodes 1 and 3; the sender alternates per chain.
        let (s, r) = if chain % 2 == 0 { (0, 2) } else { (2, 0) };
        let (from, to) = (key(&nodes[s], 0), vec![key(&nodes[r], 0)]);
        let mut previous: Option<Sent> = None;
        for link in 0..3 {
            let plain = format!("pp chain {chain} link {link}").into_bytes();
            let affected: Vec<&Sent> = previous.iter().collect();
            let next = send(&nodes[s], &from, &to, plain, 1, &affected, "");
            sent.push(next.clone());
            previous = Some(next);
        }
        // Private state validation among all three.
        let s = chain % 3;
        let from = key(&nodes[s], 0);
        let to: Vec<PublicKey> = (0..3)
            .filter(|n| *n != s)
            .map(|n| key(&nodes[n], 0))
            .collect();
        let mut previous: Option<Sent> = None;
        for link in 0..3 {
            let plain = format!("psv chain {chain} link {link}").into_bytes();
            let affected: Vec<&Sent> = previous.iter().collect();
            let exec_hash = format!("0xexec{chain}{link}");
            let next = send(&nodes[s], &from, &to, plain, 3, &affected, &exec_hash);
            sent.push(next.clone());
            previous = Some(next);
        }
    }
    sent
}

/// Deletes the node's SQLite database: what a failed disk leaves.
fn wipe_sqlite(node: &TestNode) {
    let path = node.sqlite_path();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let _ = std::fs::remove_file(file);
    }
    assert!(!path.exists());
}

/// Checks `node` serves every transaction of `sent` one of its keys is party to, with its
/// plaintext and privacy data, and answers 404 for the others. Returns how many it serves.
fn assert_serves(node: &TestNode, sent: &[Sent]) -> usize {
    let client = q2t(node);
    let ours: Vec<PublicKey> = node.keys.iter().map(|k| k.public.clone()).collect();
    let mut served = 0;
    for tx in sent {
        let result = block_on(client.receive(&tx.hash, None, false, MediaType::Json));
        if tx.parties.iter().any(|k| ours.contains(k)) {
            let got = result.unwrap_or_else(|e| {
                panic!("{} lost {} (flag {}): {e}", node.name, tx.hash, tx.flag)
            });
            assert_eq!(got.payload, tx.plain, "plaintext of {}", tx.hash);
            assert_eq!(got.privacy_flag, tx.flag, "privacy flag of {}", tx.hash);
            let mut affected = got.affected_contract_transactions.clone();
            affected.sort();
            let mut expected = tx.affected.clone();
            expected.sort();
            assert_eq!(affected, expected, "affected transactions of {}", tx.hash);
            assert_eq!(
                got.exec_hash.as_deref().unwrap_or_default(),
                tx.exec_hash,
                "exec hash of {}",
                tx.hash
            );
            served += 1;
        } else {
            match result {
                Err(ClientError::Status { status: 404, .. }) => {}
                other => panic!(
                    "{} serves {} it is not party to: {other:?}",
                    node.name, tx.hash
                ),
            }
        }
    }
    served
}

#[test]
fn a_wiped_node_recovers_every_transaction_it_was_party_to() {
    let mut nodes = network("recover");
    start(&mut nodes);
    let sent = exchange(&nodes, 240, 12);
    assert!(
        sent.len() >= 300,
        "a few hundred transactions: {}",
        sent.len()
    );
    let before = assert_serves(&nodes[2], &sent);
    assert!(before > 200, "node 3 is party to most: {before}");

    let node3 = &mut nodes[2];
    node3.stop(Service::Q2t);
    node3.stop(Service::P2p);
    wipe_sqlite(node3);
    let report = node3.recover();
    assert_eq!(report.result(), RecoveryResult::Success, "{report}");
    assert_eq!(report.peers_asked.len(), 2, "{report}");
    assert!(report.peers_failed.is_empty(), "{report}");
    assert_eq!(report.refused, 0, "{report}");
    assert_eq!(
        report.staged, report.ordered,
        "every payload ordered: {report}"
    );
    assert!(report.moved as usize >= before, "{report}");
    assert!(
        report
            .steps
            .iter()
            .all(|s| *s == Some(RecoveryResult::Success)),
        "{report}"
    );

    node3.start(Service::P2p).start(Service::Q2t);
    assert_eq!(assert_serves(&nodes[2], &sent), before);
    // The others lost nothing, and node 3 can send again, to and from recovered state.
    assert_serves(&nodes[0], &sent);
    assert_serves(&nodes[1], &sent);
    let pp_parent = sent
        .iter()
        .rev()
        .find(|s| s.flag == 1 && s.parties.contains(&key(&nodes[2], 0)))
        .expect("a party protection transaction of node 3")
        .clone();
    let from = key(&nodes[2], 0);
    let other = pp_parent
        .parties
        .iter()
        .find(|k| **k != from)
        .expect("the other party")
        .clone();
    let child = send(
        &nodes[2],
        &from,
        &[other],
        b"after recovery".to_vec(),
        1,
        &[&pp_parent],
        "",
    );
    assert_serves(&nodes[0], std::slice::from_ref(&child));
}

#[test]
fn a_peer_down_during_recovery_gives_partial_success_and_a_second_run_completes_it() {
    let mut nodes = network("partial");
    start(&mut nodes);
    let sent = exchange(&nodes, 30, 2);
    let before = assert_serves(&nodes[2], &sent);

    nodes[2].stop(Service::Q2t);
    nodes[2].stop(Service::P2p);
    wipe_sqlite(&nodes[2]);
    nodes[1].stop(Service::Q2t);
    nodes[1].stop(Service::P2p);
    let report = nodes[2].recover();
    assert_eq!(report.result(), RecoveryResult::PartialSuccess, "{report}");
    assert_eq!(report.peers_failed, vec![nodes[1].p2p_url()], "{report}");
    assert_eq!(report.steps[0], Some(RecoveryResult::PartialSuccess));

    // Node 2 comes back; recovery again (over what the first run moved) completes it.
    nodes[1].start(Service::P2p).start(Service::Q2t);
    let report = nodes[2].recover();
    assert_eq!(report.result(), RecoveryResult::Success, "{report}");
    assert_eq!(report.refused, 0, "{report}");
    nodes[2].start(Service::P2p).start(Service::Q2t);
    wait_for_keys(&nodes);
    assert_eq!(assert_serves(&nodes[2], &sent), before);
}

#[test]
fn resend_all_from_each_peer_brings_back_the_standard_transactions() {
    let mut nodes = network("resend-all");
    start(&mut nodes);
    let sent = exchange(&nodes, 30, 1);
    let standard: Vec<Sent> = sent.iter().filter(|s| s.flag == 0).cloned().collect();
    let before = assert_serves(&nodes[2], &standard);

    nodes[2].stop(Service::Q2t);
    nodes[2].stop(Service::P2p);
    wipe_sqlite(&nodes[2]);
    nodes[2].start(Service::P2p).start(Service::Q2t);
    wait_for_keys(&nodes);
    // What an operator does without recovery mode: ask each peer for each key.
    let p2p = P2pClient::new(P2pTimeouts::default()).expect("a P2P client");
    for peer in &nodes[..2] {
        for key in &nodes[2].keys {
            let request = ResendRequest {
                resend_type: ResendType::All,
                public_key: key.public.clone(),
                key: None,
            };
            block_on(p2p.resend(&peer.p2p_url(), &request)).expect("resend ALL");
        }
    }
    assert_eq!(assert_serves(&nodes[2], &standard), before);
    // Enhanced-privacy transactions are not resent by ALL (Tessera's rule): they stay lost
    // until a recovery.
    let protected = sent.iter().find(|s| s.flag == 1).expect("a PP transaction");
    assert!(matches!(
        block_on(q2t(&nodes[2]).receive(&protected.hash, None, false, MediaType::Json)),
        Err(ClientError::Status { status: 404, .. })
    ));
}

#[test]
fn replicas_on_postgresql_stop_recover_and_start_again() {
    let mut nodes = network("recover-pg");
    let schema = Schema::create("recover_pg");
    nodes[2].use_postgres(&schema);
    start(&mut nodes);
    nodes[2].start_replica(Service::P2p);
    let sent = exchange(&nodes, 30, 2);
    let before = assert_serves(&nodes[2], &sent);

    // The procedure (docs/operations.md): stop every replica of the node, recover with one
    // process, start them again.
    nodes[2].stop(Service::Q2t);
    nodes[2].stop(Service::P2p);
    nodes[2].stop_replicas(Service::P2p);
    assert!(tm_dev_support::postgres::psql(&format!(
        "DELETE FROM {0}.encrypted_transaction",
        schema.name
    )));
    let report = nodes[2].recover();
    assert_eq!(report.result(), RecoveryResult::Success, "{report}");
    nodes[2].start(Service::P2p).start(Service::Q2t);
    let replica_again = nodes[2].start_replica(Service::P2p);
    assert_eq!(assert_serves(&nodes[2], &sent), before);
    // The replica reads the recovered rows from the shared database.
    let p2p = P2pClient::new(P2pTimeouts::default()).expect("a P2P client");
    let ours = key(&nodes[2], 0);
    let theirs = sent
        .iter()
        .find(|s| s.flag == 0 && s.parties.contains(&ours) && s.parties[0] != ours)
        .expect("a standard transaction to node 3");
    let request = ResendRequest {
        resend_type: ResendType::Individual,
        public_key: ours,
        key: Some(theirs.hash.to_base64()),
    };
    block_on(p2p.resend(&replica_again, &request)).expect("the replica serves it");
    schema.drop_all();
}

#[test]
fn the_binary_exits_with_tesseras_recovery_codes() {
    use std::process::Command;

    // Two nodes; node 2 loses its database and is recovered by the `tessera` binary.
    let mut nodes = vec![
        TestNode::new("recover-bin-1", 1, &[]),
        TestNode::new("recover-bin-2", 1, &[]),
    ];
    let (first, second) = (nodes[0].p2p_url(), nodes[1].p2p_url());
    nodes[0].set_peers(std::slice::from_ref(&second));
    nodes[1].set_peers(std::slice::from_ref(&first));
    start(&mut nodes);
    let to = key(&nodes[1], 0);
    let from = key(&nodes[0], 0);
    let sent = send(
        &nodes[0],
        &from,
        &[to],
        b"for the binary".to_vec(),
        0,
        &[],
        "",
    );
    nodes[1].stop(Service::Q2t);
    nodes[1].stop(Service::P2p);
    wipe_sqlite(&nodes[1]);

    let run = |node: &TestNode| {
        let config = node.write_config();
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["-configfile", &config.display().to_string(), "--recover"])
            .current_dir(node.dir.path())
            .output()
            .expect("tessera runs")
    };
    // The P2P port is free while the binary runs (node 2's P2P service is stopped).
    let out = run(&nodes[1]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("recovery SUCCESS"), "{stdout}");
    assert!(stdout.contains("next: start the node normally"), "{stdout}");
    nodes[1].start(Service::P2p).start(Service::Q2t);
    assert_serves(&nodes[1], std::slice::from_ref(&sent));

    // A node with no peer to ask recovers nothing: exit 2, and the log says why.
    let mut alone = TestNode::new("recover-bin-alone", 1, &[]);
    alone.start(Service::P2p);
    alone.stop(Service::P2p);
    let out = run(&alone);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("recovery FAILURE"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no peer to ask"), "{stderr}");
    // A log that is not a terminal gets no colour codes.
    assert!(stderr.contains("ERROR"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a piped log: {stderr:?}"
    );
}
