//! One trace per send across services: the send on q2t-api, its calls to the remote enclave and
//! its push to the peer's p2p-node carry one trace id, and every log line of each request names
//! its request id; the same spans reach an OTLP collector. A test binary of its own: it
//! installs the process's log subscriber and trace export.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_dev_support::otlp::{Collector, Span, CLIENT, SERVER};
use tm_dev_support::{block_on, eventually, Service, TestNode};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log")).into_owned()
    }
}

/// `key=value` of the line (values end at a space, `}` or `:`).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let end = rest.find([' ', '}', ':']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The `served` lines of requests to `path`.
fn served<'a>(log: &'a str, path: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(" served ") && field(l, "path") == Some(path))
        .collect()
}

#[test]
fn a_send_is_one_trace_from_q2t_api_to_the_enclave_and_the_peer() {
    let collector = Collector::default();
    let _export = tm_trace::export::install(&tm_trace::export::Settings {
        endpoint: format!("{}/v1/traces", collector.start().expect("a collector")),
        json: true,
        service: "trace-test".into(),
    })
    .expect("export");

    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "info,tm_http::trace=debug",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut b = TestNode::new("trace-b", 1, &[]);
    b.start(Service::P2p);
    let mut a = TestNode::new("trace-a", 1, &[b.p2p_url()]);
    a.use_remote_enclave();
    a.start(Service::Enclave)
        .start(Service::P2p)
        .start(Service::Q2t);
    let to = b.keys[0].public.clone();
    let q2t = Q2tClient::new(&a.q2t_url()).expect("client");
    let request = SendRequest::new(b"traced".to_vec(), std::slice::from_ref(&to));
    assert!(
        eventually(Duration::from_secs(20), || block_on(
            q2t.send(&request, MediaType::Json)
        )
        .is_ok()),
        "the send never went through"
    );
    let text = log.text();
    let send = served(&text, "/send")
        .into_iter()
        .find(|l| field(l, "status") == Some("201"))
        .unwrap_or_else(|| panic!("no served /send line in {text}"));
    let trace = field(send, "trace_id").expect("a trace id");
    assert_eq!(trace.len(), 32);
    let request_id = field(send, "request_id").expect("a request id");
    // The peer's p2p-node served the push in the same trace, as a request of its own.
    let push = served(&text, "/push")
        .into_iter()
        .find(|l| field(l, "trace_id") == Some(trace))
        .unwrap_or_else(|| panic!("no /push in trace {trace}: {text}"));
    assert_ne!(field(push, "request_id"), Some(request_id));
    // So did the remote enclave, for the encryption.
    assert!(
        served(&text, "/encrypt")
            .iter()
            .any(|l| field(l, "trace_id") == Some(trace)),
        "no /encrypt in trace {trace}: {text}"
    );

    // The collector got the same trace as spans: the send (with the request id of its log
    // lines), its call to the peer and the peer's push, its calls to the enclave and the
    // enclave's answers, each the child of the one before.
    let in_trace = || collector.trace(trace);
    let find = |spans: &[Span], kind: i64, name: &str, parent: Option<&str>| {
        spans
            .iter()
            .find(|s| {
                s.kind == kind && s.name.contains(name) && parent.is_none_or(|p| s.parent == p)
            })
            .cloned()
    };
    let complete = |spans: &[Span]| {
        let send = find(spans, SERVER, "POST /send", None)?;
        let push_call = find(spans, CLIENT, "POST /push", Some(&send.id))?;
        find(spans, SERVER, "POST /push", Some(&push_call.id))?;
        let encrypt_call = find(spans, CLIENT, "/encrypt", Some(&send.id))?;
        find(spans, SERVER, "/encrypt", Some(&encrypt_call.id))?;
        Some(send)
    };
    assert!(
        eventually(Duration::from_secs(30), || complete(&in_trace()).is_some()),
        "the collector never got the whole trace {trace}: {:#?}",
        collector.spans()
    );
    let send = complete(&in_trace()).expect("the trace");
    assert_eq!(send.id, request_id, "the send's span is its request id");
    assert!(
        send.parent.is_empty(),
        "the send starts the trace: {send:?}"
    );

    // A caller's traceparent is honoured: its trace id is the request's.
    let given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let answer = reqwest::blocking::Client::new()
        .get(format!("{}upcheck", b.p2p_url()))
        .header("traceparent", given)
        .send()
        .expect("upcheck");
    assert_eq!(answer.status(), 200);
    let text = log.text();
    assert!(
        served(&text, "/upcheck")
            .iter()
            .any(|l| field(l, "trace_id") == Some("0af7651916cd43dd8448eb211c80319c")),
        "{text}"
    );
}
