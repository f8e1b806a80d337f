//! Instruction counts of translated blocks, by start address and size:
//! what the block hook charges a coarse slot. Direct-mapped (the hook runs
//! for every block, so a lookup is an index and a compare), forgotten as a
//! whole by bumping a generation (code writes forget every count at once,
//! and there may be many: a payload being copied in).

/// Slots in the table (a power of two).
const SLOTS: usize = 1 << 13;

#[derive(Clone, Copy, Default)]
struct Slot {
    addr: u64,
    size: u32,
    generation: u32,
    insns: u64,
}

/// The table.
pub struct BlockCounts {
    generation: u32,
    slots: Vec<Slot>,
}

impl Default for BlockCounts {
    fn default() -> BlockCounts {
        BlockCounts {
            // Generation 0 marks empty slots.
            generation: 1,
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
    pub fn get(&self, addr: u64, size: u32) -> Option<u64> {
        let s = &self.slots[index(addr)];
        (s.generation == self.generation && s.addr == addr && s.size == size).then_some(s.insns)
    }

    /// Remembers a count (replacing whatever shared its slot).
    pub fn insert(&mut self, addr: u64, size: u32, insns: u64) {
        self.slots[index(addr)] = Slot {
            addr,
            size,
            generation: self.generation,
            insns,
        };
    }

    /// Forgets every count.
    pub fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // After 2^32 clears, empty the table for real once.
            self.slots.fill(Slot::default());
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
    }
}
