//! The floor: the work no transaction manager can avoid, in one process, with the same number
//! of operations and the same concurrency as the network run. Per operation:
//!
//! * send (1 or N recipients): seal with the crypto core for the recipients and the sender
//!   (warm shared-key cache, as the enclave has), insert the payload on side A, insert node B's
//!   copy (`for_recipient`) on side B;
//! * receive: read the row on side B and decrypt it;
//! * storeraw + sendsignedtx: seal the raw transaction and insert it on A, box its key for the
//!   recipient, insert on A and B.
//!
//! No HTTP, no JSON, no enclave round trip, no party-info lookups: what is left is the crypto
//! and one database write (or read) per side.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tm_core::seal::PrivacyMetadata;
use tm_core::{KeyPair, Keyring, PublicKey, TxHash};
use tm_store::{EncryptedRawTransaction, Store};

use super::{BenchOptions, Scenario};
use crate::cluster::Db;
use crate::postgres::{self, Database};

/// What the floor did.
#[derive(Clone, Debug, Serialize)]
pub struct FloorResult {
    /// Operations done.
    pub ops: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Operations per second.
    pub tps: f64,
    /// CPU time (user + system) of this process per operation, ms.
    pub cpu_ms_per_op: f64,
}

/// Two fresh databases, dropped again afterwards.
struct Sides {
    a: Store,
    b: Store,
    drop: Vec<String>,
}

impl Sides {
    fn open(db: Db, out: &Path, pool: u32) -> Result<Self, String> {
        match db {
            Db::Sqlite => {
                let dir = out.join("floor-sqlite");
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
                }
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let open = |name: &str| {
                    Store::connect(
                        &format!("jdbc:sqlite:{}", dir.join(name).display()),
                        None,
                        None,
                        true,
                        pool,
                    )
                    .map_err(|e| e.to_string())
                };
                Ok(Self {
                    a: open("a.db")?,
                    b: open("b.db")?,
                    drop: Vec::new(),
                })
            }
            Db::Postgres => {
                let names: Vec<String> = ["a", "b"]
                    .iter()
                    .map(|s| format!("tm_bench_floor_{}_{s}", std::process::id()))
                    .collect();
                let mut databases = Vec::new();
                for name in &names {
                    postgres::drop_database(name)?;
                    databases.push(Database::create(name)?);
                }
                let open = |db: &Database| {
                    Store::connect(&db.jdbc_url, Some(&db.user), Some(&db.password), true, pool)
                        .map_err(|e| e.to_string())
                };
                Ok(Self {
                    a: open(&databases[0])?,
                    b: open(&databases[1])?,
                    drop: names,
                })
            }
        }
    }
}

impl Drop for Sides {
    fn drop(&mut self) {
        for name in &self.drop {
            let _ = postgres::drop_database(name);
        }
    }
}

/// Keys and stores of the two sides.
struct Floor {
    sides: Sides,
    a: Keyring,
    a_key: PublicKey,
    b: Keyring,
    b_keys: Vec<PublicKey>,
    payload: Vec<u8>,
    metadata: PrivacyMetadata,
}

impl Floor {
    /// Fresh keys: one on side A, `recipients` on side B.
    fn new(sides: Sides, options: &BenchOptions) -> Result<Self, String> {
        let pair = |_| KeyPair::generate().map_err(|e| e.to_string());
        let a_pair = pair(0)?;
        let b_pairs: Vec<KeyPair> = (0..options.recipients)
            .map(pair)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            sides,
            a_key: a_pair.public.clone(),
            a: Keyring::new(vec![a_pair]),
            b_keys: b_pairs.iter().map(|p| p.public.clone()).collect(),
            b: Keyring::new(b_pairs),
            payload: (0..options.payload_bytes)
                .map(|i| (i % 251) as u8)
                .collect(),
            metadata: PrivacyMetadata::default(),
        })
    }

    fn send(&self, to: &[PublicKey]) -> Result<TxHash, String> {
        let mut recipients = to.to_vec();
        recipients.push(self.a_key.clone());
        let payload = self
            .a
            .encrypt_payload(&self.payload, &self.a_key, &recipients, &self.metadata)
            .map_err(|e| e.to_string())?;
        self.sides
            .a
            .store_payload(&payload)
            .map_err(|e| e.to_string())?;
        let copy = payload.for_recipient(&to[0]).map_err(|e| e.to_string())?;
        self.sides
            .b
            .store_payload(&copy)
            .map_err(|e| e.to_string())?;
        Ok(payload.hash())
    }

    fn receive(&self, hash: &TxHash) -> Result<(), String> {
        let stored = self
            .sides
            .b
            .find_payload(hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{hash} not found"))?;
        let plain = self
            .b
            .decrypt(&stored.payload, &self.b_keys[0])
            .map_err(|e| e.to_string())?;
        if plain == self.payload {
            Ok(())
        } else {
            Err("wrong payload".into())
        }
    }

    /// Operation `i` of `scenario`.
    fn operation(&self, scenario: Scenario, i: u64, receivable: &[TxHash]) -> Result<(), String> {
        match scenario {
            Scenario::Send1 => self.send(&self.b_keys[..1]).map(drop),
            Scenario::SendMany => self.send(&self.b_keys).map(drop),
            Scenario::Receive => self.receive(&receivable[(i as usize) % receivable.len()]),
            Scenario::StoreRawSendSigned => self.store_raw_send_signed(),
            // No work: the exchange is measured for scale, without a floor.
            Scenario::Exchange => Ok(()),
        }
    }

    fn store_raw_send_signed(&self) -> Result<(), String> {
        let raw = self
            .a
            .encrypt_raw(&self.payload, &self.a_key)
            .map_err(|e| e.to_string())?;
        self.sides
            .a
            .store_raw(&EncryptedRawTransaction {
                hash: raw.hash(),
                encrypted_payload: raw.encrypted_payload.clone(),
                encrypted_key: raw.encrypted_key.clone(),
                nonce: raw.nonce.0.clone(),
                sender: raw.sender.clone(),
                timestamp: None,
            })
            .map_err(|e| e.to_string())?;
        let recipients = [self.b_keys[0].clone(), self.a_key.clone()];
        let payload = self
            .a
            .encrypt_raw_for_recipients(&raw, &recipients, &self.metadata)
            .map_err(|e| e.to_string())?;
        self.sides
            .a
            .store_payload(&payload)
            .map_err(|e| e.to_string())?;
        let copy = payload
            .for_recipient(&self.b_keys[0])
            .map_err(|e| e.to_string())?;
        self.sides
            .b
            .store_payload(&copy)
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Runs `ops` operations of `scenario` at the options' concurrency.
pub fn run(
    db: Db,
    scenario: Scenario,
    options: &BenchOptions,
    ops: u64,
    out: &Path,
) -> Result<FloorResult, String> {
    let threads = options.concurrency;
    let sides = Sides::open(db, out, u32::try_from(threads).unwrap_or(u32::MAX).max(1))?;
    let floor = Arc::new(Floor::new(sides, options)?);
    let receivable = Arc::new(warm_up(&floor, scenario, ops)?);

    let cpu_before = super::setup::process_cpu_ms(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    drive(&floor, scenario, threads, ops, &receivable)?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = super::setup::process_cpu_ms(std::process::id()).unwrap_or(0.0) - cpu_before;
    Ok(FloorResult {
        ops,
        seconds,
        tps: ops as f64 / seconds.max(1e-9),
        cpu_ms_per_op: cpu / ops.max(1) as f64,
    })
}

/// Warms the shared-key caches (the enclaves' caches are warm after the first send too) and,
/// for receives, stores what there is to read; none of this is timed.
fn warm_up(floor: &Floor, scenario: Scenario, ops: u64) -> Result<Vec<TxHash>, String> {
    let many = floor.b_keys.clone();
    floor.send(&many)?;
    if scenario == Scenario::Receive {
        (0..ops.min(2000)).map(|_| floor.send(&many[..1])).collect()
    } else {
        Ok(Vec::new())
    }
}

/// `threads` threads taking operations from one counter until `ops` are done.
fn drive(
    floor: &Arc<Floor>,
    scenario: Scenario,
    threads: usize,
    ops: u64,
    receivable: &Arc<Vec<TxHash>>,
) -> Result<(), String> {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (floor, next, receivable) =
                (Arc::clone(floor), Arc::clone(&next), Arc::clone(receivable));
            std::thread::spawn(move || -> Result<(), String> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ops {
                        return Ok(());
                    }
                    floor.operation(scenario, i, &receivable)?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a floor thread panicked".to_owned())??;
    }
    Ok(())
}
