//! `fuzz-loader [--runs N] [--first I] [--seed S] [--jobs J] [--out DIR]
//! [--case I]`: runs the loader fuzzer and prints its summary; exits 0
//! only when every case ran and none failed. SIGINT/SIGTERM stop it
//! early with a summary of the cases that ran.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use emulator::Image;
use loaderfuzz::campaign::{self, Settings};

#[derive(Parser)]
#[command(
    about = "Structure-aware mutation of live-patch payloads through UPLOAD, APPLY, REVERT and UNLOAD"
)]
struct Args {
    /// Number of cases.
    #[arg(long, default_value_t = 1000)]
    runs: u64,
    /// Index of the first case (cases FIRST .. FIRST + RUNS of the seed:
    /// a long run can be split into parts that add up to the same cases).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Seed of the whole run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads, each with its own machine (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// vCPUs of each machine.
    #[arg(long, default_value_t = 2)]
    vcpus: usize,
    /// Directory of the well-formed payloads to mutate.
    #[arg(long, default_value = "payloads/build/test")]
    corpus: PathBuf,
    /// Where reproducers of failing cases are written.
    #[arg(long, default_value = "target/fuzz-loader")]
    out: PathBuf,
    /// The mini-xen ELF (default: the one `make image` builds).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Run only case I of the seed and describe it.
    #[arg(long)]
    case: Option<u64>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fuzz-loader: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(a: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let image = Image::load(&a.image.unwrap_or_else(Image::default_path))?;
    let corpus = campaign::load_corpus(&a.corpus)?;
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))?;
    let settings = Settings {
        first: a.first,
        runs: a.runs,
        seed: a.seed,
        jobs,
        vcpus: a.vcpus,
        out: Some(a.out.clone()),
        stop: Arc::clone(&stop),
    };
    if let Some(i) = a.case {
        let mut h = loaderfuzz::harness::Harness::new(image.clone(), a.vcpus)?;
        let targets = campaign::targets_of(&image);
        let c = campaign::run_one(&mut h, &settings, i, &corpus, &targets)?;
        campaign::write_reproducer(&a.out, a.seed, &c)?;
        print!("{}", campaign::describe(a.seed, &c));
        return Ok(if c.outcome.failure.is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let start = std::time::Instant::now();
    let step = (a.runs / 100).max(1);
    let progress = |n: u64| {
        if n % step == 0 {
            eprintln!("fuzz-loader: {n}/{} cases", a.runs);
        }
    };
    let s = campaign::run(&image, &corpus, &settings, &progress)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} threads, seed {}, {:.1} s, {:.1} cases/s; reproducers in {}",
        jobs,
        a.seed,
        secs,
        s.cases as f64 / secs.max(1e-9),
        a.out.display()
    );
    let interrupted = s.cases < a.runs;
    if interrupted {
        println!("interrupted after {} of {} cases", s.cases, a.runs);
    }
    print!("{}", campaign::report(&s));
    Ok(if s.failures() == 0 && !interrupted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
