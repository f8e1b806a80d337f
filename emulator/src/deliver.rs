//! Interrupt and exception delivery through the guest IDT, done by the
//! emulator because Unicorn never does it: gate lookup, privilege and IST
//! stack switch, the 64-bit frame with its error code, and RFLAGS.

use unicorn_engine::{RegisterX86, Unicorn};

use crate::board::Board;
use crate::engine::{read_mmr, EngineError};
use crate::ram::RamError;

/// Errors of delivery. Each one means the CPU would escalate (#DF or
/// triple fault).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The vector lies beyond the IDT limit.
    #[error("vector {vector:#x} is beyond the IDT limit {limit:#x}")]
    BeyondLimit {
        /// The vector.
        vector: u8,
        /// IDTR.limit.
        limit: u32,
    },
    /// The gate is not present or not an interrupt/trap gate.
    #[error("IDT gate {vector:#x} is not a present 64-bit interrupt/trap gate")]
    BadGate {
        /// The vector.
        vector: u8,
    },
    /// A software interrupt through a gate of lower privilege.
    #[error("int {vector:#x} from ring {cpl} through a DPL {dpl} gate")]
    Privilege {
        /// The vector.
        vector: u8,
        /// Current privilege level.
        cpl: u8,
        /// The gate's DPL.
        dpl: u8,
    },
    /// The IDT, TSS or new stack is outside RAM.
    #[error("delivery touched memory outside RAM: {0}")]
    Memory(#[from] RamError),
    /// A register access failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What is being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An external event (interrupt, NMI, MCE): RIP is the next instruction.
    External,
    /// A CPU exception: RIP is the faulting instruction (or the next one for
    /// traps); some vectors push an error code.
    Exception {
        /// Error code, for the vectors that have one.
        error_code: Option<u32>,
    },
    /// `int n`: RIP is after the instruction; the gate's DPL is checked.
    Software,
}

/// Whether an exception vector pushes an error code.
pub fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_CLEARED: u64 = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 17);

fn reg(u: &Unicorn<Board>, r: RegisterX86) -> Result<u64, EngineError> {
    u.reg_read(r).map_err(crate::engine::uc("reg read"))
}

fn set(u: &mut Unicorn<Board>, r: RegisterX86, v: u64) -> Result<(), EngineError> {
    u.reg_write(r, v).map_err(crate::engine::uc("reg write"))
}

/// Delivers `vector` to the vCPU currently loaded in `u`.
pub fn deliver(u: &mut Unicorn<Board>, vector: u8, kind: Kind) -> Result<(), DeliveryError> {
    let ram = u.get_data().ram;
    let idtr = read_mmr(u, RegisterX86::IDTR)?;
    let gate_off = u32::from(vector) * 16;
    if gate_off + 15 > idtr.limit {
        return Err(DeliveryError::BeyondLimit {
            vector,
            limit: idtr.limit,
        });
    }
    let mut g = [0u8; 16];
    ram.read(idtr.base + u64::from(gate_off), &mut g)?;
    let gate_type = g[5] & 0xf;
    let present = g[5] & 0x80 != 0;
    if !present || !(gate_type == 0xe || gate_type == 0xf) {
        return Err(DeliveryError::BadGate { vector });
    }
    let dpl = (g[5] >> 5) & 3;
    let ist = g[4] & 7;
    let selector = u64::from(u16::from_le_bytes([g[2], g[3]]));
    let handler = u64::from(u16::from_le_bytes([g[0], g[1]]))
        | u64::from(u16::from_le_bytes([g[6], g[7]])) << 16
        | u64::from(u32::from_le_bytes([g[8], g[9], g[10], g[11]])) << 32;

    let cs = reg(u, RegisterX86::CS)? & 0xffff;
    let ss = reg(u, RegisterX86::SS)? & 0xffff;
    let rsp = reg(u, RegisterX86::RSP)?;
    let rip = reg(u, RegisterX86::RIP)?;
    let rflags = reg(u, RegisterX86::RFLAGS)?;
    let cpl = (cs & 3) as u8;
    if kind == Kind::Software && dpl < cpl {
        return Err(DeliveryError::Privilege { vector, cpl, dpl });
    }
    let to_ring0 = cpl != 0;
    let stack = if ist != 0 || to_ring0 {
        let tr = read_mmr(u, RegisterX86::TR)?;
        // rsp0 at 0x04, ist1..7 at 0x24..
        let slot = if ist != 0 {
            0x24 + 8 * (u64::from(ist) - 1)
        } else {
            0x04
        };
        ram.read_u64(tr.base + slot)?
    } else {
        rsp
    };
    let mut frame = Vec::with_capacity(48);
    if let Kind::Exception {
        error_code: Some(e),
    } = kind
    {
        frame.extend_from_slice(&u64::from(e).to_le_bytes());
    }
    for v in [rip, cs, rflags, rsp, ss] {
        frame.extend_from_slice(&v.to_le_bytes());
    }
    let new_rsp = (stack & !0xf) - frame.len() as u64;
    ram.write(new_rsp, &frame)?;

    if to_ring0 {
        enter_ring0(u, selector)?;
    }
    let mut nf = rflags & !RFLAGS_CLEARED;
    if gate_type == 0xe {
        nf &= !RFLAGS_IF;
    }
    set(u, RegisterX86::RFLAGS, nf)?;
    set(u, RegisterX86::RSP, new_rsp)?;
    set(u, RegisterX86::RIP, handler)?;
    Ok(())
}

/// Switches the CPU from ring 3 to ring 0 with code selector `cs`.
///
/// In 64-bit mode Unicorn's register API loads only segment selectors and
/// never changes the privilege level, so the CPL bits of QEMU's `hflags`
/// are cleared in the saved CPU state (offset found by calibration), then
/// CS and a null SS are written as a 64-bit interrupt gate leaves them.
fn enter_ring0(u: &mut Unicorn<Board>, cs: u64) -> Result<(), EngineError> {
    let off = u.get_data().calib.hflags;
    let mut scratch = u
        .get_data_mut()
        .scratch
        .take()
        .ok_or(EngineError::Calibration("scratch context in use"))?;
    let result = scratch.save(u).and_then(|()| {
        let h = scratch.read_i32(off);
        scratch.write_i32(off, h & !3);
        scratch.restore(u)
    });
    u.get_data_mut().scratch = Some(scratch);
    result?;
    set(u, RegisterX86::CS, cs)?;
    set(u, RegisterX86::SS, 0)?;
    Ok(())
}
