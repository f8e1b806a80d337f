//! Crash reports: the vCPU, the reason, registers, a symbolised backtrace
//! walked through frame pointers, and the disassembly around RIP.

use std::fmt;

use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter};
use unicorn_engine::{RegisterX86, Unicorn};

use crate::board::{self, Board};
use crate::image::Image;
use crate::platform::{CpuUserRegs, RAM_SIZE};

/// Why the machine stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrashReason {
    /// mini-xen panicked (wrote PORT_PANIC).
    Panic,
    /// An exception could not be delivered, even as a double fault.
    TripleFault(String),
    /// The engine refused to go on (e.g. a fetch outside RAM).
    Engine(String),
    /// No vCPU can make progress.
    Deadlock(String),
    /// A run-away budget was exhausted.
    Budget(String),
}

impl fmt::Display for CrashReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashReason::Panic => write!(f, "hypervisor panic"),
            CrashReason::TripleFault(w) => write!(f, "triple fault: {w}"),
            CrashReason::Engine(w) => write!(f, "unhandled fault in the engine: {w}"),
            CrashReason::Deadlock(w) => write!(f, "deadlock: {w}"),
            CrashReason::Budget(w) => write!(f, "run-away budget exhausted: {w}"),
        }
    }
}

/// One frame of a backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Return (or faulting) address.
    pub addr: u64,
    /// `symbol+off/size`.
    pub symbol: String,
}

/// A crash report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The vCPU that crashed (for deadlocks: the last one that ran).
    pub vcpu: usize,
    /// Why.
    pub reason: CrashReason,
    /// Its registers (from the panic frame when mini-xen gave one).
    pub regs: CpuUserRegs,
    /// The function RIP is in, if known.
    pub function: Option<String>,
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

fn regs_from_engine(u: &Unicorn<Board>) -> CpuUserRegs {
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

/// Builds the report for vCPU `vcpu`, loaded in `u`. `frame` is the
/// address of a `struct cpu_user_regs` describing the faulting context.
pub fn build(
    u: &Unicorn<Board>,
    image: &Image,
    vcpu: usize,
    reason: CrashReason,
    frame: Option<u64>,
) -> Crash {
    let ram = u.get_data().ram;
    let regs = frame
        .and_then(|a| {
            let mut b = [0u8; CpuUserRegs::SIZE];
            ram.read(a, &mut b).ok()?;
            Some(CpuUserRegs::from_bytes(&b))
        })
        .unwrap_or_else(|| regs_from_engine(u));
    let syms = &image.symbols;
    let mut backtrace = vec![Frame {
        addr: regs.rip,
        symbol: syms.describe(regs.rip),
    }];
    let mut rbp = regs.rbp;
    for _ in 0..32 {
        if rbp == 0 || !rbp.is_multiple_of(8) || rbp + 16 > RAM_SIZE {
            break;
        }
        let (Ok(next), Ok(ret)) = (ram.read_u64(rbp), ram.read_u64(rbp + 8)) else {
            break;
        };
        if ret == 0 {
            break;
        }
        backtrace.push(Frame {
            addr: ret,
            symbol: syms.describe(ret),
        });
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    Crash {
        vcpu,
        reason,
        function: syms.lookup(regs.rip).map(|(s, _)| s.name.clone()),
        regs,
        backtrace,
        disassembly: disassemble_around(u, image, regs.rip),
    }
}

/// Up to 8 instructions before RIP (decoded from the function start) and 4
/// from RIP on.
fn disassemble_around(u: &Unicorn<Board>, image: &Image, rip: u64) -> Vec<String> {
    let ram = u.get_data().ram;
    let start = image
        .symbols
        .lookup(rip)
        .map(|(s, _)| s.addr)
        .filter(|&a| rip - a < 4096)
        .unwrap_or(rip);
    let len = (rip - start) as usize + 64;
    let mut code = vec![0u8; len];
    if ram.read(start, &mut code).is_err() {
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
        lines.push((
            ip,
            format!("{mark} {ip:016x} {:<28} {text}", image.symbols.describe(ip)),
        ));
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
