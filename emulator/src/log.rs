//! The schedule log: every decision of a run that the strategy's seed does
//! not imply, in order, positioned by round: host inputs (guest-memory
//! writes such as mailbox requests and payloads, console keys, runs),
//! injections, holds and releases, triggers and windows armed, strategies
//! installed, and — checked on replay — triggers that fired, forced
//! preemptions and the final digest. A run is fully described by the
//! header (image build-id, vCPU count, machine configuration, strategy),
//! the entries, and the contents of the large writes (payloads), which the
//! log names by hash.

use serde::{Deserialize, Serialize};

use crate::sched::{Preemption, Strategy};
use crate::trigger::{Fired, Trigger, TriggerId};
use crate::vcpu::{Irq, McBanks};
use crate::window::{WindowId, WindowKind};

/// Version of the log format.
pub const LOG_VERSION: u32 = 1;

/// Writes up to this size are kept in the log itself.
pub const INLINE_MAX: usize = 4096;

/// Errors of logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Not a log this version reads.
    #[error("schedule log version {found}, this testbed reads version {LOG_VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// Not valid JSON for a log.
    #[error("not a schedule log: {0}")]
    Parse(#[from] serde_json::Error),
}

/// Contents of a guest-memory write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blob {
    /// The bytes, hex.
    Inline(String),
    /// Named by its BLAKE3 hash (hex); the replayer supplies the bytes.
    Hash {
        /// BLAKE3 of the bytes, hex.
        blake3: String,
        /// Length.
        len: usize,
    },
}

impl Blob {
    /// The blob for `data`.
    pub fn of(data: &[u8]) -> Blob {
        if data.len() <= INLINE_MAX {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut hex = String::with_capacity(2 * data.len());
            for &b in data {
                hex.push(char::from(HEX[usize::from(b >> 4)]));
                hex.push(char::from(HEX[usize::from(b & 15)]));
            }
            Blob::Inline(hex)
        } else {
            Blob::Hash {
                blake3: blake3::hash(data).to_hex().to_string(),
                len: data.len(),
            }
        }
    }

    /// The bytes, from the log or from `lookup` (by hash).
    pub fn bytes(&self, lookup: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
        match self {
            Blob::Inline(hex) => (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect(),
            Blob::Hash { blake3: h, len } => lookup(h)
                .filter(|d| d.len() == *len && blake3::hash(d).to_hex().as_str() == h.as_str()),
        }
    }
}

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The host ran the machine up to round `to`, with `end` the virtual
    /// time it ran towards.
    Run {
        /// Round when the run began.
        round: u64,
        /// Round when it returned.
        to: u64,
        /// Virtual time it ran towards.
        end: u64,
        /// The schedule trace when it returned (checked on replay).
        trace: u64,
    },
    /// The host wrote guest memory.
    Write {
        /// Round.
        round: u64,
        /// Guest-physical address.
        addr: u64,
        /// The bytes.
        data: Blob,
    },
    /// Console keys typed.
    Input {
        /// Round.
        round: u64,
        /// The bytes, as text.
        text: String,
    },
    /// The host injected an event.
    Inject {
        /// Round.
        round: u64,
        /// Target.
        vcpu: usize,
        /// Event.
        irq: Irq,
    },
    /// The host set the banks the next machine checks of a vCPU carry.
    MceBanks {
        /// Round.
        round: u64,
        /// Target.
        vcpu: usize,
        /// The banks (`None`: the default corrected error).
        banks: Option<McBanks>,
    },
    /// The host held a vCPU.
    Hold {
        /// Round.
        round: u64,
        /// Target.
        vcpu: usize,
        /// Until this virtual time.
        until: u64,
    },
    /// The host released a held vCPU.
    Release {
        /// Round.
        round: u64,
        /// Target.
        vcpu: usize,
    },
    /// A trigger was armed.
    Arm {
        /// Round.
        round: u64,
        /// Its id.
        id: TriggerId,
        /// The trigger.
        trigger: Trigger,
    },
    /// A trigger was disarmed.
    Disarm {
        /// Round.
        round: u64,
        /// Its id.
        id: TriggerId,
    },
    /// A window was opened.
    Window {
        /// Round.
        round: u64,
        /// Its id.
        id: WindowId,
        /// What it covers.
        window: WindowKind,
    },
    /// A window was removed.
    CloseWindow {
        /// Round.
        round: u64,
        /// Its id.
        id: WindowId,
    },
    /// A strategy was installed (a fork from a snapshot).
    Strategy {
        /// Round.
        round: u64,
        /// The strategy.
        strategy: Strategy,
    },
    /// Checked on replay: a trigger fired.
    Fired {
        /// Round.
        round: u64,
        /// What fired.
        fired: Fired,
    },
    /// Checked on replay: a forced preemption.
    Preempt {
        /// Round.
        round: u64,
        /// The decision.
        preemption: Preemption,
        /// Retired instructions of the preempted vCPU then.
        retired: u64,
    },
    /// Checked on replay: the digest when the log was saved.
    End {
        /// Round.
        round: u64,
        /// The digest.
        digest: String,
    },
}

impl Entry {
    /// Whether replay checks this entry (the machine produces it) rather
    /// than applies it (the host did it).
    pub fn is_check(&self) -> bool {
        matches!(
            self,
            Entry::Fired { .. } | Entry::Preempt { .. } | Entry::End { .. }
        )
    }
}

/// The machine a log was recorded on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`LOG_VERSION`].
    pub version: u32,
    /// Build-id of the image, hex.
    pub image: String,
    /// vCPUs.
    pub vcpus: usize,
    /// Coarse quantum.
    pub quantum: u64,
    /// Busy guests.
    pub busy_guests: bool,
    /// Deadlock window.
    pub deadlock_window: u64,
    /// Hypervisor command line.
    pub cmdline: String,
    /// The strategy at power-on.
    pub strategy: Strategy,
}

/// A schedule log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleLog {
    /// The machine.
    pub header: Header,
    /// The entries, in order.
    pub entries: Vec<Entry>,
}

impl ScheduleLog {
    /// JSON text of the log.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a log, checking its version.
    pub fn from_json(text: &str) -> Result<ScheduleLog, LogError> {
        let log: ScheduleLog = serde_json::from_str(text)?;
        if log.header.version != LOG_VERSION {
            return Err(LogError::Version {
                found: log.header.version,
            });
        }
        Ok(log)
    }

    /// Hashes of the large writes the log names (the payloads a replay
    /// needs).
    pub fn blobs(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Write {
                    data: Blob::Hash { blake3, .. },
                    ..
                } => Some(blake3.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Where a replay left the recorded run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("replay diverged at entry {index}: recorded {expected:?}, replayed {got:?}")]
pub struct Divergence {
    /// Index of the first differing entry.
    pub index: usize,
    /// What the log says.
    pub expected: Option<Entry>,
    /// What the replay did.
    pub got: Option<Entry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_large_ones_are_named_by_hash() {
        let small = Blob::of(&[1, 2, 0xff]);
        assert_eq!(small.bytes(&|_| None), Some(vec![1, 2, 0xff]));
        let data = vec![7u8; INLINE_MAX + 1];
        let big = Blob::of(&data);
        assert!(matches!(big, Blob::Hash { .. }));
        assert_eq!(big.bytes(&|_| None), None);
        assert_eq!(big.bytes(&|_| Some(data.clone())), Some(data.clone()));
        assert_eq!(big.bytes(&|_| Some(vec![8u8; INLINE_MAX + 1])), None);
    }
}
