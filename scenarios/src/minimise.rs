//! `testbed minimise`: delta debugging (Zeller's ddmin) over a failing
//! run's events — the scenario's injections and the schedule's forced
//! preemptions (Bounded's preemption points, PCT's priority-change
//! points) — keeping only runs that fail the same way at the same place
//! (the same failure signature). Then canonicalisation: Bounded points
//! at which no switch happened are dropped. A subset of a schedule's
//! points is again a schedule of its family (Bounded by re-ranking, PCT
//! by its `drop` mask), so the result is an ordinary replay file.

use std::collections::BTreeSet;

use crate::machine::{bounded_index, Bounded, LogEntry, Pct, Snapshot, Strategy, Testbed};
use crate::runner::{self, Options, Run};
use crate::scenario::{Scenario, StepKind};

/// Why minimisation could not run.
#[derive(Debug, thiserror::Error)]
pub enum MinimiseError {
    /// The machine failed to boot or restore.
    #[error("the machine failed: {0}")]
    Machine(String),
    /// The recorded run does not fail (or not the recorded way) any more.
    #[error("the recorded run does not reproduce its failure `{0}`: nothing to minimise")]
    NotFailing(String),
    /// The schedule is not one minimisation can take apart.
    #[error("schedule {0}: its decisions cannot be taken apart")]
    Schedule(String),
}

/// One event that can be left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A scenario step (an injection), 0-based.
    Step(usize),
    /// A forced preemption: the i-th point of the original schedule.
    Point(usize),
}

/// The result.
pub struct Minimised {
    /// The schedule kept.
    pub strategy: Strategy,
    /// The options of the kept run (steps left out, windows).
    pub options: Options,
    /// The kept run (fails with the same signature).
    pub run: Run,
    /// Events before.
    pub before: usize,
    /// Injections left.
    pub injections: usize,
    /// Forced preemptions left.
    pub preemptions: usize,
    /// Runs made.
    pub tests: usize,
}

/// The forced-preemption points of a schedule, in a family-specific form.
enum Points {
    None,
    Bounded {
        max: u32,
        steps: u64,
        points: Vec<(u64, u64)>,
    },
    Pct {
        seed: u64,
        depth: u32,
        steps: u64,
        /// (index among the drawn points, fine step).
        points: Vec<(u32, u64)>,
    },
}

impl Points {
    fn of(s: &Strategy, vcpus: usize) -> Result<Points, MinimiseError> {
        let bad = || MinimiseError::Schedule(crate::schedule::format(s));
        Ok(match *s {
            Strategy::Random { .. } | Strategy::RoundRobin { .. } => Points::None,
            Strategy::Bounded {
                max_preemptions,
                steps,
                index,
            } => Points::Bounded {
                max: max_preemptions,
                steps,
                points: Bounded::new(max_preemptions, steps, index, vcpus)
                    .map_err(|_| bad())?
                    .points()
                    .to_vec(),
            },
            Strategy::Pct {
                seed,
                depth,
                steps,
                drop,
            } => Points::Pct {
                seed,
                depth,
                steps,
                points: Pct::new(seed, depth, steps, vcpus)
                    .map_err(|_| bad())?
                    .without(drop)
                    .change_points(),
            },
        })
    }

    fn len(&self) -> usize {
        match self {
            Points::None => 0,
            Points::Bounded { points, .. } => points.len(),
            Points::Pct { points, .. } => points.len(),
        }
    }

    /// The schedule with only the points in `keep`.
    fn with(&self, original: &Strategy, vcpus: usize, keep: &BTreeSet<usize>) -> Strategy {
        match self {
            Points::None => *original,
            Points::Bounded { max, steps, points } => {
                let kept: Vec<(u64, u64)> = keep.iter().map(|&i| points[i]).collect();
                // A subset of valid points is always a valid schedule.
                let index = bounded_index(*max, *steps, vcpus, &kept).unwrap_or(0);
                Strategy::Bounded {
                    max_preemptions: *max,
                    steps: *steps,
                    index,
                }
            }
            Points::Pct {
                seed,
                depth,
                steps,
                points,
            } => {
                let mut drop = 0u64;
                for (i, &(bit, _)) in points.iter().enumerate() {
                    if !keep.contains(&i) && bit < 64 {
                        drop |= 1 << bit;
                    }
                }
                if let Strategy::Pct { drop: d0, .. } = original {
                    drop |= d0;
                }
                Strategy::Pct {
                    seed: *seed,
                    depth: *depth,
                    steps: *steps,
                    drop,
                }
            }
        }
    }
}

struct Tester<'a> {
    s: &'a Scenario,
    tb: Option<Testbed>,
    snap: Snapshot,
    signature: String,
    original: Strategy,
    points: Points,
    base: Options,
    tests: usize,
}

impl Tester<'_> {
    fn options(&self, keep: &BTreeSet<Event>) -> (Strategy, Options) {
        let vcpus = usize::from(self.s.boot.vcpus);
        let pts: BTreeSet<usize> = keep
            .iter()
            .filter_map(|e| match e {
                Event::Point(i) => Some(*i),
                Event::Step(_) => None,
            })
            .collect();
        let strategy = self.points.with(&self.original, vcpus, &pts);
        let mut skip = self.base.skip.clone();
        for (i, st) in self.s.steps.iter().enumerate() {
            if matches!(st.kind, StepKind::Inject { .. }) && !keep.contains(&Event::Step(i)) {
                skip.insert(i);
            }
        }
        let opts = Options {
            strategy: Some(strategy),
            windows: self.base.windows.clone(),
            skip,
            timeline: false,
            fork: self.base.fork,
            lean: false,
            probes: Vec::new(),
            inject: self.base.inject,
        };
        (strategy, opts)
    }

    /// Runs with only `keep`; the run when it fails the same way.
    fn test(&mut self, keep: &BTreeSet<Event>) -> Result<Option<Run>, MinimiseError> {
        let (_, opts) = self.options(keep);
        let Some(mut tb) = self.tb.take() else {
            return Err(MinimiseError::Machine("no machine".into()));
        };
        tb.restore(&self.snap)
            .map_err(|e| MinimiseError::Machine(e.to_string()))?;
        let (run, back) = runner::run_booted(self.s, tb, &opts);
        self.tb = Some(back);
        self.tests += 1;
        let same = run
            .report
            .failures
            .first()
            .is_some_and(|f| f.signature() == self.signature);
        Ok(same.then_some(run))
    }
}

/// Minimises the failing run of `s` under `opts` (its schedule in
/// `opts.strategy`) whose failure has `signature`.
pub fn minimise(s: &Scenario, opts: &Options, signature: &str) -> Result<Minimised, MinimiseError> {
    let machine = |e: String| MinimiseError::Machine(e);
    let original = opts
        .strategy
        .ok_or_else(|| MinimiseError::Schedule("none".into()))?;
    let vcpus = usize::from(s.boot.vcpus);
    let points = Points::of(&original, vcpus)?;
    let mut tb = runner::boot(s).map_err(|f| machine(f.to_string()))?;
    let snap = tb.snapshot().map_err(|e| machine(e.to_string()))?;
    let mut t = Tester {
        s,
        tb: Some(tb),
        snap,
        signature: signature.to_string(),
        original,
        points,
        base: opts.clone(),
        tests: 0,
    };
    let mut all: Vec<Event> = (0..t.points.len()).map(Event::Point).collect();
    all.extend(
        s.steps
            .iter()
            .enumerate()
            .filter(|(i, st)| matches!(st.kind, StepKind::Inject { .. }) && !opts.skip.contains(i))
            .map(|(i, _)| Event::Step(i)),
    );
    let before = all.len();
    let full: BTreeSet<Event> = all.iter().copied().collect();
    let Some(mut best) = t.test(&full)? else {
        return Err(MinimiseError::NotFailing(signature.to_string()));
    };
    let mut kept = ddmin(&mut t, all, &mut best)?;
    // Canonicalise: a Bounded point where no switch happened is a no-op.
    if let Points::Bounded { points, .. } = &t.points {
        let switched: BTreeSet<u64> = best
            .log
            .iter()
            .flat_map(|l| &l.entries)
            .filter_map(|e| match e {
                LogEntry::Preempt { preemption, .. } => Some(preemption.step),
                _ => None,
            })
            .collect();
        let noop: Vec<Event> = kept
            .iter()
            .copied()
            .filter(|e| matches!(e, Event::Point(i) if !switched.contains(&points[*i].0)))
            .collect();
        if !noop.is_empty() {
            let fewer: Vec<Event> = kept.iter().copied().filter(|e| !noop.contains(e)).collect();
            if let Some(run) = t.test(&fewer.iter().copied().collect())? {
                kept = fewer;
                best = run;
            }
        }
    }
    let keep: BTreeSet<Event> = kept.iter().copied().collect();
    let (strategy, options) = t.options(&keep);
    Ok(Minimised {
        strategy,
        options,
        run: best,
        before,
        injections: kept.iter().filter(|e| matches!(e, Event::Step(_))).count(),
        preemptions: kept.iter().filter(|e| matches!(e, Event::Point(_))).count(),
        tests: t.tests,
    })
}

/// ddmin: a 1-minimal subset of `c` that still fails; `best` becomes its
/// run.
fn ddmin(t: &mut Tester, mut c: Vec<Event>, best: &mut Run) -> Result<Vec<Event>, MinimiseError> {
    if let Some(run) = t.test(&BTreeSet::new())? {
        *best = run;
        return Ok(Vec::new());
    }
    let mut n = 2usize;
    while c.len() >= 2 {
        let chunk = c.len().div_ceil(n);
        let parts: Vec<Vec<Event>> = c.chunks(chunk).map(<[Event]>::to_vec).collect();
        let mut reduced = false;
        for p in &parts {
            if let Some(run) = t.test(&p.iter().copied().collect())? {
                c = p.clone();
                *best = run;
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && parts.len() > 2 {
            for p in &parts {
                let rest: Vec<Event> = c.iter().copied().filter(|e| !p.contains(e)).collect();
                if let Some(run) = t.test(&rest.iter().copied().collect())? {
                    c = rest;
                    *best = run;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= c.len() {
                break;
            }
            n = (2 * n).min(c.len());
        }
    }
    Ok(c)
}
