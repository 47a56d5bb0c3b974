//! The H2 migration with the real H2 (`scripts/h2-roundtrip.sh` fetches the jar and runs this
//! with `TM_H2_JAR` set): a database created with Tessera's H2 DDL and rows written through
//! H2, dumped with H2's `Script` tool, imported by `tessera import-h2` into a node's SQLite
//! (twice: the second run finds everything already present) and into PostgreSQL; then the
//! node's Q2T API serves every transaction with its plaintext.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tm_client::q2t::{MediaType, Q2tClient};
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::seal::PrivacyMetadata;
use tm_core::{Keyring, PayloadCodec, TxHash};
use tm_dev_support::postgres::Schema;
use tm_dev_support::{block_on, Service, TestNode};
use tm_store::{PrivacyGroupRow, Store};

/// Tessera's H2 DDL, `ddls/create-table/h2-ddl.sql` in Tessera's repository (the version
/// with `PAYLOAD_CODEC`), verbatim.
const TESSERA_H2_DDL: &str = "\
CREATE TABLE ENCRYPTED_TRANSACTION (ENCODED_PAYLOAD LONGVARBINARY NOT NULL, PAYLOAD_CODEC VARCHAR(50), TIMESTAMP BIGINT, HASH LONGVARBINARY NOT NULL, PRIMARY KEY (HASH));
CREATE TABLE ENCRYPTED_RAW_TRANSACTION (ENCRYPTED_KEY LONGVARBINARY NOT NULL, ENCRYPTED_PAYLOAD LONGVARBINARY NOT NULL, NONCE LONGVARBINARY NOT NULL, SENDER LONGVARBINARY NOT NULL, TIMESTAMP BIGINT, HASH LONGVARBINARY NOT NULL, PRIMARY KEY (HASH));
CREATE TABLE PRIVACY_GROUP(ID LONGVARBINARY NOT NULL, LOOKUP_ID LONGVARBINARY NOT NULL, DATA LONGVARBINARY NOT NULL, TIMESTAMP BIGINT, PRIMARY KEY (ID));
CREATE TABLE ST_TRANSACTION(ID BIGINT NOT NULL PRIMARY KEY, PAYLOAD_CODEC VARCHAR(50), HASH VARCHAR NOT NULL, PAYLOAD LONGVARBINARY, PRIVACY_MODE INTEGER, TIMESTAMP BIGINT, VALIDATION_STAGE BIGINT);
CREATE TABLE ST_AFFECTED_TRANSACTION(ID BIGINT NOT NULL PRIMARY KEY, AFFECTED_HASH VARCHAR NOT NULL, TXN_ID BIGINT NOT NULL, CONSTRAINT FK_ST_AFFECTED_TRANSACTION_TXN_ID FOREIGN KEY (TXN_ID) REFERENCES ST_TRANSACTION (ID));
CREATE INDEX IF NOT EXISTS ST_TRANSACTION_VALSTG ON ST_TRANSACTION(VALIDATION_STAGE);
";

/// Transactions written: more than one progress interval (10,000 rows).
const TRANSACTIONS: usize = 10_050;

fn h2_jar() -> PathBuf {
    let jar = std::env::var_os("TM_H2_JAR")
        .map(PathBuf::from)
        .expect("TM_H2_JAR names the H2 jar (scripts/h2-roundtrip.sh fetches it)");
    assert!(jar.is_file(), "TM_H2_JAR={} is not a file", jar.display());
    jar
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// Runs one of H2's tools on the database at `db` (Tessera's `jdbc:h2:` file URL, user `sa`,
/// empty password).
fn h2_tool(jar: &Path, tool: &str, db: &Path, args: &[&str]) {
    let output = Command::new("java")
        .arg("-cp")
        .arg(jar)
        .arg(format!("org.h2.tools.{tool}"))
        .arg("-url")
        .arg(format!("jdbc:h2:{}", db.display()))
        .args(["-user", "sa", "-password", ""])
        .args(args)
        .output()
        .expect("java runs (Java 11+ is needed)");
    assert!(
        output.status.success(),
        "{tool} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn import(script: &Path, config: &Path, overrides: &[String]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .arg("import-h2")
        .arg("--script")
        .arg(script)
        .arg("-configfile")
        .arg(config);
    for o in overrides {
        command.arg("-o").arg(o);
    }
    command.output().expect("tessera runs")
}

/// The report's counts per table: read, imported, already present, refused.
fn counts(output: &Output) -> HashMap<String, [u64; 4]> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut out = HashMap::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 5 && words[0].chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            let n: Vec<u64> = words[1..].iter().filter_map(|w| w.parse().ok()).collect();
            if n.len() == 4 {
                out.insert(words[0].to_owned(), [n[0], n[1], n[2], n[3]]);
            }
        }
    }
    out
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
#[ignore = "needs the H2 jar in TM_H2_JAR and Java: run scripts/h2-roundtrip.sh"]
fn an_h2_database_dumped_by_h2_is_imported_and_served() {
    let jar = h2_jar();
    let mut node = TestNode::new("h2", 2, &[]);
    let (a, b) = (node.keys[0].public.clone(), node.keys[1].public.clone());
    let keyring = Keyring::new(node.keys.clone());
    let work = node.dir.path().join("h2");
    std::fs::create_dir_all(&work).expect("dir");

    // (a) Real payloads: CBOR rows, LEGACY rows, and LEGACY rows with a NULL codec (a
    // database upgraded from before the column existed).
    let mut sql = String::from(TESSERA_H2_DDL);
    let mut sent: Vec<(TxHash, Vec<u8>)> = Vec::new();
    for i in 0..TRANSACTIONS {
        let plain = format!("transaction {i} moved from H2").into_bytes();
        let (sender, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let payload = keyring
            .encrypt_payload(
                &plain,
                sender,
                std::slice::from_ref(to),
                &PrivacyMetadata::default(),
            )
            .expect("encrypt");
        let (codec, name) = match i % 3 {
            0 => (PayloadCodec::Cbor, "'CBOR'"),
            1 => (PayloadCodec::Legacy, "'LEGACY'"),
            _ => (PayloadCodec::Legacy, "NULL"),
        };
        let _ = writeln!(
            sql,
            "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
             VALUES (X'{}', X'{}', {name}, {});",
            hex(payload.hash().as_bytes()),
            hex(&codec.encode(&payload)),
            1_600_000_000_000u64 + i as u64
        );
        sent.push((payload.hash(), plain));
    }
    let raw_plain = b"a raw transaction, signed later".to_vec();
    let raw = keyring.encrypt_raw(&raw_plain, &a).expect("raw");
    let _ = writeln!(
        sql,
        "INSERT INTO ENCRYPTED_RAW_TRANSACTION (ENCRYPTED_KEY, ENCRYPTED_PAYLOAD, NONCE, SENDER, \
         TIMESTAMP, HASH) VALUES (X'{}', X'{}', X'{}', X'{}', 1600000000000, X'{}');",
        hex(&raw.encrypted_key),
        hex(&raw.encrypted_payload),
        hex(raw.nonce.as_bytes()),
        hex(raw.sender.as_bytes()),
        hex(raw.hash().as_bytes())
    );
    let group = PrivacyGroupRow::from_record(&PrivacyGroupRecord {
        name: "it's the H2 group".into(),
        description: "moved; with quotes".into(),
        members: vec![a.clone(), b.clone()],
        seed: vec![],
        group_type: "LEGACY".into(),
        state: "ACTIVE".into(),
    });
    let _ = writeln!(
        sql,
        "INSERT INTO PRIVACY_GROUP (ID, LOOKUP_ID, DATA, TIMESTAMP) VALUES (X'{}', X'{}', X'{}', \
         1600000000000);",
        hex(group.id.as_bytes()),
        hex(&group.lookup_id),
        hex(&group.data)
    );
    // A staging row, as a recovery interrupted before its end leaves: skipped.
    let _ = writeln!(
        sql,
        "INSERT INTO ST_TRANSACTION (ID, PAYLOAD_CODEC, HASH, PAYLOAD, PRIVACY_MODE, TIMESTAMP) \
         VALUES (1, 'LEGACY', '{}', X'00', 0, 1600000000000);",
        sent[0].0.to_base64()
    );
    let create = work.join("create.sql");
    std::fs::write(&create, sql).expect("create.sql");

    // (b) Written through H2; (c) dumped by H2's Script tool, plain and with column lists
    // (`SCRIPT COLUMNS TO`, as Tessera's own `ddls/scripts/h2-upgrade.sh` does).
    let db = work.join("tessera");
    let create_arg = create.to_string_lossy().into_owned();
    h2_tool(&jar, "RunScript", &db, &["-script", &create_arg]);
    let dump = work.join("dump.sql");
    let dump_columns = work.join("dump-columns.sql");
    let dump_arg = dump.to_string_lossy().into_owned();
    let dump_columns_arg = dump_columns.to_string_lossy().into_owned();
    h2_tool(&jar, "Script", &db, &["-script", &dump_arg]);
    // The Script tool puts its options after `TO`, where COLUMNS is not allowed: run the SQL.
    let columns_sql = work.join("script-columns.sql");
    std::fs::write(
        &columns_sql,
        format!(
            "SCRIPT COLUMNS TO '{}';\n",
            dump_columns_arg.replace('\'', "''")
        ),
    )
    .expect("script-columns.sql");
    let columns_sql_arg = columns_sql.to_string_lossy().into_owned();
    h2_tool(&jar, "RunScript", &db, &["-script", &columns_sql_arg]);
    let dumped = std::fs::read_to_string(&dump).expect("dump.sql");
    assert!(
        dumped.contains("INSERT INTO \"PUBLIC\".\"ENCRYPTED_TRANSACTION\" VALUES"),
        "H2 2.x writes inserts without column lists: {}",
        &dumped[..dumped.len().min(2000)]
    );

    // A schema with BLOB columns instead of LONGVARBINARY (not Tessera's DDL, but what a
    // schema made by other means may have): H2 writes BLOB values over 4 KiB in parts
    // (SYSTEM_LOB_STREAM, SYSTEM_COMBINE_BLOB).
    let mut blob_sql = String::from(
        "CREATE TABLE ENCRYPTED_TRANSACTION (ENCODED_PAYLOAD BLOB NOT NULL, PAYLOAD_CODEC \
         VARCHAR(50), TIMESTAMP BIGINT, HASH VARBINARY(64) NOT NULL, PRIMARY KEY (HASH));\n",
    );
    let mut large: Vec<(TxHash, Vec<u8>)> = Vec::new();
    for i in 0..3u8 {
        let plain = vec![b'a' + i; 6000 + usize::from(i) * 3000];
        let payload = keyring
            .encrypt_payload(
                &plain,
                &a,
                std::slice::from_ref(&b),
                &PrivacyMetadata::default(),
            )
            .expect("encrypt");
        let _ = writeln!(
            blob_sql,
            "INSERT INTO ENCRYPTED_TRANSACTION VALUES (X'{}', 'CBOR', 1600000000000, X'{}');",
            hex(&PayloadCodec::Cbor.encode(&payload)),
            hex(payload.hash().as_bytes())
        );
        large.push((payload.hash(), plain));
    }
    let blob_create = work.join("create-blob.sql");
    std::fs::write(&blob_create, blob_sql).expect("create-blob.sql");
    let blob_db = work.join("tessera-blob");
    let blob_dump = work.join("dump-blob.sql");
    h2_tool(
        &jar,
        "RunScript",
        &blob_db,
        &["-script", &blob_create.to_string_lossy()],
    );
    h2_tool(
        &jar,
        "Script",
        &blob_db,
        &["-script", &blob_dump.to_string_lossy()],
    );
    assert!(
        std::fs::read_to_string(&blob_dump)
            .expect("dump-blob.sql")
            .contains("SYSTEM_COMBINE_BLOB(0)"),
        "large BLOBs are written in parts"
    );

    // (d) The config still names H2, as a Tessera node's does: refused, saying what to do.
    let sqlite_url = format!("jdbc:sqlite:{}", node.sqlite_path().display());
    node.use_database(
        &format!("jdbc:h2:{};MODE=Oracle", db.display()),
        Some("sa"),
        None,
    );
    let config = node.write_config();
    let refused = import(&dump, &config, &[]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("-o jdbc.url=jdbc:sqlite:"),
        "{}",
        describe(&refused)
    );

    let to_sqlite = [format!("jdbc.url={sqlite_url}")];
    let first = import(&dump, &config, &to_sqlite);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let report = counts(&first);
    let n = TRANSACTIONS as u64;
    assert_eq!(
        report["ENCRYPTED_TRANSACTION"],
        [n, n, 0, 0],
        "{}",
        describe(&first)
    );
    assert_eq!(report["ENCRYPTED_RAW_TRANSACTION"], [1, 1, 0, 0]);
    assert_eq!(report["PRIVACY_GROUP"], [1, 1, 0, 0]);
    eprintln!("{}", describe(&first));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("skipped ST_TRANSACTION: 1 row(s)"),
        "{stdout}"
    );
    // The progress's last line, on stderr: the rows read, the statements.
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("h2 import: ") && stderr.contains(" rows read"),
        "{}",
        describe(&first)
    );

    // Safe to run twice (here with the column-list dump): everything is already present.
    let second = import(&dump_columns, &config, &to_sqlite);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let report = counts(&second);
    assert_eq!(
        report["ENCRYPTED_TRANSACTION"],
        [n, 0, n, 0],
        "{}",
        describe(&second)
    );
    assert_eq!(report["ENCRYPTED_RAW_TRANSACTION"], [1, 0, 1, 0]);
    assert_eq!(report["PRIVACY_GROUP"], [1, 0, 1, 0]);

    let blobs = import(&blob_dump, &config, &to_sqlite);
    assert_eq!(blobs.status.code(), Some(0), "{}", describe(&blobs));
    assert_eq!(counts(&blobs)["ENCRYPTED_TRANSACTION"], [3, 3, 0, 0]);
    sent.extend(large);

    // (e) The node serves every transaction with its plaintext.
    node.use_database(&sqlite_url, None, None);
    node.start(Service::Q2t);
    let q2t = Q2tClient::new(&node.q2t_url()).expect("client");
    block_on(async {
        for (hash, plain) in &sent {
            let got = q2t
                .receive(hash, None, false, MediaType::Json)
                .await
                .unwrap_or_else(|e| panic!("receive {hash}: {e}"));
            assert_eq!(&got.payload, plain);
        }
        let got = q2t
            .receive(&raw.hash(), None, true, MediaType::V2_1)
            .await
            .expect("receive raw");
        assert_eq!(got.payload, raw_plain);
    });
    node.stop(Service::Q2t);
    let store = Store::connect(&sqlite_url, None, None, false, 1).expect("sqlite");
    assert_eq!(
        store
            .find_privacy_group(&group.id)
            .expect("find")
            .map(|g| g.data),
        Some(group.data.clone())
    );

    // (f) The same dump into PostgreSQL.
    let schema = Schema::create("h2import");
    let to_postgres = [
        format!("jdbc.url={}", schema.jdbc_url),
        format!("jdbc.username={}", schema.user),
        format!("jdbc.password={}", schema.password),
    ];
    let pg = import(&dump, &config, &to_postgres);
    assert_eq!(pg.status.code(), Some(0), "{}", describe(&pg));
    assert_eq!(counts(&pg)["ENCRYPTED_TRANSACTION"], [n, n, 0, 0]);
    let store = Store::connect(
        &schema.jdbc_url,
        Some(&schema.user),
        Some(&schema.password),
        false,
        1,
    )
    .expect("postgres");
    assert_eq!(store.count_payloads().expect("count"), n);
    assert!(store.find_raw(&raw.hash()).expect("raw").is_some());
    assert_eq!(store.list_privacy_groups().expect("groups").len(), 1);
    let again = import(&dump_columns, &config, &to_postgres);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert_eq!(counts(&again)["ENCRYPTED_TRANSACTION"], [n, 0, n, 0]);
    drop(store);
    assert!(schema.drop_all(), "schema dropped");
}
