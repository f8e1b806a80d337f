//! Instruction counts of translated blocks, by start address and size:
//! what the block hook charges a coarse slot. Direct-mapped (the hook runs
//! for every block, so a lookup is an index and a compare), forgotten as a
//! whole by bumping a generation (code writes forget every count at once,
//! and there may be many: a payload being copied in).

/// Slots in the table (a power of two).
const SLOTS: usize = 1 << 13;

/// 16 bytes, four to a cache line: a TCG block is at most a page (`size`
/// fits 16 bits), and its instruction count fits 32.
#[derive(Clone, Copy, Default)]
struct Slot {
    addr: u64,
    insns: u32,
    size: u16,
    generation: u16,
}

/// The table.
pub struct BlockCounts {
    generation: u16,
    /// The block found last: a loop runs the same block again and again,
    /// and a hit here costs no hash and no load from the table.
    last: Slot,
    slots: Vec<Slot>,
}

impl Default for BlockCounts {
    fn default() -> BlockCounts {
        BlockCounts {
            // Generation 0 marks empty slots.
            generation: 1,
            last: Slot::default(),
            slots: vec![Slot::default(); SLOTS],
        }
    }
}

fn index(addr: u64) -> usize {
    // Fibonacci hashing: block starts cluster, the product spreads them.
    (addr.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros())) as usize
}

impl BlockCounts {
    /// The count of the block at `addr` of `size` bytes, if known.
    pub fn get(&mut self, addr: u64, size: u32) -> Option<u64> {
        let hit = |s: &Slot| {
            s.generation == self.generation && s.addr == addr && u32::from(s.size) == size
        };
        if hit(&self.last) {
            return Some(u64::from(self.last.insns));
        }
        let s = self.slots[index(addr)];
        hit(&s).then(|| {
            self.last = s;
            u64::from(s.insns)
        })
    }

    /// Remembers a count (replacing whatever shared its slot).
    pub fn insert(&mut self, addr: u64, size: u32, insns: u64) {
        // A block too large for a slot is counted again each time.
        let (Ok(size), Ok(insns)) = (u16::try_from(size), u32::try_from(insns)) else {
            return;
        };
        let s = Slot {
            addr,
            insns,
            size,
            generation: self.generation,
        };
        self.slots[index(addr)] = s;
        self.last = s;
    }

    /// Forgets every count.
    pub fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // After 2^16 clears, empty the table for real once.
            self.slots.fill(Slot::default());
            self.last = Slot::default();
            self.generation = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_found_by_address_and_size_and_cleared_at_once() {
        let mut b = BlockCounts::default();
        b.insert(0x1000, 12, 3);
        assert_eq!(b.get(0x1000, 12), Some(3));
        assert_eq!(b.get(0x1000, 13), None);
        assert_eq!(b.get(0x1004, 12), None);
        b.clear();
        assert_eq!(b.get(0x1000, 12), None);
        b.insert(0x1000, 12, 4);
        assert_eq!(b.get(0x1000, 12), Some(4));
        // A generation that wraps does not bring old counts back.
        for _ in 0..=u16::MAX {
            b.clear();
        }
        assert_eq!(b.get(0x1000, 12), None);
        // Counts that do not fit a slot are not kept.
        b.insert(0x2000, 1 << 16, 5);
        assert_eq!(b.get(0x2000, 1 << 16), None);
    }
}
