//! The devices and per-vCPU interrupt state that the engine's hooks act
//! on: serial console, virtual time and timers, IPIs, AP start-up, the
//! panic port, and the hooks that route exceptions to the guest IDT.

use std::collections::{HashMap, VecDeque};

use iced_x86::{Decoder, DecoderOptions};

use unicorn_engine::{RegisterX86, Unicorn};

use crate::deliver::{deliver, has_error_code, Kind};
use crate::engine::{Calibration, SavedContext};
use crate::platform::*;
use crate::ram::Ram;

/// Interrupt state of one vCPU, kept by the emulator (the local APIC).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcpuState {
    /// Started by the BSP (CPU 0 starts at power-on).
    pub started: bool,
    /// Executed `hlt` and waits for an interrupt.
    pub halted: bool,
    /// RFLAGS.IF when it halted.
    pub halted_if: bool,
    /// Pending maskable vectors, one bit each.
    pub pending: [u64; 4],
    /// NMIs waiting for delivery.
    pub nmi_pending: u32,
    /// Machine checks waiting for delivery.
    pub mce_pending: u32,
    /// An NMI handler runs; NMIs wait for the next `iretq`.
    pub nmi_blocked: bool,
    /// A machine-check handler runs.
    pub mce_blocked: bool,
    /// One-shot timer deadline in virtual ns.
    pub timer: Option<u64>,
    /// Cycles this vCPU has been given (instructions, or idle cycles).
    pub cycles: u64,
    /// NMIs delivered so far.
    pub nmis_delivered: u64,
    /// Machine checks delivered so far.
    pub mces_delivered: u64,
    /// Held by the host until this time, as if spinning with interrupts
    /// off: not scheduled, interrupts stay pending.
    pub held_until: Option<u64>,
}

impl VcpuState {
    /// Marks a maskable vector pending.
    pub fn raise(&mut self, vector: u8) {
        self.pending[usize::from(vector / 64)] |= 1 << (vector % 64);
    }

    /// The highest pending maskable vector.
    pub fn highest(&self) -> Option<u8> {
        (0..4).rev().find_map(|i| {
            let w = self.pending[i];
            (w != 0).then(|| (i as u32 * 64 + 63 - w.leading_zeros()) as u8)
        })
    }

    /// Clears a pending vector.
    pub fn clear(&mut self, vector: u8) {
        self.pending[usize::from(vector / 64)] &= !(1 << (vector % 64));
    }

    /// Whether an interrupt can wake it from `hlt`.
    pub fn can_wake(&self) -> bool {
        (self.nmi_pending > 0 && !self.nmi_blocked)
            || (self.mce_pending > 0 && !self.mce_blocked)
            || (self.halted_if && self.highest().is_some())
    }
}

/// Why a hook stopped the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A fault that must be delivered after the engine stopped (it needs the
    /// CPU state reset that is unsafe inside the engine).
    Fault {
        /// The vector.
        vector: u8,
    },
    /// mini-xen wrote PORT_PANIC.
    Panic {
        /// Address of the `struct cpu_user_regs`, or 0.
        regs: u64,
    },
    /// Delivery of an exception failed twice.
    TripleFault {
        /// What went wrong.
        why: String,
    },
}

/// An armed "inject when vCPU k reaches this address" request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrTrigger {
    /// The vCPU.
    pub vcpu: usize,
    /// The address.
    pub addr: u64,
    /// What to inject.
    pub irq: crate::machine::Irq,
}

/// Everything the hooks change, cloneable for snapshots.
#[derive(Clone, Debug, Default)]
pub struct BoardState {
    /// The vCPU loaded in the engine.
    pub current: usize,
    /// Virtual time in ns.
    pub now: u64,
    /// Per-vCPU interrupt state.
    pub vcpus: Vec<VcpuState>,
    /// Console output.
    pub console: Vec<u8>,
    /// Console input not read yet.
    pub serial_in: VecDeque<u8>,
    /// High half of the time latched by the last PORT_TIME_LO read.
    pub time_hi: u32,
    /// Why the engine was stopped by a hook.
    pub stop: Option<Stop>,
    /// The `hlt` the current vCPU is about to execute.
    pub halting_at: Option<u64>,
    /// Armed address-triggered injections.
    pub addr_triggers: Vec<AddrTrigger>,
    /// Hypercalls and exceptions delivered (for the run digest).
    pub deliveries: u64,
    /// Instructions the current slot may run (block-quantum mode).
    pub slot_budget: u64,
    /// Instructions of the blocks the current slot has entered.
    pub slot_used: u64,
}

/// The data attached to the engine.
pub struct Board {
    /// Guest RAM.
    pub ram: Ram,
    /// Offsets in saved contexts.
    pub calib: Calibration,
    /// Scratch context for fault bookkeeping (taken while in use).
    pub scratch: Option<SavedContext>,
    /// Instruction count of each translated block, by start address and
    /// size. Cleared when code is written and on snapshot restore, so it is
    /// a pure function of memory contents.
    pub block_insns: HashMap<u64, (u32, u64)>,
    /// The rest.
    pub st: BoardState,
}

impl Board {
    fn vcpu(&mut self) -> &mut VcpuState {
        let cur = self.st.current;
        &mut self.st.vcpus[cur]
    }
}

fn stop(u: &mut Unicorn<Board>, why: Stop) {
    u.get_data_mut().st.stop = Some(why);
    // Stopping only fails when the engine is not running; we are in a hook.
    let _ = u.emu_stop();
}

/// OUT instruction.
pub fn on_out(u: &mut Unicorn<Board>, port: u32, _size: usize, value: u32) {
    let Ok(port) = u16::try_from(port) else {
        return;
    };
    let b = u.get_data_mut();
    match port {
        PORT_COM1_DATA => b.st.console.push(value as u8),
        PORT_TIMER => {
            let now = b.st.now;
            b.vcpu().timer = (value != 0).then(|| now + u64::from(value));
        }
        PORT_IPI => {
            let vector = value as u8;
            let me = b.st.current;
            if value & IPI_ALL_BUT_SELF != 0 {
                for (i, v) in b.st.vcpus.iter_mut().enumerate() {
                    if i != me && v.started {
                        v.raise(vector);
                    }
                }
            } else if let Some(v) = b.st.vcpus.get_mut(((value >> 8) & 0xff) as usize) {
                v.raise(vector);
            }
        }
        PORT_CPU_START => {
            if let Some(v) = b.st.vcpus.get_mut(value as usize) {
                v.started = true;
            }
        }
        PORT_PANIC => stop(
            u,
            Stop::Panic {
                regs: u64::from(value),
            },
        ),
        _ => {}
    }
}

/// IN instruction.
pub fn on_in(u: &mut Unicorn<Board>, port: u32, _size: usize) -> u32 {
    let Ok(port) = u16::try_from(port) else {
        return !0;
    };
    let st = &mut u.get_data_mut().st;
    match port {
        PORT_COM1_DATA => st.serial_in.pop_front().map_or(0, u32::from),
        PORT_COM1_LSR => 0x20 | u32::from(!st.serial_in.is_empty()),
        PORT_TIME_LO => {
            st.time_hi = (st.now >> 32) as u32;
            st.now as u32
        }
        PORT_TIME_HI => st.time_hi,
        _ => !0,
    }
}

/// Exceptions and `int n` reported by the engine.
pub fn on_interrupt(u: &mut Unicorn<Board>, intno: u32) {
    let vector = intno as u8;
    let contributory = matches!(vector, 0 | 8 | 10..=14);
    if contributory {
        // Needs the engine's fault state reset: done after it stops.
        stop(u, Stop::Fault { vector });
        return;
    }
    let kind = if vector >= 32 || vector == 3 || vector == 4 {
        Kind::Software
    } else {
        Kind::Exception { error_code: None }
    };
    let result = deliver(u, vector, kind).or_else(|_| {
        deliver(
            u,
            TRAP_DOUBLE_FAULT,
            Kind::Exception {
                error_code: Some(0),
            },
        )
    });
    match result {
        Ok(()) => u.get_data_mut().st.deliveries += 1,
        Err(e) => stop(
            u,
            Stop::TripleFault {
                why: format!("vector {vector:#x}: {e}"),
            },
        ),
    }
}

/// Delivers a fault recorded by [`on_interrupt`], after the engine stopped:
/// reads its error code, resets the engine's in-flight exception, and goes
/// through the IDT (escalating to #DF, then to a triple fault).
pub fn deliver_fault(u: &mut Unicorn<Board>, vector: u8) -> Result<(), String> {
    let err = reset_fault_state(u).map_err(|e| e.to_string())?;
    let code = has_error_code(vector).then_some(err);
    deliver(u, vector, Kind::Exception { error_code: code })
        .or_else(|first| {
            deliver(
                u,
                TRAP_DOUBLE_FAULT,
                Kind::Exception {
                    error_code: Some(0),
                },
            )
            .map_err(|second| format!("{first}; then #DF: {second}"))
        })
        .map_err(|e| format!("vector {vector:#x}: {e}"))?;
    u.get_data_mut().st.deliveries += 1;
    Ok(())
}

/// Reads the last error code and resets `old_exception` to "none".
fn reset_fault_state(u: &mut Unicorn<Board>) -> Result<u32, crate::engine::EngineError> {
    let calib = u.get_data().calib;
    let mut scratch =
        u.get_data_mut()
            .scratch
            .take()
            .ok_or(crate::engine::EngineError::Calibration(
                "scratch context in use",
            ))?;
    let result = scratch.save(u).and_then(|()| {
        let code = scratch.read_i32(calib.error_code) as u32;
        scratch.write_i32(calib.old_exception, -1);
        scratch.restore(u).map(|()| code)
    });
    u.get_data_mut().scratch = Some(scratch);
    result
}

/// `ud2` and other invalid opcodes: #UD through the IDT.
pub fn on_invalid(u: &mut Unicorn<Board>) -> bool {
    on_interrupt(u, u32::from(TRAP_INVALID_OP));
    u.get_data().st.stop.is_none()
}

/// Code hook on every `hlt`.
pub fn on_hlt(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    u.get_data_mut().st.halting_at = Some(addr);
}

/// Code hook on every `iretq`: hardware unblocks NMIs at IRET.
pub fn on_iret(u: &mut Unicorn<Board>, _addr: u64, _size: u32) {
    let v = u.get_data_mut().vcpu();
    v.nmi_blocked = false;
    v.mce_blocked = false;
}

/// Code hook on an address-triggered injection.
pub fn on_trigger(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    let st = &mut u.get_data_mut().st;
    let cur = st.current;
    let Some(i) = st
        .addr_triggers
        .iter()
        .position(|t| t.addr == addr && t.vcpu == cur)
    else {
        return;
    };
    let t = st.addr_triggers.remove(i);
    t.irq.post(&mut st.vcpus[cur]);
    if let Err(e) = crate::machine::deliver_pending(u) {
        stop(u, Stop::TripleFault { why: e });
    }
}

/// Reads a general register of the loaded vCPU (0 if the engine refuses).
pub fn reg(u: &Unicorn<Board>, r: RegisterX86) -> u64 {
    u.reg_read(r).unwrap_or(0)
}

/// Block hook: accounts the block's instructions against the slot budget
/// and ends the slot before a block that would exceed it.
pub fn on_block(u: &mut Unicorn<Board>, addr: u64, size: u32) {
    let b = u.get_data_mut();
    let n = match b.block_insns.get(&addr) {
        Some(&(s, n)) if s == size => n,
        _ => {
            let n = count_insns(b.ram, addr, size);
            b.block_insns.insert(addr, (size, n));
            n
        }
    };
    let st = &mut b.st;
    if st.slot_used > 0 && st.slot_used + n > st.slot_budget {
        // The engine stops before this block executes.
        let _ = u.emu_stop();
        return;
    }
    st.slot_used += n;
}

fn count_insns(ram: Ram, addr: u64, size: u32) -> u64 {
    let mut code = vec![0u8; size as usize];
    if ram.read(addr, &mut code).is_err() {
        return 1;
    }
    let mut dec = Decoder::with_ip(64, &code, addr, DecoderOptions::NONE);
    let mut n = 0;
    while dec.can_decode() {
        let _ = dec.decode();
        n += 1;
    }
    n.max(1)
}

/// Memory-write hook on code ranges: forget instruction counts of blocks
/// whose bytes may have changed.
pub fn on_code_write(
    u: &mut Unicorn<Board>,
    _kind: unicorn_engine::MemType,
    _addr: u64,
    _size: usize,
    _value: i64,
) -> bool {
    u.get_data_mut().block_insns.clear();
    true
}
