//! An OTLP/HTTP trace receiver on loopback (JSON bodies), standing in for an OpenTelemetry
//! collector: it keeps every span it is sent, for tests of the trace export.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// OTLP's span kind of a server span.
pub const SERVER: i64 = 2;
/// OTLP's span kind of a client span.
pub const CLIENT: i64 = 3;

/// One span received: ids (lower-case hex), parent (empty for a root), name, kind, and the
/// `service.name` of the resource it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The trace id.
    pub trace: String,
    /// The span id.
    pub id: String,
    /// The parent's span id, empty when it has none.
    pub parent: String,
    /// Its name (`POST /send`).
    pub name: String,
    /// [`SERVER`], [`CLIENT`], ...
    pub kind: i64,
    /// The sender's `service.name`.
    pub service: String,
}

/// The receiver: clones share the spans.
#[derive(Clone, Debug, Default)]
pub struct Collector(Arc<Mutex<Vec<Span>>>);

impl Collector {
    /// Serves on a new loopback port until the process ends, answering every request 200;
    /// returns the base URL (`http://127.0.0.1:<port>`: the exporter adds `/v1/traces`).
    pub fn start(&self) -> std::io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base = format!("http://{}", listener.local_addr()?);
        let spans = self.0.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let spans = spans.clone();
                std::thread::spawn(move || {
                    let Ok(read) = stream.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(read);
                    let mut writer = stream;
                    // Keep-alive: requests one after another on the connection.
                    while let Some(body) = read_request(&mut reader) {
                        let received = parse_spans(&body);
                        if let Ok(mut spans) = spans.lock() {
                            spans.extend(received);
                        }
                        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                      content-length: 2\r\n\r\n{}";
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(base)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.0.lock().map(|spans| spans.clone()).unwrap_or_default()
    }

    /// The spans of `trace` received so far.
    pub fn trace(&self, trace: &str) -> Vec<Span> {
        let mut spans = self.spans();
        spans.retain(|s| s.trace == trace);
        spans
    }
}

/// One HTTP/1.1 request's body (by its content-length); `None` when the connection ends.
fn read_request(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    std::io::Read::read_exact(reader, &mut body).ok()?;
    Some(body)
}

/// The spans of an OTLP JSON `ExportTraceServiceRequest` (nothing for a body that is not one).
pub fn parse_spans(body: &[u8]) -> Vec<Span> {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let text =
        |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_ascii_lowercase();
    let mut out = Vec::new();
    for resource in request["resourceSpans"].as_array().into_iter().flatten() {
        let service = resource["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_owned();
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                out.push(Span {
                    trace: text(span, "traceId"),
                    id: text(span, "spanId"),
                    parent: text(span, "parentSpanId"),
                    name: span["name"].as_str().unwrap_or_default().to_owned(),
                    kind: span["kind"].as_i64().unwrap_or_default(),
                    service: service.clone(),
                });
            }
        }
    }
    out
}
