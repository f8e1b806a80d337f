//! `testbed explore`: many schedules of one scenario, one machine per
//! thread (a machine is single-threaded; parallelism is many machines).
//! Each thread boots the scenario once, takes a snapshot after the boot,
//! and for every run restores it and installs the run's schedule (SKI's
//! fork from one state). Run `i` has a schedule that depends only on
//! `i`, so which thread takes it does not matter, and a partition of the
//! indices splits the work between CI runners exactly.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::explore::Strategy as Family;
use crate::machine::{symbol_range, Probe, Strategy};
use crate::partition::Partition;
use crate::runner::{self, Injection, Options, Run};
use crate::scenario::Scenario;
use crate::schedule;

/// Why an exploration could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The scenario's machine failed before the first step.
    #[error("the machine failed while booting: {0}")]
    Boot(String),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
    /// A window names a symbol the image lacks (checked at load, so only
    /// an image changed underneath).
    #[error("no symbol `{0}` in the image")]
    NoSymbol(String),
    /// A sweep whose probe run never wrote a patch or never reached the
    /// window's end.
    #[error("the sweep's first run on vCPU {of} {what}: no window to sweep")]
    NoSweepWindow {
        /// The writer.
        of: usize,
        /// What it did not do.
        what: &'static str,
    },
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The strategy family.
    pub family: Family,
    /// Seed of the family's runs.
    pub seed: u64,
    /// At most this many runs (indices `0..runs`, before partitioning).
    pub runs: u64,
    /// At most this much host time.
    pub time: Option<Duration>,
    /// Threads, one machine each.
    pub jobs: usize,
    /// This runner's share of the indices.
    pub partition: Option<Partition>,
}

/// A failing run.
pub struct Found {
    /// The run's index.
    pub index: u64,
    /// Its schedule.
    pub strategy: Strategy,
    /// Its injection (a sweep's run).
    pub inject: Option<Injection>,
    /// The run.
    pub run: Run,
}

/// What an exploration found.
pub struct Summary {
    /// Runs made.
    pub runs: u64,
    /// Their indices, ascending.
    pub ran: Vec<u64>,
    /// Runs that failed.
    pub failing: u64,
    /// One run per distinct failure (by signature), the lowest index of
    /// each.
    pub distinct: Vec<(String, Found)>,
    /// Fine steps of the first run (what PCT and Bounded draw over).
    pub steps: u64,
    /// How many schedules the family has (`None`: unbounded).
    pub space: Option<u64>,
    /// Host time.
    pub elapsed: Duration,
    /// The budget ran out before the indices did (time, or a stop).
    pub cut_short: bool,
    /// A sweep's window: the writer's retired counts at its first patch
    /// write and at the end (with the tail).
    pub sweep_window: Option<(u64, u64)>,
}

/// The race windows of `s`'s `[explore]` table, as address ranges.
pub fn windows(s: &Scenario) -> Result<Vec<(u64, u64)>, SearchError> {
    let Some(e) = &s.explore else {
        return Ok(Vec::new());
    };
    e.windows
        .iter()
        .map(|w| {
            let (a, _) = symbol_range(&s.image, &w.symbol)
                .ok_or_else(|| SearchError::NoSymbol(w.symbol.clone()))?;
            Ok((a + w.from, a + w.to))
        })
        .collect()
}

/// The step `s`'s schedules fork before.
fn fork(s: &Scenario) -> usize {
    s.explore.as_ref().map_or(0, |e| e.fork)
}

/// The run options of schedule `strategy` of `s`.
pub fn options(s: &Scenario, strategy: Strategy, windows: &[(u64, u64)]) -> Options {
    Options {
        strategy: Some(strategy),
        windows: windows.to_vec(),
        fork: fork(s),
        ..Options::default()
    }
}

/// Explores `s` by `plan`; `progress(runs, failing)` is called after each
/// run; setting `stop` ends the exploration after the runs in flight.
pub fn explore(
    s: &Scenario,
    plan: &Plan,
    progress: &(dyn Fn(u64, u64) + Sync),
    stop: &AtomicBool,
) -> Result<Summary, SearchError> {
    let started = Instant::now();
    let windows = windows(s)?;
    let vcpus = usize::from(s.boot.vcpus);
    // A first run, without forced preemptions, learns how many fine steps
    // the windows hold (as shuttle and Coyote learn PCT's k).
    let base = schedule::BASE;
    let sweep = s.explore.as_ref().and_then(|e| e.sweep.clone());
    let mut first_opts = options(s, base, &windows);
    if let Some(sw) = &sweep {
        first_opts.probes = vec![
            Probe::FirstTextWrite { vcpu: sw.of },
            Probe::Reach {
                vcpu: sw.of,
                symbol: sw.to.clone(),
            },
        ];
    }
    let first = runner::run_with(s, &first_opts);
    if first.log.is_none() {
        let why = first
            .report
            .failures
            .first()
            .map_or_else(String::new, ToString::to_string);
        return Err(SearchError::Boot(why));
    }
    let steps = first.fine_steps.max(1);
    let sweep_window = match &sweep {
        Some(sw) if plan.family == Family::Sweep => {
            let (Some(Some(from)), Some(Some(to))) = (first.probes.first(), first.probes.get(1))
            else {
                let what = if first.probes.first().is_some_and(Option::is_some) {
                    "never reached the window's end"
                } else {
                    "never wrote a patch site"
                };
                return Err(SearchError::NoSweepWindow { of: sw.of, what });
            };
            Some((*from, (*to + sw.tail).max(*from + 1)))
        }
        _ => None,
    };
    let space = match sweep_window {
        Some((a, b)) => Some((b - a) * vcpus as u64),
        None => schedule::count(plan.family, steps, vcpus),
    };
    let last = space.map_or(plan.runs, |c| c.min(plan.runs));
    let mine = |i: u64| {
        plan.partition
            .is_none_or(|p| i % p.count as u64 == p.index as u64 - 1)
    };
    let next = AtomicU64::new(0);
    let failing = AtomicU64::new(0);
    let cut = AtomicBool::new(false);
    let found: Mutex<BTreeMap<String, Found>> = Mutex::new(BTreeMap::new());
    let ran: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.jobs.max(1))
        .build()?;
    let boot_error: Mutex<Option<String>> = Mutex::new(None);
    pool.scope(|scope| {
        for _ in 0..plan.jobs.max(1) {
            scope.spawn(|_| {
                let tb = match runner::boot(s) {
                    Ok(tb) => tb,
                    Err(f) => {
                        *lock(&boot_error) = Some(f.to_string());
                        return;
                    }
                };
                // The steps before the fork run once; every run goes on
                // from the machine and the progress there.
                let (prefix, mut tb) = runner::advance(
                    s,
                    tb,
                    runner::Progress::default(),
                    fork(s),
                    &Default::default(),
                );
                if prefix.ended() {
                    *lock(&boot_error) = Some(format!(
                        "the scenario fails before its fork point: {}",
                        prefix
                            .first_failure()
                            .map_or_else(String::new, ToString::to_string)
                    ));
                    return;
                }
                let snap = match tb.snapshot() {
                    Ok(snap) => snap,
                    Err(e) => {
                        *lock(&boot_error) = Some(e.to_string());
                        return;
                    }
                };
                loop {
                    let out_of_time = plan.time.is_some_and(|t| started.elapsed() >= t);
                    if out_of_time || stop.load(Ordering::Relaxed) {
                        cut.store(true, Ordering::Relaxed);
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= last {
                        return;
                    }
                    if !mine(i) {
                        continue;
                    }
                    let Some(strategy) = schedule::nth(plan.family, plan.seed, steps, vcpus, i)
                    else {
                        return;
                    };
                    if let Err(e) = tb.restore(&snap) {
                        *lock(&boot_error) = Some(e.to_string());
                        return;
                    }
                    let inject = match (&sweep, sweep_window) {
                        (Some(sw), Some((from, _))) => Some(Injection {
                            vcpu: (i % vcpus as u64) as usize,
                            event: sw.event,
                            of: sw.of,
                            count: from + i / vcpus as u64,
                        }),
                        _ => None,
                    };
                    let opts = Options {
                        lean: true,
                        inject,
                        ..options(s, strategy, &windows)
                    };
                    let (run, back) = runner::run_from(s, tb, prefix.clone(), &opts);
                    tb = back;
                    let failed = !run.report.passed();
                    if failed {
                        failing.fetch_add(1, Ordering::Relaxed);
                        let sig = run.report.failures[0].signature();
                        let keep = |f: &BTreeMap<String, Found>| {
                            f.get(&sig).is_none_or(|old| old.index > i)
                        };
                        if !keep(&lock(&found)) {
                            progress_ran(&ran, &failing, &progress, i);
                            continue;
                        }
                        // Kept: run it again with its log and digest (the
                        // run is a function of its schedule).
                        if let Err(e) = tb.restore(&snap) {
                            *lock(&boot_error) = Some(e.to_string());
                            return;
                        }
                        let whole = Options {
                            lean: false,
                            ..opts
                        };
                        let (run, back) = runner::run_from(s, tb, prefix.clone(), &whole);
                        tb = back;
                        let mut f = lock(&found);
                        if keep(&f) {
                            f.insert(
                                sig,
                                Found {
                                    index: i,
                                    strategy,
                                    inject,
                                    run,
                                },
                            );
                        }
                    }
                    progress_ran(&ran, &failing, &progress, i);
                }
            });
        }
    });
    if let Some(e) = lock(&boot_error).take() {
        return Err(SearchError::Boot(e));
    }
    let distinct = found
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .collect();
    let mut ran = ran
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ran.sort_unstable();
    Ok(Summary {
        runs: ran.len() as u64,
        ran,
        failing: failing.load(Ordering::Relaxed),
        distinct,
        steps,
        space,
        elapsed: started.elapsed(),
        cut_short: cut.load(Ordering::Relaxed),
        sweep_window,
    })
}

/// Counts run `i` as done and updates the progress.
fn progress_ran(
    ran: &Mutex<Vec<u64>>,
    failing: &AtomicU64,
    progress: &(dyn Fn(u64, u64) + Sync),
    i: u64,
) {
    let n = {
        let mut r = lock(ran);
        r.push(i);
        r.len() as u64
    };
    progress(n, failing.load(Ordering::Relaxed));
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
