//! The senders: clients of node 1 sending to node 2 at a fixed concurrency, each call bounded
//! by GoQuorum's PTM timeout, every outcome recorded with the time the send started.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tm_client::q2t::{MediaType, Q2tClient, SendRequest, SendSignedRequest, StoreRawRequest};
use tm_client::ClientError;
use tm_config::progress::Progress;
use tm_core::{PublicKey, TxHash};
use tm_dev_support::block_on;

/// GoQuorum's default `--ptm.timeout`: it gives up on a PTM call after 5 s.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A sender's pause after a failed send, so that a node answering errors at once does not
/// turn the sender into a busy loop on this small machine.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(20);

/// One send as the client saw it.
pub struct Record {
    /// When the client started it.
    pub started: Instant,
    /// When the answer came, or the client gave up.
    pub ended: Instant,
    /// What came back.
    pub outcome: Outcome,
}

/// What came back from one send.
pub enum Outcome {
    /// 2xx with a transaction hash: the sender was told the payload is delivered.
    Acked(Acked),
    /// Anything else: the step that failed and the status and body (or why there was none),
    /// the text failures are grouped by.
    Failed(String),
}

/// An acknowledged send, to be read back at the end.
pub struct Acked {
    /// The hash the sender was given.
    pub hash: TxHash,
    /// The payload sent.
    pub payload: Vec<u8>,
    /// The index of the node that must serve it.
    pub reader: usize,
}

/// How a client sends.
#[derive(Clone, Copy, Debug)]
pub enum Flow {
    /// `POST /send` on Q2T: GoQuorum's private transaction.
    Send,
    /// `POST /storeraw` on ThirdParty (an external signer), then `POST /sendsignedtx` on Q2T
    /// (GoQuorum's `eth_sendRawPrivateTransaction`).
    Signed,
}

/// A client of one node's Q2T (and ThirdParty) API, sending to one key.
#[derive(Clone)]
pub struct Sender {
    /// Q2T, as GoQuorum calls it.
    pub q2t: Q2tClient,
    /// ThirdParty, as a signer calls it (only for [`Flow::Signed`]).
    pub thirdparty: Option<Q2tClient>,
    /// The recipient.
    pub to: PublicKey,
    /// The index of the recipient's node.
    pub reader: usize,
}

impl Sender {
    /// Sends `payload` one way and says what came back.
    pub fn send(&self, flow: Flow, payload: Vec<u8>) -> Outcome {
        let result = block_on(async {
            match (flow, &self.thirdparty) {
                (Flow::Signed, Some(thirdparty)) => self.send_signed(thirdparty, &payload).await,
                _ => {
                    let request = SendRequest::new(payload.clone(), std::slice::from_ref(&self.to));
                    let sent = within("send", self.q2t.send(&request, MediaType::V2_1)).await?;
                    hash_of("send", &sent.response.key)
                }
            }
        });
        match result {
            Ok(hash) => Outcome::Acked(Acked {
                hash,
                payload,
                reader: self.reader,
            }),
            Err(failure) => Outcome::Failed(failure),
        }
    }

    async fn send_signed(&self, thirdparty: &Q2tClient, payload: &[u8]) -> Result<TxHash, String> {
        let raw = StoreRawRequest {
            payload: payload.to_vec(),
            from: None,
        };
        let stored = within("storeraw", thirdparty.store_raw(&raw, MediaType::V2_1)).await?;
        let request = SendSignedRequest {
            hash: stored.as_bytes().to_vec(),
            to: Some(vec![self.to.to_base64()]),
            ..SendSignedRequest::default()
        };
        let sent = within(
            "sendsignedtx",
            self.q2t.send_signed(&request, MediaType::V2_1),
        )
        .await?;
        hash_of("sendsignedtx", &sent.response.key)
    }
}

/// `future` bounded by [`CLIENT_TIMEOUT`]; a failure says which `step` failed and how.
async fn within<T>(
    step: &str,
    future: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, String> {
    match tokio::time::timeout(CLIENT_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{step}: {}", describe(&e))),
        Err(_) => Err(format!(
            "{step}: no answer within {} s (GoQuorum's PTM timeout)",
            CLIENT_TIMEOUT.as_secs()
        )),
    }
}

fn hash_of(step: &str, key: &str) -> Result<TxHash, String> {
    TxHash::from_base64(key).map_err(|e| format!("{step}: not a transaction hash: {e}"))
}

/// A failure as it is grouped: the status and the first line of the body, or why no answer
/// came (without the URL, which names a port that differs between runs).
pub fn describe(error: &ClientError) -> String {
    match error {
        ClientError::Status { status, body, .. } => {
            format!(
                "{status} {}",
                summary(body).chars().take(160).collect::<String>()
            )
        }
        ClientError::Offline { reason, .. } => format!("no answer: {reason}"),
        ClientError::Decode { reason, .. } => format!("unreadable answer: {reason}"),
    }
}

/// A body in one line: a balancer's HTML error page by its title, any other body by its first
/// line.
fn summary(body: &str) -> &str {
    let title = body
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| title.trim());
    title.unwrap_or_else(|| body.lines().next().unwrap_or_default().trim())
}

/// Workers sending without pause until told to stop, each with its own flow.
pub struct Load {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    shown: Arc<Shown>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the progress of a load shows: sends finished, the phase under way, failures so far.
pub struct Shown {
    progress: Progress,
    phase: Mutex<String>,
    failed: AtomicU64,
}

impl Shown {
    /// Progress counting the sends of `label`, in `phase`.
    pub fn new(label: &str, phase: &str) -> Self {
        Self {
            progress: Progress::new(label, None),
            phase: Mutex::new(phase.to_owned()),
            failed: AtomicU64::new(0),
        }
    }

    /// One more send finished.
    pub fn sent(&self, failed: bool) {
        let failures = if failed {
            self.failed.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.failed.load(Ordering::Relaxed)
        };
        self.progress.set_message(self.message(failures));
        self.progress.inc(1);
    }

    /// Ends the progress with its last line.
    pub fn finish(&self) {
        let failures = self.failed.load(Ordering::Relaxed);
        self.progress.finish(format!("{failures} failed"));
    }

    /// Prints `line` on stdout without tearing a progress bar.
    pub fn println(&self, line: impl AsRef<str>) {
        self.progress.println(line);
    }

    fn message(&self, failures: u64) -> String {
        let phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        format!("{phase}; {failures} failed")
    }
}

impl Load {
    /// Starts one worker per entry of `flows`, all sending with `sender`; progress as `label`.
    pub fn start(sender: &Sender, flows: &[Flow], label: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let shown = Arc::new(Shown::new(label, "phase every replica up"));
        let threads = flows
            .iter()
            .enumerate()
            .map(|(worker, &flow)| {
                let (stop, records, shown, sender) = (
                    Arc::clone(&stop),
                    Arc::clone(&records),
                    Arc::clone(&shown),
                    sender.clone(),
                );
                std::thread::spawn(move || work(worker, flow, &sender, &stop, &records, &shown))
            })
            .collect();
        Self {
            stop,
            records,
            shown,
            threads,
        }
    }

    /// Names the phase the progress shows from now on.
    pub fn set_phase(&self, phase: &str) {
        *self
            .shown
            .phase
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = phase.to_owned();
    }

    /// Prints `line` on stdout without tearing the progress bar.
    pub fn println(&self, line: impl AsRef<str>) {
        self.shown.println(line);
    }

    /// Sends acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Acked(_)))
            .count()
    }

    /// Stops sending, waits for the sends in flight, and returns every record.
    pub fn finish(mut self) -> Result<Vec<Record>, String> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            thread
                .join()
                .map_err(|_| "a sending thread panicked".to_owned())?;
        }
        self.shown.finish();
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(std::mem::take(&mut *records))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn work(
    worker: usize,
    flow: Flow,
    sender: &Sender,
    stop: &AtomicBool,
    records: &Mutex<Vec<Record>>,
    shown: &Shown,
) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let payload = format!("ha worker {worker} ({flow:?}) send {i}").into_bytes();
        let started = Instant::now();
        let outcome = sender.send(flow, payload);
        let failed = matches!(outcome, Outcome::Failed(_));
        records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Record {
                started,
                ended: Instant::now(),
                outcome,
            });
        shown.sent(failed);
        if failed {
            std::thread::sleep(PAUSE_AFTER_FAILURE);
        }
    }
}

/// The acknowledged sends of `records` that their reader does not serve with the payload
/// sent, by index into `records`, with why. A read that gets no clear answer is tried again
/// a few times, so that only a payload the node does not have counts as lost. Progress is
/// shown as `ha: reading back`.
pub fn unreadable(readers: &[Q2tClient], records: &[Record]) -> Vec<(usize, String)> {
    const THREADS: usize = 8;
    let acked: Vec<(usize, &Acked)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.outcome {
            Outcome::Acked(acked) => Some((i, acked)),
            Outcome::Failed(_) => None,
        })
        .collect();
    let chunk = acked.len().div_ceil(THREADS).max(1);
    let progress = Progress::new("ha: reading back", Some(acked.len() as u64));
    let unreadable: Vec<(usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = acked
            .chunks(chunk)
            .map(|part| {
                let progress = &progress;
                scope.spawn(move || read_back(readers, part, progress))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    progress.finish(format!("{} not served", unreadable.len()));
    unreadable
}

fn read_back(
    readers: &[Q2tClient],
    acked: &[(usize, &Acked)],
    progress: &Progress,
) -> Vec<(usize, String)> {
    let mut unreadable = Vec::new();
    for (index, acked) in acked {
        let read = match readers.get(acked.reader) {
            Some(reader) => read_one(reader, acked),
            None => Err("no reader".to_owned()),
        };
        if let Err(why) = read {
            unreadable.push((*index, format!("{}: {why}", acked.hash)));
        }
        progress.inc(1);
    }
    unreadable
}

fn read_one(reader: &Q2tClient, acked: &Acked) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let result = block_on(within(
            "receive",
            reader.receive(&acked.hash, None, false, MediaType::V2_1),
        ));
        match result {
            Ok(received) if received.payload == acked.payload => return Ok(()),
            Ok(_) => return Err("served with another payload".into()),
            Err(e) if e.starts_with("receive: 404") => return Err(e),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn a_balancer_error_page_is_summed_up_by_its_title_other_bodies_by_their_first_line() {
        let nginx = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body></body>";
        assert_eq!(summary(nginx), "504 Gateway Time-out");
        assert_eq!(
            summary("Recipient not found for key X\nmore"),
            "Recipient not found for key X"
        );
        assert_eq!(summary(""), "");
    }
}
