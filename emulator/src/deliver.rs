//! Interrupt and exception delivery through the guest IDT, done by the
//! emulator because Unicorn never does it: gate lookup, privilege and IST
//! stack switch, the 64-bit frame with its error code, and RFLAGS; and the
//! choice of which pending event goes first.

use unicorn_engine::{RegisterX86, Unicorn};

use crate::engine::{read_mmr, Calibration, EngineError, SavedContext};
use crate::ram::{RamBlock, RamError};
use crate::vcpu::{Frame, Irq, VcpuState};

/// What delivery needs from the data attached to the engine.
pub trait Cpu {
    /// Guest RAM.
    fn ram(&self) -> &RamBlock;
    /// Guest RAM, to write.
    fn ram_mut(&mut self) -> &mut RamBlock;
    /// Offsets found by calibration.
    fn calibration(&self) -> Calibration;
    /// The scratch context (taken while in use).
    fn scratch(&mut self) -> &mut Option<SavedContext>;
    /// The state of the vCPU loaded in the engine.
    fn vcpu(&mut self) -> &mut VcpuState;
}

/// Errors of delivery. Each one means the CPU would escalate (#DF or
/// triple fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
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
    /// A double fault could not be delivered either.
    #[error("{first}; then #DF: {second}")]
    DoubleFault {
        /// Why the first delivery failed.
        first: Box<DeliveryError>,
        /// Why the #DF failed.
        second: Box<DeliveryError>,
    },
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

fn reg<D>(u: &Unicorn<D>, r: RegisterX86) -> Result<u64, EngineError> {
    u.reg_read(r).map_err(crate::engine::uc("reg read"))
}

fn set<D>(u: &mut Unicorn<D>, r: RegisterX86, v: u64) -> Result<(), EngineError> {
    u.reg_write(r, v).map_err(crate::engine::uc("reg write"))
}

/// Delivers `vector` to the vCPU currently loaded in `u`.
pub fn deliver<D: Cpu>(u: &mut Unicorn<D>, vector: u8, kind: Kind) -> Result<(), DeliveryError> {
    let idtr = read_mmr(u, RegisterX86::IDTR)?;
    let gate_off = u32::from(vector) * 16;
    if gate_off + 15 > idtr.limit {
        return Err(DeliveryError::BeyondLimit {
            vector,
            limit: idtr.limit,
        });
    }
    let mut g = [0u8; 16];
    u.get_data()
        .ram()
        .read(idtr.base + u64::from(gate_off), &mut g)?;
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
        u.get_data().ram().read_u64(tr.base + slot)?
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
    u.get_data_mut().ram_mut().write(new_rsp, &frame)?;
    let rbp = reg(u, RegisterX86::RBP)?;
    let at = new_rsp + frame.len() as u64 - 40;
    let v = u.get_data_mut().vcpu();
    // An interrupted spinner runs its handler: not spinning any more.
    v.spinning = false;
    v.last_pause = None;
    v.frames.push(Frame {
        vector,
        at,
        rip,
        cs,
        rbp,
    });

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
fn enter_ring0<D: Cpu>(u: &mut Unicorn<D>, cs: u64) -> Result<(), EngineError> {
    let off = u.get_data().calibration().hflags;
    with_scratch(u, |u, scratch| {
        scratch.save(u)?;
        let h = scratch.read_i32(off);
        scratch.write_i32(off, h & !3);
        scratch.restore(u)
    })?;
    set(u, RegisterX86::CS, cs)?;
    set(u, RegisterX86::SS, 0)?;
    Ok(())
}

/// Runs `f` with the scratch context taken out of the engine data.
pub fn with_scratch<D: Cpu, T>(
    u: &mut Unicorn<D>,
    f: impl FnOnce(&mut Unicorn<D>, &mut SavedContext) -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    let mut scratch = u
        .get_data_mut()
        .scratch()
        .take()
        .ok_or(EngineError::Calibration("scratch context in use"))?;
    let result = f(u, &mut scratch);
    *u.get_data_mut().scratch() = Some(scratch);
    result
}

/// Delivers a vector, escalating to #DF when that fails.
pub fn deliver_or_double_fault<D: Cpu>(
    u: &mut Unicorn<D>,
    vector: u8,
    kind: Kind,
) -> Result<(), DeliveryError> {
    deliver(u, vector, kind).or_else(|first| {
        deliver(
            u,
            crate::platform::TRAP_DOUBLE_FAULT,
            Kind::Exception {
                error_code: Some(0),
            },
        )
        .map_err(|second| DeliveryError::DoubleFault {
            first: Box::new(first),
            second: Box::new(second),
        })
    })
}

/// Delivers the most urgent deliverable event pending on the loaded vCPU:
/// NMI, then machine check, then the highest maskable vector if RFLAGS.IF.
/// Returns the event delivered.
pub fn deliver_pending<D: Cpu>(u: &mut Unicorn<D>) -> Result<Option<Irq>, DeliveryError> {
    let s = u.get_data_mut().vcpu();
    if s.nmi_pending == 0 && s.mce_pending == 0 && s.pending == [0; 4] {
        return Ok(None);
    }
    let rflags = reg(u, RegisterX86::RFLAGS)?;
    let s = u.get_data_mut().vcpu();
    let (vector, irq) = if s.nmi_pending > 0 && !s.nmi_blocked {
        (crate::platform::TRAP_NMI, Irq::Nmi)
    } else if s.mce_pending > 0 && !s.mce_blocked {
        (crate::platform::TRAP_MACHINE_CHECK, Irq::Mce)
    } else if rflags & RFLAGS_IF != 0 {
        match s.highest() {
            Some(n) => (n, Irq::Vector(n)),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    if !s.halted {
        // `sti; hlt`: the interrupt shadow lets the hlt execute first.
        let rip = reg(u, RegisterX86::RIP)?;
        let mut b = [0u8; 2];
        if rip > 0 && u.get_data().ram().read(rip - 1, &mut b).is_ok() && b == [0xfb, 0xf4] {
            set(u, RegisterX86::RIP, rip + 1)?;
        }
    }
    deliver_or_double_fault(u, vector, Kind::External)?;
    let s = u.get_data_mut().vcpu();
    s.halted = false;
    match irq {
        Irq::Nmi => {
            s.nmi_pending -= 1;
            s.nmi_blocked = true;
            s.nmis_delivered += 1;
        }
        Irq::Mce => {
            s.mce_pending -= 1;
            s.mce_blocked = true;
            s.mces_delivered += 1;
            // The banks it carries become the vCPU's registers.
            s.mca = s
                .mce_queue
                .pop_front()
                .unwrap_or_else(crate::vcpu::McBanks::corrected);
            s.mca.mcg_status |= crate::vcpu::MCG_STATUS_MCIP;
        }
        Irq::Vector(n) => s.clear(n),
    }
    Ok(Some(irq))
}
