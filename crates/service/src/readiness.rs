//! `GET /readiness`: whether a balancer or Kubernetes should route to this instance.
//!
//! 503 while the instance drains before it stops ([`Draining`]), or while the database or the
//! enclave cannot be used. The database and the enclave are checked in the background every
//! [`REFRESH`], and `/readiness` answers the last result at once. So a balancer's check never
//! waits on a slow dependency: a replica of the enclave that hangs (a ping through the
//! enclave's balancer waits one attempt timeout before it is retried elsewhere) does not make
//! every instance calling it miss its own checks and be taken out together. A check that has
//! not completed for [`STALE`] (a database that hangs) is an answer too: 503.
//!
//! A database server that is up but read-only (a standby, a demoted primary, no primary
//! reachable during a failover) is one that cannot be used: the store's pool refuses its
//! connections, so the check fails and `/readiness` answers 503 until a primary takes
//! connections (docs/operations.md, "PostgreSQL failover").

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use tm_http::drain::Draining;
use tm_manager::Node;

/// How often the database and the enclave are checked.
pub const REFRESH: Duration = Duration::from_millis(500);

/// How old the last completed check may be before `/readiness` answers 503 anyway.
pub const STALE: Duration = Duration::from_secs(3);

/// The readiness of one server: its drain flag and the last check of its dependencies.
#[derive(Debug)]
pub struct Readiness {
    node: Node,
    draining: Draining,
    last: Mutex<Option<Checked>>,
}

/// A completed check: when, and what was missing (a message fit for the response body).
#[derive(Clone, Debug)]
struct Checked {
    at: Instant,
    outcome: Result<(), String>,
}

impl Readiness {
    /// The readiness of a server of `node` that drains through `draining`.
    pub fn new(node: Node, draining: Draining) -> Arc<Self> {
        Arc::new(Self {
            node,
            draining,
            last: Mutex::new(None),
        })
    }

    /// Checks the dependencies every [`REFRESH`] until aborted.
    pub fn refresh(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                self.check().await;
            }
        })
    }

    /// Checks the database and the enclave now and records the outcome; a change is logged
    /// once (the cause, a database's own text, only in the log).
    async fn check(&self) -> Checked {
        let outcome = self.node.readiness().await.map_err(|e| {
            let error = tm_http::ApiError::from(e);
            (
                error.message().to_owned(),
                error.detail().unwrap_or_default().to_owned(),
            )
        });
        let checked = Checked {
            at: Instant::now(),
            outcome: outcome.clone().map_err(|(message, _)| message),
        };
        let previous = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(checked.clone());
        let was_ready = previous.map(|p| p.outcome.is_ok());
        match outcome {
            Err((message, detail)) if was_ready != Some(false) => {
                tracing::warn!(detail, "not ready: {message}");
            }
            Ok(()) if was_ready == Some(false) => tracing::info!("ready again"),
            _ => {}
        }
        checked
    }

    /// What `/readiness` answers now.
    async fn answer(&self) -> HttpResponse {
        if self.draining.is_draining() {
            return Draining::not_ready();
        }
        let last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        // Before the first background check has completed (just started): check now.
        let checked = match last {
            Some(checked) => checked,
            None => self.check().await,
        };
        let age = checked.at.elapsed();
        match checked.outcome {
            _ if age > STALE => not_ready(&format!(
                "the database and enclave check has not completed for {} ms",
                age.as_millis()
            )),
            Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
            Err(message) => not_ready(&message),
        }
    }
}

fn not_ready(message: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain")
        .body(format!("not ready: {message}"))
}

/// The `/readiness` handler (the [`Readiness`] is app data).
pub async fn readiness(state: web::Data<Readiness>) -> HttpResponse {
    state.answer().await
}

#[cfg(test)]
mod tests {
    //! Against the test PostgreSQL (`TM_TEST_POSTGRES_URL`, default `.ci/postgres.sh`'s
    //! server), on a database of the test's own that it makes read-only: what a node sees when
    //! the only server left is a standby.

    use std::process::Command;

    use super::*;
    use tm_config::{AppType, EnvOverrides, LoadOptions, Profile};

    /// The test server as `(user, password, host:port)`.
    fn server() -> (String, String, String) {
        let url = std::env::var("TM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://tm:tm-test-pw@127.0.0.1:55432/tm".to_owned());
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let (userinfo, location) = rest.split_once('@').expect("user:password@ in the URL");
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let hostport = location.split(['/', '?']).next().unwrap_or(location);
        (user.to_owned(), password.to_owned(), hostport.to_owned())
    }

    /// Runs SQL on the test server's own database with `psql`.
    fn psql(sql: &str) {
        let (user, password, hostport) = server();
        let (host, port) = hostport.split_once(':').unwrap_or((&hostport, "5432"));
        let ok = Command::new("psql")
            .arg(format!("host={host} port={port} user={user} dbname=tm"))
            .env("PGPASSWORD", password)
            .env("PGOPTIONS", "--client-min-messages=warning")
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "psql failed (is PostgreSQL up? bash .ci/postgres.sh): {sql}"
        );
    }

    /// A database of the test's own, dropped at the end.
    struct OwnDatabase(String);

    impl Drop for OwnDatabase {
        fn drop(&mut self) {
            psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
        }
    }

    fn node_config(database: &str) -> tm_config::Config {
        let (user, password, hostport) = server();
        let json = config_json(&hostport, database, &user, &password);
        let options = LoadOptions {
            overrides: Vec::new(),
            env: EnvOverrides::Disabled,
            profile: Profile::Node,
        };
        tm_config::load_str(&json, &options)
            .expect("the test config loads")
            .config
    }

    fn config_json(hostport: &str, database: &str, user: &str, password: &str) -> String {
        format!(
            r#"{{
              "jdbc": {{
                "url": "jdbc:postgresql://{hostport}/{database}?targetServerType=primary",
                "username": "{user}", "password": "{password}", "autoCreateTables": true
              }},
              "serverConfigs": [
                {{ "app": "P2P", "enabled": true, "serverAddress": "http://127.0.0.1:9",
                   "communicationType": "REST" }},
                {{ "app": "Q2T", "enabled": true, "serverAddress": "http://127.0.0.1:10",
                   "communicationType": "REST" }}
              ],
              "peer": [],
              "keys": {{ "keyData": [
                {{ "config": {{ "type": "unlocked",
                                "data": {{ "bytes": "yAWAJjwPqUtNVlqGjSrBmr1/iIkghuOh1803Yzx9jLM=" }} }},
                   "publicKey": "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=" }}
              ] }}
            }}"#
        )
    }

    async fn status_and_body(readiness: &Readiness) -> (u16, String) {
        let response = readiness.answer().await;
        let status = response.status().as_u16();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        (status, body)
    }

    #[actix_web::test]
    async fn not_ready_while_the_only_database_server_is_read_only() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let db = OwnDatabase(format!("tm_ready_ro_{}_{nanos}", std::process::id()));
        psql(&format!("CREATE DATABASE {}", db.0));
        let service = crate::Service::build(AppType::P2P, node_config(&db.0))
            .await
            .expect("the node starts on a writable server");
        let readiness = Readiness::new(service.node().clone(), Draining::new());
        readiness.check().await;
        assert_eq!(status_and_body(&readiness).await.0, 200);

        // The server turns read-only, as a primary that comes back as a standby does; its
        // sessions end.
        psql(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            db.0
        ));
        psql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.0
        ));
        readiness.check().await;
        let (status, body) = status_and_body(&readiness).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("not ready"), "{body}");
        let (_, password, _) = server();
        assert!(!body.contains(&password), "no password in {body}");

        // A primary again: ready again, with no restart.
        psql(&format!(
            "ALTER DATABASE {} RESET default_transaction_read_only",
            db.0
        ));
        let mut ready = false;
        for _ in 0..30 {
            readiness.check().await;
            if status_and_body(&readiness).await.0 == 200 {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(ready, "ready again once the server takes writes");
    }
}
