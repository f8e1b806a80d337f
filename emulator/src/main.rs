//! `testbed`: boots mini-xen in the emulated machine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use emulator::{Config, Image, Machine, MachineError};

/// Debug keys mini-xen handles.
const DEBUG_KEYS: &str = "hdCx";

#[derive(Parser)]
#[command(
    name = "testbed",
    version,
    about = "Emulated testbed for Xen-style live patching"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot mini-xen, run the guests, feed debug keys, print the console.
    Boot {
        /// mini-xen ELF (its flat image is PATH.bin); default: the `make image` build.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Number of vCPUs (1 to 64).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        vcpus: u16,
        /// Scheduler seed.
        #[arg(long)]
        seed: u64,
        /// Virtual time to run the guests for (e.g. 50ms, 1s, 200us).
        #[arg(long, default_value = "50ms", value_parser = parse_duration)]
        time: u64,
        /// Debug keys to press after that, as with `xl debug-keys`.
        #[arg(long, default_value = "", value_parser = parse_keys)]
        keys: String,
        /// Guests never block: a CPU-bound load.
        #[arg(long)]
        busy: bool,
    },
}

fn parse_duration(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{s}' has no unit: use ns, us, ms or s"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' does not start with a number"))?;
    let scale = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return Err(format!("unknown unit '{unit}': use ns, us, ms or s")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("'{s}' is too long"))
}

fn parse_keys(s: &str) -> Result<String, String> {
    match s.chars().find(|c| !DEBUG_KEYS.contains(*c)) {
        Some(c) => Err(format!(
            "unknown debug key '{c}': mini-xen handles h (help), d (dump vCPUs), C (crash), x (live patch)"
        )),
        None => Ok(s.to_string()),
    }
}

/// Virtual time between two debug keys, so each one's output completes.
const KEY_GAP_NS: u64 = 2_000_000;

fn boot(
    image: Option<PathBuf>,
    vcpus: u16,
    seed: u64,
    time: u64,
    keys: &str,
    busy: bool,
) -> anyhow::Result<ExitCode> {
    let path = image.unwrap_or_else(Image::default_path);
    let image = Image::load(&path)?;
    let mut cfg = Config::new(usize::from(vcpus), seed);
    cfg.busy_guests = busy;
    let mut m = Machine::new(image, cfg)?;
    let mut result = m.run_for(time);
    for k in keys.bytes() {
        if result.is_err() {
            break;
        }
        m.send_input(&[k]);
        result = m.run_for(KEY_GAP_NS);
    }
    print!("{}", String::from_utf8_lossy(m.console()));
    match result {
        Ok(()) => {
            println!("digest: {}", m.digest()?);
            Ok(ExitCode::SUCCESS)
        }
        Err(MachineError::Crash(c)) => {
            print!("{c}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Boot {
            image,
            vcpus,
            seed,
            time,
            keys,
            busy,
        } => boot(image, vcpus, seed, time, &keys, busy),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("testbed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
