//! Choosing the backend from Tessera's `jdbc.url` (docs/protocol.md §12.3), with the password kept
//! out of every `Debug`, `Display` and error text.

use std::fmt;
use std::path::PathBuf;

use crate::StoreError;

/// The URL forms we accept, named in the error for anything else.
pub const SUPPORTED_URLS: &str =
    "jdbc:postgresql://host[:port]/database[?params] or jdbc:sqlite:path (or jdbc:sqlite::memory:)";

/// PostgreSQL's port when the URL names none.
const DEFAULT_PG_PORT: u16 = 5432;

/// libpq waits forever for an unreachable host by default; a down database must be reported.
const DEFAULT_PG_CONNECT_TIMEOUT_SECS: u32 = 5;

/// A password that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The password itself, for building the connection string only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which database a `jdbc.url` names.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite database.
    Sqlite(SqliteTarget),
    /// A PostgreSQL server.
    Postgres(PostgresTarget),
}

/// Where an embedded SQLite database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteTarget {
    /// A database file (created if missing when tables may be created).
    File(PathBuf),
    /// A private in-memory database (`jdbc:sqlite::memory:`), for tests and tools.
    Memory,
}

/// A PostgreSQL server and database, as parsed from the JDBC URL plus the separate
/// `jdbc.username` / `jdbc.password`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    /// `host:port` pairs (JDBC allows several, as libpq does).
    pub hosts: Vec<(String, u16)>,
    /// Database name.
    pub database: String,
    /// Role to log in as.
    pub user: Option<String>,
    /// Its password; never printed.
    pub password: Option<Secret>,
    /// libpq keywords translated from the JDBC parameters (`sslmode`, `options`, ...).
    pub params: Vec<(String, String)>,
}

impl DatabaseUrl {
    /// Parses Tessera's `jdbc.url`. `username` and `password` are `jdbc.username` and
    /// `jdbc.password`; they win over `user`/`password` parameters in the URL.
    pub fn parse(
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<Self, StoreError> {
        let trimmed = url.trim();
        if let Some(rest) = trimmed.strip_prefix("jdbc:sqlite:") {
            return Ok(Self::Sqlite(parse_sqlite(rest)));
        }
        if let Some(rest) = trimmed.strip_prefix("jdbc:postgresql:") {
            return parse_postgres(url, rest, username, password).map(Self::Postgres);
        }
        Err(StoreError::UnsupportedUrl {
            url: redact_url(url),
        })
    }

    /// Whether this is the PostgreSQL backend.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The password, if any (used to scrub error texts).
    pub(crate) fn password(&self) -> Option<&Secret> {
        match self {
            Self::Postgres(pg) => pg.password.as_ref(),
            Self::Sqlite(_) => None,
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(SqliteTarget::File(path)) => write!(f, "jdbc:sqlite:{}", path.display()),
            Self::Sqlite(SqliteTarget::Memory) => f.write_str("jdbc:sqlite::memory:"),
            Self::Postgres(pg) => fmt::Display::fmt(pg, f),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl fmt::Display for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("jdbc:postgresql://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}")?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        for (i, (host, port)) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if host.contains(':') {
                write!(f, "[{host}]:{port}")?;
            } else {
                write!(f, "{host}:{port}")?;
            }
        }
        write!(f, "/{}", self.database)?;
        // Parameter values can carry secrets (e.g. sslpassword); only their names are shown.
        for (i, (key, _)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            write!(f, "{key}=…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresTarget({self})")
    }
}

impl PostgresTarget {
    /// The libpq keyword/value connection string, password included. Never log this.
    pub(crate) fn conninfo(&self) -> String {
        let hosts: Vec<&str> = self.hosts.iter().map(|(h, _)| h.as_str()).collect();
        let ports: Vec<String> = self.hosts.iter().map(|(_, p)| p.to_string()).collect();
        let mut parts = vec![
            kv("host", &hosts.join(",")),
            kv("port", &ports.join(",")),
            kv("dbname", &self.database),
        ];
        if let Some(user) = &self.user {
            parts.push(kv("user", user));
        }
        if let Some(password) = &self.password {
            parts.push(kv("password", password.expose()));
        }
        for (key, value) in &self.params {
            parts.push(kv(key, value));
        }
        if !self.params.iter().any(|(k, _)| k == "connect_timeout") {
            parts.push(kv(
                "connect_timeout",
                &DEFAULT_PG_CONNECT_TIMEOUT_SECS.to_string(),
            ));
        }
        parts.join(" ")
    }
}

/// One libpq `key='value'` pair, quoted as libpq requires.
fn kv(key: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("{key}='{escaped}'")
}

fn parse_sqlite(rest: &str) -> SqliteTarget {
    let rest = rest.trim();
    if rest.is_empty() || rest == ":memory:" {
        return SqliteTarget::Memory;
    }
    // sqlite-jdbc accepts `?key=value` settings after the path; we set our own pragmas.
    let path = match rest.split_once('?') {
        Some((path, _)) if !rest.starts_with("file:") => {
            tracing::warn!("ignoring parameters in jdbc:sqlite URL; pragmas are set by the node");
            path
        }
        _ => rest,
    };
    let path = path.strip_prefix("file:").unwrap_or(path);
    SqliteTarget::File(PathBuf::from(path))
}

fn parse_postgres(
    original: &str,
    rest: &str,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<PostgresTarget, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
        url: redact_url(original),
        reason: reason.to_owned(),
    };
    let (location, query) = match rest.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (rest, None),
    };
    // `jdbc:postgresql:db`, `jdbc:postgresql:/` and `jdbc:postgresql://host:port/db` forms.
    let (authority, database) = if let Some(after) = location.strip_prefix("//") {
        match after.split_once('/') {
            Some((authority, db)) => (authority, db),
            None => (after, ""),
        }
    } else {
        ("", location.trim_start_matches('/'))
    };
    let mut hosts = Vec::new();
    if authority.is_empty() {
        hosts.push(("localhost".to_owned(), DEFAULT_PG_PORT));
    } else {
        for part in authority.split(',') {
            hosts.push(parse_host_port(part).ok_or_else(|| invalid("bad host or port"))?);
        }
    }
    let mut user = username.filter(|u| !u.is_empty()).map(str::to_owned);
    let mut secret = password.map(Secret::new);
    let mut params = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "user" => {
                if user.is_none() {
                    user = Some(value.to_owned());
                }
            }
            "password" => {
                if secret.is_none() {
                    secret = Some(Secret::new(value));
                }
            }
            "ssl" if value == "true" => params.push(("sslmode".into(), "require".into())),
            "ssl" => {}
            "sslmode"
            | "sslrootcert"
            | "sslcert"
            | "sslkey"
            | "sslpassword"
            | "target_session_attrs"
            | "options"
            | "application_name" => {
                params.push((key.to_owned(), value.to_owned()));
            }
            "ApplicationName" => params.push(("application_name".into(), value.to_owned())),
            "connectTimeout" => params.push(("connect_timeout".into(), value.to_owned())),
            "targetServerType" => {
                let attrs = match value {
                    "primary" | "master" => "read-write",
                    "secondary" | "slave" => "read-only",
                    _ => "any",
                };
                params.push(("target_session_attrs".into(), attrs.into()));
            }
            "currentSchema" => {
                params.push(("options".into(), format!("-c search_path={value}")));
            }
            other => {
                tracing::warn!(
                    parameter = other,
                    "ignoring unsupported jdbc:postgresql parameter"
                );
            }
        }
    }
    let database = if database.is_empty() {
        user.clone().unwrap_or_else(|| "postgres".to_owned())
    } else {
        database.to_owned()
    };
    Ok(PostgresTarget {
        hosts,
        database,
        user,
        password: secret,
        params,
    })
}

fn parse_host_port(part: &str) -> Option<(String, u16)> {
    let part = part.trim();
    if let Some(after) = part.strip_prefix('[') {
        let (host, rest) = after.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => DEFAULT_PG_PORT,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match part.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host.to_owned(), port.parse().ok()?)),
        Some(_) => None,
        None if !part.is_empty() => Some((part.to_owned(), DEFAULT_PG_PORT)),
        None => None,
    }
}

/// A URL as it may appear in errors: any `user:password@` and `password=` value masked.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let (location, query) = match url.split_once('?') {
        Some((l, q)) => (l, Some(q)),
        None => (url, None),
    };
    match location.split_once("//") {
        Some((scheme, rest)) => {
            out.push_str(scheme);
            out.push_str("//");
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            match authority.rsplit_once('@') {
                Some((userinfo, hosts)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    out.push_str(user);
                    if userinfo.contains(':') {
                        out.push_str(":***");
                    }
                    out.push('@');
                    out.push_str(hosts);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(location),
    }
    if let Some(query) = query {
        out.push('?');
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&masked.join("&"));
    }
    out
}

/// Replaces the password wherever it occurs in a message from a driver or pool.
///
/// Very short passwords are left alone: masking them would mangle ordinary words in the
/// message while hiding nothing a guess would not find.
pub(crate) fn scrub(message: &str, password: Option<&Secret>) -> String {
    match password {
        Some(secret) if secret.expose().len() >= 4 => message.replace(secret.expose(), "***"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls() {
        let url = DatabaseUrl::parse(
            "jdbc:postgresql://db.example:6543/tessera?currentSchema=s1&sslmode=require",
            Some("tm"),
            Some("hunter22"),
        )
        .expect("parses");
        let DatabaseUrl::Postgres(pg) = &url else {
            panic!("not postgres")
        };
        assert_eq!(pg.hosts, vec![("db.example".to_owned(), 6543)]);
        assert_eq!(pg.database, "tessera");
        assert_eq!(pg.user.as_deref(), Some("tm"));
        let info = pg.conninfo();
        assert!(info.contains("options='-c search_path=s1'"), "{info}");
        assert!(info.contains("sslmode='require'"), "{info}");
        assert!(info.contains("connect_timeout='5'"), "{info}");
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("tm:***@db.example:6543/tessera"), "{shown}");
    }

    #[test]
    fn postgres_short_forms_and_hosts() {
        let Ok(DatabaseUrl::Postgres(pg)) = DatabaseUrl::parse("jdbc:postgresql:tdb", None, None)
        else {
            panic!("short form")
        };
        assert_eq!(pg.hosts, vec![("localhost".to_owned(), 5432)]);
        assert_eq!(pg.database, "tdb");
        let Ok(DatabaseUrl::Postgres(pg)) =
            DatabaseUrl::parse("jdbc:postgresql://[::1]:7,h2/db", None, None)
        else {
            panic!("multi host")
        };
        assert_eq!(
            pg.hosts,
            vec![("::1".to_owned(), 7), ("h2".to_owned(), 5432)]
        );
        assert!(DatabaseUrl::parse("jdbc:postgresql://h:notaport/db", None, None).is_err());
    }

    #[test]
    fn url_password_parameter_is_used_and_hidden() {
        let url = DatabaseUrl::parse(
            "jdbc:postgresql://h/db?user=u&password=s3cr3t-pw",
            None,
            None,
        )
        .expect("parses");
        assert_eq!(url.password().map(Secret::expose), Some("s3cr3t-pw"));
        assert!(!format!("{url:?}").contains("s3cr3t-pw"));
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            DatabaseUrl::parse("jdbc:sqlite:/var/tm/db.sqlite", None, None).expect("file"),
            DatabaseUrl::Sqlite(SqliteTarget::File("/var/tm/db.sqlite".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("jdbc:sqlite::memory:", None, None).expect("memory"),
            DatabaseUrl::Sqlite(SqliteTarget::Memory)
        );
    }

    #[test]
    fn unsupported_urls_name_the_supported_ones() {
        for url in [
            "jdbc:h2:/tmp/db1;MODE=Oracle;TRACE_LEVEL_SYSTEM_OUT=0",
            "jdbc:hsqldb:file:/tmp/db",
            "jdbc:mysql://u:pw-in-url@h/db",
            "postgres://h/db",
        ] {
            let err = DatabaseUrl::parse(url, None, None).expect_err(url);
            let text = err.to_string();
            assert!(text.contains("jdbc:postgresql://"), "{text}");
            assert!(text.contains("jdbc:sqlite:"), "{text}");
            assert!(!text.contains("pw-in-url"), "{text}");
        }
    }

    #[test]
    fn scrub_replaces_the_password() {
        let secret = Secret::new("topsecret");
        assert_eq!(
            scrub("auth failed for topsecret", Some(&secret)),
            "auth failed for ***"
        );
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
