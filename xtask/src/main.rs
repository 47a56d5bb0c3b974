//! Project automation: `cargo xtask <command>`.
//!
//! Commands grow with the project; each one says what it did and what to do next.

use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test            run every check CI runs (scripts/test-all.sh)
  fuzz [SECONDS]  run every fuzz target for SECONDS each (default 60)
  bench-core      criterion benchmarks of the crypto core (seal, decode)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = env!("CARGO_MANIFEST_DIR")
        .trim_end_matches("/xtask")
        .to_owned();
    let status = match args.first().map(String::as_str) {
        Some("test") => Command::new(format!("{root}/scripts/test-all.sh")).status(),
        Some("fuzz") => Command::new(format!("{root}/scripts/fuzz.sh"))
            .args(args.get(1))
            .status(),
        Some("bench-core") => {
            let status = Command::new("cargo")
                .args(["bench", "-p", "tm-core", "--bench", "core"])
                .current_dir(&root)
                .status();
            if matches!(status, Ok(s) if s.success()) {
                println!("reports: {root}/target/criterion/report/index.html");
            }
            status
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("xtask: command failed ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: could not start the command: {e}");
            ExitCode::FAILURE
        }
    }
}
