//! A scenario's `[explore]` table: which schedules `testbed explore` tries
//! (strategy, budget, race windows). Parsed and checked against the image
//! at load; `testbed run` runs the scenario's own seed only.

use serde::Deserialize;
use toml::Spanned;

use crate::duration::Budget;
use crate::machine::{symbol_size, Event, Image};

/// How schedules are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyName {
    /// Seeded random slices.
    Random,
    /// Probabilistic concurrency testing (`depth` change points).
    Pct,
    /// Every schedule with at most `preemptions` forced preemptions.
    Bounded,
    /// The `[explore.sweep]` event at every instruction of a window, into
    /// every vCPU.
    Sweep,
}

/// The table as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExploreSpec {
    strategy: StrategyName,
    depth: Option<Spanned<u32>>,
    preemptions: Option<Spanned<u32>>,
    runs: Option<Spanned<u64>>,
    time: Option<Budget>,
    fork: Option<Spanned<usize>>,
    #[serde(default)]
    windows: Vec<WindowSpec>,
    sweep: Option<Spanned<SweepSpec>>,
}

/// The events a sweep injects.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SweepEvent {
    Nmi,
    Mce,
    Ipi,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSpec {
    event: SweepEvent,
    of: Spanned<usize>,
    to: Spanned<String>,
    #[serde(default)]
    tail: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowSpec {
    symbol: Spanned<String>,
    from: Option<u64>,
    to: Option<u64>,
}

/// A strategy with its parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Seeded random slices.
    Random,
    /// PCT with `depth` change points (default 3).
    Pct {
        /// Change points.
        depth: u32,
    },
    /// At most `preemptions` forced preemptions (default 2).
    Bounded {
        /// Forced preemptions.
        preemptions: u32,
    },
    /// The sweep of [`Explore::sweep`].
    Sweep,
}

/// A bounded-exhaustive sweep: `event` into each vCPU at each instruction
/// vCPU `of` retires from its first store into the hypervisor's text (the
/// first patch write) until it reaches `to`, plus `tail` instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// The event.
    pub event: Event,
    /// The vCPU whose instructions are counted (the writer).
    pub of: usize,
    /// Where the window ends on it.
    pub to: String,
    /// Instructions after `to` still swept.
    pub tail: u64,
}

/// A race window: instructions `[from, to)` of `symbol`, where schedules
/// switch at single instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The function.
    pub symbol: String,
    /// First byte offset.
    pub from: u64,
    /// End byte offset.
    pub to: u64,
}

/// A checked `[explore]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explore {
    /// The strategy.
    pub strategy: Strategy,
    /// At most this many runs.
    pub runs: Option<u64>,
    /// At most this much host time, in ns.
    pub time: Option<u64>,
    /// The race windows.
    pub windows: Vec<Window>,
    /// The step (0-based) every schedule forks before: the steps before
    /// it run once, under the machine's seed, and are snapshotted.
    pub fork: usize,
    /// The sweep, for [`Strategy::Sweep`].
    pub sweep: Option<Sweep>,
}

/// What is wrong with an `[explore]` table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExploreError {
    /// A parameter of another strategy.
    #[error("`{param}` is a parameter of strategy `{owner}`, not of this one")]
    Parameter {
        /// The key.
        param: &'static str,
        /// The strategy it belongs to.
        owner: &'static str,
    },
    /// Neither runs nor time.
    #[error("explore needs a budget: `runs`, `time` or both")]
    NoBudget,
    /// `runs = 0`.
    #[error("`runs` must be at least 1")]
    ZeroRuns,
    /// `fork` outside the steps.
    #[error("`fork = {fork}`: schedules fork before a step, 1 to {steps}")]
    Fork {
        /// As written.
        fork: usize,
        /// Steps in the file.
        steps: usize,
    },
    /// `strategy = "sweep"` without its table, or the table without it.
    #[error("`strategy = \"sweep\"` and an `[explore.sweep]` table go together")]
    SweepTable,
    /// A sweep counting a vCPU the machine lacks.
    #[error("sweep of vCPU {of}: the machine has {vcpus}")]
    SweepVcpu {
        /// The vCPU.
        of: usize,
        /// vCPUs.
        vcpus: u16,
    },
    /// A window in a symbol the image lacks.
    #[error("no symbol `{0}` in the image")]
    NoSymbol(String),
    /// A window that is empty or runs past its symbol.
    #[error("window {from:#x}..{to:#x} is not inside `{symbol}` (size {size:#x}) or is empty")]
    Window {
        /// The symbol.
        symbol: String,
        /// First offset.
        from: u64,
        /// End offset.
        to: u64,
        /// The symbol's size.
        size: u64,
    },
}

/// Where in the table a problem is: a key's span, or the whole table.
pub type Span = Option<std::ops::Range<usize>>;

impl ExploreSpec {
    /// Checks the table against `image` and a file of `steps` steps on
    /// `vcpus` vCPUs.
    pub fn check(
        &self,
        image: &Image,
        steps: usize,
        vcpus: u16,
    ) -> Result<Explore, (ExploreError, Span)> {
        let sweep = match (&self.sweep, self.strategy) {
            (None, StrategyName::Sweep) => return Err((ExploreError::SweepTable, None)),
            (Some(t), StrategyName::Sweep) => {
                let sw = t.get_ref();
                if *sw.of.get_ref() >= usize::from(vcpus) {
                    return Err((
                        ExploreError::SweepVcpu {
                            of: *sw.of.get_ref(),
                            vcpus,
                        },
                        Some(sw.of.span()),
                    ));
                }
                if symbol_size(image, sw.to.get_ref()).is_none() {
                    return Err((
                        ExploreError::NoSymbol(sw.to.get_ref().clone()),
                        Some(sw.to.span()),
                    ));
                }
                Some(Sweep {
                    event: match sw.event {
                        SweepEvent::Nmi => Event::Nmi,
                        SweepEvent::Mce => Event::Mce,
                        SweepEvent::Ipi => Event::Ipi,
                    },
                    of: *sw.of.get_ref(),
                    to: sw.to.get_ref().clone(),
                    tail: sw.tail,
                })
            }
            (Some(t), _) => return Err((ExploreError::SweepTable, Some(t.span()))),
            (None, _) => None,
        };
        let fork = match &self.fork {
            Some(f) if *f.get_ref() == 0 || *f.get_ref() > steps.max(1) => {
                return Err((
                    ExploreError::Fork {
                        fork: *f.get_ref(),
                        steps: steps.max(1),
                    },
                    Some(f.span()),
                ))
            }
            Some(f) => *f.get_ref() - 1,
            None => 0,
        };
        let param = |p: &Option<Spanned<u32>>, name, owner| match p {
            Some(s) => Err((
                ExploreError::Parameter { param: name, owner },
                Some(s.span()),
            )),
            None => Ok(()),
        };
        let strategy = match self.strategy {
            StrategyName::Random => {
                param(&self.depth, "depth", "pct")?;
                param(&self.preemptions, "preemptions", "bounded")?;
                Strategy::Random
            }
            StrategyName::Pct => {
                param(&self.preemptions, "preemptions", "bounded")?;
                Strategy::Pct {
                    depth: self.depth.as_ref().map_or(3, |d| *d.get_ref()),
                }
            }
            StrategyName::Bounded => {
                param(&self.depth, "depth", "pct")?;
                Strategy::Bounded {
                    preemptions: self.preemptions.as_ref().map_or(2, |d| *d.get_ref()),
                }
            }
            StrategyName::Sweep => {
                param(&self.depth, "depth", "pct")?;
                param(&self.preemptions, "preemptions", "bounded")?;
                Strategy::Sweep
            }
        };
        if self.runs.is_none() && self.time.is_none() {
            return Err((ExploreError::NoBudget, None));
        }
        if let Some(r) = &self.runs {
            if *r.get_ref() == 0 {
                return Err((ExploreError::ZeroRuns, Some(r.span())));
            }
        }
        let mut windows = Vec::new();
        for w in &self.windows {
            let name = w.symbol.get_ref();
            let Some(size) = symbol_size(image, name) else {
                return Err((ExploreError::NoSymbol(name.clone()), Some(w.symbol.span())));
            };
            let (from, to) = (w.from.unwrap_or(0), w.to.unwrap_or(size));
            if from >= to || to > size {
                return Err((
                    ExploreError::Window {
                        symbol: name.clone(),
                        from,
                        to,
                        size,
                    },
                    Some(w.symbol.span()),
                ));
            }
            windows.push(Window {
                symbol: name.clone(),
                from,
                to,
            });
        }
        Ok(Explore {
            strategy,
            runs: self.runs.as_ref().map(|r| *r.get_ref()),
            time: self.time.map(|t| t.0),
            windows,
            fork,
            sweep,
        })
    }
}
