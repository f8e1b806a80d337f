//! Schedules as text: the `--strategy` of `testbed explore`
//! (`random`, `pct[:depth=D]`, `bounded[:preemptions=K]`), and one
//! concrete schedule (the machine's strategy with every parameter) as a
//! replay file writes it: `pct:seed=0x2a,depth=3,steps=5120,drop=0x1`.

use std::str::FromStr;

use crate::explore::Strategy as Family;
use crate::machine::{Event, Strategy};
use crate::runner::Injection;

/// Why a strategy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not a strategy's name.
    #[error(
        "unknown strategy '{0}': expected random, pct[:depth=D], bounded[:preemptions=K] or sweep"
    )]
    Name(String),
    /// A parameter this strategy does not have, or a bad value.
    #[error("strategy '{strategy}': bad parameter '{param}' (it takes {takes})")]
    Param {
        /// The strategy.
        strategy: String,
        /// The parameter as written.
        param: String,
        /// What it takes.
        takes: &'static str,
    },
}

/// `random`, `pct[:depth=D]`, `bounded[:preemptions=K]`.
impl FromStr for Family {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Family, ScheduleError> {
        let (name, params) = s.split_once(':').unwrap_or((s, ""));
        let takes = match name {
            "random" | "sweep" => "no parameters",
            "pct" => "depth=D (at least 1)",
            "bounded" => "preemptions=K",
            _ => return Err(ScheduleError::Name(name.to_string())),
        };
        let kv = pairs(name, params, takes)?;
        let bad = |param: &str| ScheduleError::Param {
            strategy: name.to_string(),
            param: param.to_string(),
            takes,
        };
        let get = |key: &str, default: u32| -> Result<u32, ScheduleError> {
            match kv.iter().find(|(k, _)| *k == key) {
                Some((k, v)) => parse_u64(v)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| bad(&format!("{k}={v}"))),
                None => Ok(default),
            }
        };
        let known: &[&str] = match name {
            "pct" => &["depth"],
            "bounded" => &["preemptions"],
            _ => &[],
        };
        if let Some((k, v)) = kv.iter().find(|(k, _)| !known.contains(k)) {
            return Err(bad(&format!("{k}={v}")));
        }
        Ok(match name {
            "pct" => {
                let depth = get("depth", 3)?;
                if depth == 0 {
                    return Err(bad("depth=0"));
                }
                Family::Pct { depth }
            }
            "bounded" => Family::Bounded {
                preemptions: get("preemptions", 2)?,
            },
            "sweep" => Family::Sweep,
            _ => Family::Random,
        })
    }
}

fn pairs<'a>(
    name: &str,
    params: &'a str,
    takes: &'static str,
) -> Result<Vec<(&'a str, &'a str)>, ScheduleError> {
    params
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=').ok_or_else(|| ScheduleError::Param {
                strategy: name.to_string(),
                param: p.to_string(),
                takes,
            })
        })
        .collect()
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A seed for run `index` of an exploration seeded `seed` (SplitMix64 of
/// both: runs are independent of which thread takes them).
pub fn run_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The schedule a sweep's runs share (and explore's first run): no
/// forced preemption.
pub const BASE: Strategy = Strategy::Bounded {
    max_preemptions: 0,
    steps: 1,
    index: 0,
};

/// Schedule `index` of `family` (`steps`: fine steps of a first run), or
/// `None` past the end of a finite family (Bounded). A sweep's runs all
/// have [`BASE`]: they differ in their injection.
pub fn nth(family: Family, seed: u64, steps: u64, vcpus: usize, index: u64) -> Option<Strategy> {
    let steps = steps.max(1);
    match family {
        Family::Sweep => Some(BASE),
        Family::Random => Some(Strategy::Random {
            seed: run_seed(seed, index),
        }),
        Family::Pct { depth } => Some(Strategy::Pct {
            seed: run_seed(seed, index),
            depth,
            steps,
            drop: 0,
        }),
        Family::Bounded { preemptions } => {
            let count = crate::machine::bounded_count(preemptions, steps, vcpus);
            (index < count).then_some(Strategy::Bounded {
                max_preemptions: preemptions,
                steps,
                index,
            })
        }
    }
}

/// How many schedules `family` has (`None`: unbounded).
pub fn count(family: Family, steps: u64, vcpus: usize) -> Option<u64> {
    match family {
        Family::Bounded { preemptions } => Some(crate::machine::bounded_count(
            preemptions,
            steps.max(1),
            vcpus,
        )),
        Family::Random | Family::Pct { .. } | Family::Sweep => None,
    }
}

/// One schedule as text (the inverse of [`parse`]).
pub fn format(s: &Strategy) -> String {
    match *s {
        Strategy::Random { seed } => format!("random:seed={seed:#x}"),
        Strategy::RoundRobin { quantum } => format!("round_robin:quantum={quantum}"),
        Strategy::Pct {
            seed,
            depth,
            steps,
            drop,
        } => format!("pct:seed={seed:#x},depth={depth},steps={steps},drop={drop:#x}"),
        Strategy::Bounded {
            max_preemptions,
            steps,
            index,
        } => format!("bounded:preemptions={max_preemptions},steps={steps},index={index}"),
    }
}

/// One schedule from its text.
pub fn parse(s: &str) -> Result<Strategy, ScheduleError> {
    let (name, params) = s.split_once(':').unwrap_or((s, ""));
    let takes = match name {
        "random" => "seed=N",
        "round_robin" => "quantum=N",
        "pct" => "seed=N,depth=D,steps=S[,drop=MASK]",
        "bounded" => "preemptions=K,steps=S,index=I",
        _ => return Err(ScheduleError::Name(name.to_string())),
    };
    let kv = pairs(name, params, takes)?;
    let bad = |param: String| ScheduleError::Param {
        strategy: name.to_string(),
        param,
        takes,
    };
    let get = |key: &str, default: Option<u64>| -> Result<u64, ScheduleError> {
        match kv.iter().find(|(k, _)| *k == key) {
            Some((k, v)) => parse_u64(v).ok_or_else(|| bad(format!("{k}={v}"))),
            None => default.ok_or_else(|| bad(format!("{key} missing"))),
        }
    };
    let small = |key: &str| -> Result<u32, ScheduleError> {
        u32::try_from(get(key, None)?).map_err(|_| bad(format!("{key} too large")))
    };
    Ok(match name {
        "random" => Strategy::Random {
            seed: get("seed", None)?,
        },
        "round_robin" => Strategy::RoundRobin {
            quantum: get("quantum", None)?,
        },
        "pct" => Strategy::Pct {
            seed: get("seed", None)?,
            depth: small("depth")?,
            steps: get("steps", None)?,
            drop: get("drop", Some(0))?,
        },
        _ => Strategy::Bounded {
            max_preemptions: small("preemptions")?,
            steps: get("steps", None)?,
            index: get("index", None)?,
        },
    })
}

/// A sweep's injection as text: `nmi:vcpu=2,of=0,retired=12345`.
pub fn format_injection(i: &Injection) -> String {
    let event = match i.event {
        Event::Nmi => "nmi".to_string(),
        Event::Mce => "mce".to_string(),
        Event::Ipi => "ipi".to_string(),
        Event::Vector(v) => format!("vector-{v}"),
    };
    format!("{event}:vcpu={},of={},retired={}", i.vcpu, i.of, i.count)
}

/// An injection from its text.
pub fn parse_injection(s: &str) -> Result<Injection, ScheduleError> {
    let takes = "EVENT:vcpu=V,of=W,retired=N";
    let (name, params) = s.split_once(':').unwrap_or((s, ""));
    let event = match name {
        "nmi" => Event::Nmi,
        "mce" => Event::Mce,
        "ipi" => Event::Ipi,
        v => match v.strip_prefix("vector-").and_then(|n| n.parse().ok()) {
            Some(n) => Event::Vector(n),
            None => return Err(ScheduleError::Name(v.to_string())),
        },
    };
    let kv = pairs(name, params, takes)?;
    let get = |key: &str| -> Result<u64, ScheduleError> {
        kv.iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| parse_u64(v))
            .ok_or_else(|| ScheduleError::Param {
                strategy: name.to_string(),
                param: key.to_string(),
                takes,
            })
    };
    let small = |key: &str| -> Result<usize, ScheduleError> {
        usize::try_from(get(key)?).map_err(|_| ScheduleError::Param {
            strategy: name.to_string(),
            param: key.to_string(),
            takes,
        })
    };
    Ok(Injection {
        vcpu: small("vcpu")?,
        event,
        of: small("of")?,
        count: get("retired")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_round_trip_through_text() {
        let all = [
            Strategy::Random { seed: u64::MAX },
            Strategy::RoundRobin { quantum: 7 },
            Strategy::Pct {
                seed: 3,
                depth: 4,
                steps: 900,
                drop: 0b101,
            },
            Strategy::Bounded {
                max_preemptions: 2,
                steps: 40,
                index: 77,
            },
        ];
        for s in all {
            assert_eq!(parse(&format(&s)), Ok(s));
        }
        assert!(parse("pct:seed=1,depth=2").is_err());
        assert!(parse("fifo:seed=1").is_err());
    }

    #[test]
    fn injections_round_trip_through_text() {
        let i = Injection {
            vcpu: 3,
            event: Event::Vector(0x40),
            of: 0,
            count: 123_456,
        };
        assert_eq!(parse_injection(&format_injection(&i)), Ok(i));
        assert!(parse_injection("nmi:vcpu=1").is_err());
        assert!(parse_injection("smi:vcpu=1,of=0,retired=1").is_err());
    }

    #[test]
    fn families_parse_with_their_defaults_and_refuse_strangers() {
        assert_eq!("random".parse(), Ok(Family::Random));
        assert_eq!("pct".parse(), Ok(Family::Pct { depth: 3 }));
        assert_eq!("pct:depth=5".parse(), Ok(Family::Pct { depth: 5 }));
        assert_eq!(
            "bounded:preemptions=1".parse(),
            Ok(Family::Bounded { preemptions: 1 })
        );
        assert!("pct:preemptions=1".parse::<Family>().is_err());
        assert!("pct:depth=0".parse::<Family>().is_err());
        assert!("random:depth=2".parse::<Family>().is_err());
        assert!("dfs".parse::<Family>().is_err());
    }

    #[test]
    fn bounded_families_end_and_random_ones_do_not() {
        assert_eq!(count(Family::Bounded { preemptions: 1 }, 10, 2), Some(11));
        assert!(nth(Family::Bounded { preemptions: 1 }, 0, 10, 2, 10).is_some());
        assert!(nth(Family::Bounded { preemptions: 1 }, 0, 10, 2, 11).is_none());
        assert_ne!(
            nth(Family::Random, 5, 10, 2, 0),
            nth(Family::Random, 5, 10, 2, 1)
        );
    }
}
