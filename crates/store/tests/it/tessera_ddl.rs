//! A database made with Tessera's own DDL and rows written the Tessera way, read through the
//! repository; and our migrations produce exactly Tessera's tables.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde_json::Value;
use tm_core::{EncodedPayload, PayloadCodec, PublicKey, TxHash};
use tm_store::{Store, StoreOutcome};

use crate::support::{copy_for, key, payload, sqlite_dir, FreshPgDatabase};

const TESSERA_TABLES: [&str; 5] = [
    "encrypted_transaction",
    "encrypted_raw_transaction",
    "privacy_group",
    "st_transaction",
    "st_affected_transaction",
];

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `testdata/` at the root of the repository (see `testdata/README.md`).
fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The 12 real LEGACY payloads a Constellation/7nodes network wrote: (hash, encoded bytes).
fn legacy_rows() -> Vec<(Vec<u8>, Vec<u8>)> {
    let path = vectors_dir().join("payloads/constellation-7nodes-legacy-payloads.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("json");
    let b64 =
        |v: &Value| tm_core::b64::decode(v.as_str().expect("string"), "vector").expect("base64");
    json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                b64(&e["transaction_hash_base64"]),
                b64(&e["encoded_payload_base64"]),
            )
        })
        .collect()
}

/// The SQL Tessera's JPA layer would issue for our rows: LEGACY ones with a NULL codec (as
/// written before the codec column existed), one CBOR row, a raw transaction, a privacy group.
fn tessera_inserts(bytes: impl Fn(&[u8]) -> String, cbor: &EncodedPayload) -> String {
    let mut sql = String::new();
    for (i, (hash, encoded)) in legacy_rows().iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
             VALUES ({}, {}, NULL, {});\n",
            bytes(hash),
            bytes(encoded),
            1_500_000_000_000i64 + i as i64
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP) \
         VALUES ({}, {}, 'CBOR', 1700000000000);\n",
        bytes(cbor.hash().as_bytes()),
        bytes(&PayloadCodec::Cbor.encode(cbor))
    ));
    sql.push_str(&format!(
        "INSERT INTO ENCRYPTED_RAW_TRANSACTION (ENCRYPTED_KEY, ENCRYPTED_PAYLOAD, NONCE, SENDER, \
         TIMESTAMP, HASH) VALUES ({}, {}, {}, {}, 1700000000001, {});\n",
        bytes(&[1; 48]),
        bytes(&[2; 40]),
        bytes(&[3; 24]),
        bytes(key(4).as_bytes()),
        bytes(TxHash::of_cipher_text(&[2; 40]).as_bytes())
    ));
    sql.push_str(&format!(
        "INSERT INTO PRIVACY_GROUP (ID, LOOKUP_ID, DATA, TIMESTAMP) \
         VALUES ({}, {}, {}, 1700000000002);\n",
        bytes(b"group-id"),
        bytes(b"lookup-id"),
        bytes(b"data")
    ));
    sql
}

/// Reads everything [`tessera_inserts`] wrote, through the repository.
fn check_reads(store: &Store, cbor: &EncodedPayload) {
    let legacy = legacy_rows();
    for (i, (hash, _)) in legacy.iter().enumerate() {
        let hash = TxHash::from_bytes(hash.clone());
        let found = store
            .find_payload(&hash)
            .expect("find")
            .expect("legacy row");
        assert_eq!(
            found.codec,
            PayloadCodec::Legacy,
            "NULL codec reads as LEGACY"
        );
        assert_eq!(
            found.payload.hash(),
            hash,
            "decoded payload hashes to its key"
        );
        assert_eq!(found.timestamp, Some(1_500_000_000_000 + i as i64));
        assert_eq!(
            found.payload.sender,
            PublicKey::from_base64("BULeR8JyUWhiuuCMU/HLA0Q5pzkYT+cHII3ZKBey3Bo=").expect("key")
        );
    }
    let found = store
        .find_payload(&cbor.hash())
        .expect("find")
        .expect("cbor row");
    assert_eq!((found.codec, &found.payload), (PayloadCodec::Cbor, cbor));
    assert_eq!(found.timestamp, Some(1_700_000_000_000));
    assert_eq!(
        store.count_payloads().expect("count"),
        legacy.len() as u64 + 1
    );
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store.page_payloads(after.as_ref(), 5).expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.hash.clone());
        all.extend(page);
    }
    assert_eq!(all.len(), legacy.len() + 1);

    let raw = store
        .find_raw(&TxHash::of_cipher_text(&[2; 40]))
        .expect("find raw")
        .expect("raw row");
    assert_eq!(
        (raw.sender, raw.nonce, raw.timestamp),
        (key(4), vec![3; 24], Some(1_700_000_000_001))
    );
    let group = store
        .find_privacy_group(&tm_core::payload::PrivacyGroupId(b"group-id".to_vec()))
        .expect("find group")
        .expect("group row");
    assert_eq!(
        (group.data, group.timestamp),
        (b"data".to_vec(), Some(1_700_000_000_002))
    );

    // A push of another recipient's copy merges into the LEGACY row and keeps its codec.
    let (hash, _) = &legacy[0];
    let stored = store
        .find_payload(&TxHash::from_bytes(hash.clone()))
        .expect("find")
        .expect("row");
    let mut incoming = stored.payload.clone();
    incoming.recipient_keys = vec![key(0x42)];
    incoming.recipient_boxes = vec![tm_core::payload::RecipientBox(vec![0x42; 48])];
    assert_eq!(
        store.store_payload(&incoming).expect("merge"),
        StoreOutcome::Merged
    );
    let merged = store
        .find_payload(&stored.hash)
        .expect("find")
        .expect("row");
    assert_eq!(merged.codec, PayloadCodec::Legacy);
    assert_eq!(merged.payload.recipient_keys[0], key(0x42));
    assert_eq!(
        merged.payload.recipient_boxes.len(),
        stored.payload.recipient_boxes.len() + 1
    );
}

fn cbor_payload() -> EncodedPayload {
    copy_for(&payload("tessera-ddl-cbor", &[1, 2]), 2)
}

#[test]
fn postgres_database_created_by_tessera_ddl() {
    let db = FreshPgDatabase::new();
    let mut conn = db.connect();
    conn.batch_execute(&fixture("tessera-postgresql-ddl.sql"))
        .expect("Tessera DDL applies");
    let cbor = cbor_payload();
    conn.batch_execute(&tessera_inserts(
        |b| format!("'\\x{}'::bytea", hex::encode(b)),
        &cbor,
    ))
    .expect("Tessera-style inserts");

    // Started without autoCreateTables, as on a database an operator set up for Tessera.
    let (user, password) = (Some(db.env.user.as_str()), Some(db.env.password.as_str()));
    let store = Store::connect(&db.jdbc_url(), user, password, false, 2).expect("opens");
    check_reads(&store, &cbor);
    drop(store);

    // Then with autoCreateTables: Tessera's tables are left alone, ours are added.
    let before = describe_pg(&mut conn);
    let store = Store::connect(&db.jdbc_url(), user, password, true, 2).expect("migrates");
    assert_eq!(describe_pg(&mut conn), before, "Tessera's tables untouched");
    assert_eq!(
        store.count_payloads().expect("count"),
        legacy_rows().len() as u64 + 1
    );
    store.add_peer("http://peer/").expect("party store usable");
}

#[test]
fn postgres_migrations_make_exactly_tesseras_tables() {
    let tessera = FreshPgDatabase::new();
    tessera
        .connect()
        .batch_execute(&fixture("tessera-postgresql-ddl.sql"))
        .expect("Tessera DDL applies");
    let ours = FreshPgDatabase::new();
    let store = Store::connect(
        &ours.jdbc_url(),
        Some(&ours.env.user),
        Some(&ours.env.password),
        true,
        1,
    )
    .expect("migrates");
    drop(store);
    let expected = describe_pg(&mut tessera.connect());
    assert!(expected.len() > 25, "{expected:#?}");
    assert_eq!(describe_pg(&mut ours.connect()), expected);
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    what: String,
}

/// Every column (name, position, type, length, precision, nullability) and constraint of
/// Tessera's tables.
fn describe_pg(conn: &mut PgConnection) -> Vec<String> {
    let tables = TESSERA_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    let columns: Vec<ColumnInfo> = diesel::sql_query(format!(
        "SELECT concat_ws(' ', table_name, ordinal_position, column_name, data_type, \
         character_maximum_length, numeric_precision, numeric_scale, is_nullable) AS what \
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name IN ({tables}) \
         ORDER BY table_name, ordinal_position"
    ))
    .load(conn)
    .expect("columns");
    let constraints: Vec<ColumnInfo> = diesel::sql_query(format!(
        "SELECT concat_ws(' ', c.conrelid::regclass::text, c.conname, c.contype, \
         pg_get_constraintdef(c.oid)) AS what FROM pg_constraint c \
         JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = 'public' AND c.conrelid::regclass::text IN ({tables}) \
         ORDER BY 1"
    ))
    .load(conn)
    .expect("constraints");
    columns
        .into_iter()
        .chain(constraints)
        .map(|c| c.what)
        .collect()
}

#[test]
fn sqlite_database_created_by_tessera_ddl() {
    let dir = sqlite_dir();
    let path = dir.join("tessera.db");
    let mut conn =
        SqliteConnection::establish(path.to_str().expect("utf-8")).expect("create database");
    conn.batch_execute(&fixture("tessera-sqlite-ddl.sql"))
        .expect("Tessera DDL applies");
    let cbor = cbor_payload();
    conn.batch_execute(&tessera_inserts(
        |b| format!("X'{}'", hex::encode(b)),
        &cbor,
    ))
    .expect("Tessera-style inserts");
    drop(conn);
    let url = format!("jdbc:sqlite:{}", path.display());
    let store = Store::connect(&url, None, None, false, 2).expect("opens");
    check_reads(&store, &cbor);
    drop(store);
    let store = Store::connect(&url, None, None, true, 2).expect("migrates");
    store.add_peer("http://peer/").expect("party store usable");
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    declared: String,
    #[diesel(sql_type = BigInt)]
    notnull: i64,
    #[diesel(sql_type = BigInt)]
    pk: i64,
    #[diesel(sql_type = Nullable<Text>)]
    dflt_value: Option<String>,
}

#[test]
fn sqlite_migrations_make_exactly_tesseras_tables() {
    let dir = sqlite_dir();
    let tessera_path = dir.join("tessera.db");
    let mut tessera = SqliteConnection::establish(tessera_path.to_str().expect("utf-8"))
        .expect("create database");
    tessera
        .batch_execute(&fixture("tessera-sqlite-ddl.sql"))
        .expect("Tessera DDL applies");
    let ours_path = dir.join("ours.db");
    let url = format!("jdbc:sqlite:{}", ours_path.display());
    drop(Store::connect(&url, None, None, true, 1).expect("migrates"));
    let mut ours =
        SqliteConnection::establish(ours_path.to_str().expect("utf-8")).expect("open ours");
    for table in TESSERA_TABLES {
        let query = format!(
            "SELECT name, type AS type_, \"notnull\", pk, dflt_value FROM pragma_table_info('{}')",
            table.to_uppercase()
        );
        let expected: Vec<SqliteColumn> = diesel::sql_query(&query)
            .load(&mut tessera)
            .expect("tessera columns");
        let actual: Vec<SqliteColumn> = diesel::sql_query(&query).load(&mut ours).expect("ours");
        assert!(!expected.is_empty(), "{table}");
        assert_eq!(actual, expected, "{table}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
