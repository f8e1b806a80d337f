//! Guest RAM: one anonymous host mapping shared by the engine (through
//! `mem_map_ptr`) and the host side of the emulator, with dirty-page
//! tracking by the host MMU so that a snapshot restore copies only the
//! pages written since.
//!
//! # Dirty tracking
//!
//! [`RamBlock::start_tracking`] (or [`RamBlock::snapshot`]) write-protects
//! the whole block. The first store to a page, by the engine's generated
//! code or helpers or by anything else, faults; a process-wide SIGSEGV
//! handler (installed once, see `track.rs`) finds the block in a lock-free
//! registry, sets the page's bit in the block's bitmap and unprotects the
//! page, and the store retries. Host writes through [`RamBlock::write`]
//! set the bits and unprotect directly, without a fault. Faults outside
//! every tracked block go to the handler that was installed before ours
//! (Rust's stack-overflow detector, normally), or kill the process as they
//! would have without us.
//!
//! Invariant: while tracking is armed, a page whose bit is clear is
//! read-only. Bits are set before a page is unprotected and cleared only
//! after it is protected again.
//!
//! # Use
//!
//! ```
//! use emulator::ram::{RamBlock, PAGE_SIZE};
//! let mut ram = RamBlock::try_new(16 * PAGE_SIZE)?;
//! ram.write(0x1000, b"boot")?; // load the image (untracked: all dirty)
//! // Here the machine maps `ram.as_ptr()` into the engine.
//! let mut snap = ram.snapshot()?; // copies all of RAM, arms tracking
//! ram.write_u32(0x5000, 7)?; // or any store by the engine
//! assert_eq!(ram.dirty_pages().collect::<Vec<_>>(), [5]);
//! ram.restore_from(&snap)?; // copies page 5 back, re-protects it
//! assert_eq!(ram.read_u32(0x5000)?, 0);
//! ram.write(0x2000, b"x")?;
//! ram.refresh_snapshot(&mut snap)?; // copies page 2 into `snap`
//! assert_eq!(snap.as_bytes()[0x2000], b'x');
//! # Ok::<(), emulator::ram::RamError>(())
//! ```
//!
//! # Snapshots
//!
//! A [`RamSnapshot`] carries a version: a process-wide unique id for its
//! contents, renewed whenever they change. The block remembers the version
//! its clean pages agree with (its baseline), set by [`RamBlock::snapshot`],
//! [`RamBlock::refresh_snapshot`] and [`RamBlock::restore_from`].
//! Restoring or refreshing against the baseline copies only the dirty
//! pages; against any other snapshot (older, another block's, a clone that
//! was refreshed since) it copies all of RAM and makes that the baseline.
//! So every call is correct whatever the caller's history, and the
//! incremental path is taken exactly when it is valid.
//!
//! # Soundness
//!
//! Reads lend from `&self` ([`RamBlock::contents`]) and every host write
//! takes `&mut self`, so a slice of guest RAM never sees a host write. The
//! mapping is released in `Drop`, so no slice outlives it. The engine is
//! outside the borrow checker: whoever passes [`RamBlock::as_ptr`] to the
//! (unsafe) `mem_map_ptr` must guarantee that the engine is closed before
//! the block is dropped, and that it does not run while a slice from
//! `contents` is alive. Keeping the block in the engine's user data does
//! both: `emu_start` takes `&mut Unicorn`, which excludes a live
//! `get_data().contents()`, and a hook that borrows RAM from its
//! `&mut Unicorn` argument returns before the engine resumes; Unicorn's
//! `uc_close` runs before its data is dropped.
//!
//! # Kernel behaviours relied on (Linux)
//!
//! A store to a PROT_READ private anonymous page raises SIGSEGV with
//! `si_code == SEGV_ACCERR`, `si_addr` inside the page and the write bit
//! set in the x86 page-fault error code of the signal context (other
//! access faults are not ours and are passed on), and returning from the
//! handler re-executes the store. `mprotect` is usable in a
//! signal handler (it is a plain system call). Unicorn (QEMU softmmu)
//! installs no SIGSEGV handler; the tracking tests check it. A syscall
//! that writes into a protected page (`read(2)` into guest RAM) fails with
//! EFAULT instead of faulting: never hand guest RAM to the kernel as a
//! destination while tracking is armed. Each unprotected page may split
//! the mapping; if `mprotect` fails (`vm.max_map_count`), the block falls
//! back to "everything dirty", which stays correct.

mod track;

#[cfg(test)]
mod tests;

use std::ops::Range;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};

/// Granularity of dirty tracking (the host page size, checked at runtime).
pub const PAGE_SIZE: usize = 4096;

/// The guest-physical address of the page that holds `addr`.
pub fn page_base(addr: u64) -> u64 {
    addr & !(PAGE_SIZE as u64 - 1)
}

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
    /// RAM must be a non-zero multiple of [`PAGE_SIZE`].
    #[error("guest RAM of {0:#x} bytes is not a non-zero multiple of the page size")]
    BadSize(usize),
    /// The host's pages are not [`PAGE_SIZE`] bytes.
    #[error("host page size is {0}, dirty tracking needs {PAGE_SIZE}")]
    PageSize(libc::c_long),
    /// A snapshot of another size.
    #[error("snapshot of {got:#x} bytes for guest RAM of {expected:#x}")]
    SnapshotSize {
        /// Size of RAM.
        expected: usize,
        /// Size of the snapshot.
        got: usize,
    },
    /// Every slot of the tracking registry is taken.
    #[error("more than {} guest RAM blocks tracked at once", track::MAX_TRACKED)]
    TooManyTracked,
    /// Someone installed another SIGSEGV handler over the tracking one.
    #[error("the SIGSEGV handler of dirty tracking was replaced")]
    HandlerReplaced,
    /// A system call failed.
    #[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// The call.
        op: &'static str,
        /// Its errno.
        errno: i32,
    },
}

impl RamError {
    fn mprotect(errno: i32) -> RamError {
        RamError::Os {
            op: "mprotect",
            errno,
        }
    }

    fn last_os(op: &'static str) -> RamError {
        RamError::Os {
            op,
            errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        }
    }
}

/// Checks that `addr..addr+len` lies in RAM of `size` bytes; returns the
/// start offset.
fn check_range(size: usize, addr: u64, len: usize) -> Result<usize, RamError> {
    let start = usize::try_from(addr).map_err(|_| RamError::OutOfRange { addr, len })?;
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(start),
        _ => Err(RamError::OutOfRange { addr, len }),
    }
}

fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A copy of all of guest RAM, restorable with [`RamBlock::restore_from`].
///
/// Cloning keeps the version (same contents); any change of contents gives
/// a new one (module docs). The default is empty, to be filled by
/// [`RamBlock::refresh_snapshot`].
#[derive(Clone, Default)]
pub struct RamSnapshot {
    version: u64,
    data: Box<[u8]>,
}

impl RamSnapshot {
    /// The saved contents.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the snapshot is empty (only the default, never filled).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl std::fmt::Debug for RamSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamSnapshot")
            .field("version", &self.version)
            .field("len", &self.data.len())
            .finish()
    }
}

/// The guest RAM mapping. Owned by the machine.
pub struct RamBlock {
    ptr: NonNull<u8>,
    len: usize,
    /// One bit per page: written since the baseline (all set while tracking
    /// is not armed). Shared with the fault handler through the registry,
    /// hence a raw allocation (`Box::leak`, freed in `Drop`) rather than a
    /// `Box`, whose moves would assert unique access.
    bitmap: NonNull<[AtomicU64]>,
    /// Registry slot while tracking is armed (then until drop).
    slot: Option<usize>,
    /// Version of the snapshot the clean pages agree with; 0 for none.
    baseline: u64,
}

// SAFETY: the block owns its mapping and bitmap exclusively; the fault
// handler touches the bitmap only through atomics and the protections only
// through `mprotect`, from any thread. Nothing is tied to the creating
// thread.
unsafe impl Send for RamBlock {}

impl RamBlock {
    /// Maps `len` zeroed bytes, page aligned.
    ///
    /// # Panics
    ///
    /// If [`RamBlock::try_new`] fails: `len` is not a non-zero multiple of
    /// [`PAGE_SIZE`] (a constant of the machine) or the host is out of
    /// address space, which is treated like any failed allocation.
    pub fn new(len: usize) -> RamBlock {
        match RamBlock::try_new(len) {
            Ok(b) => b,
            Err(e) => panic!("guest RAM: {e}"),
        }
    }

    /// Maps `len` zeroed bytes, page aligned (anonymous, private, no swap
    /// reservation).
    pub fn try_new(len: usize) -> Result<RamBlock, RamError> {
        if len == 0 || len & (PAGE_SIZE - 1) != 0 {
            return Err(RamError::BadSize(len));
        }
        // SAFETY: sysconf has no memory-safety preconditions.
        let host_page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if usize::try_from(host_page) != Ok(PAGE_SIZE) {
            return Err(RamError::PageSize(host_page));
        }
        // SAFETY: a fresh anonymous mapping; it aliases nothing.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(RamError::last_os("mmap"));
        }
        // Huge pages would be split by the first 4 KiB protection change
        // (tens of microseconds each, on a random first write); 4 KiB pages
        // keep fault costs uniform. Advisory: without THP support it fails,
        // which changes nothing.
        // SAFETY: advice on our own fresh mapping; no memory-safety effect.
        unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
        let Some(ptr) = NonNull::new(p.cast::<u8>()) else {
            return Err(RamError::Os {
                op: "mmap",
                errno: libc::ENOMEM,
            });
        };
        let pages = len / PAGE_SIZE;
        let bits: Box<[AtomicU64]> = (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        track::mark_all(&bits, pages);
        let bitmap = NonNull::from(Box::leak(bits));
        Ok(RamBlock {
            ptr,
            len,
            bitmap,
            slot: None,
            baseline: 0,
        })
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether RAM is empty (never: construction refuses it).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        self.len / PAGE_SIZE
    }

    /// The base of the mapping, for `mem_map_ptr` (see "Soundness" in the
    /// module docs for what mapping it into an engine requires).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn bits(&self) -> &[AtomicU64] {
        // SAFETY: the bitmap lives until drop and is only accessed through
        // shared references to atomics.
        unsafe { self.bitmap.as_ref() }
    }

    fn base(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Copies guest memory into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RamError> {
        let start = check_range(self.len, addr, buf.len())?;
        buf.copy_from_slice(&self.contents()[start..start + buf.len()]);
        Ok(())
    }

    /// Copies `data` into guest memory (marking the pages dirty).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), RamError> {
        let start = check_range(self.len, addr, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.unprotect_for_write(start / PAGE_SIZE..(start + data.len() - 1) / PAGE_SIZE + 1)?;
        // SAFETY: the range is inside the mapping and writable now; `&mut
        // self` excludes every slice of guest RAM, so `data` is not one.
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(start), data.len())
        };
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
    pub fn write_u64(&mut self, addr: u64, v: u64) -> Result<(), RamError> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&mut self, addr: u64, v: u32) -> Result<(), RamError> {
        self.write(addr, &v.to_le_bytes())
    }

    /// All of RAM, for hashing and comparing.
    pub fn contents(&self) -> &[u8] {
        // SAFETY: the whole mapping, readable under every protection we
        // set, alive as long as `self`; host writes need `&mut self` and
        // the engine contract (module docs) excludes engine writes while
        // the slice lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Arms dirty tracking: write-protects all of RAM and clears the dirty
    /// set; from now on [`RamBlock::dirty_pages`] lists the pages written
    /// since. Forgets the snapshot baseline.
    pub fn start_tracking(&mut self) -> Result<(), RamError> {
        self.arm()?;
        self.baseline = 0;
        Ok(())
    }

    /// Whether tracking is armed.
    pub fn is_tracking(&self) -> bool {
        self.slot.is_some()
    }

    /// Pages written since tracking was armed or last synced with a
    /// snapshot, in increasing order; every page while tracking is not
    /// armed.
    pub fn dirty_pages(&self) -> DirtyPages<'_> {
        DirtyPages {
            bits: self.bits(),
            next_word: 0,
            word_base: 0,
            cur: 0,
        }
    }

    /// Number of dirty pages.
    pub fn dirty_count(&self) -> usize {
        self.bits()
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }

    /// Copies all of RAM into a new snapshot and arms tracking against it.
    pub fn snapshot(&mut self) -> Result<RamSnapshot, RamError> {
        let mut snap = RamSnapshot::default();
        self.refresh_snapshot(&mut snap)?;
        Ok(snap)
    }

    /// Brings `snap` up to the current contents of RAM, reusing its buffer
    /// (`snapshot_into`): only the dirty pages if `snap` is the baseline,
    /// all of RAM otherwise (reallocating if its size differs, as for an
    /// empty [`RamSnapshot::default`]). Afterwards `snap`, with a new
    /// version, is the baseline and tracking is armed. After an error the
    /// contents of `snap` are unspecified (but restoring it is consistent
    /// with them) and the block has no baseline.
    pub fn refresh_snapshot(&mut self, snap: &mut RamSnapshot) -> Result<(), RamError> {
        let incremental = self.is_baseline(snap);
        // Renamed before any change: no block may take the old contents
        // for these bytes.
        snap.version = next_version();
        self.baseline = 0;
        if incremental {
            let base = self.ptr.as_ptr();
            self.sync_dirty(|run| {
                // SAFETY: `run` lies inside the mapping and inside the
                // snapshot buffer, which, being the baseline, was filled
                // from this block and is as long; a separate allocation.
                unsafe {
                    ptr::copy_nonoverlapping(
                        base.add(run.start),
                        snap.data.as_mut_ptr().add(run.start),
                        run.len(),
                    )
                }
            })?;
        } else {
            if snap.data.len() == self.len {
                snap.data.copy_from_slice(self.contents());
            } else {
                snap.data = self.contents().into();
            }
            self.arm()?;
        }
        self.baseline = snap.version;
        Ok(())
    }

    /// Makes RAM equal to `snap`: copies back only the dirty pages if
    /// `snap` is the baseline, all of RAM otherwise. Tracking is armed
    /// afterwards with `snap` as the baseline. After an error the contents
    /// of RAM are unspecified and the block has no baseline (the next
    /// restore copies everything).
    pub fn restore_from(&mut self, snap: &RamSnapshot) -> Result<(), RamError> {
        if snap.data.len() != self.len {
            return Err(RamError::SnapshotSize {
                expected: self.len,
                got: snap.data.len(),
            });
        }
        let incremental = self.is_baseline(snap);
        // Until it succeeds, the clean pages agree with nothing.
        self.baseline = 0;
        if incremental {
            let base = self.ptr.as_ptr();
            self.sync_dirty(|run| {
                // SAFETY: `run` lies inside the mapping and the equally long
                // snapshot buffer (checked above); `&mut self` excludes
                // slices of RAM, so they do not overlap. Dirty pages are
                // writable (one still protected would fault and be
                // unprotected by the handler).
                unsafe {
                    ptr::copy_nonoverlapping(
                        snap.data.as_ptr().add(run.start),
                        base.add(run.start),
                        run.len(),
                    )
                }
            })?;
        } else {
            self.unprotect_all()?;
            // SAFETY: the whole mapping is writable now; the snapshot is a
            // separate allocation of the same length.
            unsafe { ptr::copy_nonoverlapping(snap.data.as_ptr(), self.ptr.as_ptr(), self.len) };
            self.arm()?;
        }
        self.baseline = snap.version;
        Ok(())
    }

    /// Whether [`RamBlock::restore_from`] `snap` copies only the dirty
    /// pages (`snap` is the baseline).
    pub fn is_baseline(&self, snap: &RamSnapshot) -> bool {
        self.slot.is_some() && self.baseline != 0 && self.baseline == snap.version
    }

    /// Registers the block if needed (checks the handler otherwise),
    /// write-protects all of it and clears every bit.
    fn arm(&mut self) -> Result<(), RamError> {
        match self.slot {
            Some(_) => track::ensure_handler()?,
            None => {
                let bitmap = self.bitmap.as_ptr().cast::<AtomicU64>().cast_const();
                // SAFETY: the mapping and bitmap live until `drop`, which
                // unregisters the slot before freeing them.
                self.slot = Some(unsafe { track::register(self.base(), self.len, bitmap) }?);
            }
        }
        self.protect_all()
    }

    /// Write-protects all of RAM, then clears every bit (all pages clean).
    fn protect_all(&self) -> Result<(), RamError> {
        // SAFETY: the whole mapping; no slice needs more than PROT_READ.
        unsafe { track::protect(self.base(), self.len, libc::PROT_READ) }
            .map_err(RamError::mprotect)?;
        for w in self.bits() {
            w.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Makes `pages` writable ahead of a host write, marking them dirty.
    fn unprotect_for_write(&self, pages: Range<usize>) -> Result<(), RamError> {
        if self.slot.is_none() {
            return Ok(());
        }
        let mut clean = false;
        for p in pages.clone() {
            clean |= track::mark(self.bits(), p);
        }
        if !clean {
            return Ok(());
        }
        let addr = self.base() + pages.start * PAGE_SIZE;
        // SAFETY: the pages are inside the mapping; making them writable
        // cannot break a slice.
        let r = unsafe {
            track::protect(
                addr,
                pages.len() * PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        match r {
            Ok(()) => Ok(()),
            Err(_) => self.unprotect_all(),
        }
    }

    /// Marks every page dirty and makes all of RAM writable.
    fn unprotect_all(&self) -> Result<(), RamError> {
        if self.slot.is_none() {
            return Ok(());
        }
        // SAFETY: the whole mapping.
        unsafe { track::degrade(self.base(), self.len, self.bits()) }.map_err(RamError::mprotect)
    }

    /// Runs of dirty pages, as byte ranges.
    fn dirty_runs(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let mut pages = self.dirty_pages().peekable();
        std::iter::from_fn(move || {
            let first = pages.next()?;
            let mut end = first + 1;
            while pages.next_if_eq(&end).is_some() {
                end += 1;
            }
            Some(first * PAGE_SIZE..end * PAGE_SIZE)
        })
    }

    /// Calls `copy` for every run of dirty pages, then write-protects them
    /// again and clears their bits.
    ///
    /// One `mprotect` of the whole block re-protects them: the kernel skips
    /// the parts that are read-only already and merges the rest back into
    /// one mapping, and it is about twice as fast per page as one call per
    /// run, from 1 to 1000 scattered pages (measured on the 2-core VM; PTE
    /// changes dominate).
    fn sync_dirty(&self, mut copy: impl FnMut(Range<usize>)) -> Result<(), RamError> {
        let mut any = false;
        for run in self.dirty_runs() {
            copy(run);
            any = true;
        }
        if any {
            self.protect_all()?;
        }
        Ok(())
    }
}

impl Drop for RamBlock {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            track::unregister(slot);
        }
        // SAFETY: our own mapping, unmapped once; no slice outlives `self`
        // and the registry no longer refers to it. A failure (impossible
        // for a mapping we own) would only leak it.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        // SAFETY: the bitmap came from `Box::leak` in `try_new` and the
        // registry no longer refers to it.
        drop(unsafe { Box::from_raw(self.bitmap.as_ptr()) });
    }
}

/// Iterator over dirty page indices, from [`RamBlock::dirty_pages`].
pub struct DirtyPages<'a> {
    bits: &'a [AtomicU64],
    next_word: usize,
    word_base: usize,
    cur: u64,
}

impl Iterator for DirtyPages<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.cur == 0 {
            let w = self.bits.get(self.next_word)?;
            self.cur = w.load(Ordering::Relaxed);
            self.word_base = self.next_word * 64;
            self.next_word += 1;
        }
        let bit = self.cur.trailing_zeros() as usize;
        self.cur &= self.cur - 1;
        Some(self.word_base + bit)
    }
}
