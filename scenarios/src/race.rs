//! The race commands of `testbed`: `explore` (with a progress bar),
//! `replay` and `minimise`; what is only the command line's business
//! (flags, printing, exit statuses) is here, the work is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use scenarios::duration::parse_budget;
use scenarios::explore::Strategy as Family;
use scenarios::junit::{explore_report, Explored};
use scenarios::partition::Partition;
use scenarios::picture::{self, Hit};
use scenarios::replay::{compare, ReplayError, ReplayFile, Verdict};
use scenarios::runner::{self, Options};
use scenarios::search::{self, Plan};
use scenarios::{minimise, schedule, suite};

/// `testbed explore`'s flags.
#[derive(clap::Args)]
pub struct ExploreArgs {
    /// Scenario files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// random, pct[:depth=D], bounded[:preemptions=K] or sweep (default:
    /// the file's [explore] table).
    #[arg(long)]
    pub strategy: Option<Family>,
    /// At most this many schedules (default: the file's).
    #[arg(long)]
    pub runs: Option<u64>,
    /// At most this much host time, e.g. 60s (default: the file's).
    #[arg(long, value_parser = parse_budget)]
    pub time: Option<u64>,
    /// Seed of the exploration (run i's schedule is a function of it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Machines at once, one per thread (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where replay files go.
    #[arg(long, default_value = "explore-out")]
    pub out: PathBuf,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Explore only share I of N of the schedules (CI matrices).
    #[arg(long)]
    pub partition: Option<Partition>,
    /// Words added after each scenario's own `cmdline`.
    #[arg(long)]
    pub cmdline: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The replay file's name for a failure of `scenario` with `signature`:
/// one file per distinct failure.
fn replay_name(scenario: &str, signature: &str) -> String {
    let h = blake3::hash(signature.as_bytes()).to_hex();
    format!("{scenario}-{}.replay.toml", &h[..10])
}

pub fn explore(a: &ExploreArgs) -> anyhow::Result<ExitCode> {
    let scenarios = match suite::load_all(&a.files, None, a.cmdline.as_deref()) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let mut plans = Vec::new();
    for s in &scenarios {
        let table = s.explore.as_ref();
        let family = a.strategy.or(table.map(|t| t.strategy));
        let runs = a.runs.or(table.and_then(|t| t.runs));
        let time = a.time.or(table.and_then(|t| t.time));
        let (Some(family), true) = (family, runs.is_some() || time.is_some()) else {
            eprintln!(
                "testbed explore: {}: give --strategy and --runs (or --time), or an [explore] \
                 table in the file",
                s.path.display()
            );
            return Ok(ExitCode::from(2));
        };
        plans.push(Plan {
            family,
            seed: a.seed,
            runs: runs.unwrap_or(u64::MAX),
            time: time.map(Duration::from_nanos),
            jobs: a.jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            }),
            partition: a.partition,
        });
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", a.out.display()))?;
    let stop = AtomicBool::new(false);
    let mut explored = Vec::new();
    let mut any = false;
    for (s, plan) in scenarios.iter().zip(&plans) {
        let bar = if a.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(if plan.runs == u64::MAX { 0 } else { plan.runs })
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} runs, {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(s.name.clone());
        let progress = |done: u64, failing: u64| {
            bar.set_position(done);
            let secs = bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{failing} failing, {:.0} runs/s",
                done as f64 / secs
            ));
        };
        let summary = search::explore(s, plan, &progress, &stop)?;
        bar.finish_and_clear();
        let windows = search::windows(s)?;
        println!(
            "{}: {} runs in {:.1} s ({:.0} runs/s on {} jobs), {} failing, {} distinct; \
             {} fine steps per run{}{}",
            s.name,
            summary.runs,
            summary.elapsed.as_secs_f64(),
            summary.runs as f64 / summary.elapsed.as_secs_f64().max(1e-3),
            plan.jobs,
            summary.failing,
            summary.distinct.len(),
            summary.steps,
            summary
                .space
                .map_or_else(String::new, |c| format!(", {c} schedules in all")),
            if summary.cut_short {
                ", stopped by the time budget"
            } else {
                ""
            }
        );
        if let Some((a, b)) = summary.sweep_window {
            println!(
                "  swept instructions {a}..{b} of the writer ({} of them) on every vCPU",
                b - a
            );
        }
        let mut failures = Vec::new();
        for (sig, f) in &summary.distinct {
            let opts = Options {
                inject: f.inject,
                ..search::options(s, f.strategy, &windows)
            };
            let rec = ReplayFile::record(s, a.cmdline.as_deref(), &f.strategy, &opts, &f.run)?;
            let path = a.out.join(replay_name(&s.name, sig));
            rec.write(&path)?;
            let what = match &f.inject {
                Some(i) => schedule::format_injection(i),
                None => schedule::format(&f.strategy),
            };
            println!(
                "  FAIL {sig}: run {} ({what})\n    {}\n    replay: {}",
                f.index,
                rec.failure.message,
                path.display()
            );
            failures.push((
                sig.clone(),
                rec.failure.message.clone(),
                rec.failure.report.clone(),
                path.display().to_string(),
            ));
        }
        any |= !failures.is_empty();
        explored.push(Explored {
            name: &s.name,
            path: s.path.display().to_string(),
            runs: summary.runs,
            elapsed: summary.elapsed,
            failures,
        });
    }
    if let Some(path) = &a.junit {
        let xml = explore_report(&explored).to_string()?;
        std::fs::write(path, xml)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if any {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads a replay file and prepares its run; a bad file is exit 2.
fn prepared(path: &Path) -> Result<(ReplayFile, scenarios::scenario::Scenario, Options), ExitCode> {
    let fail = |e: ReplayError| {
        eprintln!("testbed: {e}");
        ExitCode::from(2)
    };
    let file = ReplayFile::read(path).map_err(fail)?;
    let (s, opts) = file.prepare(path).map_err(fail)?;
    Ok((file, s, opts))
}

pub fn replay(path: &Path, timeline: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (file, s, mut opts) = match prepared(path) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let recorded = match file.schedule_log(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("testbed: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    opts.timeline = timeline.is_some();
    let run = runner::run_with(&s, &opts);
    match run.report.failures.first() {
        Some(f) => println!("{}: {f}", s.name),
        None => println!("{}: passed", s.name),
    }
    if let Some(c) = &run.crash {
        print!("{c}");
    }
    let digest = run.report.digest.clone().unwrap_or_default();
    println!("digest: {digest}");
    if let (Some(out), Some(t)) = (timeline, &run.timeline) {
        let hit = run.crash.as_ref().map(|c| Hit {
            vcpu: c.vcpu,
            at: c.when.now,
            what: scenarios::machine::crash_kind(c).0.to_string(),
        });
        let outcome = run.report.failures.first().map_or_else(
            || "passed".to_string(),
            |f| f.to_string().lines().next().unwrap_or_default().to_string(),
        );
        let schedule = file.inject.as_deref().unwrap_or(&file.strategy);
        let title = format!("{} — {schedule} — {outcome}", s.name);
        let svg = picture::svg(t, usize::from(s.boot.vcpus), hit.as_ref(), &title);
        std::fs::write(out, svg)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        println!("timeline: {}", out.display());
    }
    Ok(match compare(&recorded, &file, &run) {
        Verdict::Reproduced => {
            println!(
                "reproduced: {} and the recorded digest",
                file.failure.signature
            );
            ExitCode::SUCCESS
        }
        Verdict::Diverged {
            entry,
            expected,
            got,
        } => {
            println!(
                "diverged at schedule log entry {entry}: recorded {}, replayed {}",
                expected.map_or_else(|| "nothing".to_string(), |e| format!("{e:?}")),
                got.map_or_else(|| "nothing".to_string(), |e| format!("{e:?}"))
            );
            ExitCode::FAILURE
        }
        Verdict::Outcome { expected, got } => {
            println!("same schedule, another outcome: recorded {expected}, replayed {got}");
            ExitCode::FAILURE
        }
    })
}

pub fn minimise(path: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let (file, s, opts) = match prepared(path) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let m = match minimise::minimise(&s, &opts, &file.failure.signature) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("testbed minimise: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rec = ReplayFile::record(&s, file.cmdline.as_deref(), &m.strategy, &m.options, &m.run)?;
    rec.write(out)?;
    println!(
        "{} of {} events remain ({} injection(s), {} forced preemption(s)) after {} runs; \
         still {}\nschedule: {}\nwritten: {}",
        m.injections + m.preemptions,
        m.before,
        m.injections,
        m.preemptions,
        m.tests,
        rec.failure.signature,
        rec.strategy,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
