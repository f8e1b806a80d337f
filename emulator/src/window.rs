//! Race windows: where the machine schedules instruction by instruction.
//! Elsewhere it runs coarse quanta.

use serde::{Deserialize, Serialize};

/// What a window covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "while", rename_all = "snake_case")]
pub enum WindowKind {
    /// While any vCPU's RIP lies in `[start, end)` (a function, or
    /// `.text.unpatchable`).
    Range {
        /// First byte.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// Always, until removed (between two events of the host's; between
    /// two events of the guest's, triggers open and close the machine's
    /// event window: `trigger::Action::OpenWindow`).
    Always,
}

/// Handle of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowId(pub u32);

/// The windows of a machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Windows {
    open: Vec<(WindowId, WindowKind)>,
    next: u32,
}

impl Windows {
    /// Adds a window.
    pub fn add(&mut self, kind: WindowKind) -> WindowId {
        let id = WindowId(self.next);
        self.next += 1;
        self.open.push((id, kind));
        id
    }

    /// Removes a window; false if there was none with that id.
    pub fn remove(&mut self, id: WindowId) -> bool {
        let before = self.open.len();
        self.open.retain(|(w, _)| *w != id);
        self.open.len() != before
    }

    /// Whether any window is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Whether an `Always` window is open (every instruction is a step).
    pub fn always(&self) -> bool {
        self.open.iter().any(|(_, k)| *k == WindowKind::Always)
    }

    /// The address ranges of the range windows.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.open
            .iter()
            .filter_map(|(_, k)| match *k {
                WindowKind::Range { start, end } => Some((start, end)),
                WindowKind::Always => None,
            })
            .collect()
    }

    /// Whether a round is fine when the vCPUs are at `rips`.
    pub fn covers(&self, mut rips: impl Iterator<Item = u64>) -> bool {
        if self.always() {
            return true;
        }
        rips.any(|rip| {
            self.open.iter().any(|(_, k)| match *k {
                WindowKind::Range { start, end } => (start..end).contains(&rip),
                WindowKind::Always => true,
            })
        })
    }
}
