use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use tm_core::{Classify, ErrorKind};

/// An error as Tessera reports it: a status code and a plain-text body, never a JSON envelope
/// (docs/protocol.md §2).
///
/// Every error a route answers with becomes one of these, either built here from a kind or
/// converted from a domain error that knows its [`ErrorKind`]; [`status_of`] is the one place
/// a kind becomes a status. The message is what the caller sees: it must never hold a secret.
/// Each error is logged once, here, when it becomes a response: server errors at `error`,
/// client errors at `debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    /// What caused it, for the log only (e.g. the database's own error text, which may name
    /// tables and values): never in the body.
    detail: Option<String>,
}

/// The HTTP status of each kind of failure, with the places where Tessera's answer is not the
/// obvious one named.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        // Tessera's NodeOfflineException.
        ErrorKind::RecipientOffline => StatusCode::GONE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        // Jersey's 415, which Tessera's own exception mapper turns into a 500 on its P2P
        // endpoints; we keep the 4xx (docs/security.md).
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        // Tessera answers 500 for these although the caller's input is at fault: an unknown
        // sender key (RecipientKeyNotFoundException), a recipient's refusal of our push
        // (PublishPayloadException), a box that does not open, a key that is not a recipient
        // of the transaction. Clients written against Tessera expect the 500.
        ErrorKind::Refused => StatusCode::INTERNAL_SERVER_ERROR,
        // Tessera's SecurityException for party info whose keys fail validation: a 500 whose
        // body is empty (see `ApiError::body`).
        ErrorKind::KeyValidation => StatusCode::INTERNAL_SERVER_ERROR,
        // Tessera's EnclaveNotAvailableException, and a database that cannot be reached.
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // Tessera's 503 for a feature switched off in the config: the caller's request, not a
        // failure of ours.
        ErrorKind::Disabled => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error of any kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// The same error with a cause that is logged but never answered.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 400: the request is malformed (bad base64, bad JSON, ...).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// 401: a caller not on the whitelist (Tessera sends an empty body).
    pub fn unauthorized() -> Self {
        Self::new(ErrorKind::Unauthorized, "")
    }

    /// 403: privacy rules forbid it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 404: no such transaction, key or group.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 500: anything else; Tessera answers with the root cause's message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        status_of(self.kind)
    }

    /// The message (logged; the body unless the kind hides it).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The cause, logged with the message but never part of the body.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The plain-text body the caller gets.
    pub fn body(&self) -> &str {
        match self.kind {
            ErrorKind::KeyValidation => "",
            _ => &self.message,
        }
    }
}

/// Any domain error that knows its kind becomes a response with its message; its sources
/// (e.g. a database error behind a generic message) are kept as the detail, logged but never
/// answered. (`ApiError` itself does not implement [`Classify`], which keeps this apart from
/// `From<T> for T`.)
impl<E: Classify + std::error::Error> From<E> for ApiError {
    fn from(error: E) -> Self {
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        let api = Self::new(error.kind(), error.to_string());
        if causes.is_empty() {
            api
        } else {
            api.with_detail(causes.join(": "))
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        let detail = self.detail.as_deref().unwrap_or_default();
        // Logged once, at the level of whose doing it is: ours (error), the caller's or a
        // peer's that Tessera answers with a server status (info), the caller's (debug).
        match self.kind {
            ErrorKind::Unavailable | ErrorKind::Internal => {
                tracing::error!(status = status.as_u16(), detail, "{}", self.message)
            }
            ErrorKind::Refused
            | ErrorKind::KeyValidation
            | ErrorKind::Disabled
            | ErrorKind::RecipientOffline => {
                tracing::info!(status = status.as_u16(), detail, "{}", self.message)
            }
            _ => tracing::debug!(status = status.as_u16(), detail, "{}", self.message),
        }
        HttpResponse::build(status)
            .content_type("text/plain")
            .body(self.body().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The level an error of `kind` is logged at when it is answered.
    fn level_of(kind: ErrorKind) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let _ = ApiError::new(kind, "the message").error_response();
        });
        let text = String::from_utf8(captured.0.lock().expect("log").clone()).expect("utf-8");
        assert_eq!(
            text.matches("the message").count(),
            1,
            "logged once: {text}"
        );
        ["ERROR", "INFO", "DEBUG"]
            .into_iter()
            .find(|level| text.contains(level))
            .unwrap_or("none")
            .to_owned()
    }

    #[test]
    fn errors_are_logged_once_at_the_level_of_whose_doing_they_are() {
        for kind in [ErrorKind::Unavailable, ErrorKind::Internal] {
            assert_eq!(level_of(kind), "ERROR", "{kind:?}");
        }
        // Tessera's server statuses for what a caller or a peer did.
        for kind in [
            ErrorKind::Disabled,
            ErrorKind::Refused,
            ErrorKind::KeyValidation,
            ErrorKind::RecipientOffline,
        ] {
            assert_eq!(level_of(kind), "INFO", "{kind:?}");
        }
        for kind in [
            ErrorKind::Invalid,
            ErrorKind::NotFound,
            ErrorKind::Forbidden,
            ErrorKind::Unauthorized,
            ErrorKind::TooLarge,
            ErrorKind::UnsupportedMediaType,
        ] {
            assert_eq!(level_of(kind), "DEBUG", "{kind:?}");
        }
        assert_eq!(
            status_of(ErrorKind::Disabled),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
