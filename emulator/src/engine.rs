//! The only module that calls Unicorn's C API directly: raw register reads
//! the Rust binding gets wrong, saved CPU contexts as plain bytes (for
//! vCPU switching and snapshots), the calibration of two fields of QEMU's
//! CPU state that the API does not expose, and a block hook without the
//! binding's per-call wrapper (it runs for every block executed).

use std::ffi::{c_int, c_void};

use unicorn_engine::{
    uc_context, uc_context_alloc, uc_context_free, uc_context_restore, uc_context_save,
    uc_context_size, uc_emu_stop, uc_engine, uc_error, uc_hook, uc_hook_add, uc_reg_read,
    uc_x86_mmr, Arch, HookType, Mode, Prot, RegisterX86, Unicorn,
};

/// A block hook as the engine calls it: the block's address and size, and
/// the engine's data. It returns true to stop the engine before the block.
pub type BlockHook<D> = fn(&mut D, u64, u32) -> bool;

/// The C side of [`add_block_hook`]: the engine calls it with the data
/// pointer it was given, which is the engine's own data.
///
/// # Safety
///
/// `data` points to the live `D` of the running engine `uc`, which nothing
/// else borrows while a hook runs (the engine runs one hook at a time, and
/// the caller of `emu_start` holds no reference into the data).
unsafe extern "C" fn block_trampoline<D: BlockHooked>(
    uc: *mut uc_engine,
    addr: u64,
    size: u32,
    data: *mut c_void,
) {
    // SAFETY: the caller's contract above.
    let d = unsafe { &mut *data.cast::<D>() };
    if D::HOOK(d, addr, size) {
        // SAFETY: `uc` is the running engine that called this hook.
        let _ = unsafe { uc_emu_stop(uc) };
    }
}

/// Engine data with a block hook of its own.
pub trait BlockHooked: Sized {
    /// The hook.
    const HOOK: BlockHook<Self>;
}

/// Registers `D`'s block hook on `engine` for every block, called by the
/// engine directly with its data: no wrapper object per call, as the
/// binding's closures have.
pub fn add_block_hook<D: BlockHooked>(engine: &mut Unicorn<D>) -> Result<(), EngineError> {
    let handle = engine.get_handle();
    let data: *mut D = engine.get_data_mut();
    let mut id: uc_hook = 0;
    let callback: unsafe extern "C" fn(*mut uc_engine, u64, u32, *mut c_void) =
        block_trampoline::<D>;
    // SAFETY: `handle` is the open engine; `callback` has the C signature
    // of a block hook; `data` points into the engine's data, which the
    // binding keeps at one address (behind an `Rc`) until the engine is
    // closed, and the hook goes with the engine. `begin > end`: all code.
    let err = unsafe {
        uc_hook_add(
            handle,
            &mut id,
            HookType::BLOCK.0 as c_int,
            callback as *mut c_void,
            data.cast(),
            1,
            0,
        )
    };
    Result::from(err).map_err(uc("block hook"))
}

/// Errors of the engine layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A Unicorn call failed.
    #[error("unicorn: {what}: {err:?}")]
    Unicorn {
        /// The operation.
        what: &'static str,
        /// Unicorn's error code.
        err: uc_error,
    },
    /// Calibration could not find a field of the CPU state.
    #[error("calibration failed: {0}")]
    Calibration(&'static str),
}

/// Maps a Unicorn error with the name of the operation.
pub fn uc(what: &'static str) -> impl Fn(uc_error) -> EngineError {
    move |err| EngineError::Unicorn { what, err }
}

/// Base, limit and selector of GDTR, IDTR or TR.
#[derive(Clone, Copy, Debug)]
pub struct Mmr {
    /// Linear base address.
    pub base: u64,
    /// Limit.
    pub limit: u32,
}

/// Reads a memory-management register through the raw API (the binding's
/// `reg_read_long` overflows its buffer for these).
pub fn read_mmr<D>(u: &Unicorn<D>, reg: RegisterX86) -> Result<Mmr, EngineError> {
    let mut m = uc_x86_mmr {
        selector: 0,
        base: 0,
        limit: 0,
        flags: 0,
    };
    // SAFETY: `m` is a valid, writable `uc_x86_mmr`, which is exactly what
    // uc_reg_read writes for GDTR/IDTR/TR/LDTR; the handle is live for the
    // duration of the borrow of `u`.
    let err = unsafe { uc_reg_read(u.get_handle(), reg as i32, (&raw mut m).cast::<c_void>()) };
    if err != uc_error::OK {
        return Err(EngineError::Unicorn {
            what: "read mmr",
            err,
        });
    }
    Ok(Mmr {
        base: m.base,
        limit: m.limit,
    })
}

/// A saved CPU context owned by us, readable and writable as bytes.
pub struct SavedContext {
    ptr: *mut uc_context,
    size: usize,
}

impl SavedContext {
    /// Allocates a context for `u`'s architecture.
    pub fn new<D>(u: &Unicorn<D>) -> Result<SavedContext, EngineError> {
        let mut ptr: *mut uc_context = std::ptr::null_mut();
        // SAFETY: uc_context_alloc writes a freshly allocated context to
        // `ptr`; the handle is live.
        let err = unsafe { uc_context_alloc(u.get_handle(), &raw mut ptr) };
        if err != uc_error::OK || ptr.is_null() {
            return Err(EngineError::Unicorn {
                what: "context alloc",
                err,
            });
        }
        // SAFETY: the handle is live; the call only reads engine metadata.
        let size = unsafe { uc_context_size(u.get_handle()) };
        Ok(SavedContext { ptr, size })
    }

    /// Saves the engine's current CPU state here.
    pub fn save<D>(&mut self, u: &Unicorn<D>) -> Result<(), EngineError> {
        // SAFETY: `ptr` was allocated for this engine's architecture and is
        // exclusively ours.
        let err = unsafe { uc_context_save(u.get_handle(), self.ptr) };
        (err == uc_error::OK)
            .then_some(())
            .ok_or(EngineError::Unicorn {
                what: "context save",
                err,
            })
    }

    /// Loads this state into the engine's CPU.
    pub fn restore<D>(&self, u: &Unicorn<D>) -> Result<(), EngineError> {
        // SAFETY: `ptr` holds a context saved from an engine of the same
        // architecture and mode.
        let err = unsafe { uc_context_restore(u.get_handle(), self.ptr) };
        (err == uc_error::OK)
            .then_some(())
            .ok_or(EngineError::Unicorn {
                what: "context restore",
                err,
            })
    }

    /// The whole context as bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to an allocation of `size` bytes (the size
        // Unicorn reports for its contexts) that lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.size) }
    }

    /// The whole context as mutable bytes.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<u8>(), self.size) }
    }

    /// Reads a native-endian i32 at `off`.
    pub fn read_i32(&self, off: usize) -> i32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.bytes()[off..off + 4]);
        i32::from_ne_bytes(w)
    }

    /// Writes a native-endian i32 at `off`.
    pub fn write_i32(&mut self, off: usize, v: i32) {
        self.bytes_mut()[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
}

impl Drop for SavedContext {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from uc_context_alloc and is freed only here.
        unsafe {
            uc_context_free(self.ptr);
        }
    }
}

/// Offsets, inside a saved context, of QEMU's `error_code` and
/// `old_exception` fields. Found by experiment on every machine start, so
/// they never depend on a hard-coded build layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// Error code of the last exception.
    pub error_code: usize,
    /// Exception in flight; must be reset to -1 after each fault we handle,
    /// or the next fault is reported as a double fault.
    pub old_exception: usize,
    /// QEMU's `hflags`, whose two low bits are the CPL. In 64-bit mode the
    /// API loads only segment selectors, so raising CPL from 3 to 0 for an
    /// interrupt from ring 3 means writing these bits.
    pub hflags: usize,
}

const CAL_BASE: u64 = 0x1000;
const CAL_SEL_A: u16 = 0x1238;
const CAL_SEL_B: u16 = 0x2470;

/// Runs two deliberate #GP faults on a scratch engine and locates the two
/// fields by their values.
pub fn calibrate() -> Result<Calibration, EngineError> {
    let mut u = Unicorn::new(Arch::X86, Mode::MODE_64).map_err(uc("open"))?;
    u.mem_map(CAL_BASE, 0x2000, Prot::ALL).map_err(uc("map"))?;
    // mov ds, [rip+0x10] ; hlt ; selector words at +0x16
    let mut code = vec![0x8e, 0x1d, 0x10, 0x00, 0x00, 0x00, 0xf4];
    code.resize(0x16, 0x90);
    u.mem_write(CAL_BASE, &code).map_err(uc("write"))?;
    let snap = std::rc::Rc::new(std::cell::RefCell::new(Vec::<(u32, Vec<u8>)>::new()));
    let scratch = std::rc::Rc::new(std::cell::RefCell::new(SavedContext::new(&u)?));
    {
        let snap = snap.clone();
        let scratch = scratch.clone();
        u.add_intr_hook(move |u, intno| {
            let mut ctx = scratch.borrow_mut();
            if ctx.save(u).is_ok() {
                snap.borrow_mut().push((intno, ctx.bytes().to_vec()));
            }
            let _ = u.emu_stop();
        })
        .map_err(uc("hook"))?;
    }
    let before = {
        let mut c = SavedContext::new(&u)?;
        c.save(&u)?;
        c.bytes().to_vec()
    };
    let run = |u: &mut Unicorn<()>, sel: u16| -> Result<(), EngineError> {
        u.mem_write(CAL_BASE + 0x16, &sel.to_le_bytes())
            .map_err(uc("write"))?;
        u.emu_start(CAL_BASE, CAL_BASE + 7, 0, 4).map_err(uc("run"))
    };
    run(&mut u, CAL_SEL_A)?;
    let first = snap.borrow().last().cloned();
    let (intno, after) = first.ok_or(EngineError::Calibration("no fault observed"))?;
    if intno != 13 {
        return Err(EngineError::Calibration("first fault was not #GP"));
    }
    let i32_at = |b: &[u8], off: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[off..off + 4]);
        i32::from_ne_bytes(w)
    };
    let len = before.len().min(after.len());
    let old_candidates: Vec<usize> = (0..len - 4)
        .step_by(4)
        .filter(|&o| i32_at(&before, o) == -1 && i32_at(&after, o) == 13)
        .collect();
    let err_candidates: Vec<usize> = (0..len - 4)
        .step_by(4)
        .filter(|&o| i32_at(&after, o) == i32::from(CAL_SEL_A))
        .collect();
    // Reset each old_exception candidate, fault again, and keep the offsets
    // that make the second fault a plain #GP with the second selector.
    for &old in &old_candidates {
        for &err in &err_candidates {
            let mut ctx = SavedContext::new(&u)?;
            ctx.save(&u)?;
            ctx.write_i32(old, -1);
            ctx.restore(&u)?;
            snap.borrow_mut().clear();
            run(&mut u, CAL_SEL_B)?;
            let second = snap.borrow().last().cloned();
            if let Some((13, bytes)) = second {
                if i32_at(&bytes, err) == i32::from(CAL_SEL_B) {
                    let hflags = calibrate_hflags(&mut u, &snap)?;
                    return Ok(Calibration {
                        error_code: err,
                        old_exception: old,
                        hflags,
                    });
                }
            }
        }
    }
    Err(EngineError::Calibration(
        "no offsets for error_code/old_exception",
    ))
}

type Snaps = std::rc::Rc<std::cell::RefCell<Vec<(u32, Vec<u8>)>>>;

/// Finds `hflags` by saving the CPU state in ring 0 and, after an `iretq`,
/// in ring 3: the one 32-bit field whose value differs by exactly CPL 0 to
/// CPL 3. Checked by clearing those bits in the ring-3 state and running a
/// privileged instruction.
fn calibrate_hflags(u: &mut Unicorn<()>, snap: &Snaps) -> Result<usize, EngineError> {
    const GDT: u64 = CAL_BASE + 0x800;
    const GDTR: u64 = CAL_BASE + 0xa00;
    const RING0: u64 = CAL_BASE + 0x100;
    const IRET: u64 = CAL_BASE + 0x200;
    const USER: u64 = CAL_BASE + 0x300;
    const PRIV: u64 = CAL_BASE + 0x400;
    let gdt: [u64; 5] = [
        0,
        0x00af_9a00_0000_ffff, // 0x08 ring 0 code
        0x00cf_9200_0000_ffff, // 0x10 ring 0 data
        0x00cf_f200_0000_ffff, // 0x18 ring 3 data
        0x00af_fa00_0000_ffff, // 0x20 ring 3 code
    ];
    let gdt_bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    let mut gdtr = vec![0x27, 0x00];
    gdtr.extend_from_slice(&GDT.to_le_bytes());
    let pieces: [(u64, Vec<u8>); 6] = [
        (GDT, gdt_bytes),
        (GDTR, gdtr),
        // lgdt [GDTR]; int3
        (
            RING0,
            vec![0x0f, 0x01, 0x14, 0x25, 0x00, 0x1a, 0x00, 0x00, 0xcc],
        ),
        // push 0x1b; push 0x2800; push 2; push 0x23; push USER; iretq
        (
            IRET,
            vec![
                0x6a, 0x1b, 0x68, 0x00, 0x28, 0x00, 0x00, 0x6a, 0x02, 0x6a, 0x23, 0x68, 0x00, 0x13,
                0x00, 0x00, 0x48, 0xcf,
            ],
        ),
        (USER, vec![0xcc]),
        // mov rax, cr3; int3
        (PRIV, vec![0x0f, 0x20, 0xd8, 0xcc]),
    ];
    for (at, bytes) in &pieces {
        u.mem_write(*at, bytes).map_err(uc("write"))?;
    }
    let last = |snap: &Snaps| snap.borrow().last().cloned();
    u.reg_write(RegisterX86::RSP, CAL_BASE + 0x1f00)
        .map_err(uc("rsp"))?;
    snap.borrow_mut().clear();
    u.emu_start(RING0, 0, 0, 2).map_err(uc("run"))?;
    let (_, ring0) = last(snap).ok_or(EngineError::Calibration("no ring-0 state"))?;
    snap.borrow_mut().clear();
    u.emu_start(IRET, 0, 0, 7).map_err(uc("run"))?;
    let (n, ring3) = last(snap).ok_or(EngineError::Calibration("no ring-3 state"))?;
    if n != 3 {
        return Err(EngineError::Calibration("iretq to ring 3 faulted"));
    }
    let u32_at = |b: &[u8], off: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[off..off + 4]);
        u32::from_ne_bytes(w)
    };
    let len = ring0.len().min(ring3.len());
    let candidates: Vec<usize> = (0..len - 4)
        .step_by(4)
        .filter(|&o| u32_at(&ring0, o) & 3 == 0 && u32_at(&ring0, o) ^ u32_at(&ring3, o) == 3)
        .collect();
    for off in candidates {
        let mut ctx = SavedContext::new(u)?;
        let n = ring3.len().min(ctx.bytes().len());
        ctx.bytes_mut()[..n].copy_from_slice(&ring3[..n]);
        let v = ctx.read_i32(off);
        ctx.write_i32(off, v & !3);
        ctx.restore(u)?;
        snap.borrow_mut().clear();
        u.emu_start(PRIV, 0, 0, 2).map_err(uc("run"))?;
        if last(snap).is_some_and(|(n, _)| n == 3) {
            return Ok(off);
        }
    }
    Err(EngineError::Calibration("no offset for hflags"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_finds_both_fields() {
        let c = calibrate().expect("calibration");
        assert_ne!(c.error_code, c.old_exception);
        assert_ne!(c.hflags, c.error_code);
        assert_ne!(c.hflags, c.old_exception);
    }
}
