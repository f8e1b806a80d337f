//! Native call paths on the host (x86-64), for `benches/callpath.rs`: code
//! written into memory this module maps, so that the 5-byte `jmp rel32`
//! over a function's entry is written exactly as a live patch writes it,
//! and the replacement can be placed near or at the ±2 GiB edge.
//!
//! Every variant runs the same leaf (`lea 1(%rdi,%rdi,2), %rax; ret`, or
//! its replacement with `+2`) from a driver that is itself generated: a
//! loop of one direct call site (hot), or a straight line of
//! [`COLD_SITES`] call sites over [`COLD_FUNCS`] functions in a shuffled
//! order (cold: more code than the L1 i-cache holds and more branch
//! targets than the BTB predicts).
//!
//! | variant | call site | function entry |
//! |---|---|---|
//! | `Direct` | `call f` | the original |
//! | `JmpNear` / `JmpFar` | `call f` | `jmp rel32` to a replacement in the same mapping / about 2 GiB away |
//! | `Ftrace` | `call f` | `call tramp`: save registers, hash lookup, return into the replacement (`native/ftrace_tramp.S`) |
//! | `Indirect` | `call *slot(%rip)` | the replacement (the pointer was patched) |
//! | `DirectJmp` | `jmp` over two bytes, then `call f` | the original: the control, one more taken branch and nothing else |

use std::ptr::NonNull;

/// Errors of building a call path.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// `mmap` or `mprotect` failed.
    #[error("{what}: {source}")]
    Map {
        /// The call.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// No free range about 2 GiB from the code for a far replacement.
    #[error("no free address range about 2 GiB from {0:#x}")]
    NoFarRange(usize),
    /// A displacement does not fit 32 bits (a placement bug).
    #[error("displacement {0:#x} does not fit a rel32")]
    Rel32(i64),
}

/// The call paths measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// A direct call of the original (the baseline).
    Direct,
    /// The original's entry is a `jmp rel32` to a replacement nearby.
    JmpNear,
    /// The same, the replacement about 2 GiB away (rel32 near its limit).
    JmpFar,
    /// The original's entry calls an ftrace-style trampoline.
    Ftrace,
    /// An indirect call through a function pointer.
    Indirect,
    /// A direct call of the original after a taken `jmp` in the caller:
    /// what one more taken branch costs by itself, to compare `JmpNear`
    /// with.
    DirectJmp,
}

impl Variant {
    /// Every variant, baseline first.
    pub const ALL: [Variant; 6] = [
        Variant::Direct,
        Variant::JmpNear,
        Variant::JmpFar,
        Variant::Ftrace,
        Variant::Indirect,
        Variant::DirectJmp,
    ];

    /// Its name in the benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Direct => "direct",
            Variant::JmpNear => "jmp-near",
            Variant::JmpFar => "jmp-far",
            Variant::Ftrace => "ftrace",
            Variant::Indirect => "indirect",
            Variant::DirectJmp => "direct+jmp",
        }
    }

    /// What the leaf adds to `3x`: 1 for the original, 2 for a replacement.
    pub fn addend(self) -> u64 {
        match self {
            Variant::Direct | Variant::DirectJmp => 1,
            _ => 2,
        }
    }
}

/// Functions of a cold path.
pub const COLD_FUNCS: usize = 4096;
/// Call sites of a cold path (each function twice, shuffled).
pub const COLD_SITES: usize = 2 * COLD_FUNCS;
/// Bytes between two functions (one cache line each).
const FUNC_STRIDE: usize = 64;

// Layout of the main mapping.
const DRIVER: usize = 0;
const ORIGS: usize = 128 << 10;
const REPLS: usize = ORIGS + COLD_FUNCS * FUNC_STRIDE;
const TRAMP: usize = REPLS + COLD_FUNCS * FUNC_STRIDE;
const SLOTS: usize = TRAMP + 4096;
const TABLE: usize = SLOTS + COLD_FUNCS * 8;
/// Entries of the trampoline's hash table (`CP_TABLE_MASK + 1`).
const TABLE_SIZE: usize = 8192;
const MAP_SIZE: usize = TABLE + TABLE_SIZE * 16;
/// Size of the far mapping (the far replacements).
const FAR_SIZE: usize = COLD_FUNCS * FUNC_STRIDE;
/// Distance of the far mapping: 2 GiB less 4 MiB, so every rel32 from an
/// original to its far replacement is within 4.5 MiB of the limit.
const FAR_DISTANCE: usize = (1 << 31) - (4 << 20);

/// `lea 1(%rdi,%rdi,2), %rax; ret`.
const ORIG: [u8; 6] = [0x48, 0x8d, 0x44, 0x7f, 0x01, 0xc3];
/// `lea 2(%rdi,%rdi,2), %rax; ret`.
const REPL: [u8; 6] = [0x48, 0x8d, 0x44, 0x7f, 0x02, 0xc3];
/// `push %rbx; push %r12; mov %rdi, %rbx; xor %r12d, %r12d`.
const PROLOGUE: [u8; 9] = [0x53, 0x41, 0x54, 0x48, 0x89, 0xfb, 0x45, 0x31, 0xe4];
/// `mov %rbx, %rdi`.
const ARG: [u8; 3] = [0x48, 0x89, 0xdf];
/// `add %rax, %r12`.
const SUM: [u8; 3] = [0x49, 0x01, 0xc4];
/// `jmp .+4; int3; int3`: a taken branch over two bytes never run.
const JMP_OVER: [u8; 4] = [0xeb, 0x02, 0xcc, 0xcc];
/// `dec %rbx`.
const DEC: [u8; 3] = [0x48, 0xff, 0xcb];
/// `mov %r12, %rax; pop %r12; pop %rbx; ret`.
const EPILOGUE: [u8; 7] = [0x4c, 0x89, 0xe0, 0x41, 0x5c, 0x5b, 0xc3];

extern "C" {
    static cp_tramp: u8;
    static cp_tramp_end: u8;
    static cp_tramp_table: u8;
}

/// The trampoline template's bytes and the offset of the table address
/// (the movabs immediate).
fn tramp_template() -> (&'static [u8], usize) {
    // SAFETY: the three symbols are labels in one section of
    // native/ftrace_tramp.S, in this order; the bytes between cp_tramp and
    // cp_tramp_end are initialised, read-only and live for the program.
    unsafe {
        let start = std::ptr::addr_of!(cp_tramp);
        let end = std::ptr::addr_of!(cp_tramp_end);
        let table = std::ptr::addr_of!(cp_tramp_table);
        let len = end as usize - start as usize;
        (
            std::slice::from_raw_parts(start, len),
            table as usize - start as usize + 2,
        )
    }
}

/// The trampoline's bucket of a patched function's return address.
fn bucket(ip: u64) -> usize {
    (((ip >> 4) as u32).wrapping_mul(0x9e37_79b1) >> 19) as usize
}

/// An anonymous mapping, unmapped on drop.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// `len` bytes, read-write, at `hint` exactly when given.
    fn new(len: usize, hint: Option<usize>) -> Result<Mapping, NativeError> {
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if hint.is_some() {
            flags |= libc::MAP_FIXED_NOREPLACE;
        }
        let addr = hint.unwrap_or(0) as *mut libc::c_void;
        // SAFETY: an anonymous private mapping; with MAP_FIXED_NOREPLACE
        // the kernel refuses rather than replace an existing mapping, so no
        // memory of this process is touched.
        let p = unsafe { libc::mmap(addr, len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
        if p == libc::MAP_FAILED {
            return Err(NativeError::Map {
                what: "mmap",
                source: std::io::Error::last_os_error(),
            });
        }
        if hint.is_some_and(|h| h != p as usize) {
            // An old kernel ignored MAP_FIXED_NOREPLACE: not where asked.
            // SAFETY: the mapping just made, not shared with anything.
            unsafe { libc::munmap(p, len) };
            return Err(NativeError::NoFarRange(hint.unwrap_or(0)));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or(NativeError::Map {
            what: "mmap",
            source: std::io::Error::other("null mapping"),
        })?;
        Ok(Mapping { base, len })
    }

    fn addr(&self, off: usize) -> u64 {
        self.base.as_ptr() as u64 + off as u64
    }

    /// Copies `bytes` to `off` (the mapping must be writable).
    fn write(&mut self, off: usize, bytes: &[u8]) {
        assert!(off + bytes.len() <= self.len, "write past the mapping");
        // SAFETY: in bounds (checked above) of a mapping this struct owns;
        // callers only write while it is PROT_WRITE (`protect`), and no
        // code in it runs meanwhile (one thread builds, then runs).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(off), bytes.len())
        };
    }

    fn protect(&mut self, prot: libc::c_int) -> Result<(), NativeError> {
        // SAFETY: the whole mapping this struct owns; changing its
        // protection affects no other memory.
        let r = unsafe { libc::mprotect(self.base.as_ptr().cast(), self.len, prot) };
        if r != 0 {
            return Err(NativeError::Map {
                what: "mprotect",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping this struct made; nothing points into it once
        // its `CallPath` is dropped.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

fn rel32(from_end: u64, to: u64) -> Result<[u8; 4], NativeError> {
    let d = to as i64 - from_end as i64;
    i32::try_from(d)
        .map(i32::to_le_bytes)
        .map_err(|_| NativeError::Rel32(d))
}

/// A small deterministic permutation (xorshift64, Fisher-Yates).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

/// A built call path: its code, and the driver to run it.
pub struct CallPath {
    main: Mapping,
    _far: Option<Mapping>,
    /// Calls per [`CallPath::run`] of a cold path; 0 for a hot one (its
    /// run takes the count).
    cold_sites: usize,
    variant: Variant,
    /// Site order of a cold path (function index of each call site).
    order: Vec<usize>,
}

impl CallPath {
    /// Builds `variant`, hot (one function in a loop) or cold.
    pub fn new(variant: Variant, cold: bool) -> Result<CallPath, NativeError> {
        let mut main = Mapping::new(MAP_SIZE, None)?;
        let funcs = if cold { COLD_FUNCS } else { 1 };
        let mut far = None;
        if variant == Variant::JmpFar {
            let up = main.base.as_ptr() as usize + FAR_DISTANCE;
            let down = (main.base.as_ptr() as usize).checked_sub(FAR_DISTANCE - MAP_SIZE);
            let m = Mapping::new(FAR_SIZE, Some(up)).or_else(|_| {
                down.map_or(Err(NativeError::NoFarRange(up)), |d| {
                    Mapping::new(FAR_SIZE, Some(d))
                })
            })?;
            far = Some(m);
        }
        let (tramp, table_imm) = tramp_template();
        main.write(TRAMP, tramp);
        let table_addr = main.addr(TABLE);
        main.write(TRAMP + table_imm, &table_addr.to_le_bytes());
        let mut table = vec![0u8; TABLE_SIZE * 16];
        for f in 0..funcs {
            let orig = ORIGS + f * FUNC_STRIDE;
            let repl_off = f * FUNC_STRIDE;
            let repl = match far.as_mut() {
                Some(m) => {
                    m.write(repl_off, &REPL);
                    m.addr(repl_off)
                }
                None => {
                    main.write(REPLS + repl_off, &REPL);
                    main.addr(REPLS + repl_off)
                }
            };
            let tramp_addr = main.addr(TRAMP);
            main.write(orig, &ORIG);
            // The patch, written over the original's entry.
            let entry = main.addr(orig);
            match variant {
                Variant::Direct | Variant::Indirect | Variant::DirectJmp => {}
                Variant::JmpNear | Variant::JmpFar => {
                    let mut jmp = [0xe9, 0, 0, 0, 0];
                    jmp[1..].copy_from_slice(&rel32(entry + 5, repl)?);
                    main.write(orig, &jmp);
                }
                Variant::Ftrace => {
                    let mut call = [0xe8, 0, 0, 0, 0];
                    call[1..].copy_from_slice(&rel32(entry + 5, tramp_addr)?);
                    main.write(orig, &call);
                    let ip = entry + 5;
                    let mut b = bucket(ip);
                    while table[b * 16..b * 16 + 8] != [0; 8] {
                        b = (b + 1) % TABLE_SIZE;
                    }
                    table[b * 16..b * 16 + 8].copy_from_slice(&ip.to_le_bytes());
                    table[b * 16 + 8..b * 16 + 16].copy_from_slice(&repl.to_le_bytes());
                }
            }
            // The pointer an indirect call goes through: the replacement.
            main.write(SLOTS + 8 * f, &repl.to_le_bytes());
        }
        main.write(TABLE, &table);
        let order = if cold {
            let mut o = shuffled(COLD_FUNCS, 0x5eed);
            o.extend(shuffled(COLD_FUNCS, 0xcafe));
            o
        } else {
            vec![0]
        };
        let code = driver(&main, variant, &order, cold)?;
        main.write(DRIVER, &code);
        main.protect(libc::PROT_READ | libc::PROT_EXEC)?;
        if let Some(m) = far.as_mut() {
            m.protect(libc::PROT_READ | libc::PROT_EXEC)?;
        }
        Ok(CallPath {
            main,
            _far: far,
            cold_sites: if cold { COLD_SITES } else { 0 },
            variant,
            order,
        })
    }

    /// Calls one run makes: `n` for a hot path, [`COLD_SITES`] for a cold
    /// one.
    pub fn calls(&self, n: u64) -> u64 {
        if self.cold_sites > 0 {
            self.cold_sites as u64
        } else {
            n
        }
    }

    /// Runs the driver: a hot path calls `n` times (`n` at least 1), a
    /// cold one every site once with the argument `n`. Returns the sum of
    /// the results.
    pub fn run(&self, n: u64) -> u64 {
        let n = n.max(1);
        // SAFETY: DRIVER holds the code `driver` generated, now PROT_EXEC
        // and never written again; it is a complete SysV function of one
        // u64 argument returning u64, which preserves the callee-saved
        // registers it uses (rbx, r12: pushed and popped) and calls only
        // the leaves and trampoline this mapping (or the far one, owned by
        // `self` too) holds, which touch nothing but rax and the stack.
        let f: extern "sysv64" fn(u64) -> u64 =
            unsafe { std::mem::transmute(self.main.addr(DRIVER) as usize) };
        f(n)
    }

    /// What [`CallPath::run`] must return.
    pub fn expected(&self, n: u64) -> u64 {
        let n = n.max(1);
        let k = self.variant.addend();
        if self.cold_sites > 0 {
            self.order.len() as u64 * (3 * n + k)
        } else {
            (1..=n).map(|x| 3 * x + k).sum()
        }
    }

    /// The driver's code (for disassembly in tests).
    pub fn driver_code(&self, len: usize) -> &[u8] {
        // SAFETY: in bounds of the mapping (len is clamped to it), which is
        // readable and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.main.base.as_ptr(), len.min(self.main.len)) }
    }

    /// Address of the driver (the disassembly's first IP).
    pub fn driver_addr(&self) -> u64 {
        self.main.addr(DRIVER)
    }
}

/// The driver: prologue, the call sites, epilogue.
fn driver(
    main: &Mapping,
    variant: Variant,
    order: &[usize],
    cold: bool,
) -> Result<Vec<u8>, NativeError> {
    let base = main.addr(DRIVER);
    let mut c = PROLOGUE.to_vec();
    let site = |c: &mut Vec<u8>, f: usize| -> Result<(), NativeError> {
        if variant == Variant::DirectJmp {
            c.extend_from_slice(&JMP_OVER);
        }
        c.extend_from_slice(&ARG);
        let at = base + c.len() as u64;
        if variant == Variant::Indirect {
            // call *slot(%rip)
            c.extend_from_slice(&[0xff, 0x15]);
            c.extend_from_slice(&rel32(at + 6, main.addr(SLOTS + 8 * f))?);
        } else {
            c.push(0xe8);
            c.extend_from_slice(&rel32(at + 5, main.addr(ORIGS + f * FUNC_STRIDE))?);
        }
        c.extend_from_slice(&SUM);
        Ok(())
    };
    if cold {
        for &f in order {
            site(&mut c, f)?;
        }
    } else {
        let top = c.len();
        site(&mut c, 0)?;
        c.extend_from_slice(&DEC);
        // jnz top (rel8)
        let back = top as i64 - (c.len() as i64 + 2);
        c.extend_from_slice(&[0x75, back as i8 as u8]);
    }
    c.extend_from_slice(&EPILOGUE);
    assert!(c.len() <= ORIGS, "driver overflows its area");
    Ok(c)
}

/// TSC ticks per ns, measured against the monotonic clock over `ms`.
pub fn tsc_per_ns(ms: u64) -> f64 {
    fn rdtsc() -> u64 {
        // SAFETY: rdtsc has no memory effects; x86-64 always has it.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    let t0 = std::time::Instant::now();
    let c0 = rdtsc();
    while t0.elapsed() < std::time::Duration::from_millis(ms) {
        std::hint::spin_loop();
    }
    let c1 = rdtsc();
    (c1 - c0) as f64 / t0.elapsed().as_nanos() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};

    #[test]
    fn every_variant_returns_what_its_leaf_computes() {
        for v in Variant::ALL {
            for cold in [false, true] {
                let p = CallPath::new(v, cold).expect("build");
                assert_eq!(p.run(100), p.expected(100), "{v:?} cold={cold}");
            }
        }
    }

    #[test]
    fn the_hot_driver_is_one_call_site_in_a_loop() {
        let p = CallPath::new(Variant::JmpFar, false).expect("build");
        let code = p.driver_code(64);
        let mut d = Decoder::with_ip(64, code, p.driver_addr(), DecoderOptions::NONE);
        let mut m = Vec::new();
        while d.can_decode() {
            let i = d.decode();
            m.push(i.mnemonic());
            if i.mnemonic() == Mnemonic::Ret {
                break;
            }
        }
        use Mnemonic::*;
        assert_eq!(
            m,
            [Push, Push, Mov, Xor, Mov, Call, Add, Dec, Jne, Mov, Pop, Pop, Ret]
        );
    }

    #[test]
    fn the_control_takes_one_jmp_before_its_direct_call() {
        let p = CallPath::new(Variant::DirectJmp, false).expect("build");
        let code = p.driver_code(64);
        let mut d = Decoder::with_ip(64, code, p.driver_addr(), DecoderOptions::NONE);
        let insns: Vec<_> = std::iter::from_fn(|| d.can_decode().then(|| d.decode()))
            .take(9)
            .collect();
        let m: Vec<_> = insns.iter().map(|i| i.mnemonic()).collect();
        use Mnemonic::*;
        assert_eq!(m[4..], [Jmp, Int3, Int3, Mov, Call]);
        // The jmp lands on the argument move, past the two int3.
        assert_eq!(insns[4].near_branch_target(), insns[7].ip());
    }

    #[test]
    fn far_replacements_are_near_the_rel32_limit() {
        let p = CallPath::new(Variant::JmpFar, true).expect("build");
        let far = p._far.as_ref().expect("far mapping");
        let d = far.addr(0) as i64 - p.main.addr(ORIGS) as i64;
        assert!(d.unsigned_abs() > (1 << 31) - (8 << 20), "{d:#x}");
    }
}
