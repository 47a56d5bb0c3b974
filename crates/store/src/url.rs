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
    /// Which server libpq settles on (`targetServerType` / `target_session_attrs`; `any`
    /// when the URL names neither, as in both drivers).
    pub(crate) fn target_session_attrs(&self) -> TargetSessionAttrs {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == "target_session_attrs")
            .and_then(|(_, v)| TargetSessionAttrs::from_libpq(v))
            .unwrap_or(TargetSessionAttrs::Any)
    }

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
        let count = authority.split(',').count();
        for (i, part) in authority.split(',').enumerate() {
            // The part itself is not echoed: a `user:password@` before it would be.
            let host = parse_host_port(part).ok_or_else(|| {
                invalid(&format!(
                    "bad host or port in host {} of {count} (expected host[:port] or \
                     [ipv6][:port], hosts separated by commas)",
                    i + 1
                ))
            })?;
            hosts.push(host);
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
            "sslmode" | "sslrootcert" | "sslcert" | "sslkey" | "sslpassword" | "options"
            | "application_name" => {
                params.push((key.to_owned(), value.to_owned()));
            }
            "ApplicationName" => params.push(("application_name".into(), value.to_owned())),
            "connectTimeout" => params.push(("connect_timeout".into(), value.to_owned())),
            "targetServerType" => {
                let attrs = TargetSessionAttrs::from_target_server_type(value)
                    .ok_or_else(|| invalid(&unknown_value(key, value, TARGET_SERVER_TYPES)))?;
                set_param(&mut params, "target_session_attrs", attrs.as_str());
            }
            "target_session_attrs" => {
                let attrs = TargetSessionAttrs::from_libpq(value)
                    .ok_or_else(|| invalid(&unknown_value(key, value, TARGET_SESSION_ATTRS)))?;
                set_param(&mut params, "target_session_attrs", attrs.as_str());
            }
            "loadBalanceHosts" => match value {
                "true" => set_param(&mut params, "load_balance_hosts", "random"),
                "false" | "" => set_param(&mut params, "load_balance_hosts", "disable"),
                _ => return Err(invalid(&unknown_value(key, value, "true, false"))),
            },
            // pgJDBC remembers each host's role for this long; libpq checks it at every connect.
            "hostRecheckSeconds" => {}
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

/// The `targetServerType` values pgJDBC accepts, for the error naming them.
const TARGET_SERVER_TYPES: &str =
    "any, primary, master, secondary, slave, preferSecondary, preferSlave, preferPrimary";

/// The `target_session_attrs` values libpq accepts.
const TARGET_SESSION_ATTRS: &str = "any, read-write, read-only, primary, standby, prefer-standby";

/// Which server of a multi-host URL libpq may settle on (its `target_session_attrs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetSessionAttrs {
    /// The first server that accepts the connection.
    Any,
    /// A server that accepts writes: not a standby, `default_transaction_read_only` off.
    ReadWrite,
    /// A server that is not a standby (it may still default to read-only transactions).
    Primary,
    /// A server that does not accept writes (a standby, or read-only by default).
    ReadOnly,
    /// A standby.
    Standby,
    /// A standby if one answers, else any server.
    PreferStandby,
}

impl TargetSessionAttrs {
    /// The libpq keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::ReadWrite => "read-write",
            Self::Primary => "primary",
            Self::ReadOnly => "read-only",
            Self::Standby => "standby",
            Self::PreferStandby => "prefer-standby",
        }
    }

    /// libpq's own value (case-sensitive, as libpq is).
    pub fn from_libpq(value: &str) -> Option<Self> {
        Some(match value {
            "any" => Self::Any,
            "read-write" => Self::ReadWrite,
            "primary" => Self::Primary,
            "read-only" => Self::ReadOnly,
            "standby" => Self::Standby,
            "prefer-standby" => Self::PreferStandby,
            _ => return None,
        })
    }

    /// The nearest libpq value to a pgJDBC `targetServerType` (case-sensitive, as pgJDBC's
    /// `HostRequirement` is). pgJDBC tells a primary from a secondary by
    /// `transaction_read_only`, which is what libpq's `read-write`/`read-only` check;
    /// `preferPrimary` has no libpq twin and becomes `read-write`: a transaction manager
    /// writes on every send, and its pool refuses a read-only server anyway, so "a standby
    /// when no primary answers" could only ever fail later.
    pub fn from_target_server_type(value: &str) -> Option<Self> {
        Some(match value {
            "any" => Self::Any,
            "primary" | "master" | "preferPrimary" => Self::ReadWrite,
            "secondary" | "slave" => Self::ReadOnly,
            "preferSecondary" | "preferSlave" => Self::PreferStandby,
            _ => return None,
        })
    }

    /// Whether the operator asked for a server that does not take writes: only then does the
    /// pool keep connections to a read-only server.
    pub fn wants_read_only(self) -> bool {
        matches!(self, Self::ReadOnly | Self::Standby | Self::PreferStandby)
    }
}

/// The reason given for a parameter value we do not know; the value is shown (it is a
/// keyword, not a secret) with the accepted ones.
fn unknown_value(key: &str, value: &str, accepted: &str) -> String {
    let shown: String = value.chars().take(40).collect();
    format!("unknown {key} value \"{shown}\" (accepted: {accepted})")
}

/// Sets a libpq parameter, replacing an earlier value (the last one in the URL wins).
fn set_param(params: &mut Vec<(String, String)>, key: &str, value: &str) {
    params.retain(|(k, _)| k != key);
    params.push((key.to_owned(), value.to_owned()));
}

fn parse_host_port(part: &str) -> Option<(String, u16)> {
    let part = part.trim();
    // pgJDBC takes no `user:password@` in the URL (they are jdbc.username/jdbc.password).
    if part.contains('@') {
        return None;
    }
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

    fn target(url: &str) -> Result<PostgresTarget, StoreError> {
        match DatabaseUrl::parse(url, Some("tm"), Some("pw-never-shown"))? {
            DatabaseUrl::Postgres(pg) => Ok(pg),
            DatabaseUrl::Sqlite(_) => panic!("not postgres: {url}"),
        }
    }

    #[test]
    fn every_target_server_type_maps_to_the_nearest_libpq_value() {
        for (jdbc, libpq) in [
            ("any", "any"),
            ("primary", "read-write"),
            ("master", "read-write"),
            ("preferPrimary", "read-write"),
            ("secondary", "read-only"),
            ("slave", "read-only"),
            ("preferSecondary", "prefer-standby"),
            ("preferSlave", "prefer-standby"),
        ] {
            let pg = target(&format!(
                "jdbc:postgresql://h1:5433,h2:5434/tm?targetServerType={jdbc}"
            ))
            .expect(jdbc);
            assert_eq!(pg.target_session_attrs().as_str(), libpq, "{jdbc}");
            let info = pg.conninfo();
            assert!(
                info.contains(&format!("target_session_attrs='{libpq}'")),
                "{jdbc}: {info}"
            );
            assert_eq!(info.matches("target_session_attrs").count(), 1, "{info}");
        }
        let pg = target("jdbc:postgresql://h1,h2/tm").expect("no type");
        assert_eq!(pg.target_session_attrs(), TargetSessionAttrs::Any);
        assert!(!pg.target_session_attrs().wants_read_only());
        assert!(TargetSessionAttrs::ReadOnly.wants_read_only());
    }

    #[test]
    fn libpq_target_session_attrs_pass_through_checked() {
        for value in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            let pg = target(&format!(
                "jdbc:postgresql://h/tm?target_session_attrs={value}"
            ))
            .expect(value);
            assert_eq!(pg.target_session_attrs().as_str(), value);
        }
        // The last of the two spellings wins; libpq gets one value.
        let pg = target("jdbc:postgresql://h/tm?target_session_attrs=any&targetServerType=primary")
            .expect("both");
        assert_eq!(pg.target_session_attrs(), TargetSessionAttrs::ReadWrite);
        assert_eq!(pg.conninfo().matches("target_session_attrs").count(), 1);
    }

    #[test]
    fn unknown_target_types_are_config_errors_without_the_password() {
        for url in [
            "jdbc:postgresql://h1,h2/tm?targetServerType=Primary&password=pw-in-url",
            "jdbc:postgresql://h1,h2/tm?targetServerType=leader&password=pw-in-url",
            "jdbc:postgresql://h1,h2/tm?targetServerType=&password=pw-in-url",
            "jdbc:postgresql://h1,h2/tm?target_session_attrs=read_write&password=pw-in-url",
            "jdbc:postgresql://h1,h2/tm?loadBalanceHosts=yes&password=pw-in-url",
        ] {
            let err = target(url).expect_err(url);
            assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
            let text = format!("{err} {err:?}");
            assert!(text.contains("accepted:"), "{text}");
            assert!(!text.contains("pw-in-url"), "{text}");
            assert!(!text.contains("pw-never-shown"), "{text}");
        }
        let err = target("jdbc:postgresql://h/tm?targetServerType=leader").expect_err("leader");
        let text = err.to_string();
        assert!(text.contains("targetServerType"), "{text}");
        assert!(text.contains("\"leader\""), "{text}");
        assert!(text.contains("preferSecondary"), "{text}");
    }

    #[test]
    fn multi_host_urls_with_and_without_ports() {
        let pg = target(
            "jdbc:postgresql://10.0.0.1:5433,db2,[::1],[fe80::2]:7/tm?targetServerType=primary",
        )
        .expect("multi host");
        assert_eq!(
            pg.hosts,
            vec![
                ("10.0.0.1".to_owned(), 5433),
                ("db2".to_owned(), 5432),
                ("::1".to_owned(), 5432),
                ("fe80::2".to_owned(), 7),
            ]
        );
        let info = pg.conninfo();
        assert!(info.contains("host='10.0.0.1,db2,::1,fe80::2'"), "{info}");
        assert!(info.contains("port='5433,5432,5432,7'"), "{info}");
        assert!(info.contains("target_session_attrs='read-write'"), "{info}");
        let shown = format!("{pg}");
        assert!(
            shown.starts_with(
                "jdbc:postgresql://tm:***@10.0.0.1:5433,db2:5432,[::1]:5432,[fe80::2]:7/tm?"
            ),
            "{shown}"
        );
        let pg = target("jdbc:postgresql://a:1,b:2/tm?loadBalanceHosts=true").expect("balance");
        assert!(pg.conninfo().contains("load_balance_hosts='random'"));
    }

    #[test]
    fn bad_hosts_are_config_errors_without_the_password() {
        for url in [
            "jdbc:postgresql://h1:5432,,h2/tm",
            "jdbc:postgresql://h1:,h2/tm",
            "jdbc:postgresql://h1:99999/tm",
            "jdbc:postgresql://h1:5432,:5433/tm",
            "jdbc:postgresql://[::1/tm",
            "jdbc:postgresql://u:pw-in-url@h1:5432,h2/tm",
        ] {
            let err = target(url).expect_err(url);
            let text = format!("{err} {err:?}");
            assert!(matches!(err, StoreError::InvalidUrl { .. }), "{text}");
            assert!(text.contains("bad host or port in host"), "{text}");
            assert!(!text.contains("pw-in-url"), "{text}");
            assert!(!text.contains("pw-never-shown"), "{text}");
        }
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
