//! A record of who ran when, for pictures: per-vCPU spans of virtual time
//! in one phase (guest, hypervisor, live-patch code, idle, held), and
//! marks (events injected, patch-site writes). Recording is passive: it
//! reads the machine after each slot and changes nothing, so a run with
//! a timeline has the digest of the run without.

use serde::Serialize;

use crate::vcpu::{Irq, VcpuState};

/// What a vCPU was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running a domain (CPL 3).
    Guest,
    /// Running the hypervisor.
    Hypervisor,
    /// Running live-patch code (the ranges given when recording began:
    /// the rendezvous, the writers).
    LivePatch,
    /// Halted.
    Idle,
    /// Held by the host or a trigger.
    Held,
}

/// A stretch of virtual time `[start, end)` one vCPU spent in one phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The vCPU.
    pub vcpu: usize,
    /// First ns.
    pub start: u64,
    /// One past the last ns.
    pub end: u64,
    /// The phase.
    pub phase: Phase,
}

/// Something that happened at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MarkKind {
    /// An event was made pending (by the host or a trigger).
    Inject {
        /// The event.
        irq: Irq,
    },
    /// A store into a patch site (hypervisor text or live payload text).
    PatchWrite {
        /// The address written.
        addr: u64,
    },
}

/// A mark on one vCPU's lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Mark {
    /// Virtual time, ns.
    pub at: u64,
    /// The vCPU.
    pub vcpu: usize,
    /// What.
    pub kind: MarkKind,
}

/// The record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Spans, per vCPU in time order (adjacent spans of one phase merged).
    pub spans: Vec<Span>,
    /// Marks, in time order.
    pub marks: Vec<Mark>,
    #[serde(skip)]
    livepatch: Vec<(u64, u64)>,
    #[serde(skip)]
    last: Vec<Option<usize>>,
}

impl Timeline {
    /// An empty record for `vcpus` vCPUs; RIPs in `livepatch` ranges
    /// count as [`Phase::LivePatch`].
    pub fn new(vcpus: usize, livepatch: Vec<(u64, u64)>) -> Timeline {
        Timeline {
            spans: Vec::new(),
            marks: Vec::new(),
            livepatch,
            last: vec![None; vcpus],
        }
    }

    /// The phase of a vCPU as it is parked now.
    pub fn phase_of(&self, s: &VcpuState, now: u64) -> Phase {
        if s.is_held(now) {
            Phase::Held
        } else if s.halted {
            Phase::Idle
        } else if s.parked.cs & 3 == 3 {
            Phase::Guest
        } else if self
            .livepatch
            .iter()
            .any(|&(a, b)| (a..b).contains(&s.parked.rip))
        {
            Phase::LivePatch
        } else {
            Phase::Hypervisor
        }
    }

    /// vCPU `vcpu` spent `[start, end)` in `phase`.
    pub fn span(&mut self, vcpu: usize, start: u64, end: u64, phase: Phase) {
        if end <= start || vcpu >= self.last.len() {
            return;
        }
        if let Some(i) = self.last[vcpu] {
            let s = &mut self.spans[i];
            if s.phase == phase && s.end >= start {
                s.end = s.end.max(end);
                return;
            }
        }
        self.last[vcpu] = Some(self.spans.len());
        self.spans.push(Span {
            vcpu,
            start,
            end,
            phase,
        });
    }

    /// A mark.
    pub fn mark(&mut self, at: u64, vcpu: usize, kind: MarkKind) {
        self.marks.push(Mark { at, vcpu, kind });
    }

    /// The first virtual time recorded (recording may begin mid-run).
    pub fn start(&self) -> u64 {
        let spans = self.spans.iter().map(|s| s.start);
        spans
            .chain(self.marks.iter().map(|m| m.at))
            .min()
            .unwrap_or(0)
    }

    /// The last virtual time recorded.
    pub fn end(&self) -> u64 {
        let spans = self.spans.iter().map(|s| s.end);
        spans
            .chain(self.marks.iter().map(|m| m.at))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_spans_of_one_phase_merge_per_vcpu() {
        let mut t = Timeline::new(2, Vec::new());
        t.span(0, 0, 10, Phase::Guest);
        t.span(1, 0, 10, Phase::Idle);
        t.span(0, 10, 11, Phase::Guest);
        t.span(0, 11, 12, Phase::Hypervisor);
        t.span(1, 10, 20, Phase::Idle);
        t.span(0, 12, 12, Phase::Guest);
        assert_eq!(
            t.spans,
            vec![
                Span {
                    vcpu: 0,
                    start: 0,
                    end: 11,
                    phase: Phase::Guest
                },
                Span {
                    vcpu: 1,
                    start: 0,
                    end: 20,
                    phase: Phase::Idle
                },
                Span {
                    vcpu: 0,
                    start: 11,
                    end: 12,
                    phase: Phase::Hypervisor
                },
            ]
        );
        assert_eq!((t.start(), t.end()), (0, 20));
    }
}
