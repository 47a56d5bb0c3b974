//! Databases on the local PostgreSQL (`.ci/postgres.sh`, or `TM_TEST_POSTGRES_URL`) for the
//! cluster's nodes and the bench floor: a whole database each, where tests take a schema
//! (`tm_dev_support::postgres::Schema`).

use std::process::{Command, Stdio};

use tm_dev_support::postgres;

/// A database on the local server, with what a config needs to use it.
pub struct Database {
    /// `jdbc:postgresql://host:port/<name>`.
    pub jdbc_url: String,
    /// The user.
    pub user: String,
    /// The password.
    pub password: String,
}

impl Database {
    /// Creates database `name` (it must not exist).
    pub fn create(name: &str) -> Result<Self, String> {
        run(&format!("CREATE DATABASE {name}"))?;
        Ok(Self::named(name))
    }

    /// Where database `name` is, as the server's user.
    pub fn named(name: &str) -> Self {
        let url = postgres::url();
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .unwrap_or(&url);
        let (userinfo, location) = rest.split_once('@').unwrap_or(("", rest));
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let host = location.split(['/', '?']).next().unwrap_or(location);
        Self {
            jdbc_url: format!("jdbc:postgresql://{host}/{name}"),
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }
}

/// Drops database `name` if it exists, closing its connections.
pub fn drop_database(name: &str) -> Result<(), String> {
    run(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
}

/// Runs one SQL statement with `psql` as the server's user.
pub fn run(sql: &str) -> Result<(), String> {
    if postgres::psql(sql) {
        Ok(())
    } else {
        Err(format!("psql failed: {sql}"))
    }
}

/// Starts the local server with `.ci/postgres.sh` unless it answers already.
pub fn ensure_running() -> Result<(), String> {
    let answers = Command::new("psql")
        .arg(postgres::url())
        .args(["-q", "-c", "SELECT 1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if answers {
        return Ok(());
    }
    println!("cluster: starting the local PostgreSQL (.ci/postgres.sh)");
    let status = Command::new("bash")
        .arg(crate::root().join(".ci/postgres.sh"))
        .status()
        .map_err(|e| format!(".ci/postgres.sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("could not start PostgreSQL with .ci/postgres.sh".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_on_the_server_of_the_url() {
        // Without TM_TEST_POSTGRES_URL: the server `.ci/postgres.sh` starts.
        if std::env::var_os("TM_TEST_POSTGRES_URL").is_some() {
            return;
        }
        let db = Database::named("tm_x");
        assert_eq!(db.jdbc_url, "jdbc:postgresql://127.0.0.1:55432/tm_x");
        assert_eq!(db.user, "tm");
        assert_eq!(db.password, "tm-test-pw");
    }
}
