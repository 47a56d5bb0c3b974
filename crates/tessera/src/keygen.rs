//! `tessera -keygen` (docs/protocol.md §14.2): writes `<name>.pub` and `<name>.key` per name,
//! asking for a password for each (empty: an unlocked key), as Tessera does.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tm_config::cli::Exit;
use tm_core::keyfile::{key_file_paths, write_new_key_pair, ArgonOptions};

/// Tessera's keygen options.
#[derive(Debug, Parser)]
#[command(name = "tessera -keygen")]
pub struct KeygenCli {
    /// Comma-separated base names of the key files (`-filename` is accepted too); one pair each.
    #[arg(long = "keyout", visible_alias = "filename", value_delimiter = ',')]
    pub names: Vec<PathBuf>,
    /// JSON file of Argon2 options for locked keys (`-keygenconfig` is accepted too).
    #[arg(
        long = "argonconfig",
        visible_alias = "keygenconfig",
        value_name = "FILE"
    )]
    pub argon_config: Option<PathBuf>,
    /// A config file to add the new keys to (`keys.keyData`).
    #[arg(
        long = "configfile",
        visible_alias = "config-file",
        value_name = "FILE"
    )]
    pub config_file: Option<PathBuf>,
    /// Where to write the updated config (`-output` is accepted too); stdout when absent.
    #[arg(long = "configout", visible_alias = "output", value_name = "FILE")]
    pub config_out: Option<PathBuf>,
}

/// Tessera's single-dash spellings, rewritten for clap; the `keygen` word itself is dropped.
fn normalise(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let Some(text) = arg.to_str() else {
            out.push(arg.clone());
            continue;
        };
        if i > 0 && matches!(text, "keygen" | "-keygen" | "--keygen") {
            continue;
        }
        let single = [
            "-filename",
            "-keygenconfig",
            "-configfile",
            "-output",
            "-config-file",
        ];
        match single
            .iter()
            .find(|o| text == **o || text.starts_with(&format!("{o}=")))
        {
            Some(_) => out.push(OsString::from(format!("-{text}"))),
            None => out.push(arg.clone()),
        }
    }
    out
}

/// Runs keygen; prints what it wrote and what to do next.
pub fn main(args: &[OsString]) -> ExitCode {
    let cli = match KeygenCli::try_parse_from(normalise(args)) {
        Ok(cli) => cli,
        Err(e) => return tm_config::cli::command_line_exit(e).into(),
    };
    match run(&cli) {
        Ok(()) => Exit::Success.into(),
        Err(e) => {
            eprintln!("ERROR: {e}");
            Exit::Failure.into()
        }
    }
}

fn run(cli: &KeygenCli) -> Result<(), String> {
    let options = match &cli.argon_config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str::<ArgonOptions>(&text)
                .map_err(|e| format!("{}: not Argon2 options ({e})", path.display()))?
        }
        None => ArgonOptions::default(),
    };
    // Tessera generates one pair with an empty name when none is given.
    let names = if cli.names.is_empty() {
        vec![PathBuf::new()]
    } else {
        cli.names.clone()
    };
    let mut stdin = std::io::stdin().lock();
    let mut written = Vec::new();
    for name in &names {
        let password = read_password(name, &mut stdin)?;
        let pair =
            write_new_key_pair(name, password.as_deref(), &options).map_err(|e| e.to_string())?;
        let (public, private) = key_file_paths(name);
        eprintln!(
            "wrote {} and {} ({}), public key {}",
            public.display(),
            private.display(),
            if password.is_some() {
                "locked"
            } else {
                "unlocked"
            },
            pair.public
        );
        written.push((public, private));
    }
    if let Some(config) = &cli.config_file {
        update_config(config, cli.config_out.as_deref(), &written)?;
    } else {
        eprintln!("next: list the files under keys.keyData in your config (privateKeyPath, publicKeyPath)");
    }
    Ok(())
}

/// Asks twice on a terminal until both entries match; reads one line otherwise (end of input
/// is an empty password, so `tessera -keygen -filename k < /dev/null` writes an unlocked key).
fn read_password(name: &Path, stdin: &mut impl BufRead) -> Result<Option<String>, String> {
    if std::io::stdin().is_terminal() {
        loop {
            let first = rpassword::prompt_password(format!(
                "Enter a password if you want to lock the private key {} or leave blank: ",
                name.display()
            ))
            .map_err(|e| e.to_string())?;
            let again = rpassword::prompt_password(
                "Please re-enter the password (or lack of) to confirm: ",
            )
            .map_err(|e| e.to_string())?;
            if first == again {
                return Ok(Some(first).filter(|p| !p.is_empty()));
            }
            eprintln!("Passwords did not match, try again.");
        }
    }
    let mut line = String::new();
    stdin.read_line(&mut line).map_err(|e| e.to_string())?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    Ok(Some(password).filter(|p| !p.is_empty()))
}

/// Adds the new key files to `keys.keyData` of a config and writes it out. The rest of the
/// file is kept as the operator wrote it (members we do not know included); the new entries
/// are the typed model's `KeyData`, serialised.
fn update_config(
    config: &Path,
    out: Option<&Path>,
    written: &[(PathBuf, PathBuf)],
) -> Result<(), String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let mut json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: invalid JSON ({e})", config.display()))?;
    let root = json
        .as_object_mut()
        .ok_or_else(|| format!("{}: not a JSON object", config.display()))?;
    let keys = root
        .entry("keys")
        .or_insert_with(|| serde_json::Value::Object(Default::default()))
        .as_object_mut()
        .ok_or_else(|| "keys is not an object".to_owned())?;
    let data = keys
        .entry("keyData")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| "keys.keyData is not an array".to_owned())?;
    for (public, private) in written {
        let entry = tm_config::KeyData {
            private_key_path: Some(private.clone()),
            public_key_path: Some(public.clone()),
            ..Default::default()
        };
        data.push(serde_json::to_value(entry).map_err(|e| e.to_string())?);
    }
    let rendered = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    match out {
        Some(path) => {
            std::fs::write(path, rendered).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote the updated config to {}", path.display());
        }
        None => println!("{rendered}"),
    }
    Ok(())
}
