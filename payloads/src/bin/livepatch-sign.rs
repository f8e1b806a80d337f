//! `livepatch-sign --key KEYFILE PAYLOAD...` signs existing payloads in
//! place (an earlier signature is replaced); `livepatch-sign --new-key
//! PREFIX` makes a key pair, PREFIX.key (secret) and PREFIX.pub.
//!
//! Exit codes: 0 done, 1 error.
#![forbid(unsafe_code)]

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use payloads::sign;

/// Sign live-patch payloads, or make a signing key pair.
#[derive(Debug, Parser)]
#[command(name = "livepatch-sign", version)]
struct Cli {
    /// Secret key file (64 hex digits: an Ed25519 seed).
    #[arg(
        short = 'k',
        long = "key",
        value_name = "KEYFILE",
        required_unless_present = "new_key"
    )]
    key: Option<PathBuf>,
    /// Write a new key pair to PREFIX.key and PREFIX.pub instead.
    #[arg(long = "new-key", value_name = "PREFIX", conflicts_with_all = ["key", "payloads"])]
    new_key: Option<PathBuf>,
    /// Payloads to sign in place.
    #[arg(value_name = "PAYLOAD", required_unless_present = "new_key")]
    payloads: Vec<PathBuf>,
}

fn run(cli: Cli) -> Result<(), sign::SignError> {
    if let Some(prefix) = cli.new_key {
        let public = sign::generate_key_pair(&prefix)?;
        println!(
            "livepatch-sign: wrote {}.key and {}.pub, key id {}",
            prefix.display(),
            prefix.display(),
            sign::hex(&sign::key_id(&public))
        );
        return Ok(());
    }
    let Some(key_path) = cli.key else {
        return Ok(());
    };
    let key = sign::read_signing_key(&key_path)?;
    for p in &cli.payloads {
        sign::sign_file(p, &key)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli: Cli = match cli::parse_args() {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livepatch-sign: error: {e}");
            ExitCode::FAILURE
        }
    }
}
