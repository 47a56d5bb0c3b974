//! Span export over OTLP (docs/operations.md, "Exporting traces"), off unless an endpoint is
//! configured with the OpenTelemetry environment variables.
//!
//! Our own [`TraceContext`]s stay the source of the ids: a server span is exported with the
//! span id its log lines carry as `request_id`, and a call's span with the span id its
//! `traceparent` names, so the trace a collector shows and the ids in the logs are the same.
//! Spans are built after the fact (start and end times given) through the SDK's batch
//! processor, which sends from a thread of its own: a request never waits for the collector.

use std::sync::OnceLock;
use std::time::SystemTime;

use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::TraceContext;

/// Where spans go and how: from the environment ([`Settings::from_env`]) or given (tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The traces URL, e.g. `http://collector:4318/v1/traces`.
    pub endpoint: String,
    /// OTLP over HTTP with protobuf (the default) or JSON bodies.
    pub json: bool,
    /// The `service.name` of every span.
    pub service: String,
}

impl Settings {
    /// Reads the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is) or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), `OTEL_EXPORTER_OTLP_PROTOCOL`
    /// (`http/protobuf` or `http/json`), `OTEL_SERVICE_NAME` (else `service`),
    /// `OTEL_SDK_DISABLED` and `OTEL_TRACES_EXPORTER=none`. `Ok(None)`: export is off.
    pub fn from_env(service: &str) -> Result<Option<Self>, String> {
        Self::from_vars(service, |name| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })
    }

    fn from_vars(
        service: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true")
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim().trim_end_matches('/')))
        });
        let Some(endpoint) = endpoint.filter(|_| !disabled) else {
            return Ok(None);
        };
        let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"));
        let json = match protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => false,
            Some("http/json") => true,
            Some(other) => {
                return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: traces are exported \
                     over HTTP, set it to http/protobuf (the default) or http/json"
                ))
            }
        };
        Ok(Some(Self {
            endpoint: endpoint.trim().to_owned(),
            json,
            service: var("OTEL_SERVICE_NAME").unwrap_or_else(|| service.to_owned()),
        }))
    }

    /// The endpoint without any user name, password, query or path: safe to log.
    pub fn endpoint_for_log(&self) -> String {
        let after_scheme = self.endpoint.find("://").map_or(0, |i| i + 3);
        let (scheme, rest) = self.endpoint.split_at(after_scheme);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        format!("{scheme}{host}")
    }
}

struct Export {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

static EXPORT: OnceLock<Export> = OnceLock::new();

/// Flushes the spans not yet sent and stops the export when dropped (at the end of `main`).
#[must_use = "dropping the guard stops the export"]
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(export) = EXPORT.get() {
            let _ = export.provider.shutdown();
        }
    }
}

/// Starts exporting every span of this process to `settings`. One export per process: a
/// second call is refused.
pub fn install(settings: &Settings) -> Result<Guard, String> {
    let builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(settings.endpoint.clone())
        .with_protocol(if settings.json {
            Protocol::HttpJson
        } else {
            Protocol::HttpBinary
        });
    let exporter = builder.build().map_err(|e| {
        format!(
            "cannot export traces to {}: {e}",
            settings.endpoint_for_log()
        )
    })?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // Every request is exported, or none of a trace: a caller's decision is kept and ours
        // always samples (sample in the collector, where whole traces are seen).
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("tessera-rs");
    EXPORT
        .set(Export { provider, tracer })
        .map_err(|_| "traces are already exported by this process".to_owned())?;
    Ok(Guard(()))
}

/// Whether spans are exported: callers skip building their attributes when not.
pub fn enabled() -> bool {
    EXPORT.get().is_some()
}

/// One finished span: what a server served or a client called.
pub struct Finished<'a> {
    /// `METHOD route`, e.g. `POST /push`.
    pub name: String,
    /// The span: its trace and span ids.
    pub context: TraceContext,
    /// Its parent, when it has one (a caller's context, or the request a call is made for).
    pub parent: Option<TraceContext>,
    /// Served (`true`) or called (`false`).
    pub server: bool,
    /// When it started.
    pub started: SystemTime,
    /// When it ended.
    pub ended: SystemTime,
    /// The answer's status, when known.
    pub status: Option<u16>,
    /// Whether the span failed: a server's 5xx (a 4xx is the caller's doing), a call without
    /// the answer it wanted.
    pub failed: bool,
    /// The request's method.
    pub method: &'a str,
    /// The route a server matched (`/transaction/{key}`), or the path a client called.
    pub route: &'a str,
}

/// Sends `span` to the collector, if export is on.
pub fn record(span: Finished<'_>) {
    let Some(export) = EXPORT.get() else {
        return;
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", span.method.to_owned()),
        KeyValue::new(
            if span.server {
                "http.route"
            } else {
                "url.path"
            },
            span.route.to_owned(),
        ),
    ];
    if let Some(status) = span.status {
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
    }
    let builder = SpanBuilder::from_name(span.name)
        .with_kind(if span.server {
            SpanKind::Server
        } else {
            SpanKind::Client
        })
        .with_trace_id(TraceId::from_bytes(span.context.trace_id))
        .with_span_id(SpanId::from_bytes(span.context.span_id))
        .with_start_time(span.started)
        .with_attributes(attributes)
        .with_status(if span.failed {
            Status::error(match span.status {
                Some(status) => format!("status {status}"),
                None => "no answer".to_owned(),
            })
        } else {
            Status::Unset
        });
    let parent = match span.parent {
        Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.span_id),
            if parent.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        )),
        None => Context::new(),
    };
    let mut built = export.tracer.build_with_context(builder, &parent);
    opentelemetry::trace::Span::end_with_timestamp(&mut built, span.ended);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_vars("p2p-node", |name| vars.get(name).cloned())
    }

    #[test]
    fn export_is_off_without_an_endpoint_or_when_disabled() {
        assert_eq!(settings(&[]), Ok(None));
        assert_eq!(
            settings(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ]),
            Ok(None)
        );
        assert_eq!(
            settings(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_TRACES_EXPORTER", "none")
            ]),
            Ok(None)
        );
    }

    #[test]
    fn the_general_endpoint_gets_the_traces_path_and_the_traces_one_is_kept() {
        let general = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])
            .expect("valid")
            .expect("on");
        assert_eq!(general.endpoint, "http://c:4318/v1/traces");
        assert!(!general.json);
        assert_eq!(general.service, "p2p-node");
        let traces = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/x"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "node-1-p2p"),
        ])
        .expect("valid")
        .expect("on");
        assert_eq!(traces.endpoint, "http://t:1/x");
        assert!(traces.json);
        assert_eq!(traces.service, "node-1-p2p");
    }

    #[test]
    fn grpc_is_refused_with_what_to_set_instead() {
        let refused = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .expect_err("refused");
        assert!(refused.contains("http/protobuf"), "{refused}");
    }

    #[test]
    fn the_logged_endpoint_has_no_credentials_or_path() {
        let s = Settings {
            endpoint: "https://user:secret@collector:4318/v1/traces?token=x".into(),
            json: false,
            service: "q2t-api".into(),
        };
        assert_eq!(s.endpoint_for_log(), "https://collector:4318");
    }
}
