//! Guest RAM: one host allocation shared by the engine (through
//! `mem_map_ptr`) and the host side of the emulator.

use std::alloc::{alloc_zeroed, dealloc, Layout};

/// Errors of RAM accesses from the host side.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RamError {
    /// The access is not inside RAM.
    #[error("host access to {addr:#x}+{len} is outside guest RAM")]
    OutOfRange {
        /// Guest physical address.
        addr: u64,
        /// Length of the access.
        len: usize,
    },
}

/// The RAM allocation. Owned by the machine; handed out as [`Ram`] views.
pub struct RamBlock {
    ptr: *mut u8,
    len: usize,
}

impl RamBlock {
    const ALIGN: usize = 4096;

    /// Allocates `len` zeroed bytes, page aligned.
    pub fn new(len: usize) -> RamBlock {
        let layout = Layout::from_size_align(len, Self::ALIGN).expect("page-aligned RAM layout");
        // SAFETY: the layout has a non-zero size (RAM is never empty).
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        RamBlock { ptr, len }
    }

    /// A view of the block. Valid while the block lives.
    pub fn view(&self) -> Ram {
        Ram {
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl Drop for RamBlock {
    fn drop(&mut self) {
        let layout =
            Layout::from_size_align(self.len, Self::ALIGN).expect("layout was valid at alloc");
        // SAFETY: `ptr` was allocated with this exact layout and is freed once.
        unsafe { dealloc(self.ptr, layout) }
    }
}

/// A copyable view of guest RAM.
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
        let start = usize::try_from(addr).map_err(|_| RamError::OutOfRange { addr, len })?;
        match start.checked_add(len) {
            Some(end) if end <= self.len => Ok(start),
            _ => Err(RamError::OutOfRange { addr, len }),
        }
    }

    /// Copies guest memory into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RamError> {
        let start = self.check(addr, buf.len())?;
        // SAFETY: the range was checked to lie inside the allocation, and no
        // engine access runs concurrently (see the type's documentation).
        let src = unsafe { std::slice::from_raw_parts(self.ptr.add(start), buf.len()) };
        buf.copy_from_slice(src);
        Ok(())
    }

    /// Copies `data` into guest memory.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), RamError> {
        let start = self.check(addr, data.len())?;
        // SAFETY: as in `read`; the destination is inside the allocation.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), data.len()) };
        dst.copy_from_slice(data);
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
        // SAFETY: the whole allocation; no concurrent engine access.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Replaces all of RAM (snapshot restore). `data` must be RAM-sized.
    pub fn restore(&self, data: &[u8]) -> Result<(), RamError> {
        self.write(0, data)
    }
}
