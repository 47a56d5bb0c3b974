//! Imports a Tessera H2 database from the SQL script H2's `Script` tool writes
//! (`java -cp h2.jar org.h2.tools.Script -url jdbc:h2:... -user sa -script dump.sql`), into
//! this store (SQLite or PostgreSQL). `docs/h2-migration.md` is the operator's procedure.
//!
//! The script is read statement by statement from a [`BufRead`], so a large dump is never held
//! whole. Only what Tessera's tables need is understood: `CREATE [MEMORY|CACHED] TABLE` (for
//! the column order) and `INSERT INTO ... [(columns)] VALUES (...), (...)` with `X'..'`
//! binary literals, quoted strings, numbers and `NULL`. Everything else (`SET`, sequences,
//! `ALTER TABLE ... ADD CONSTRAINT`, indexes, users, comments) is skipped.
//!
//! Every row of `ENCRYPTED_TRANSACTION`, `ENCRYPTED_RAW_TRANSACTION` and `PRIVACY_GROUP` is
//! decoded and checked (the hash is the digest of the cipher text; a group's ids are those
//! of its record) before it is stored through the [`Store`] API. A row already held and
//! identical counts as already present; a different row under the same key is left alone and
//! reported as a conflict. Rows of the recovery staging tables (`ST_*`) are counted and
//! skipped: they hold nothing once a recovery has ended, and are emptied at every start.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, BufRead};

use tm_core::payload::PrivacyGroupId;
use tm_core::privacy_group::{lookup_id, PrivacyGroupRecord};
use tm_core::{EncodedPayload, PayloadCodec, PublicKey, TxHash};

use crate::{EncryptedRawTransaction, PrivacyGroupRow, Store, StoreError, StoreOutcome};

/// A progress callback is called every this many rows read.
pub const PROGRESS_EVERY: u64 = 10_000;

/// How many keys (base64) a report keeps per refusal reason.
pub const HASHES_PER_REASON: usize = 5;

/// The tables imported, in report order.
pub const IMPORTED_TABLES: [&str; 3] = [
    "ENCRYPTED_TRANSACTION",
    "ENCRYPTED_RAW_TRANSACTION",
    "PRIVACY_GROUP",
];

/// Tessera's recovery staging tables: counted, never imported.
pub const STAGING_TABLES: [&str; 2] = ["ST_TRANSACTION", "ST_AFFECTED_TRANSACTION"];

/// Why an import stopped before the end of the script (a row that fails its checks does not
/// stop it: it is refused and reported).
#[derive(Debug, thiserror::Error)]
pub enum H2ImportError {
    /// The script could not be read.
    #[error("cannot read the script: {0}")]
    Io(#[from] io::Error),
    /// The script is not an H2 SQL script this importer can follow.
    #[error("statement {statement}: {message}")]
    Syntax {
        /// The statement's number, from 1.
        statement: u64,
        /// What is wrong.
        message: String,
    },
    /// The target database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Why rows were refused, and the first few keys of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// How many rows.
    pub count: u64,
    /// The first [`HASHES_PER_REASON`] keys (base64; `?` when the row had none).
    pub keys: Vec<String>,
}

/// What happened to one table's rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableReport {
    /// Rows read from the script.
    pub read: u64,
    /// Rows written to the target database.
    pub imported: u64,
    /// Rows the target already held, identical.
    pub already_present: u64,
    /// Rows not imported: failed checks and conflicts, by reason.
    pub refused: BTreeMap<String, Refusals>,
}

impl TableReport {
    /// How many rows were refused, whatever the reason.
    pub fn refused_count(&self) -> u64 {
        self.refused.values().map(|r| r.count).sum()
    }

    fn refuse(&mut self, key: Option<&[u8]>, reason: String) {
        let entry = self.refused.entry(reason).or_default();
        entry.count += 1;
        if entry.keys.len() < HASHES_PER_REASON {
            entry
                .keys
                .push(key.map_or_else(|| "?".to_owned(), tm_core::b64::encode));
        }
    }
}

/// What an import did, per table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The imported tables by name (every one of [`IMPORTED_TABLES`], even when empty).
    pub tables: BTreeMap<String, TableReport>,
    /// Rows of tables not imported (staging and anything unknown), by table.
    pub skipped: BTreeMap<String, u64>,
    /// Statements read.
    pub statements: u64,
}

impl ImportReport {
    fn new() -> Self {
        let mut report = Self::default();
        for table in IMPORTED_TABLES {
            report
                .tables
                .insert(table.to_owned(), TableReport::default());
        }
        report
    }

    /// Whether no row was refused.
    pub fn is_clean(&self) -> bool {
        self.tables.values().all(|t| t.refused_count() == 0)
    }

    /// Rows read from the imported tables.
    pub fn rows_read(&self) -> u64 {
        self.tables.values().map(|t| t.read).sum()
    }

    fn table(&mut self, name: &str) -> &mut TableReport {
        self.tables.entry(name.to_owned()).or_default()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<27} {:>10} {:>10} {:>16} {:>10}",
            "table", "read", "imported", "already present", "refused"
        )?;
        for (name, t) in &self.tables {
            writeln!(
                f,
                "{:<27} {:>10} {:>10} {:>16} {:>10}",
                name,
                t.read,
                t.imported,
                t.already_present,
                t.refused_count()
            )?;
        }
        for (name, t) in &self.tables {
            for (reason, refusals) in &t.refused {
                writeln!(f, "refused {name}: {} row(s): {reason}", refusals.count)?;
                for key in &refusals.keys {
                    writeln!(f, "    {key}")?;
                }
                if refusals.count > refusals.keys.len() as u64 {
                    writeln!(f, "    ...")?;
                }
            }
        }
        for (name, rows) in &self.skipped {
            let why = if STAGING_TABLES.contains(&name.as_str()) {
                "recovery staging, emptied at every start"
            } else {
                "not a Tessera table this import knows"
            };
            writeln!(f, "skipped {name}: {rows} row(s) ({why})")?;
        }
        write!(
            f,
            "{}",
            if self.is_clean() {
                "result: every row imported or already present"
            } else {
                "result: some rows were refused (see above); nothing else was changed for them"
            }
        )
    }
}

/// Reads an H2 script and imports its Tessera rows into `store`. `progress` gets the rows read
/// so far every [`PROGRESS_EVERY`] rows.
///
/// Running it again on the same script and database changes nothing: every row is then
/// already present.
pub fn import_script<R: BufRead>(
    store: &Store,
    script: R,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, H2ImportError> {
    let mut report = ImportReport::new();
    let mut columns: HashMap<String, Vec<String>> = HashMap::new();
    let mut statements = Statements::new(script);
    let mut rows_seen = 0u64;
    // BLOB values H2 wrote in parts (`SYSTEM_LOB_STREAM`), by id, until a row takes them.
    let mut lobs: HashMap<i64, Vec<u8>> = HashMap::new();
    loop {
        let next = report.statements + 1;
        let Some(text) = statements.next_statement().map_err(|e| match e {
            H2ImportError::Syntax { message, .. } => H2ImportError::Syntax {
                statement: next,
                message,
            },
            other => other,
        })?
        else {
            break;
        };
        report.statements += 1;
        let number = report.statements;
        let syntax = |message: String| H2ImportError::Syntax {
            statement: number,
            message,
        };
        let tokens = tokenize(&text).map_err(syntax)?;
        match classify(&tokens) {
            Kind::CreateTable => {
                let (table, cols) = parse_create_table(&tokens).map_err(syntax)?;
                columns.insert(table, cols);
            }
            Kind::Insert => {
                let insert = parse_insert(&tokens).map_err(syntax)?;
                let table = insert.table.clone();
                if table == LOB_STREAM {
                    for values in insert.rows {
                        add_lob_part(&mut lobs, values).map_err(syntax)?;
                    }
                    continue;
                }
                let cols = match (&insert.columns, columns.get(&table)) {
                    (Some(cols), _) => cols.clone(),
                    (None, Some(cols)) => cols.clone(),
                    (None, None) => {
                        return Err(syntax(format!(
                            "INSERT INTO {table} without a column list, before its CREATE TABLE"
                        )))
                    }
                };
                for mut values in insert.rows {
                    for value in &mut values {
                        if let Value::Lob(id) = *value {
                            *value = match lobs.remove(&id) {
                                Some(bytes) => Value::Bytes(bytes),
                                None => Value::Other(format!(
                                    "SYSTEM_COMBINE_BLOB({id}) with no {LOB_STREAM} rows before it"
                                )),
                            };
                        }
                    }
                    rows_seen += 1;
                    if rows_seen.is_multiple_of(PROGRESS_EVERY) {
                        progress(rows_seen);
                    }
                    import_row(store, &mut report, &table, &cols, values)?;
                }
            }
            Kind::Other => {}
        }
    }
    Ok(report)
}

/// The temporary table H2's `SCRIPT` writes BLOB values over 4 KiB into, in parts
/// (`ID, PART, CDATA, BDATA`), before the `INSERT` that reads them with
/// `SYSTEM_COMBINE_BLOB(id)`.
const LOB_STREAM: &str = "SYSTEM_LOB_STREAM";

fn add_lob_part(lobs: &mut HashMap<i64, Vec<u8>>, values: Vec<Value>) -> Result<(), String> {
    match values.as_slice() {
        [Value::Number(id), _, _, Value::Bytes(part)] => {
            let id: i64 = id
                .parse()
                .map_err(|_| format!("{LOB_STREAM}: bad id {id}"))?;
            lobs.entry(id).or_default().extend_from_slice(part);
            Ok(())
        }
        // A CLOB part (CDATA): no Tessera table has text large objects.
        [Value::Number(_), _, Value::Text(_), Value::Null] => Ok(()),
        _ => Err(format!(
            "{LOB_STREAM}: a row is not (ID, PART, CDATA, BDATA)"
        )),
    }
}

fn import_row(
    store: &Store,
    report: &mut ImportReport,
    table: &str,
    cols: &[String],
    values: Vec<Value>,
) -> Result<(), H2ImportError> {
    if !IMPORTED_TABLES.contains(&table) {
        *report.skipped.entry(table.to_owned()).or_default() += 1;
        return Ok(());
    }
    let t = report.table(table);
    t.read += 1;
    if values.len() != cols.len() {
        t.refuse(
            None,
            format!(
                "{} values for {} columns ({})",
                values.len(),
                cols.len(),
                cols.join(", ")
            ),
        );
        return Ok(());
    }
    let row = Row(cols.iter().cloned().zip(values).collect());
    let key_column = if table == "PRIVACY_GROUP" {
        "ID"
    } else {
        "HASH"
    };
    let key = match row.bytes(key_column) {
        Ok(key) => key,
        Err(reason) => {
            t.refuse(None, reason);
            return Ok(());
        }
    };
    let outcome = match table {
        "ENCRYPTED_TRANSACTION" => import_transaction(store, &key, &row)?,
        "ENCRYPTED_RAW_TRANSACTION" => import_raw(store, &key, &row)?,
        _ => import_group(store, &key, &row)?,
    };
    match outcome {
        Outcome::Imported => t.imported += 1,
        Outcome::Present => t.already_present += 1,
        Outcome::Refused(reason) => t.refuse(Some(&key), reason),
    }
    Ok(())
}

enum Outcome {
    Imported,
    Present,
    Refused(String),
}

const CONFLICT: &str = "conflict: the target holds a different row under this key (left alone)";

/// Whether `hash` is the digest Tessera gives this cipher text (SHA3-512; SHA-512/256 in Orion
/// mode).
fn is_digest_of(hash: &[u8], cipher_text: &[u8]) -> bool {
    hash == TxHash::of_cipher_text(cipher_text).as_bytes()
        || hash == TxHash::of_cipher_text_orion(cipher_text).as_bytes()
}

fn import_transaction(store: &Store, key: &[u8], row: &Row) -> Result<Outcome, StoreError> {
    let checked = (|| {
        let encoded = row.bytes("ENCODED_PAYLOAD")?;
        let codec = match row.optional_text("PAYLOAD_CODEC")? {
            None => PayloadCodec::Legacy,
            Some(name) => name
                .parse::<PayloadCodec>()
                .map_err(|e| format!("PAYLOAD_CODEC: {e}"))?,
        };
        let payload = codec
            .decode(&encoded)
            .map_err(|e| format!("ENCODED_PAYLOAD does not decode as {codec}: {e}"))?;
        if !is_digest_of(key, &payload.cipher_text) {
            return Err("HASH is not the digest of the payload's cipher text".to_owned());
        }
        Ok(payload)
    })();
    let payload: EncodedPayload = match checked {
        Ok(payload) => payload,
        Err(reason) => return Ok(Outcome::Refused(reason)),
    };
    let mut conflict = false;
    let result = store.upsert_payload_with(&TxHash::from_bytes(key), |existing| {
        conflict = false;
        match existing {
            None => Ok(Some(payload.clone())),
            Some(stored) => {
                conflict = stored != &payload;
                Ok(None)
            }
        }
    });
    match result {
        Ok(StoreOutcome::Inserted) => Ok(Outcome::Imported),
        Ok(_) if conflict => Ok(Outcome::Refused(CONFLICT.to_owned())),
        Ok(_) => Ok(Outcome::Present),
        Err(StoreError::CorruptRow { .. }) => Ok(Outcome::Refused(
            "conflict: the row the target holds under this hash does not decode (left alone)"
                .to_owned(),
        )),
        Err(e) => Err(e),
    }
}

fn import_raw(store: &Store, key: &[u8], row: &Row) -> Result<Outcome, StoreError> {
    let checked = (|| {
        let raw = EncryptedRawTransaction {
            hash: TxHash::from_bytes(key),
            encrypted_payload: row.bytes("ENCRYPTED_PAYLOAD")?,
            encrypted_key: row.bytes("ENCRYPTED_KEY")?,
            nonce: row.bytes("NONCE")?,
            sender: PublicKey::from_bytes(row.bytes("SENDER")?),
            timestamp: None,
        };
        if !is_digest_of(key, &raw.encrypted_payload) {
            return Err("HASH is not the digest of ENCRYPTED_PAYLOAD".to_owned());
        }
        Ok(raw)
    })();
    let raw = match checked {
        Ok(raw) => raw,
        Err(reason) => return Ok(Outcome::Refused(reason)),
    };
    let same = |stored: &EncryptedRawTransaction| {
        stored.encrypted_payload == raw.encrypted_payload
            && stored.encrypted_key == raw.encrypted_key
            && stored.nonce == raw.nonce
            && stored.sender == raw.sender
    };
    if let Some(stored) = store.find_raw(&raw.hash)? {
        return Ok(if same(&stored) {
            Outcome::Present
        } else {
            Outcome::Refused(CONFLICT.to_owned())
        });
    }
    if store.store_raw(&raw)? {
        return Ok(Outcome::Imported);
    }
    // Written by someone else between our read and our insert.
    Ok(match store.find_raw(&raw.hash)? {
        Some(stored) if same(&stored) => Outcome::Present,
        _ => Outcome::Refused(CONFLICT.to_owned()),
    })
}

fn import_group(store: &Store, key: &[u8], row: &Row) -> Result<Outcome, StoreError> {
    let checked = (|| {
        let group = PrivacyGroupRow {
            id: PrivacyGroupId(key.to_vec()),
            lookup_id: row.bytes("LOOKUP_ID")?,
            data: row.bytes("DATA")?,
            timestamp: None,
        };
        let record = PrivacyGroupRecord::decode(&group.data)
            .map_err(|e| format!("DATA does not decode as a privacy group: {e}"))?;
        if record.id() != group.id {
            return Err("ID is not the id of the group's type, members and seed".to_owned());
        }
        if lookup_id(&record.members).0 != group.lookup_id {
            return Err("LOOKUP_ID is not the lookup id of the group's members".to_owned());
        }
        Ok(group)
    })();
    let group = match checked {
        Ok(group) => group,
        Err(reason) => return Ok(Outcome::Refused(reason)),
    };
    let same =
        |stored: &PrivacyGroupRow| stored.lookup_id == group.lookup_id && stored.data == group.data;
    if let Some(stored) = store.find_privacy_group(&group.id)? {
        return Ok(if same(&stored) {
            Outcome::Present
        } else {
            Outcome::Refused(CONFLICT.to_owned())
        });
    }
    let stored = store.retrieve_or_save_privacy_group(&group)?;
    Ok(if same(&stored) {
        Outcome::Imported
    } else {
        Outcome::Refused(CONFLICT.to_owned())
    })
}

// ---- values and rows ----------------------------------------------------------------------

/// A literal of an `INSERT`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Null,
    Bytes(Vec<u8>),
    Text(String),
    Number(String),
    /// `SYSTEM_COMBINE_BLOB(id)`: a BLOB written in parts before the row.
    Lob(i64),
    /// Anything else (a function call, a typed literal), as written.
    Other(String),
}

/// One row: column name (upper case) → value.
struct Row(HashMap<String, Value>);

impl Row {
    fn bytes(&self, column: &str) -> Result<Vec<u8>, String> {
        match self.0.get(column) {
            None => Err(format!("no {column} column")),
            Some(Value::Bytes(b)) => Ok(b.clone()),
            Some(Value::Null) => Err(format!("{column} is NULL")),
            Some(Value::Other(text)) => Err(format!(
                "{column} is not a binary literal but {}",
                text.chars().take(40).collect::<String>()
            )),
            Some(_) => Err(format!("{column} is not a binary literal")),
        }
    }

    /// A text column that may be absent (databases made before it existed) or NULL.
    fn optional_text(&self, column: &str) -> Result<Option<String>, String> {
        match self.0.get(column) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Text(t)) => Ok(Some(t.clone())),
            Some(_) => Err(format!("{column} is not a string literal")),
        }
    }
}

// ---- statements ---------------------------------------------------------------------------

/// Splits a script into statements at `;` outside quotes and comments, reading line by line.
/// Comments (`--`, `/* */`) are dropped; `$$` bodies are kept whole.
struct Statements<R> {
    input: R,
    line: Vec<u8>,
    done: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Single,
    Double,
    Dollar,
    Block,
}

impl<R: BufRead> Statements<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            line: Vec::new(),
            done: false,
        }
    }

    fn next_statement(&mut self) -> Result<Option<String>, H2ImportError> {
        let mut out: Vec<u8> = Vec::new();
        let mut state = State::Code;
        loop {
            if self.line.is_empty() {
                if self.done {
                    break;
                }
                if self.input.read_until(b'\n', &mut self.line)? == 0 {
                    self.done = true;
                    break;
                }
            }
            let line = std::mem::take(&mut self.line);
            let mut i = 0;
            while i < line.len() {
                let c = line[i];
                let next = line.get(i + 1).copied();
                match state {
                    State::Code => match c {
                        b'-' if next == Some(b'-') => {
                            // A line comment: the rest of the line goes.
                            out.push(b'\n');
                            i = line.len();
                            continue;
                        }
                        b'/' if next == Some(b'*') => {
                            state = State::Block;
                            i += 2;
                            continue;
                        }
                        b'\'' => state = State::Single,
                        b'"' => state = State::Double,
                        b'$' if next == Some(b'$') => {
                            out.extend_from_slice(b"$$");
                            state = State::Dollar;
                            i += 2;
                            continue;
                        }
                        b';' => {
                            // Keep the rest of the line for the next statement.
                            self.line = line[i + 1..].to_vec();
                            return finish(out, true);
                        }
                        _ => {}
                    },
                    State::Single => {
                        if c == b'\'' {
                            state = State::Code; // '' re-enters at once
                        }
                    }
                    State::Double => {
                        if c == b'"' {
                            state = State::Code;
                        }
                    }
                    State::Dollar => {
                        if c == b'$' && next == Some(b'$') {
                            out.extend_from_slice(b"$$");
                            state = State::Code;
                            i += 2;
                            continue;
                        }
                    }
                    State::Block => {
                        if c == b'*' && next == Some(b'/') {
                            state = State::Code;
                            out.push(b' ');
                            i += 2;
                        } else {
                            i += 1;
                        }
                        continue;
                    }
                }
                out.push(c);
                i += 1;
            }
        }
        if state != State::Code {
            return Err(H2ImportError::Syntax {
                statement: 0,
                message: "the script ends inside a quoted text or comment (truncated dump?)".into(),
            });
        }
        finish(out, false)
    }
}

fn finish(out: Vec<u8>, terminated: bool) -> Result<Option<String>, H2ImportError> {
    let text = String::from_utf8(out).map_err(|_| H2ImportError::Syntax {
        statement: 0,
        message: "the script is not UTF-8".into(),
    })?;
    if text.trim().is_empty() {
        return Ok(if terminated {
            Some(String::new())
        } else {
            None
        });
    }
    if !terminated {
        return Err(H2ImportError::Syntax {
            statement: 0,
            message: format!(
                "the script ends in a statement without `;` (truncated dump?): {}",
                text.trim().chars().take(60).collect::<String>()
            ),
        });
    }
    Ok(Some(text))
}

// ---- tokens -------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// An unquoted word, upper-cased.
    Word(String),
    /// A `"quoted"` identifier, as written.
    Quoted(String),
    Text(String),
    Hex(Vec<u8>),
    Number(String),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if (c == 'X' || c == 'x') && chars.get(i + 1) == Some(&'\'') {
            let (body, end) = quoted(&chars, i + 1, '\'')?;
            let hex: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = hex_decode(&hex).ok_or_else(|| {
                format!(
                    "bad binary literal X'{}'",
                    hex.chars().take(20).collect::<String>()
                )
            })?;
            tokens.push(Token::Hex(bytes));
            i = end;
        } else if c == '\'' {
            let (body, end) = quoted(&chars, i, '\'')?;
            tokens.push(Token::Text(body));
            i = end;
        } else if c == '"' {
            let (body, end) = quoted(&chars, i, '"')?;
            tokens.push(Token::Quoted(body));
            i = end;
        } else if c.is_ascii_digit()
            || ((c == '-' || c == '+' || c == '.')
                && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            tokens.push(Token::Word(word.to_uppercase()));
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    Ok(tokens)
}

/// The body of a quoted token starting at `start` (the opening quote), with doubled quotes
/// undone, and the index after its closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Result<(String, usize), String> {
    let mut body = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(format!("unterminated {quote}...{quote}")),
            Some(&c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    body.push(quote);
                    i += 2;
                } else {
                    return Ok((body, i + 1));
                }
            }
            Some(&c) => {
                body.push(c);
                i += 1;
            }
        }
    }
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

// ---- statements we read -------------------------------------------------------------------

enum Kind {
    CreateTable,
    Insert,
    Other,
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w == word)
}

fn classify(tokens: &[Token]) -> Kind {
    if is_word(tokens.first(), "INSERT") {
        return Kind::Insert;
    }
    if is_word(tokens.first(), "CREATE") {
        // CREATE [CACHED|MEMORY] [LOCAL|GLOBAL] [TEMPORARY|TEMP] [LINKED] TABLE
        for token in &tokens[1..] {
            match token {
                Token::Word(w) if w == "TABLE" => return Kind::CreateTable,
                Token::Word(w)
                    if matches!(
                        w.as_str(),
                        "CACHED" | "MEMORY" | "LOCAL" | "GLOBAL" | "TEMPORARY" | "TEMP"
                    ) => {}
                _ => return Kind::Other,
            }
        }
    }
    Kind::Other
}

/// A possibly schema-qualified name at `i`: its last part, upper-cased (Tessera's names are
/// upper case however they are quoted), and the index after it.
fn qualified_name(tokens: &[Token], mut i: usize) -> Result<(String, usize), String> {
    let mut name;
    loop {
        name = match tokens.get(i) {
            Some(Token::Word(w)) => w.clone(),
            Some(Token::Quoted(q)) => q.to_uppercase(),
            other => return Err(format!("expected a name, found {other:?}")),
        };
        i += 1;
        if tokens.get(i) == Some(&Token::Punct('.')) {
            i += 1;
        } else {
            return Ok((name, i));
        }
    }
}

fn parse_create_table(tokens: &[Token]) -> Result<(String, Vec<String>), String> {
    let mut i = tokens
        .iter()
        .position(|t| matches!(t, Token::Word(w) if w == "TABLE"))
        .ok_or("no TABLE")?
        + 1;
    if is_word(tokens.get(i), "IF") {
        i += 3; // IF NOT EXISTS
    }
    let (table, mut i) = qualified_name(tokens, i)?;
    if tokens.get(i) != Some(&Token::Punct('(')) {
        // CREATE TABLE ... AS SELECT: no column list we can use.
        return Ok((table, Vec::new()));
    }
    i += 1;
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut at_element_start = true;
    while let Some(token) = tokens.get(i) {
        if at_element_start {
            at_element_start = false;
            match token {
                Token::Word(w)
                    if matches!(
                        w.as_str(),
                        "CONSTRAINT" | "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "INDEX" | "KEY"
                    ) => {}
                Token::Word(w) => columns.push(w.clone()),
                Token::Quoted(q) => columns.push(q.to_uppercase()),
                _ => {}
            }
        }
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') if depth == 0 => return Ok((table, columns)),
            Token::Punct(')') => depth -= 1,
            Token::Punct(',') if depth == 0 => at_element_start = true,
            _ => {}
        }
        i += 1;
    }
    Err(format!("CREATE TABLE {table}: unterminated column list"))
}

struct Insert {
    table: String,
    columns: Option<Vec<String>>,
    rows: Vec<Vec<Value>>,
}

fn parse_insert(tokens: &[Token]) -> Result<Insert, String> {
    if !is_word(tokens.get(1), "INTO") {
        return Err("expected INSERT INTO".into());
    }
    let (table, mut i) = qualified_name(tokens, 2)?;
    let mut columns = None;
    if tokens.get(i) == Some(&Token::Punct('(')) {
        let (cols, next) = parenthesised(tokens, i + 1, &table, qualified_name)?;
        columns = Some(cols);
        i = next;
    }
    if !is_word(tokens.get(i), "VALUES") {
        return Err(format!(
            "INSERT INTO {table}: only VALUES is understood, found {:?}",
            tokens.get(i)
        ));
    }
    i += 1;
    let mut rows = Vec::new();
    loop {
        if tokens.get(i) != Some(&Token::Punct('(')) {
            return Err(format!(
                "INSERT INTO {table}: expected ( at {:?}",
                tokens.get(i)
            ));
        }
        let (values, next) = parenthesised(tokens, i + 1, &table, parse_value)?;
        i = next;
        rows.push(values);
        match tokens.get(i) {
            Some(Token::Punct(',')) => i += 1,
            None => break,
            other => return Err(format!("INSERT INTO {table}: unexpected {other:?}")),
        }
    }
    Ok(Insert {
        table,
        columns,
        rows,
    })
}

/// Something read from the tokens, and the index after it.
type Parsed<T> = Result<(T, usize), String>;

/// The comma-separated items of a list whose `(` is just before `i`, each read by `item`, and
/// where the list ends (after its `)`).
fn parenthesised<T>(
    tokens: &[Token],
    mut i: usize,
    table: &str,
    item: fn(&[Token], usize) -> Parsed<T>,
) -> Parsed<Vec<T>> {
    let mut items = Vec::new();
    loop {
        let (value, next) = item(tokens, i)?;
        items.push(value);
        i = next;
        match tokens.get(i) {
            Some(Token::Punct(',')) => i += 1,
            Some(Token::Punct(')')) => return Ok((items, i + 1)),
            other => return Err(format!("INSERT INTO {table}: expected , or ) at {other:?}")),
        }
    }
}

/// One value at `i`; anything but a plain literal (or `CAST(literal AS type)`) becomes
/// [`Value::Other`], so its row is refused with the text, not the whole script.
fn parse_value(tokens: &[Token], i: usize) -> Result<(Value, usize), String> {
    match tokens.get(i) {
        Some(Token::Hex(b)) => Ok((Value::Bytes(b.clone()), i + 1)),
        Some(Token::Text(t)) => Ok((Value::Text(t.clone()), i + 1)),
        Some(Token::Number(n)) => Ok((Value::Number(n.clone()), i + 1)),
        Some(Token::Word(w)) if w == "NULL" => Ok((Value::Null, i + 1)),
        Some(Token::Word(w)) if w == "SYSTEM_COMBINE_BLOB" => {
            match (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3)) {
                (Some(Token::Punct('(')), Some(Token::Number(id)), Some(Token::Punct(')'))) => {
                    let id = id.parse().map_err(|_| format!("bad LOB id {id}"))?;
                    Ok((Value::Lob(id), i + 4))
                }
                _ => Err("SYSTEM_COMBINE_BLOB takes one id".into()),
            }
        }
        Some(Token::Word(w)) if w == "CAST" && tokens.get(i + 1) == Some(&Token::Punct('(')) => {
            let (inner, next) = parse_value(tokens, i + 2)?;
            let end = skip_group(tokens, i + 1)?;
            if is_word(tokens.get(next), "AS") {
                Ok((inner, end))
            } else {
                Ok((Value::Other(describe(&tokens[i..end])), end))
            }
        }
        Some(_) => {
            // A function call or a typed literal: skip to the end of this value.
            let mut j = i;
            while let Some(token) = tokens.get(j) {
                match token {
                    Token::Punct('(') => j = skip_group(tokens, j)?,
                    Token::Punct(',') | Token::Punct(')') => break,
                    _ => j += 1,
                }
            }
            Ok((Value::Other(describe(&tokens[i..j])), j))
        }
        None => Err("a value is missing".into()),
    }
}

/// The index after the parenthesised group opening at `open`.
fn skip_group(tokens: &[Token], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
    }
    Err("unbalanced parentheses".into())
}

fn describe(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => format!("\"{q}\""),
            Token::Text(_) => "'...'".into(),
            Token::Hex(_) => "X'...'".into(),
            Token::Number(n) => n.clone(),
            Token::Punct(c) => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tm_core::payload::{Nonce, RecipientBox};

    fn store() -> Store {
        Store::connect("jdbc:sqlite::memory:", None, None, true, 1).expect("store")
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn payload(seed: u8) -> EncodedPayload {
        EncodedPayload {
            sender: PublicKey::from_bytes(vec![seed; 32]),
            cipher_text: vec![seed, 1, 2, 3],
            cipher_text_nonce: Nonce(vec![7; 24]),
            recipient_boxes: vec![RecipientBox(vec![seed; 48])],
            recipient_nonce: Nonce(vec![8; 24]),
            recipient_keys: vec![PublicKey::from_bytes(vec![seed + 1; 32])],
            ..EncodedPayload::default()
        }
    }

    fn run(store: &Store, script: &str) -> ImportReport {
        import_script(store, script.as_bytes(), |_| {}).expect("import")
    }

    const CREATE: &str = "-- H2 2.x SCRIPT output, abridged\n\
        SET DB_CLOSE_DELAY -1;\n\
        CREATE USER IF NOT EXISTS \"SA\" SALT 'aa' HASH 'bb' ADMIN;\n\
        CREATE MEMORY TABLE \"PUBLIC\".\"ENCRYPTED_TRANSACTION\"(\n\
        \"ENCODED_PAYLOAD\" BINARY VARYING(1000000000) NOT NULL,\n\
        \"TIMESTAMP\" BIGINT,\n\
        \"HASH\" BINARY VARYING(1000000000) NOT NULL,\n\
        \"PAYLOAD_CODEC\" CHARACTER VARYING(50)\n\
        );\n\
        ALTER TABLE \"PUBLIC\".\"ENCRYPTED_TRANSACTION\" ADD CONSTRAINT \"PUBLIC\".\"CONSTRAINT_9\" PRIMARY KEY(\"HASH\");\n\
        -- 2 +/- SELECT COUNT(*) FROM PUBLIC.ENCRYPTED_TRANSACTION;\n";

    #[test]
    fn h2_multi_row_inserts_with_hex_null_and_codecs_are_imported_once() {
        let (a, b) = (payload(1), payload(2));
        let script = format!(
            "{CREATE}INSERT INTO \"PUBLIC\".\"ENCRYPTED_TRANSACTION\" VALUES\n\
             (X'{}', 1700000000000, X'{}', 'CBOR'),\n\
             (X'{}', NULL, X'{}', NULL);\n\
             CREATE CACHED TABLE \"PUBLIC\".\"ST_TRANSACTION\"(\"ID\" BIGINT NOT NULL, \"HASH\" CHARACTER VARYING NOT NULL, \"PAYLOAD\" BINARY VARYING);\n\
             INSERT INTO \"PUBLIC\".\"ST_TRANSACTION\" VALUES (1, 'it''s; skipped', X'00');\n",
            hex(&PayloadCodec::Cbor.encode(&a)),
            hex(a.hash().as_bytes()),
            hex(&PayloadCodec::Legacy.encode(&b)),
            hex(b.hash().as_bytes()),
        );
        let store = store();
        let report = run(&store, &script);
        let t = &report.tables["ENCRYPTED_TRANSACTION"];
        assert_eq!((t.read, t.imported, t.already_present), (2, 2, 0));
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.skipped["ST_TRANSACTION"], 1);
        assert_eq!(
            store
                .find_payload(&b.hash())
                .expect("test step")
                .expect("test step")
                .payload,
            b,
            "a NULL codec is LEGACY"
        );

        let again = run(&store, &script);
        let t = &again.tables["ENCRYPTED_TRANSACTION"];
        assert_eq!((t.read, t.imported, t.already_present), (2, 0, 2));
        assert!(again.is_clean());
    }

    #[test]
    fn a_missing_column_list_maps_by_create_order_and_a_listed_one_by_name() {
        let a = payload(3);
        // No PAYLOAD_CODEC column at all (a database from before Tessera 21.10): LEGACY.
        let script = format!(
            "CREATE TABLE ENCRYPTED_TRANSACTION (ENCODED_PAYLOAD LONGVARBINARY NOT NULL, TIMESTAMP BIGINT, HASH LONGVARBINARY NOT NULL, PRIMARY KEY (HASH));\n\
             INSERT INTO PUBLIC.ENCRYPTED_TRANSACTION(HASH, ENCODED_PAYLOAD) VALUES(X'{}', X'{}');\n\
             INSERT INTO PUBLIC.ENCRYPTED_TRANSACTION VALUES(X'{}', 5, X'{}');\n",
            hex(a.hash().as_bytes()),
            hex(&PayloadCodec::Legacy.encode(&a)),
            hex(&PayloadCodec::Legacy.encode(&a)),
            hex(a.hash().as_bytes()),
        );
        let store = store();
        let report = run(&store, &script);
        let t = &report.tables["ENCRYPTED_TRANSACTION"];
        assert_eq!(
            (t.read, t.imported, t.already_present),
            (2, 1, 1),
            "{report}"
        );
    }

    #[test]
    fn a_hash_that_does_not_match_and_a_conflict_are_refused_and_reported() {
        let (a, b) = (payload(4), payload(5));
        let wrong = b.hash();
        let script = format!(
            "{CREATE}INSERT INTO \"PUBLIC\".\"ENCRYPTED_TRANSACTION\" VALUES (X'{}', 1, X'{}', 'CBOR'), (X'{}', 1, X'{}', 'SOMETHING');\n",
            hex(&PayloadCodec::Cbor.encode(&a)),
            hex(wrong.as_bytes()),
            hex(&PayloadCodec::Cbor.encode(&a)),
            hex(a.hash().as_bytes()),
        );
        let store = store();
        let report = run(&store, &script);
        let t = &report.tables["ENCRYPTED_TRANSACTION"];
        assert_eq!((t.read, t.imported, t.refused_count()), (2, 0, 2));
        assert!(!report.is_clean());
        let mismatch = &t.refused["HASH is not the digest of the payload's cipher text"];
        assert_eq!(mismatch.keys, vec![wrong.to_base64()]);
        assert!(store.find_payload(&wrong).expect("test step").is_none());
        assert!(report.to_string().contains("PAYLOAD_CODEC"), "{report}");

        // A different payload under a stored hash is a conflict, and the stored row stays.
        let mut other = a.clone();
        other.recipient_boxes = vec![RecipientBox(vec![9; 48])];
        store.store_payload(&a).expect("test step");
        let script = format!(
            "{CREATE}INSERT INTO \"PUBLIC\".\"ENCRYPTED_TRANSACTION\" VALUES (X'{}', 1, X'{}', 'CBOR');\n",
            hex(&PayloadCodec::Cbor.encode(&other)),
            hex(a.hash().as_bytes()),
        );
        let report = run(&store, &script);
        assert_eq!(
            report.tables["ENCRYPTED_TRANSACTION"].refused[CONFLICT].count,
            1
        );
        assert_eq!(
            store
                .find_payload(&a.hash())
                .expect("test step")
                .expect("test step")
                .payload,
            a
        );
    }

    #[test]
    fn raw_transactions_and_privacy_groups_are_checked_and_stored() {
        let cipher = b"raw cipher; with 'quotes'".to_vec();
        let hash = TxHash::of_cipher_text(&cipher);
        let record = PrivacyGroupRecord {
            name: "it's a group".into(),
            description: "".into(),
            members: vec![PublicKey::from_bytes(vec![1; 32])],
            seed: vec![],
            group_type: "LEGACY".into(),
            state: "ACTIVE".into(),
        };
        let group = PrivacyGroupRow::from_record(&record);
        let script = format!(
            "CREATE TABLE ENCRYPTED_RAW_TRANSACTION (ENCRYPTED_KEY LONGVARBINARY NOT NULL, ENCRYPTED_PAYLOAD LONGVARBINARY NOT NULL, NONCE LONGVARBINARY NOT NULL, SENDER LONGVARBINARY NOT NULL, TIMESTAMP BIGINT, HASH LONGVARBINARY NOT NULL, PRIMARY KEY (HASH));\n\
             CREATE TABLE PRIVACY_GROUP(ID LONGVARBINARY NOT NULL, LOOKUP_ID LONGVARBINARY NOT NULL, DATA LONGVARBINARY NOT NULL, TIMESTAMP BIGINT, PRIMARY KEY (ID));\n\
             INSERT INTO ENCRYPTED_RAW_TRANSACTION VALUES (X'01', X'{}', X'02', X'{}', 1, X'{}'), (X'01', X'{}', X'02', X'{}', 1, X'00');\n\
             /* a block comment; with a semicolon */\n\
             INSERT INTO PRIVACY_GROUP VALUES (X'{}', X'{}', X'{}', 2), (X'00', X'{}', X'{}', 2);\n",
            hex(&cipher),
            hex(&[3; 32]),
            hex(hash.as_bytes()),
            hex(&cipher),
            hex(&[3; 32]),
            hex(group.id.as_bytes()),
            hex(&group.lookup_id),
            hex(&group.data),
            hex(&group.lookup_id),
            hex(&group.data),
        );
        let store = store();
        for round in 0..2 {
            let report = run(&store, &script);
            let raw = &report.tables["ENCRYPTED_RAW_TRANSACTION"];
            let groups = &report.tables["PRIVACY_GROUP"];
            assert_eq!(
                (
                    raw.read,
                    raw.imported + raw.already_present,
                    raw.refused_count()
                ),
                (2, 1, 1)
            );
            assert_eq!(
                (groups.read, groups.imported + groups.already_present),
                (2, 1)
            );
            assert_eq!(groups.imported, if round == 0 { 1 } else { 0 });
            assert_eq!(groups.refused_count(), 1);
        }
        let stored = store
            .find_raw(&hash)
            .expect("test step")
            .expect("test step");
        assert_eq!(stored.encrypted_payload, cipher);
        assert_eq!(
            store
                .find_privacy_group(&group.id)
                .expect("test step")
                .expect("test step")
                .data,
            group.data
        );
    }

    #[test]
    fn blob_values_written_in_parts_are_put_together() {
        // What H2 2.2 writes for BLOB columns with values over 4 KiB.
        let big = EncodedPayload {
            cipher_text: vec![0xab; 9000],
            ..payload(6)
        };
        let encoded = PayloadCodec::Cbor.encode(&big);
        let (first, rest) = encoded.split_at(4096);
        let small = payload(7);
        let script = format!(
            "CREATE CACHED TABLE \"PUBLIC\".\"ENCRYPTED_TRANSACTION\"(\n\
             \"ENCODED_PAYLOAD\" BINARY LARGE OBJECT NOT NULL,\n\
             \"PAYLOAD_CODEC\" CHARACTER VARYING(50),\n\
             \"TIMESTAMP\" BIGINT,\n\
             \"HASH\" BINARY VARYING(100) NOT NULL\n);\n\
             CREATE CACHED LOCAL TEMPORARY TABLE IF NOT EXISTS SYSTEM_LOB_STREAM(ID INT NOT NULL, PART INT NOT NULL, CDATA VARCHAR, BDATA VARBINARY);\n\
             ALTER TABLE SYSTEM_LOB_STREAM ADD CONSTRAINT SYSTEM_LOB_STREAM_PRIMARY_KEY PRIMARY KEY(ID, PART);\n\
             CREATE ALIAS IF NOT EXISTS SYSTEM_COMBINE_BLOB FOR 'org.h2.command.dml.ScriptCommand.combineBlob';\n\
             INSERT INTO SYSTEM_LOB_STREAM VALUES(0, 0, NULL, X'{}');\n\
             INSERT INTO SYSTEM_LOB_STREAM VALUES(0, 1, NULL, X'{}');\n\
             INSERT INTO \"PUBLIC\".\"ENCRYPTED_TRANSACTION\" VALUES\n\
             (SYSTEM_COMBINE_BLOB(0), 'CBOR', 5, X'{}'),\n\
             (X'{}', 'CBOR', NULL, X'{}'),\n\
             (SYSTEM_COMBINE_BLOB(1), 'CBOR', 5, X'{}');\n\
             DROP TABLE IF EXISTS SYSTEM_LOB_STREAM;\n",
            hex(first),
            hex(rest),
            hex(big.hash().as_bytes()),
            hex(&PayloadCodec::Cbor.encode(&small)),
            hex(small.hash().as_bytes()),
            hex(small.hash().as_bytes()),
        );
        let store = store();
        let report = run(&store, &script);
        let t = &report.tables["ENCRYPTED_TRANSACTION"];
        assert_eq!(
            (t.read, t.imported, t.refused_count()),
            (3, 2, 1),
            "{report}"
        );
        assert!(report.skipped.is_empty(), "{report}");
        assert_eq!(
            store
                .find_payload(&big.hash())
                .expect("test step")
                .expect("test step")
                .payload,
            big
        );
    }

    #[test]
    fn the_splitter_keeps_quotes_and_reports_a_truncated_script() {
        let mut s = Statements::new("SELECT 'a;b' ; -- c;\nSELECT \"x;\";".as_bytes());
        assert_eq!(
            s.next_statement().expect("test step").expect("test step"),
            "SELECT 'a;b' "
        );
        assert_eq!(
            s.next_statement()
                .expect("test step")
                .expect("test step")
                .trim(),
            "SELECT \"x;\""
        );
        assert!(s.next_statement().expect("test step").is_none());
        let mut s = Statements::new("INSERT INTO T VALUES (X'00'".as_bytes());
        assert!(s.next_statement().is_err());
        assert_eq!(
            tokenize("'it''s' X'0aFF' -12 NULL").expect("test step"),
            vec![
                Token::Text("it's".into()),
                Token::Hex(vec![0x0a, 0xff]),
                Token::Number("-12".into()),
                Token::Word("NULL".into()),
            ]
        );
    }
}
