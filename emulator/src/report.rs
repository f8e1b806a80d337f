//! Crash reports: the vCPU, the reason (a crash, a hang, a run-away budget
//! or a detector's finding), when (virtual time, retired instructions,
//! schedule-log position), registers, the chain of interrupt frames and
//! what each interrupted, a symbolised backtrace walked through frame
//! pointers (payload addresses named `function+off/size [payload]` from the
//! symbols the hypervisor publishes, else `payload+off [payload]`), and the
//! disassembly around RIP when its page is mapped.

use std::fmt;

use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter};
use unicorn_engine::{uc_error, RegisterX86, Unicorn};

use crate::board::{self, Board};
use crate::deliver::DeliveryError;
use crate::detect::Finding;
use crate::image::Image;
use crate::platform::{CpuUserRegs, RAM_SIZE};

/// Why the machine has no vCPU that can make progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deadlock {
    /// Every vCPU is halted and nothing can wake any of them.
    AllHalted,
    /// No vCPU reached guest mode or idle for this long.
    NoProgress {
        /// The window, in ms of virtual time.
        window_ms: u64,
    },
}

/// A run-away budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Budget {
    /// A domain's hypercall did not complete.
    Hypercall {
        /// The domain.
        domid: u32,
        /// The hypercall number.
        op: u64,
        /// The budget, in ms of virtual time.
        ms: u64,
    },
}

/// Why the machine stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrashReason {
    /// mini-xen panicked (wrote PORT_PANIC).
    Panic,
    /// An exception could not be delivered, even as a double fault.
    TripleFault {
        /// The vector being delivered.
        vector: u8,
        /// Why delivery failed.
        why: DeliveryError,
    },
    /// The engine refused to go on (e.g. a fetch outside RAM).
    Engine(uc_error),
    /// No vCPU can make progress.
    Deadlock(Deadlock),
    /// A run-away budget was exhausted.
    Budget(Budget),
    /// A detector fired.
    Detected(Finding),
}

impl fmt::Display for CrashReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashReason::Panic => write!(f, "hypervisor panic"),
            CrashReason::TripleFault { vector, why } => {
                write!(f, "triple fault: vector {vector:#x}: {why}")
            }
            CrashReason::Engine(e) => write!(f, "unhandled fault in the engine: {e:?}"),
            CrashReason::Deadlock(Deadlock::AllHalted) => write!(
                f,
                "deadlock: every vCPU is halted and no interrupt can wake any of them"
            ),
            CrashReason::Deadlock(Deadlock::NoProgress { window_ms }) => write!(
                f,
                "deadlock: no vCPU reached guest mode or idle for {window_ms} ms of virtual time"
            ),
            CrashReason::Budget(Budget::Hypercall { domid, op, ms }) => write!(
                f,
                "run-away budget exhausted: d{domid} did not complete hypercall {op} within \
                 {ms} ms of virtual time"
            ),
            CrashReason::Detected(finding) => write!(f, "detector {}: {finding}", finding.name()),
        }
    }
}

/// One frame of a backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Return (or faulting) address.
    pub addr: u64,
    /// `symbol+off/size`, or `payload+off [payload]`.
    pub symbol: String,
}

/// An interrupt frame on the crashed vCPU and what it interrupted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// The vector delivered.
    pub vector: u8,
    /// The interrupted RIP.
    pub rip: u64,
    /// Its symbol.
    pub symbol: String,
    /// The interrupted privilege level.
    pub ring: u8,
}

/// When the machine stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// Virtual time.
    pub now: u64,
    /// Instructions the vCPU retired.
    pub retired: u64,
    /// Entries in the schedule log.
    pub log_position: usize,
}

/// A crash report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The vCPU that crashed (for deadlocks: the last one that ran).
    pub vcpu: usize,
    /// Why.
    pub reason: CrashReason,
    /// When.
    pub when: Context,
    /// Its registers (from the panic frame when mini-xen gave one).
    pub regs: CpuUserRegs,
    /// The function RIP is in, if known.
    pub function: Option<String>,
    /// Interrupt frames, innermost first.
    pub interrupted: Vec<Interrupted>,
    /// Backtrace, innermost first.
    pub backtrace: Vec<Frame>,
    /// Disassembly around RIP; the line at RIP starts with `=>`.
    pub disassembly: Vec<String>,
}

impl fmt::Display for Crash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.regs;
        writeln!(
            f,
            "*** testbed: vCPU {} stopped: {} ***",
            self.vcpu, self.reason
        )?;
        writeln!(
            f,
            "at {} ns of virtual time, {} instructions retired by vCPU {}, schedule log entry {}",
            self.when.now, self.when.retired, self.vcpu, self.when.log_position
        )?;
        writeln!(
            f,
            "RIP: {:04x}:[<{:016x}>] {}",
            r.cs,
            r.rip,
            self.function.as_deref().unwrap_or("?")
        )?;
        writeln!(
            f,
            "RFLAGS: {:016x}  CS: {:04x}  SS: {:04x}",
            r.rflags, r.cs, r.ss
        )?;
        let rows = [
            ("rax", r.rax, "rbx", r.rbx, "rcx", r.rcx),
            ("rdx", r.rdx, "rsi", r.rsi, "rdi", r.rdi),
            ("rbp", r.rbp, "rsp", r.rsp, "r8 ", r.r8),
            ("r9 ", r.r9, "r10", r.r10, "r11", r.r11),
            ("r12", r.r12, "r13", r.r13, "r14", r.r14),
        ];
        for (a, x, b, y, c, z) in rows {
            writeln!(f, "{a}: {x:016x}   {b}: {y:016x}   {c}: {z:016x}")?;
        }
        writeln!(f, "r15: {:016x}", r.r15)?;
        if !self.interrupted.is_empty() {
            writeln!(f, "Interrupt frames (innermost first):")?;
            for i in &self.interrupted {
                writeln!(
                    f,
                    "   vector {:#04x} interrupted ring {} at [<{:016x}>] {}",
                    i.vector, i.ring, i.rip, i.symbol
                )?;
            }
        }
        writeln!(f, "Call trace (frame pointers):")?;
        for fr in &self.backtrace {
            writeln!(f, "   [<{:016x}>] {}", fr.addr, fr.symbol)?;
        }
        writeln!(f, "Code around RIP:")?;
        for l in &self.disassembly {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

/// The registers of the vCPU loaded in `u`.
pub fn regs_from_engine(u: &Unicorn<Board>) -> CpuUserRegs {
    let g = |r| board::reg(u, r);
    CpuUserRegs {
        r15: g(RegisterX86::R15),
        r14: g(RegisterX86::R14),
        r13: g(RegisterX86::R13),
        r12: g(RegisterX86::R12),
        rbp: g(RegisterX86::RBP),
        rbx: g(RegisterX86::RBX),
        r11: g(RegisterX86::R11),
        r10: g(RegisterX86::R10),
        r9: g(RegisterX86::R9),
        r8: g(RegisterX86::R8),
        rax: g(RegisterX86::RAX),
        rcx: g(RegisterX86::RCX),
        rdx: g(RegisterX86::RDX),
        rsi: g(RegisterX86::RSI),
        rdi: g(RegisterX86::RDI),
        error_code: 0,
        entry_vector: 0,
        rip: g(RegisterX86::RIP),
        cs: g(RegisterX86::CS),
        rflags: g(RegisterX86::RFLAGS),
        rsp: g(RegisterX86::RSP),
        ss: g(RegisterX86::SS),
    }
}

/// Names an address: a hypervisor symbol, or a payload and the offset
/// into its text.
pub(crate) fn describe(u: &mut Unicorn<Board>, image: &Image, addr: u64) -> String {
    if image.symbols.lookup(addr).is_some() {
        return image.symbols.describe(addr);
    }
    let b = u.get_data_mut();
    match b.st.watch.payload_at(&b.ram, addr) {
        Some(r) => {
            let payload = r.name();
            match crate::detect::payload_function(&b.ram, &r, addr) {
                Some((f, off, size)) => format!("{f}+{off:#x}/{size:#x} [{payload}]"),
                None => format!(
                    "{payload}+{:#x} [{payload}]",
                    addr.wrapping_sub(r.text_start)
                ),
            }
        }
        None => format!("{addr:#x}"),
    }
}

/// Builds the report for vCPU `vcpu`, loaded in `u`. `frame` is the
/// address of a `struct cpu_user_regs` describing the faulting context.
pub fn build(
    u: &mut Unicorn<Board>,
    image: &Image,
    vcpu: usize,
    reason: CrashReason,
    frame: Option<u64>,
    when: Context,
) -> Crash {
    let regs = frame
        .and_then(|a| {
            let mut b = [0u8; CpuUserRegs::SIZE];
            u.get_data().ram.read(a, &mut b).ok()?;
            Some(CpuUserRegs::from_bytes(&b))
        })
        .unwrap_or_else(|| regs_from_engine(u));
    let mut backtrace = vec![Frame {
        addr: regs.rip,
        symbol: describe(u, image, regs.rip),
    }];
    let mut rbp = regs.rbp;
    for _ in 0..32 {
        if rbp == 0 || !rbp.is_multiple_of(8) || rbp + 16 > RAM_SIZE {
            break;
        }
        let ram = &u.get_data().ram;
        let (Ok(next), Ok(ret)) = (ram.read_u64(rbp), ram.read_u64(rbp + 8)) else {
            break;
        };
        if ret == 0 {
            break;
        }
        backtrace.push(Frame {
            addr: ret,
            symbol: describe(u, image, ret),
        });
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    let frames = u.get_data().st.vcpus[vcpu].frames.clone();
    let interrupted = frames
        .iter()
        .rev()
        .map(|f| Interrupted {
            vector: f.vector,
            rip: f.rip,
            symbol: describe(u, image, f.rip),
            ring: (f.cs & 3) as u8,
        })
        .collect();
    let function = match image.symbols.lookup(regs.rip) {
        Some((s, _)) => Some(s.name.clone()),
        None => {
            let b = u.get_data_mut();
            b.st.watch.payload_at(&b.ram, regs.rip).map(|r| {
                match crate::detect::payload_function(&b.ram, &r, regs.rip) {
                    Some((f, _, _)) => f,
                    None => r.name(),
                }
            })
        }
    };
    Crash {
        vcpu,
        reason,
        when,
        function,
        regs,
        interrupted,
        backtrace,
        disassembly: disassemble_around(u, image, regs.rip),
    }
}

/// Whether `va` is mapped executable-or-readable in the guest's current
/// page tables (4-level; identity when paging is off).
fn mapped(u: &Unicorn<Board>, va: u64) -> bool {
    let cr0 = board::reg(u, RegisterX86::CR0);
    if cr0 & (1 << 31) == 0 {
        return va < RAM_SIZE;
    }
    let ram = &u.get_data().ram;
    let mut table = board::reg(u, RegisterX86::CR3) & 0x000f_ffff_ffff_f000;
    for level in (0..4).rev() {
        let idx = (va >> (12 + 9 * level)) & 0x1ff;
        let Ok(e) = ram.read_u64(table + idx * 8) else {
            return false;
        };
        if e & 1 == 0 {
            return false;
        }
        let pa = e & 0x000f_ffff_ffff_f000;
        if level > 0 && e & (1 << 7) != 0 {
            let size = 1u64 << (12 + 9 * level);
            return (pa & !(size - 1)) + (va & (size - 1)) < RAM_SIZE;
        }
        if level == 0 {
            return pa < RAM_SIZE;
        }
        table = pa;
    }
    false
}

/// Up to 8 instructions before RIP (decoded from the function start) and 4
/// from RIP on; nothing from a page the guest has not mapped.
fn disassemble_around(u: &mut Unicorn<Board>, image: &Image, rip: u64) -> Vec<String> {
    if !mapped(u, rip) {
        return vec![format!(
            "   (RIP {rip:#x} is in an unmapped page: no code to show)"
        )];
    }
    let start = image
        .symbols
        .lookup(rip)
        .map(|(s, _)| s.addr)
        .filter(|&a| rip - a < 4096 && mapped(u, a))
        .unwrap_or(rip);
    let len = (rip - start) as usize + 64;
    let mut code = vec![0u8; len];
    if u.get_data().ram.read(start, &mut code).is_err() {
        return vec![format!("   (RIP {rip:#x} is outside RAM)")];
    }
    let mut dec = Decoder::with_ip(64, &code, start, DecoderOptions::NONE);
    let mut fmt = GasFormatter::new();
    let mut lines: Vec<(u64, String)> = Vec::new();
    let mut after = 0;
    while dec.can_decode() && after < 4 {
        let insn = dec.decode();
        let mut text = String::new();
        fmt.format(&insn, &mut text);
        let ip = insn.ip();
        let mark = if ip == rip { "=>" } else { "  " };
        let name = describe(u, image, ip);
        lines.push((ip, format!("{mark} {ip:016x} {name:<28} {text}")));
        if ip >= rip {
            after += 1;
        }
    }
    let first = lines
        .iter()
        .position(|(ip, _)| *ip >= rip)
        .unwrap_or(lines.len())
        .saturating_sub(8);
    lines.drain(..first);
    lines.into_iter().map(|(_, l)| l).collect()
}
