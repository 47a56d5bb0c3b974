//! The test PostgreSQL server: its URL, a fresh schema per test, and `psql`.
//!
//! The server is `TM_TEST_POSTGRES_URL` (`postgres://user:password@host:port/database`) or the
//! one `bash .ci/postgres.sh` starts ([`DEFAULT_URL`]). PostgreSQL being unreachable fails a
//! test; it never skips it.

use std::process::Command;

/// The server `.ci/postgres.sh` starts.
pub const DEFAULT_URL: &str = "postgres://tm:tm-test-pw@127.0.0.1:55432/tm";

/// The test server's URL: `TM_TEST_POSTGRES_URL`, else [`DEFAULT_URL`].
pub fn url() -> String {
    std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// One schema of the test server, with what a config needs to use it.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The schema's name.
    pub name: String,
    /// `jdbc:postgresql://host:port/database?currentSchema=<name>`, for `jdbc.url`.
    pub jdbc_url: String,
    /// The user, for `jdbc.username`.
    pub user: String,
    /// The password, for `jdbc.password`.
    pub password: String,
}

impl Schema {
    /// Creates a fresh schema named `<prefix>_<pid>_<nanos>` on the test server with `psql`.
    /// Panics, saying how to start PostgreSQL, when that fails.
    pub fn create(prefix: &str) -> Self {
        let url = url();
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .expect("TM_TEST_POSTGRES_URL is postgres://user:password@host:port/database");
        let (userinfo, location) = rest.split_once('@').expect("user:password@ in the URL");
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let location = location.split('?').next().unwrap_or(location);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        assert!(
            psql(&format!("CREATE SCHEMA {name}")),
            "cannot create schema {name} on {location}: is PostgreSQL running (bash .ci/postgres.sh)?"
        );
        Self {
            jdbc_url: format!("jdbc:postgresql://{location}?currentSchema={name}"),
            name,
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// Drops the schema and everything in it; returns whether that succeeded.
    pub fn drop_all(&self) -> bool {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
    }
}

/// Runs one SQL statement on the test server with `psql`; returns whether it succeeded.
/// Panics when `psql` is not installed (`bash .ci/postgres.sh` installs it).
pub fn psql(sql: &str) -> bool {
    Command::new("psql")
        .arg(url())
        .env("PGOPTIONS", "--client-min-messages=warning")
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .status()
        .expect("psql is installed (bash .ci/postgres.sh installs it)")
        .success()
}
