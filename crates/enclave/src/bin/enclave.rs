//! `enclave -configfile <path>`: Tessera's remote enclave process.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tm_enclave::cli::main(std::env::args_os()).await
}
