//! The checks between two nodes, each in both directions where that makes sense. They speak
//! only the public APIs (Q2T, ThirdParty, P2P) through our typed clients, so they hold for any
//! pair of nodes: Java and ours, or (in the harness self-check) ours and ours.

use std::future::Future;
use std::time::{Duration, Instant};

use tm_client::p2p::{P2pClient, P2pTimeouts, ResendRequest, ResendType};
use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_core::seal::PrivacyMetadata;
use tm_core::{Keyring, PayloadCodec, PrivacyMode, PublicKey, TxHash};

use super::nodes::Node;

/// How long a node may take to learn of another's keys or to receive a resent payload.
const SETTLE: Duration = Duration::from_secs(30);

/// Pass/fail bookkeeping; prints one line per check.
#[derive(Default)]
pub struct Report {
    /// Checks that passed.
    pub passed: usize,
    /// Names and reasons of the checks that failed.
    pub failed: Vec<String>,
}

impl Report {
    /// Records and prints one check's outcome.
    pub fn record(&mut self, name: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("interop: PASS {name}");
            }
            Err(reason) => {
                println!("interop: FAIL {name}: {reason}");
                self.failed.push(format!("{name}: {reason}"));
            }
        }
    }
}

/// Polls `attempt` every 250 ms until it succeeds or `limit` passes; returns the last error.
async fn eventually<T, F, Fut>(limit: Duration, mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if started.elapsed() > limit => {
                return Err(format!("{e} (still after {}s)", limit.as_secs()))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn q2t(node: &Node) -> Result<Q2tClient, String> {
    Q2tClient::tcp(&node.q2t).map_err(|e| e.to_string())
}

fn thirdparty(node: &Node) -> Result<Q2tClient, String> {
    Q2tClient::tcp(&node.thirdparty).map_err(|e| e.to_string())
}

fn p2p() -> Result<P2pClient, String> {
    P2pClient::new(P2pTimeouts::from_config(20_000, 60_000)).map_err(|e| e.to_string())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// A plaintext no earlier run could have produced, so a stale row cannot pass a check.
fn fresh_plaintext(label: &str) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("interop {label} {nanos}").into_bytes()
}

/// `knower` lists every key of `known` in ThirdParty `GET /partyinfo/keys` and in P2P
/// `GET /partyinfo` (with `known`'s P2P URL).
pub async fn discovers(knower: &Node, known: &Node) -> Result<(), String> {
    let tp = thirdparty(knower)?;
    let client = p2p()?;
    eventually(SETTLE, || async {
        let listed = tp.party_info_keys().await.map_err(|e| e.to_string())?;
        for key in &known.keys {
            let b64 = key.to_base64();
            if !listed.keys.iter().any(|k| k.key == b64) {
                return Err(format!(
                    "{} /partyinfo/keys does not list {}'s key {b64}",
                    knower.name, known.name
                ));
            }
        }
        let info = client
            .party_info_json(&knower.p2p)
            .await
            .map_err(|e| e.to_string())?;
        for key in &known.keys {
            if !info
                .keys
                .iter()
                .any(|k| &k.key == key && same_url(&k.url, &known.p2p))
            {
                return Err(format!(
                    "{} GET /partyinfo does not map {} to {}",
                    knower.name,
                    key.to_base64(),
                    known.p2p
                ));
            }
        }
        Ok(())
    })
    .await
}

/// A Q2T `/send` from `from`'s default key to `to`'s, received by `to` with the same plaintext
/// and privacy flag. Returns the hash.
pub async fn send(from: &Node, to: &Node, mode: PrivacyMode) -> Result<(TxHash, Vec<u8>), String> {
    let plaintext = fresh_plaintext(&format!("{} -> {}", from.name, to.name));
    let mut request = SendRequest::new(plaintext.clone(), &[to.key()?]).from_key(&from.key()?);
    request.privacy_flag = i32::from(mode.flag());
    let sent = q2t(from)?
        .send(&request, MediaType::Json)
        .await
        .map_err(|e| format!("{} /send: {e}", from.name))?;
    let hash = TxHash::from_base64(&sent.response.key)
        .map_err(|_| format!("{} /send answered a key that is not base64", from.name))?;
    expect_received(to, &hash, &to.key()?, &plaintext, mode).await?;
    // The sender keeps its own copy too.
    expect_received(from, &hash, &from.key()?, &plaintext, mode).await?;
    Ok((hash, plaintext))
}

/// `node` answers Q2T `GET /transaction/{hash}?to=key` with `plaintext` and `mode`'s flag.
async fn expect_received(
    node: &Node,
    hash: &TxHash,
    key: &PublicKey,
    plaintext: &[u8],
    mode: PrivacyMode,
) -> Result<(), String> {
    let received = q2t(node)?
        .receive(hash, Some(key), false, MediaType::Json)
        .await
        .map_err(|e| format!("{} receive {}: {e}", node.name, hash.to_base64()))?;
    if received.payload != plaintext {
        return Err(format!(
            "{} returned another plaintext for {}",
            node.name,
            hash.to_base64()
        ));
    }
    let flag = i32::from(mode.flag());
    if received.privacy_flag != flag {
        return Err(format!(
            "{} returned privacy flag {} for {}, sent {flag}",
            node.name,
            received.privacy_flag,
            hash.to_base64()
        ));
    }
    Ok(())
}

/// Which codecs `node` advertises: whether its `GET /version/api` lists 5.0 (CBOR).
pub async fn speaks_cbor(node: &Node) -> Result<bool, String> {
    let versions = q2t(node)?
        .api_versions()
        .await
        .map_err(|e| format!("{} /version/api: {e}", node.name))?;
    Ok(versions.iter().any(|v| v == tm_core::version::CBOR_VERSION))
}

/// A payload `from` encrypts with its own keys (our core) and pushes straight to `to`'s P2P
/// `/push` in `codec`; `to` must answer its hash and then serve the plaintext over Q2T.
pub async fn push_codec(from: &Node, to: &Node, codec: PayloadCodec) -> Result<(), String> {
    let keyring = Keyring::new(from.pairs.clone());
    let sender = from.key()?;
    let recipient = to.key()?;
    let plaintext = fresh_plaintext(&format!("{} push {}", codec.name(), to.name));
    let payload = keyring
        .encrypt_payload(
            &plaintext,
            &sender,
            &[sender.clone(), recipient.clone()],
            &PrivacyMetadata::default(),
        )
        .map_err(|e| format!("cannot encrypt: {e}"))?;
    let copy = payload
        .for_recipient(&recipient)
        .map_err(|e| format!("cannot strip the payload for {}: {e}", to.name))?;
    let answered = p2p()?
        .push(&to.p2p, &copy, codec)
        .await
        .map_err(|e| format!("{} /push: {e}", to.name))?;
    if answered != payload.hash() {
        return Err(format!(
            "{} answered hash {} for a payload whose hash is {}",
            to.name,
            answered.to_base64(),
            payload.hash().to_base64()
        ));
    }
    expect_received(
        to,
        &answered,
        &recipient,
        &plaintext,
        PrivacyMode::StandardPrivate,
    )
    .await
}

/// `asker` (holding `key`'s private key) asks `holder` for one transaction with P2P
/// `/resend` INDIVIDUAL; the LEGACY answer must decode, carry the hash, and open to the
/// plaintext.
pub async fn resend_individual(
    holder: &Node,
    asker: &Node,
    hash: &TxHash,
    plaintext: &[u8],
) -> Result<(), String> {
    let key = asker.key()?;
    let request = ResendRequest {
        resend_type: ResendType::Individual,
        public_key: key.clone(),
        key: Some(hash.to_base64()),
    };
    let body = p2p()?
        .resend(&holder.p2p, &request)
        .await
        .map_err(|e| format!("{} /resend INDIVIDUAL: {e}", holder.name))?;
    let payload = PayloadCodec::Legacy
        .decode(&body)
        .map_err(|e| format!("{}'s resend answer is not LEGACY: {e}", holder.name))?;
    if &payload.hash() != hash {
        return Err(format!(
            "{} resent a payload with hash {}, asked for {}",
            holder.name,
            payload.hash().to_base64(),
            hash.to_base64()
        ));
    }
    let opened = Keyring::new(asker.pairs.clone())
        .decrypt(&payload, &key)
        .map_err(|e| format!("the resent payload does not open for {}: {e}", asker.name))?;
    if opened != plaintext {
        return Err("the resent payload opens to another plaintext".into());
    }
    Ok(())
}

/// `asker` deletes its copy of `hash`, asks `holder` for P2P `/resend` ALL of its key, and
/// must then serve the plaintext again (`holder` pushed it back).
pub async fn resend_all(
    holder: &Node,
    asker: &Node,
    hash: &TxHash,
    plaintext: &[u8],
) -> Result<(), String> {
    let key = asker.key()?;
    q2t(asker)?
        .delete(hash)
        .await
        .map_err(|e| format!("{} DELETE /transaction: {e}", asker.name))?;
    let request = ResendRequest {
        resend_type: ResendType::All,
        public_key: key.clone(),
        key: None,
    };
    p2p()?
        .resend(&holder.p2p, &request)
        .await
        .map_err(|e| format!("{} /resend ALL: {e}", holder.name))?;
    eventually(SETTLE, || {
        expect_received(asker, hash, &key, plaintext, PrivacyMode::StandardPrivate)
    })
    .await
}

/// ThirdParty `GET /keys` of `node` lists exactly `keys` (a node on a remote enclave lists
/// the enclave's keys).
pub async fn serves_keys(node: &Node, keys: &[PublicKey]) -> Result<(), String> {
    let listed = thirdparty(node)?
        .keys()
        .await
        .map_err(|e| format!("{} /keys: {e}", node.name))?;
    let listed: Vec<&str> = listed.keys.iter().map(|k| k.key.as_str()).collect();
    for key in keys {
        if !listed.contains(&key.to_base64().as_str()) {
            return Err(format!(
                "{} /keys lists {listed:?}, not {}",
                node.name,
                key.to_base64()
            ));
        }
    }
    Ok(())
}
