//! The host-MMU half of dirty tracking: the process-wide SIGSEGV handler,
//! the lock-free registry of tracked blocks it consults, and the bitmap and
//! `mprotect` helpers it shares with [`RamBlock`](super::RamBlock).
//!
//! Everything reachable from [`on_segv`] is async-signal-safe: atomics
//! (lock-free on every target we build for), `mprotect`, `sigaction`,
//! `write` and `abort`. No allocation, no locks, no formatting, no panics
//! (no indexing, no overflowing arithmetic).
//!
//! # Registry protocol
//!
//! A slot is `FREE`, `BUSY` (being filled or emptied) or `READY`. The
//! handler pins a slot before reading it: it increments `users`, then
//! rechecks `state == READY` (both `SeqCst`). Unregistering stores `BUSY`
//! (`SeqCst`) and then waits for `users == 0` (`SeqCst`): in the single
//! total order either the handler's increment comes first and
//! unregistering waits for it, or the store of `BUSY` comes first and the
//! handler sees it and leaves the slot alone. So a block's bitmap and
//! mapping are never freed under a handler that is using them, and the
//! handler never waits for anyone.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::{RamError, PAGE_SIZE};

/// How many blocks may be tracked at once in one process.
pub(super) const MAX_TRACKED: usize = 256;

/// `si_code` of a fault on a mapped page whose protection forbids the
/// access (`<asm-generic/siginfo.h>`; the `libc` crate does not export it).
const SEGV_ACCERR: c_int = 2;

const FREE: usize = 0;
const BUSY: usize = 1;
const READY: usize = 2;

struct Slot {
    state: AtomicUsize,
    users: AtomicUsize,
    base: AtomicUsize,
    len: AtomicUsize,
    bitmap: AtomicPtr<AtomicU64>,
}

static REGISTRY: [Slot; MAX_TRACKED] = [const {
    Slot {
        state: AtomicUsize::new(FREE),
        users: AtomicUsize::new(0),
        base: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        bitmap: AtomicPtr::new(ptr::null_mut()),
    }
}; MAX_TRACKED];

/// The disposition of SIGSEGV before ours; set once, before ours is
/// installed, and never changed.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Outcome of installing the handler (once per process): `Err(errno)`.
static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();

/// Installs the SIGSEGV handler if it is not yet, and checks that nobody
/// replaced it since.
pub(super) fn ensure_handler() -> Result<(), RamError> {
    INSTALLED
        .get_or_init(install)
        .map_err(|errno| RamError::Os {
            op: "sigaction",
            errno,
        })?;
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
    let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: queries the current disposition into a valid out-pointer.
    if unsafe { libc::sigaction(libc::SIGSEGV, ptr::null(), &mut cur) } != 0 {
        return Err(RamError::last_os("sigaction"));
    }
    if cur.sa_sigaction != handler_address() {
        return Err(RamError::HandlerReplaced);
    }
    Ok(())
}

fn install() -> Result<(), i32> {
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: queries the current disposition into a valid out-pointer.
    if unsafe { libc::sigaction(libc::SIGSEGV, ptr::null(), &mut old) } != 0 {
        return Err(last_errno());
    }
    // Recorded before ours is installed, so the handler always finds it.
    // `install` runs once (inside `INSTALLED.get_or_init`), so this `set`
    // is the first.
    let _ = PREVIOUS.set(old);
    // SAFETY: as above.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = handler_address();
    // SA_ONSTACK: run on the thread's alternate stack when it has one (Rust
    // gives each thread one), as the previous handler (Rust's stack-overflow
    // detector) needs when we chain to it. No SA_NODEFER: SIGSEGV stays
    // blocked in the handler, so a fault inside it (a bug) makes the kernel
    // kill the process at once instead of recursing.
    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `sa_mask` is a valid sigset to initialise.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: installs a valid SA_SIGINFO handler; `on_segv` has the
    // signature the kernel calls it with.
    if unsafe { libc::sigaction(libc::SIGSEGV, &new, ptr::null_mut()) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

fn handler_address() -> libc::sighandler_t {
    on_segv as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as libc::sighandler_t
}

/// Enters a block in the registry; returns its slot. From then on, write
/// faults inside `[base, base + len)` set the page's bit in `bitmap` and
/// unprotect the page.
///
/// # Safety
///
/// `[base, base + len)` must be a mapping of the caller's and `bitmap` must
/// point to `len / PAGE_SIZE` bits (rounded up to whole words) of atomics,
/// both valid until [`unregister`] of the returned slot returns.
pub(super) unsafe fn register(
    base: usize,
    len: usize,
    bitmap: *const AtomicU64,
) -> Result<usize, RamError> {
    ensure_handler()?;
    for (i, slot) in REGISTRY.iter().enumerate() {
        if slot
            .state
            .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            slot.base.store(base, Ordering::Relaxed);
            slot.len.store(len, Ordering::Relaxed);
            slot.bitmap.store(bitmap.cast_mut(), Ordering::Relaxed);
            // Publishes the fields to handlers that see READY.
            slot.state.store(READY, Ordering::Release);
            return Ok(i);
        }
    }
    Err(RamError::TooManyTracked)
}

/// Removes a block from the registry; when this returns no handler is
/// using it any more, so its bitmap and mapping may be freed.
pub(super) fn unregister(slot: usize) {
    let Some(s) = REGISTRY.get(slot) else {
        return;
    };
    s.state.store(BUSY, Ordering::SeqCst);
    // Waits out handlers that pinned the slot before they could see BUSY;
    // each runs one `mprotect` and leaves.
    while s.users.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    s.bitmap.store(ptr::null_mut(), Ordering::Relaxed);
    s.state.store(FREE, Ordering::Release);
}

/// Sets `page`'s bit; returns whether it was clear.
pub(super) fn mark(bits: &[AtomicU64], page: usize) -> bool {
    let bit = 1u64 << (page % 64);
    // Relaxed: the bits are read back by the thread that owns the block,
    // after the write that faulted on that same thread (or after handing
    // the block over, which synchronises).
    bits.get(page / 64)
        .is_some_and(|w| w.fetch_or(bit, Ordering::Relaxed) & bit == 0)
}

/// Sets the bits of pages `0..pages`.
pub(super) fn mark_all(bits: &[AtomicU64], pages: usize) {
    for (i, w) in bits.iter().enumerate() {
        let first = i.saturating_mul(64);
        let n = pages.saturating_sub(first).min(64);
        let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        w.store(mask, Ordering::Relaxed);
    }
}

/// `mprotect` of `len` bytes at `addr`; `Err(errno)` on failure.
///
/// # Safety
///
/// `[addr, addr + len)` must be a page-aligned part of a mapping owned by
/// the caller, and no live reference may require the new protection to
/// differ (a `&[u8]` only needs PROT_READ, which every protection we set
/// includes).
pub(super) unsafe fn protect(addr: usize, len: usize, prot: c_int) -> Result<(), i32> {
    // SAFETY: guaranteed by the caller.
    if unsafe { libc::mprotect(addr as *mut c_void, len, prot) } == 0 {
        Ok(())
    } else {
        Err(last_errno())
    }
}

/// The fallback when unprotecting one page failed (in practice ENOMEM: the
/// process ran out of mappings, `vm.max_map_count`, because protections
/// split the block into too many): declare every page dirty and make the
/// whole block writable, which merges it back into one mapping. Tracking
/// stays correct, only the next restore copies everything.
///
/// # Safety
///
/// As [`protect`] for the whole block `[base, base + len)`.
pub(super) unsafe fn degrade(base: usize, len: usize, bits: &[AtomicU64]) -> Result<(), i32> {
    // Bits first: a clear bit must always mean a read-only page.
    mark_all(bits, len / PAGE_SIZE);
    // SAFETY: guaranteed by the caller.
    unsafe { protect(base, len, libc::PROT_READ | libc::PROT_WRITE) }
}

fn last_errno() -> i32 {
    // SAFETY: `__errno_location` returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

/// The SIGSEGV handler.
extern "C" fn on_segv(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // A handler must leave errno as it found it: the interrupted code may
    // be between a call and its errno check.
    let errno = last_errno();
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // for SIGSEGV the fault address is the member to read.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code != SEGV_ACCERR || !is_write(ctx) || !handle(addr) {
        // SAFETY: forwarding the kernel's own arguments.
        unsafe { chain(sig, info, ctx) };
    }
    // SAFETY: as in `last_errno`.
    unsafe { *libc::__errno_location() = errno };
}

/// Whether the fault was a write: bit 1 of the x86 page-fault error code,
/// which the kernel reports in the signal context. Only writes are ours;
/// anything else (an instruction fetch from guest RAM, say) is a real
/// fault, and unprotecting would only make it repeat forever.
#[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
fn is_write(ctx: *mut c_void) -> bool {
    const PF_WRITE: libc::greg_t = 1 << 1;
    // SAFETY: the third argument of an SA_SIGINFO handler is the
    // interrupted context, a valid `ucontext_t`.
    let uc = unsafe { &*ctx.cast::<libc::ucontext_t>() };
    uc.uc_mcontext
        .gregs
        .get(libc::REG_ERR as usize)
        .is_some_and(|err| err & PF_WRITE != 0)
}

/// Elsewhere the error code is not at hand: every access fault is taken
/// for a write (pages of tracked blocks are never executed by the host).
#[cfg(not(all(target_arch = "x86_64", target_env = "gnu")))]
fn is_write(_ctx: *mut c_void) -> bool {
    true
}

/// Handles a write to a tracked, write-protected page: sets its bit and
/// makes it writable, so the store retries and succeeds. Returns whether
/// `addr` is inside a tracked block.
fn handle(addr: usize) -> bool {
    for slot in &REGISTRY {
        if slot.state.load(Ordering::Acquire) != READY {
            continue;
        }
        slot.users.fetch_add(1, Ordering::SeqCst);
        let mut hit = false;
        if slot.state.load(Ordering::SeqCst) == READY {
            let base = slot.base.load(Ordering::Relaxed);
            let len = slot.len.load(Ordering::Relaxed);
            let offset = addr.wrapping_sub(base);
            if offset < len {
                hit = true;
                let bitmap = slot.bitmap.load(Ordering::Relaxed);
                let words = (len / PAGE_SIZE).div_ceil(64);
                // SAFETY: the slot is pinned and READY, so the registrant's
                // bitmap of `words` atomics is alive (see `register`).
                let bits = unsafe { std::slice::from_raw_parts(bitmap.cast_const(), words) };
                let page = offset / PAGE_SIZE;
                mark(bits, page);
                // SAFETY: the page lies inside the pinned block's mapping,
                // which is owned by its `RamBlock` and writable by design.
                let unprotected = unsafe {
                    protect(
                        base + page * PAGE_SIZE,
                        PAGE_SIZE,
                        libc::PROT_READ | libc::PROT_WRITE,
                    )
                };
                // SAFETY: as above, for the whole block.
                if unprotected.is_err() && unsafe { degrade(base, len, bits) }.is_err() {
                    fatal(b"emulator: cannot unprotect a tracked guest RAM page\n");
                }
            }
        }
        slot.users.fetch_sub(1, Ordering::Release);
        if hit {
            return true;
        }
    }
    false
}

/// Passes a fault that is not ours to the previous disposition.
///
/// # Safety
///
/// The arguments must be those the kernel passed to [`on_segv`].
unsafe fn chain(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let Some(prev) = PREVIOUS.get() else {
        return reset_default(sig);
    };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Returning re-executes the faulting access, which then takes the
        // default action (an ignored SIGSEGV from a fault would loop).
        reset_default(sig);
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO, `sa_sigaction` holds a three-argument
        // handler (it is neither SIG_DFL nor SIG_IGN).
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO it holds a one-argument handler.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

fn reset_default(sig: c_int) {
    // SAFETY: an all-zero `sigaction` is SIG_DFL with an empty mask.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: sets a valid disposition; async-signal-safe.
    unsafe { libc::sigaction(sig, &dfl, ptr::null_mut()) };
}

fn fatal(msg: &[u8]) -> ! {
    // SAFETY: writes a static message to stderr, then aborts; both are
    // async-signal-safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::abort()
    }
}
