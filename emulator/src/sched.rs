//! Who runs next. The machine runs in rounds; each round gives every
//! eligible vCPU one slot, and before each slot it asks the [`Scheduler`]
//! which vCPU takes it and for how many instructions. Inside race windows
//! ("fine" rounds) a slot is one instruction and virtual time advances by
//! 1 ns per round; elsewhere a slot is a coarse quantum.
//!
//! Strategies: [`Random`] (the default), [`RoundRobin`], [`Pct`]
//! (probabilistic concurrency testing over vCPUs), [`Bounded`] (every
//! schedule with at most k forced preemptions inside the windows, by a
//! stable index). Replay is the strategy of a recorded log, re-created from
//! its description, with the log's decisions checked as it goes.
//!
//! In fine rounds the non-preemptive strategies (PCT, Bounded) keep
//! running one vCPU; a vCPU that executes `pause` (a spin-loop hint)
//! yields until the other eligible vCPUs have had their turn, as a
//! spinning thread yields in shuttle or CHESS.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What the machine tells the scheduler before a slot.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// Index of the round.
    pub round: u64,
    /// Index of this slot in the round (0 for the first).
    pub slot: usize,
    /// Instruction-granular round (inside a window).
    pub fine: bool,
    /// Most instructions a coarse slot may have.
    pub quantum: u64,
    /// vCPUs that can run, ascending, never empty.
    pub eligible: &'a [usize],
    /// Fine slots run since this scheduler was installed.
    pub fine_steps: u64,
}

/// A slot: who runs and for how many instructions (1 in fine rounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The vCPU.
    pub vcpu: usize,
    /// Instructions.
    pub insns: u64,
}

/// A decision the strategy's seed alone does not imply: a forced switch
/// away from a vCPU that could have gone on (logged, and checked on
/// replay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preemption {
    /// Fine step at which it happened.
    pub step: u64,
    /// The vCPU preempted.
    pub from: usize,
    /// The vCPU that ran instead.
    pub to: usize,
}

/// Chooses the vCPU of each slot.
pub trait Scheduler {
    /// The description this scheduler was built from.
    fn strategy(&self) -> Strategy;
    /// The slot to run next. `view.eligible` is never empty; the result's
    /// vCPU must be one of them.
    fn next(&mut self, view: &View) -> Slot;
    /// After a slot: whether the vCPU executed `pause` (it yields).
    fn ran(&mut self, _vcpu: usize, _paused: bool) {}
    /// Forced preemptions made since the last call.
    fn take_preemptions(&mut self) -> Vec<Preemption> {
        Vec::new()
    }
    /// A copy, for snapshots.
    fn clone_box(&self) -> Box<dyn Scheduler>;
}

/// Errors of strategy descriptions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchedError {
    /// A parameter is out of range.
    #[error("{strategy}: {what}")]
    Parameter {
        /// The strategy.
        strategy: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// A Bounded index beyond the enumeration.
    #[error("schedule {index} does not exist: Bounded has {count} schedules")]
    Index {
        /// The index asked for.
        index: u64,
        /// How many there are.
        count: u64,
    },
}

/// A strategy as data: what the schedule log records and replay rebuilds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Strategy {
    /// Shuffled order and random coarse slot lengths in [Q/2, Q].
    Random {
        /// The seed.
        seed: u64,
    },
    /// vCPUs in order, `quantum` instructions each.
    RoundRobin {
        /// Instructions per coarse slot.
        quantum: u64,
    },
    /// PCT: random priorities, `depth - 1` priority-change points over the
    /// first `steps` fine steps.
    Pct {
        /// The seed.
        seed: u64,
        /// The bug depth searched for (>= 1).
        depth: u32,
        /// Fine steps of a run (from a first run), over which change
        /// points are drawn.
        steps: u64,
        /// Change points left out, as a bit mask over the drawn points in
        /// ascending order (bit i: the i-th): what minimisation removes.
        #[serde(default, skip_serializing_if = "is_zero")]
        drop: u64,
    },
    /// Schedule `index` of all schedules with at most `max_preemptions`
    /// forced preemptions among the first `steps` fine steps.
    Bounded {
        /// The bound k.
        max_preemptions: u32,
        /// Fine steps of the base schedule's run.
        steps: u64,
        /// Which schedule, 0 = no preemption.
        index: u64,
    },
}

impl Strategy {
    /// Builds the scheduler for a machine of `vcpus` vCPUs.
    pub fn build(&self, vcpus: usize) -> Result<Box<dyn Scheduler>, SchedError> {
        Ok(match *self {
            Strategy::Random { seed } => Box::new(Random::new(seed)),
            Strategy::RoundRobin { quantum } => {
                if quantum == 0 {
                    return Err(SchedError::Parameter {
                        strategy: "round_robin",
                        what: "quantum must be at least 1",
                    });
                }
                Box::new(RoundRobin { quantum })
            }
            Strategy::Pct {
                seed,
                depth,
                steps,
                drop,
            } => Box::new(Pct::new(seed, depth, steps, vcpus)?.without(drop)),
            Strategy::Bounded {
                max_preemptions,
                steps,
                index,
            } => Box::new(Bounded::new(max_preemptions, steps, index, vcpus)?),
        })
    }
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// Today's default: every round shuffles the eligible vCPUs; coarse slots
/// have a seeded length in [Q/2, Q].
#[derive(Clone, Debug)]
pub struct Random {
    seed: u64,
    rng: ChaCha8Rng,
    order: Vec<usize>,
}

impl Random {
    /// A random scheduler with `seed`.
    pub fn new(seed: u64) -> Random {
        Random {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            order: Vec::new(),
        }
    }
}

impl Scheduler for Random {
    fn strategy(&self) -> Strategy {
        Strategy::Random { seed: self.seed }
    }

    fn next(&mut self, view: &View) -> Slot {
        if view.slot == 0 {
            self.order.clear();
            self.order.extend_from_slice(view.eligible);
            self.order.shuffle(&mut self.rng);
        }
        let vcpu = self
            .order
            .get(view.slot)
            .copied()
            .unwrap_or(view.eligible[0]);
        let insns = if view.fine {
            1
        } else {
            self.rng.gen_range(view.quantum / 2..=view.quantum)
        };
        Slot { vcpu, insns }
    }

    fn clone_box(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

/// vCPUs in ascending order, a fixed quantum each.
#[derive(Clone, Debug)]
pub struct RoundRobin {
    quantum: u64,
}

impl Scheduler for RoundRobin {
    fn strategy(&self) -> Strategy {
        Strategy::RoundRobin {
            quantum: self.quantum,
        }
    }

    fn next(&mut self, view: &View) -> Slot {
        let vcpu = view.eligible[view.slot % view.eligible.len()];
        let insns = if view.fine {
            1
        } else {
            self.quantum.min(view.quantum)
        };
        Slot { vcpu, insns }
    }

    fn clone_box(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

/// Which vCPUs yielded (executed `pause`) since everyone last had a turn.
#[derive(Clone, Debug, Default)]
struct Yields(u64);

impl Yields {
    fn set(&mut self, v: usize) {
        self.0 |= 1 << v;
    }

    fn has(&self, v: usize) -> bool {
        self.0 & (1 << v) != 0
    }

    /// The eligible vCPUs that did not yield; when all did, all again.
    fn open<'a>(&mut self, eligible: &'a [usize]) -> impl Iterator<Item = usize> + 'a {
        if eligible.iter().all(|&v| self.has(v)) {
            self.0 = 0;
        }
        let y = self.0;
        eligible.iter().copied().filter(move |&v| y & (1 << v) == 0)
    }
}

/// PCT over vCPUs (Burckhardt et al., ASPLOS 2010): random distinct
/// priorities; in fine rounds the highest-priority vCPU that has not
/// yielded runs; at each of `depth - 1` change points, drawn uniformly
/// over the first `steps` fine steps, the running vCPU drops below every
/// initial priority. A bug of depth d among n vCPUs and k steps is found
/// with probability at least 1 / (n * k^(d-1)) per run.
#[derive(Clone, Debug)]
pub struct Pct {
    seed: u64,
    depth: u32,
    steps: u64,
    drop: u64,
    prio: Vec<u64>,
    changes: Vec<u64>,
    yields: Yields,
    made: Vec<Preemption>,
}

impl Pct {
    /// PCT with `seed`, bug depth `depth` and `steps` fine steps per run.
    pub fn new(seed: u64, depth: u32, steps: u64, vcpus: usize) -> Result<Pct, SchedError> {
        if depth == 0 {
            return Err(SchedError::Parameter {
                strategy: "pct",
                what: "depth must be at least 1",
            });
        }
        if steps == 0 {
            return Err(SchedError::Parameter {
                strategy: "pct",
                what: "steps must be at least 1",
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<u64> = (0..vcpus as u64).collect();
        order.shuffle(&mut rng);
        // Initial priorities depth .. depth + n; change points take
        // depth - 1 .. 1 (lower than all of them).
        let prio = order.iter().map(|&p| u64::from(depth) + p).collect();
        let mut changes: Vec<u64> = (1..depth).map(|_| rng.gen_range(0..steps)).collect();
        changes.sort_unstable();
        Ok(Pct {
            seed,
            depth,
            steps,
            drop: 0,
            prio,
            changes,
            yields: Yields::default(),
            made: Vec::new(),
        })
    }

    /// The same schedule without the change points in `drop` (bit i: the
    /// i-th point in ascending order; the priorities they would have given
    /// are not given).
    pub fn without(mut self, drop: u64) -> Pct {
        self.drop = drop;
        let mut i = 0;
        self.changes.retain(|_| {
            let keep = i >= 64 || drop & (1 << i) == 0;
            i += 1;
            keep
        });
        self
    }

    /// The change points left, ascending, with their index among the drawn
    /// ones (what [`Strategy::Pct`]'s `drop` bits name).
    pub fn change_points(&self) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut k = self.changes.iter();
        let mut next = k.next();
        for i in 0..self.depth.saturating_sub(1) {
            if i < 64 && self.drop & (1 << i) != 0 {
                continue;
            }
            match next {
                Some(&c) => {
                    out.push((i, c));
                    next = k.next();
                }
                None => break,
            }
        }
        out
    }

    fn highest(&mut self, eligible: &[usize]) -> usize {
        let prio = &self.prio;
        self.yields
            .open(eligible)
            .max_by_key(|&v| prio.get(v).copied().unwrap_or(0))
            .unwrap_or(eligible[0])
    }
}

impl Scheduler for Pct {
    fn strategy(&self) -> Strategy {
        Strategy::Pct {
            seed: self.seed,
            depth: self.depth,
            steps: self.steps,
            drop: self.drop,
        }
    }

    fn next(&mut self, view: &View) -> Slot {
        if !view.fine {
            let mut order = view.eligible.to_vec();
            order.sort_by_key(|&v| std::cmp::Reverse(self.prio.get(v).copied().unwrap_or(0)));
            return Slot {
                vcpu: order[view.slot % order.len()],
                insns: view.quantum,
            };
        }
        let mut v = self.highest(view.eligible);
        // Change points met at this step lower the vCPU about to run.
        let mut lowered = false;
        while let Some(i) = self.changes.iter().position(|&c| c == view.fine_steps) {
            let left = self.changes.len() as u64;
            self.changes.remove(i);
            if let Some(p) = self.prio.get_mut(v) {
                *p = left;
            }
            lowered = true;
        }
        if lowered {
            let before = v;
            v = self.highest(view.eligible);
            if v != before {
                self.made.push(Preemption {
                    step: view.fine_steps,
                    from: before,
                    to: v,
                });
            }
        }
        Slot { vcpu: v, insns: 1 }
    }

    fn ran(&mut self, vcpu: usize, paused: bool) {
        if paused {
            self.yields.set(vcpu);
        }
    }

    fn take_preemptions(&mut self) -> Vec<Preemption> {
        std::mem::take(&mut self.made)
    }

    fn clone_box(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

/// Number of ways to choose `k` of `n` (saturating).
pub fn choose(n: u64, k: u64) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        r = r * u128::from(n - i) / u128::from(i + 1);
        if r > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    r as u64
}

/// How many schedules [`Bounded`] enumerates: for j = 0..=k preemptions,
/// C(steps, j) sets of points times (vcpus - 1)^j choices of who runs.
pub fn bounded_count(max_preemptions: u32, steps: u64, vcpus: usize) -> u64 {
    let others = vcpus.saturating_sub(1) as u64;
    (0..=u64::from(max_preemptions))
        .map(|j| choose(steps, j).saturating_mul(others.saturating_pow(j as u32)))
        .fold(0u64, u64::saturating_add)
}

/// Preemption bounding (CHESS): the base schedule runs the current vCPU
/// until it yields (`pause`) or stops being eligible, then the next
/// eligible vCPU in ascending cyclic order; schedule `index` adds a fixed
/// set of forced preemptions, each at a fine step and to the o-th other
/// eligible vCPU. Schedules are numbered by preemption count, then by the
/// set of steps (combinatorial number system), then by the targets.
#[derive(Clone, Debug)]
pub struct Bounded {
    max_preemptions: u32,
    steps: u64,
    index: u64,
    /// (step, which other vCPU: 0-based offset after the current one).
    points: Vec<(u64, u64)>,
    yields: Yields,
    current: Option<usize>,
    made: Vec<Preemption>,
}

impl Bounded {
    /// Schedule `index` of [`bounded_count`]`(max_preemptions, steps, vcpus)`.
    pub fn new(
        max_preemptions: u32,
        steps: u64,
        index: u64,
        vcpus: usize,
    ) -> Result<Bounded, SchedError> {
        let count = bounded_count(max_preemptions, steps, vcpus);
        if index >= count {
            return Err(SchedError::Index { index, count });
        }
        let others = vcpus.saturating_sub(1) as u64;
        let mut rest = index;
        let mut points = Vec::new();
        for j in 0..=u64::from(max_preemptions) {
            let block = choose(steps, j).saturating_mul(others.saturating_pow(j as u32));
            if rest >= block {
                rest -= block;
                continue;
            }
            let per_set = others.saturating_pow(j as u32).max(1);
            let set = rest / per_set;
            let mut targets = rest % per_set;
            let chosen = unrank_combination(set, steps, j);
            for s in chosen {
                let o = targets.checked_rem(others).unwrap_or(0);
                targets = targets.checked_div(others).unwrap_or(0);
                points.push((s, o));
            }
            break;
        }
        Ok(Bounded {
            max_preemptions,
            steps,
            index,
            points,
            yields: Yields::default(),
            current: None,
            made: Vec::new(),
        })
    }

    /// The forced preemptions of this schedule: (fine step, target offset).
    pub fn points(&self) -> &[(u64, u64)] {
        &self.points
    }
}

/// The index of the [`Bounded`] schedule whose forced preemptions are
/// `points` ((fine step, target offset), steps distinct and below `steps`,
/// offsets below `vcpus - 1`): the inverse of [`Bounded::new`]'s decoding,
/// so a subset of a schedule's preemptions is a schedule again. `None`
/// when a point is out of range or there are more than `max_preemptions`.
pub fn bounded_index(
    max_preemptions: u32,
    steps: u64,
    vcpus: usize,
    points: &[(u64, u64)],
) -> Option<u64> {
    let others = vcpus.saturating_sub(1) as u64;
    let j = points.len() as u64;
    if j > u64::from(max_preemptions) {
        return None;
    }
    let mut sorted = points.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0].0 == w[1].0)
        || sorted.iter().any(|&(s, o)| s >= steps || o >= others)
    {
        return None;
    }
    let below: u64 = (0..j)
        .map(|i| choose(steps, i).saturating_mul(others.saturating_pow(i as u32)))
        .fold(0, u64::saturating_add);
    let set: u64 = sorted
        .iter()
        .enumerate()
        .map(|(i, &(s, _))| choose(s, i as u64 + 1))
        .fold(0, u64::saturating_add);
    let targets = sorted.iter().rev().fold(0u64, |acc, &(_, o)| {
        acc.saturating_mul(others).saturating_add(o)
    });
    let per_set = others.saturating_pow(j as u32).max(1);
    Some(
        below
            .saturating_add(set.saturating_mul(per_set))
            .saturating_add(targets),
    )
}

/// The `rank`-th k-subset of 0..n in colexicographic order, ascending.
fn unrank_combination(mut rank: u64, n: u64, k: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(k as usize);
    let mut hi = n;
    for i in (1..=k).rev() {
        // Largest c < hi with C(c, i) <= rank.
        let mut c = i - 1;
        let (mut lo_c, mut hi_c) = (i - 1, hi - 1);
        while lo_c <= hi_c {
            let mid = lo_c + (hi_c - lo_c) / 2;
            if choose(mid, i) <= rank {
                c = mid;
                lo_c = mid + 1;
            } else if mid == 0 {
                break;
            } else {
                hi_c = mid - 1;
            }
        }
        rank -= choose(c, i);
        out.push(c);
        hi = c;
    }
    out.reverse();
    out
}

impl Scheduler for Bounded {
    fn strategy(&self) -> Strategy {
        Strategy::Bounded {
            max_preemptions: self.max_preemptions,
            steps: self.steps,
            index: self.index,
        }
    }

    fn next(&mut self, view: &View) -> Slot {
        if !view.fine {
            return Slot {
                vcpu: view.eligible[view.slot % view.eligible.len()],
                insns: view.quantum,
            };
        }
        let eligible = view.eligible;
        let open: Vec<usize> = self.yields.open(eligible).collect();
        let cur = self
            .current
            .filter(|c| open.contains(c))
            .unwrap_or_else(|| {
                // Next open vCPU after the previous one, cyclically.
                let after = self.current.unwrap_or(usize::MAX);
                open.iter()
                    .copied()
                    .find(|&v| v > after || after == usize::MAX)
                    .unwrap_or(open.first().copied().unwrap_or(eligible[0]))
            });
        let mut v = cur;
        if let Some(&(_, o)) = self.points.iter().find(|&&(s, _)| s == view.fine_steps) {
            let others: Vec<usize> = eligible.iter().copied().filter(|&x| x != cur).collect();
            if !others.is_empty() {
                let pos = others.iter().position(|&x| x > cur).unwrap_or(0);
                v = others[(pos + o as usize) % others.len()];
                self.made.push(Preemption {
                    step: view.fine_steps,
                    from: cur,
                    to: v,
                });
            }
        }
        self.current = Some(v);
        Slot { vcpu: v, insns: 1 }
    }

    fn ran(&mut self, vcpu: usize, paused: bool) {
        if paused {
            self.yields.set(vcpu);
        }
    }

    fn take_preemptions(&mut self) -> Vec<Preemption> {
        std::mem::take(&mut self.made)
    }

    fn clone_box(&self) -> Box<dyn Scheduler> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_counts_and_unranks_every_schedule_once() {
        // 2 vCPUs, 4 steps: 1 + 4 + 6 schedules for k = 2.
        assert_eq!(bounded_count(1, 4, 2), 5);
        assert_eq!(bounded_count(2, 4, 2), 11);
        // 3 vCPUs: 1 + 4*2 + 6*4.
        assert_eq!(bounded_count(2, 4, 3), 33);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..33 {
            let b = Bounded::new(2, 4, i, 3).expect("index in range");
            let mut p = b.points().to_vec();
            p.sort_unstable();
            assert!(p.windows(2).all(|w| w[0].0 < w[1].0), "{p:?}");
            assert!(seen.insert(p), "schedule {i} repeats");
        }
        assert!(Bounded::new(2, 4, 33, 3).is_err());
    }

    #[test]
    fn bounded_index_inverts_the_decoding() {
        for i in 0..bounded_count(3, 6, 3) {
            let b = Bounded::new(3, 6, i, 3).expect("index in range");
            assert_eq!(
                bounded_index(3, 6, 3, b.points()),
                Some(i),
                "{:?}",
                b.points()
            );
        }
        // Any subset of a schedule's points is a schedule with fewer.
        let b = Bounded::new(3, 6, 200, 3).expect("index in range");
        let fewer = &b.points()[1..];
        let i = bounded_index(3, 6, 3, fewer).expect("a subset is a schedule");
        let mut got = Bounded::new(3, 6, i, 3)
            .expect("in range")
            .points()
            .to_vec();
        got.sort_unstable();
        let mut want = fewer.to_vec();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(bounded_index(1, 6, 3, &[(0, 0), (1, 0)]), None);
        assert_eq!(bounded_index(2, 6, 3, &[(6, 0)]), None);
        assert_eq!(bounded_index(2, 6, 3, &[(1, 2)]), None);
    }

    #[test]
    fn pct_without_drops_exactly_the_named_change_points() {
        let full = Pct::new(11, 5, 1000, 4).expect("pct");
        let all = full.change_points();
        assert_eq!(all.len(), 4);
        let less = Pct::new(11, 5, 1000, 4).expect("pct").without(0b0101);
        let kept = less.change_points();
        assert_eq!(kept, vec![all[1], all[3]]);
        assert_eq!(less.prio, full.prio);
    }

    #[test]
    fn combinations_unrank_in_colex_order() {
        let all: Vec<Vec<u64>> = (0..choose(5, 2))
            .map(|r| unrank_combination(r, 5, 2))
            .collect();
        assert_eq!(all[0], [0, 1]);
        assert_eq!(all[1], [0, 2]);
        assert_eq!(all[2], [1, 2]);
        assert_eq!(all[9], [3, 4]);
    }

    #[test]
    fn pct_is_a_function_of_its_seed() {
        let a = Pct::new(7, 3, 100, 4).expect("pct");
        let b = Pct::new(7, 3, 100, 4).expect("pct");
        assert_eq!(a.prio, b.prio);
        assert_eq!(a.changes, b.changes);
        assert_eq!(a.changes.len(), 2);
    }
}
