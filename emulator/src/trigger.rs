//! Triggers: "when vCPU A reaches X (every visit or the n-th), touches a
//! guest-physical range, retires its n-th instruction, or when virtual
//! time reaches T, do this to vCPU B": inject an event, hold it for a
//! while, or hand control back to the host.

use serde::{Deserialize, Serialize};

use crate::vcpu::Irq;

/// Which visits of a trigger fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visit {
    /// Every visit.
    Every,
    /// Only the n-th visit (1-based); the trigger is spent afterwards.
    Nth(u64),
}

/// When a trigger fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum When {
    /// A vCPU (any, if `None`) is about to execute `addr`.
    Reach {
        /// The vCPU watched, or any.
        vcpu: Option<usize>,
        /// The address.
        addr: u64,
        /// Which visits fire.
        visit: Visit,
    },
    /// A vCPU (any, if `None`) reads or writes `[start, end)` (a
    /// watchpoint).
    Access {
        /// The vCPU watched, or any.
        vcpu: Option<usize>,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// Writes (true) or reads (false).
        write: bool,
        /// Which accesses fire.
        visit: Visit,
    },
    /// `vcpu` has retired exactly `count` instructions.
    Retired {
        /// The vCPU.
        vcpu: usize,
        /// Its retired-instruction count.
        count: u64,
    },
    /// `vcpu` has been given `cycle` cycles (instructions and idle time).
    Cycle {
        /// The vCPU.
        vcpu: usize,
        /// Its cycle count.
        cycle: u64,
    },
    /// Virtual time reaches `at` ns.
    Time {
        /// The time.
        at: u64,
    },
}

/// What a trigger does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Makes `irq` pending on `vcpu` (delivered at once when that is the
    /// vCPU that fired the trigger).
    Inject {
        /// The target.
        vcpu: usize,
        /// The event.
        irq: Irq,
    },
    /// Holds `vcpu` for `ns` of virtual time (a delay at a point).
    Hold {
        /// The target.
        vcpu: usize,
        /// How long.
        ns: u64,
    },
    /// Stops the run and returns to the host.
    Break,
    /// Opens the event window: fine rounds from now on, until a trigger
    /// closes it (a window between two events).
    OpenWindow,
    /// Closes the event window.
    CloseWindow,
    /// Nothing: the firing is logged with the vCPU and its retired count
    /// (a probe: where a run reaches a point, for later runs to aim at).
    Note,
}

/// A trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// When it fires.
    pub when: When,
    /// What it does.
    pub action: Action,
}

/// Handle of an armed trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TriggerId(pub u32);

/// A trigger that fired, as the schedule log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// The trigger.
    pub trigger: TriggerId,
    /// The vCPU that fired it.
    pub vcpu: usize,
    /// That vCPU's retired-instruction count then.
    pub retired: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Armed {
    id: TriggerId,
    t: Trigger,
    visits: u64,
    spent: bool,
}

/// The armed triggers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Triggers {
    armed: Vec<Armed>,
    next: u32,
}

impl Triggers {
    /// Arms `t`.
    pub fn arm(&mut self, t: Trigger) -> TriggerId {
        let id = TriggerId(self.next);
        self.next += 1;
        self.armed.push(Armed {
            id,
            t,
            visits: 0,
            spent: false,
        });
        id
    }

    /// Disarms `id`; false if it was not armed.
    pub fn disarm(&mut self, id: TriggerId) -> bool {
        let before = self.armed.len();
        self.armed.retain(|a| a.id != id);
        self.armed.len() != before
    }

    /// The armed triggers.
    pub fn iter(&self) -> impl Iterator<Item = (TriggerId, &Trigger)> {
        self.armed.iter().filter(|a| !a.spent).map(|a| (a.id, &a.t))
    }

    fn visit(a: &mut Armed, visit: Visit) -> bool {
        a.visits += 1;
        match visit {
            Visit::Every => true,
            Visit::Nth(n) => {
                if a.visits == n {
                    a.spent = true;
                    true
                } else {
                    false
                }
            }
        }
    }

    fn fire(a: &Armed, vcpu: usize, retired: u64, fired: &mut Vec<Fired>) -> Action {
        fired.push(Fired {
            trigger: a.id,
            vcpu,
            retired,
        });
        a.t.action
    }

    /// `vcpu` is about to execute `addr`: the actions of the triggers that
    /// fire.
    pub fn reached(
        &mut self,
        vcpu: usize,
        addr: u64,
        retired: u64,
        fired: &mut Vec<Fired>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for a in self.armed.iter_mut().filter(|a| !a.spent) {
            if let When::Reach {
                vcpu: who,
                addr: at,
                visit,
            } = a.t.when
            {
                if at == addr && who.is_none_or(|w| w == vcpu) && Self::visit(a, visit) {
                    out.push(Self::fire(a, vcpu, retired, fired));
                }
            }
        }
        out
    }

    /// An access, as seen by a watch hook (`by_code` false) or by the hook
    /// on stores into the read-only code pages `code` (true), which serves
    /// the write watches inside them.
    pub fn accessed(
        &mut self,
        seen: Access,
        code: &[(u64, u64)],
        by_code: bool,
        fired: &mut Vec<Fired>,
    ) -> Vec<Action> {
        let Access {
            vcpu,
            addr,
            len,
            write: is_write,
            retired,
        } = seen;
        let mut out = Vec::new();
        for a in self.armed.iter_mut().filter(|a| !a.spent) {
            if let When::Access {
                vcpu: who,
                start,
                end,
                write,
                visit,
            } = a.t.when
            {
                let overlaps = addr < end && addr + len > start;
                if overlaps
                    && served_by_code(code, start, end, write) == by_code
                    && write == is_write
                    && who.is_none_or(|w| w == vcpu)
                    && Self::visit(a, visit)
                {
                    out.push(Self::fire(a, vcpu, retired, fired));
                }
            }
        }
        out
    }

    /// The closest count trigger of `vcpu` ahead of its counters, as
    /// instructions from now: (distance, exact stop needed).
    pub fn next_count(&self, vcpu: usize, retired: u64, cycles: u64) -> Option<u64> {
        self.armed
            .iter()
            .filter(|a| !a.spent)
            .filter_map(|a| match a.t.when {
                When::Retired { vcpu: v, count } if v == vcpu && count > retired => {
                    Some(count - retired)
                }
                When::Cycle { vcpu: v, cycle } if v == vcpu && cycle > cycles => {
                    Some(cycle - cycles)
                }
                _ => None,
            })
            .min()
    }

    /// Count triggers of `vcpu` met by its counters: their actions.
    pub fn due_counts(
        &mut self,
        vcpu: usize,
        retired: u64,
        cycles: u64,
        fired: &mut Vec<Fired>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for a in self.armed.iter_mut().filter(|a| !a.spent) {
            let due = match a.t.when {
                When::Retired { vcpu: v, count } => v == vcpu && retired >= count,
                When::Cycle { vcpu: v, cycle } => v == vcpu && cycles >= cycle,
                _ => false,
            };
            if due {
                a.spent = true;
                out.push(Self::fire(a, vcpu, retired, fired));
            }
        }
        out
    }

    /// Time triggers due at `now`: their actions (fired by no vCPU: the
    /// log records `usize::MAX`).
    pub fn due_time(&mut self, now: u64, fired: &mut Vec<Fired>) -> Vec<Action> {
        let mut out = Vec::new();
        for a in self.armed.iter_mut().filter(|a| !a.spent) {
            if let When::Time { at } = a.t.when {
                if at <= now {
                    a.spent = true;
                    out.push(Self::fire(a, usize::MAX, 0, fired));
                }
            }
        }
        out
    }

    /// The earliest armed time trigger.
    pub fn next_time(&self) -> Option<u64> {
        self.armed
            .iter()
            .filter(|a| !a.spent)
            .filter_map(|a| match a.t.when {
                When::Time { at } => Some(at),
                _ => None,
            })
            .min()
    }

    /// Drops spent triggers.
    pub fn sweep(&mut self) {
        self.armed.retain(|a| !a.spent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_visit_fires_once_and_every_fires_each_time() {
        let mut t = Triggers::default();
        let inject = Action::Inject {
            vcpu: 1,
            irq: Irq::Nmi,
        };
        let third = t.arm(Trigger {
            when: When::Reach {
                vcpu: Some(0),
                addr: 0x1000,
                visit: Visit::Nth(3),
            },
            action: inject,
        });
        t.arm(Trigger {
            when: When::Reach {
                vcpu: None,
                addr: 0x1000,
                visit: Visit::Every,
            },
            action: Action::Break,
        });
        let mut fired = Vec::new();
        let mut counts = Vec::new();
        for i in 0..5 {
            counts.push(t.reached(0, 0x1000, i, &mut fired).len());
        }
        assert_eq!(counts, [1, 1, 2, 1, 1]);
        assert_eq!(fired.iter().filter(|f| f.trigger == third).count(), 1);
        assert_eq!(t.reached(1, 0x1000, 0, &mut fired), vec![Action::Break]);
        assert!(t.reached(0, 0x1001, 0, &mut fired).is_empty());
    }

    #[test]
    fn watchpoints_match_overlap_and_direction() {
        let mut t = Triggers::default();
        t.arm(Trigger {
            when: When::Access {
                vcpu: None,
                start: 0x100,
                end: 0x108,
                write: true,
                visit: Visit::Every,
            },
            action: Action::Break,
        });
        let mut fired = Vec::new();
        let at = |addr, len, write| Access {
            vcpu: 0,
            addr,
            len,
            write,
            retired: 0,
        };
        assert_eq!(
            t.accessed(at(0xfc, 8, true), &[], false, &mut fired).len(),
            1
        );
        assert!(t
            .accessed(at(0xf8, 8, true), &[], false, &mut fired)
            .is_empty());
        assert!(t
            .accessed(at(0x100, 1, false), &[], false, &mut fired)
            .is_empty());
        // Inside code pages, only the code hook sees it.
        let code = [(0, 0x1000)];
        assert!(t
            .accessed(at(0x100, 8, true), &code, false, &mut fired)
            .is_empty());
        assert_eq!(
            t.accessed(at(0x100, 8, true), &code, true, &mut fired)
                .len(),
            1
        );
        assert_eq!(fired.len(), 2);
    }
}

/// A load or store a hook saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Who.
    pub vcpu: usize,
    /// First byte.
    pub addr: u64,
    /// Bytes.
    pub len: u64,
    /// A store.
    pub write: bool,
    /// The vCPU's retired count then.
    pub retired: u64,
}

/// Whether a watch of `[start, end)` is served by the hook on stores into
/// the read-only code pages `code` (a write watch inside them) rather than
/// by a watch hook of its own (which would send every load and store
/// through Unicorn's slow path).
pub fn served_by_code(code: &[(u64, u64)], start: u64, end: u64, write: bool) -> bool {
    write && code.iter().any(|&(s, e)| s <= start && end <= e)
}
