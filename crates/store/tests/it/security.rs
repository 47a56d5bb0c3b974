//! The database password never appears in Debug, Display, errors or logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tm_store::{DatabaseUrl, Store, StoreError, StoreSettings};

use crate::support::{pg_gate, PgEnv};

/// Everything any test logs through tracing, from every thread (r2d2 connects on its own).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || SharedWriter(writer.clone()))
            .finish();
        // Another test binary could have set one; then logs are not captured and the log
        // assertion below would be vacuous, so insist.
        tracing::subscriber::set_global_default(subscriber).expect("global subscriber");
        buffer
    })
    .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn password_is_never_shown() {
    let logs = captured_logs();
    let _gate = pg_gate();
    let env = PgEnv::from_env();
    let wrong = "Wr0ng-Pa55word-for-redaction";
    let url = env.jdbc_url(&env.database, None);

    // Wrong password: the error says why, the password is nowhere.
    let mut settings = StoreSettings::new(url.clone(), Some(&env.user), Some(wrong), false, 1);
    settings.connection_timeout = Duration::from_secs(1);
    let err = Store::open(&settings).expect_err("authentication fails");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(!format!("{settings:?}").contains(wrong));

    // Right password: Debug of the store and its URL show it masked.
    let store =
        Store::connect(&url, Some(&env.user), Some(&env.password), true, 1).expect("store opens");
    for shown in [
        format!("{store:?}"),
        format!("{}", store.url()),
        format!("{:?}", store.url()),
    ] {
        assert!(!shown.contains(&env.password), "{shown}");
        assert!(shown.contains(":***@"), "{shown}");
    }

    // A password inside the URL itself is masked too.
    let in_url = format!("{url}?password={wrong}");
    let parsed = DatabaseUrl::parse(&in_url, Some(&env.user), None).expect("parses");
    assert!(!format!("{parsed} {parsed:?}").contains(wrong));
    let settings = StoreSettings::new(in_url, Some(&env.user), None, false, 1);
    assert!(!format!("{settings:?}").contains(wrong));

    // Let r2d2's background connection attempts finish logging.
    std::thread::sleep(Duration::from_millis(200));
    let logged =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        logged.contains("database connection error"),
        "the failure was logged: {logged}"
    );
    assert!(!logged.contains(wrong), "{logged}");
    assert!(!logged.contains(&env.password), "{logged}");
}
