//! TRANSITIONAL: the old copyable view of guest RAM, kept only so that
//! `machine.rs` and `board.rs` compile until they hold the
//! [`RamBlock`](super::RamBlock) itself (in the engine's data) and call its
//! methods. Delete this file and `RamBlock::view` at that point.
//!
//! It is not sound on its own: a `Ram` is `Copy`, may outlive its block, and
//! `contents` lends a slice that a `write` through another copy may change.
//! Its users must uphold what the borrow checker enforces for `RamBlock`:
//! use it only while the block lives, and drop slices from `contents`
//! before any write. Writes through it are still tracked: when tracking is
//! armed they take the write-protection fault like the engine's.

use super::RamError;

/// A copyable view of guest RAM (transitional, see the module docs).
///
/// The machine runs on one thread and the engine touches RAM only inside
/// `emu_start`; host accesses happen between runs or inside hooks, when the
/// engine is not accessing memory, so they never race.
#[derive(Clone, Copy)]
pub struct Ram {
    ptr: *mut u8,
    len: usize,
}

impl Ram {
    /// A view of `len` bytes at `ptr` (a live `RamBlock`'s mapping).
    pub(super) fn new(ptr: *mut u8, len: usize) -> Ram {
        Ram { ptr, len }
    }

    /// The raw pointer, for mapping into the engine.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether RAM is empty (never, for a real machine).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, addr: u64, len: usize) -> Result<usize, RamError> {
        super::check_range(self.len, addr, len)
    }

    /// Copies guest memory into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RamError> {
        let start = self.check(addr, buf.len())?;
        // SAFETY: the range was checked to lie inside the mapping, which the
        // user keeps alive (module docs); `buf` cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(start), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` into guest memory.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), RamError> {
        let start = self.check(addr, data.len())?;
        // SAFETY: as in `read`; a write-protected page faults and is
        // unprotected by the tracking handler, then the copy resumes.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(start), data.len()) };
        Ok(())
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Result<u64, RamError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, addr: u64) -> Result<u32, RamError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), RamError> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), RamError> {
        self.write(addr, &v.to_le_bytes())
    }

    /// All of RAM as a slice, for hashing and snapshots.
    pub fn contents(&self) -> &[u8] {
        // SAFETY: the whole mapping, alive and not written while the slice
        // is used (module docs).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Replaces all of RAM (snapshot restore). `data` must be RAM-sized.
    pub fn restore(&self, data: &[u8]) -> Result<(), RamError> {
        self.write(0, data)
    }
}
