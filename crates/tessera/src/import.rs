//! `tessera import-h2 --script dump.sql -configfile tessera.json [-o path=value]...`: imports a
//! Tessera H2 database, dumped with H2's `Script` tool, into the database of the config's
//! `jdbc` (SQLite or PostgreSQL), with the tables created or upgraded first as
//! `--migrate-only` does. Progress on stderr (a bar at a terminal, else a line every 10 s and
//! one at the end: `tm_config::progress`), the report on stdout. `docs/h2-migration.md`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tm_config::cli::Exit;
use tm_config::progress::Progress;
use tm_config::{LoadOptions, Profile};

/// Imports a Tessera H2 database from the SQL script H2's Script tool writes.
///
/// Exit status: 0 when every row was imported or already present; 1 when some row was
/// refused (failed its checks, or the target holds a different row under its key: the report
/// names them, nothing else is changed for them; also for an invalid config); 2 when the import
/// could not run (database, unreadable or malformed script); 3 for an unreadable config; 4 for
/// a bad command line or a target that is not SQLite or PostgreSQL. Safe to run again: rows
/// already imported count as already present. See docs/h2-migration.md.
#[derive(Debug, Parser)]
#[command(name = "tessera import-h2")]
pub struct ImportCli {
    /// The script from `java -cp h2.jar org.h2.tools.Script -url jdbc:h2:... -user sa
    /// -script dump.sql` (`-script` is accepted too).
    #[arg(long = "script", value_name = "FILE")]
    pub script: PathBuf,
    /// The node's config file: its `jdbc` is the target (`-configfile` is accepted too).
    #[arg(
        long = "configfile",
        visible_alias = "config-file",
        value_name = "PATH"
    )]
    pub configfile: PathBuf,
    /// Overrides a config value, e.g. `-o jdbc.url=jdbc:sqlite:/data/tm.db`.
    #[arg(short = 'o', long = "override", value_name = "PATH=VALUE")]
    pub overrides: Vec<String>,
}

/// Tessera's single-dash spellings, for clap; the `import-h2` word itself is dropped.
fn normalise(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        match arg.to_str() {
            // Usage lines name the command, not only the binary.
            _ if i == 0 => out.push(OsString::from("tessera import-h2")),
            Some("import-h2" | "-import-h2" | "--import-h2") => {}
            Some(text)
                if ["-script", "-configfile", "-config-file"]
                    .iter()
                    .any(|o| text == *o || text.starts_with(&format!("{o}="))) =>
            {
                out.push(OsString::from(format!("-{text}")));
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Runs the import; returns the exit status.
pub async fn main(args: &[OsString]) -> ExitCode {
    let cli = match ImportCli::try_parse_from(normalise(args)) {
        Ok(cli) => cli,
        Err(e) => return tm_config::cli::command_line_exit(e).into(),
    };
    tm_config::cli::init_logging(false);
    let options = LoadOptions {
        overrides: cli.overrides.clone(),
        ..LoadOptions::new(Profile::Node)
    };
    let config = match tm_config::load_file(&cli.configfile, &options) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            eprintln!("{e}");
            return e.exit().into();
        }
    };
    let url = config
        .jdbc
        .as_ref()
        .and_then(|j| j.url.clone())
        .unwrap_or_else(|| tm_manager::DEFAULT_JDBC_URL.to_owned());
    if !(url.starts_with("jdbc:sqlite:") || url.starts_with("jdbc:postgresql:")) {
        // Only the URL's kind: the rest may carry a password.
        let kind: String = url.split(':').take(2).collect::<Vec<_>>().join(":");
        eprintln!(
            "the target database is jdbc.url = {kind}:..., which this node cannot use: name the \
             SQLite or PostgreSQL database to import into, e.g. \
             -o jdbc.url=jdbc:sqlite:/data/tm.db (and put the same URL in the config before \
             starting the node)"
        );
        return Exit::BadCommandLine.into();
    }
    let file = match File::open(&cli.script) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("cannot read {}: {e}", cli.script.display());
            return Exit::Failure.into();
        }
    };
    let store = match tm_manager::open_store(&config, true).await {
        Ok(store) => store.blocking().clone(),
        Err(e) => {
            eprintln!("cannot open the target database: {e}");
            return Exit::Failure.into();
        }
    };
    eprintln!("importing {} into {}", cli.script.display(), store.url());
    let script = cli.script.clone();
    // Bytes of the script are what can be counted against a known total; rows only as the
    // store reports them, every `tm_store::h2_import::PROGRESS_EVERY`.
    let size = file.metadata().ok().map(|m| m.len());
    let progress = Progress::bytes("h2 import", size);
    let reading = Counted {
        inner: file,
        progress: progress.clone(),
    };
    let shown = progress.clone();
    let result = tokio::task::spawn_blocking(move || {
        tm_store::import_h2_script(&store, BufReader::new(reading), |rows| {
            shown.set_message(format!("{rows} rows read"));
        })
    })
    .await;
    match result {
        Ok(Ok(report)) => {
            let rows = report.rows_read() + report.skipped.values().sum::<u64>();
            progress.finish(format!(
                "{rows} rows read, {} statements",
                report.statements
            ));
            println!("{report}");
            if report.is_clean() {
                Exit::Success.into()
            } else {
                ExitCode::from(1)
            }
        }
        Ok(Err(e)) => {
            progress.finish("stopped");
            eprintln!(
                "import of {} stopped: {e} (rows before it were imported; running the \
                 import again is safe)",
                script.display()
            );
            Exit::Failure.into()
        }
        Err(e) => {
            progress.finish("failed");
            eprintln!("import failed: {e}");
            Exit::Failure.into()
        }
    }
}

/// The script as it is read, each read counted into the progress.
struct Counted {
    inner: File,
    progress: Progress,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}
