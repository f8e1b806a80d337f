//! The data attached to the engine and the hooks that act on it: serial
//! console, virtual time and timers, IPIs, AP start-up, the panic port,
//! exceptions routed to the guest IDT, `hlt`/`iretq`/`pause` sites,
//! triggers, and the detectors' eyes on code writes and payload execution.

use std::collections::{BTreeSet, VecDeque};

use iced_x86::{Decoder, DecoderOptions};
use unicorn_engine::{MemType, RegisterX86, Unicorn};

use crate::blocks::BlockCounts;
use crate::deliver::{self, Cpu, DeliveryError, Kind};
use crate::detect::{Finding, Watch};
use crate::engine::{self, Calibration, EngineError, SavedContext};
use crate::image::SymbolTable;
use crate::platform::*;
use crate::ram::{page_base, RamBlock};
use crate::timeline::{Mark, MarkKind};
use crate::trigger::{Access, Action, Fired, Triggers};
use crate::vcpu::VcpuState;

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
        /// The vector whose delivery failed.
        vector: u8,
        /// Why.
        why: DeliveryError,
    },
    /// A detector fired.
    Detected(Finding),
    /// A trigger asked the host to take over.
    Break,
}

/// Everything the hooks change, cloneable for snapshots.
#[derive(Clone, Debug, Default)]
pub struct BoardState {
    /// The vCPU loaded in the engine.
    pub current: usize,
    /// Virtual time in ns.
    pub now: u64,
    /// Per-vCPU state.
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
    /// The current slot executed a `pause`.
    pub paused: bool,
    /// Armed triggers.
    pub triggers: Triggers,
    /// Triggers that fired during the current slot, for the schedule log.
    pub fired: Vec<Fired>,
    /// Hypercalls and exceptions delivered (for the run digest).
    pub deliveries: u64,
    /// Instructions the current slot may run (block-quantum mode).
    pub slot_budget: u64,
    /// Instructions of the blocks the current slot has entered.
    pub slot_used: u64,
    /// The current slot must end after exactly its budget (it may refuse
    /// even its first block; the engine then counts the rest).
    pub slot_exact: bool,
    /// The engine counts the current run (Unicorn's count: every slot
    /// retires its whole budget, so none may end early by itself).
    pub counted: bool,
    /// The last block of the current slot ran inside a range window (a
    /// coarse slot stops only where it enters one from outside).
    pub in_range: bool,
    /// Start, size and instruction count of the last block the current
    /// slot entered.
    pub block: (u64, u32, u64),
    /// `pause` instructions the current slot reached.
    pub slot_pauses: u32,
    /// The current slot ended because its next block would have exceeded
    /// the budget.
    pub refused: bool,
    /// The instruction `on_step` counted last, and the slot's count after
    /// it.
    pub last_step: (u64, u64),
    /// The current slot ended at a `pause` of a spinning vCPU (it waits
    /// for the rest of the slot without running it).
    pub yielded: bool,
    /// What the detectors watch.
    pub watch: Watch,
    /// A trigger opened the event window (fine rounds until one closes it).
    pub event_window: bool,
}

/// What the code-write hook did with the stores it saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeWrites {
    /// Stores that may have changed code: the decode cache was dropped.
    pub flushes: u64,
    /// Stores into a published payload's data (the hook covers the whole
    /// live-patch area): the decode cache was kept.
    pub data: u64,
}

/// The data attached to the engine.
pub struct Board {
    /// Guest RAM (the engine maps it; Unicorn closes before its data is
    /// dropped, so the mapping outlives every engine access).
    pub ram: RamBlock,
    /// Offsets in saved contexts.
    pub calib: Calibration,
    /// Scratch context for fault bookkeeping (taken while in use).
    pub scratch: Option<SavedContext>,
    /// Instruction count of each translated block, by start address and
    /// size. Cleared when code is written and on snapshot restore, so it is
    /// a pure function of memory contents.
    pub block_insns: BlockCounts,
    /// Counts of the code-write hook's decisions.
    pub code_writes: CodeWrites,
    /// The image's text ranges (code writes there are patch-site writes).
    pub text: Vec<(u64, u64)>,
    /// The image's symbols (the function a site belongs to).
    pub symbols: SymbolTable,
    /// The range windows: a coarse slot ends before a block that enters
    /// one, so the next round sees the vCPU inside and runs fine (a
    /// window over a short function would otherwise be run through
    /// within one quantum).
    pub window_ranges: Vec<(u64, u64)>,
    /// Where instructions are counted one by one by `on_step` (the live
    /// patch core, `.text.unpatchable`, and the range windows): there a
    /// slot ends after exactly its budget, and block counts leave these
    /// instructions out.
    pub step_ranges: Vec<(u64, u64)>,
    /// The pages that are read-only to the engine (text and the live-patch
    /// area): stores into them go through `on_code_write`.
    pub code_pages: Vec<(u64, u64)>,
    /// Pages of the live-patch area whose translations may be stale (a
    /// payload loaded or restored over freed memory). Unicorn finds
    /// translations through the page tables, and such a page is not
    /// mapped for execution while it is written, so they are dropped when
    /// a block there is about to run (the page is mapped then): the block
    /// hook stops the slot first (`refetch`).
    pub stale: BTreeSet<u64>,
    /// Stale pages a block was about to run from in the current slot.
    pub refetch: Vec<u64>,
    /// Marks made inside the engine's hooks (patch-site stores, trigger
    /// injections) while a timeline is recorded.
    pub marks: Option<Vec<Mark>>,
    /// The rest.
    pub st: BoardState,
}

impl Board {
    /// `addr` lies in a range window.
    pub fn in_range(&self, addr: u64) -> bool {
        in_any(&self.window_ranges, addr)
    }

    /// `addr` lies in a code page (read-only to the engine).
    pub fn in_code_page(&self, addr: u64) -> bool {
        in_any(&self.code_pages, addr)
    }

    /// `addr` lies in a step range.
    pub fn in_step_range(&self, addr: u64) -> bool {
        in_any(&self.step_ranges, addr)
    }

    /// `on_step` will end the slot before the instruction at `addr` (code
    /// hooks that run before it must then leave that instruction alone).
    fn step_stops_at(&self, addr: u64) -> bool {
        let st = &self.st;
        // `on_step` already counted this instruction (its hook ran first).
        let counted = st.last_step == (addr, st.slot_used);
        st.slot_used > 0 && st.slot_used >= st.slot_budget && !counted && self.in_step_range(addr)
    }
}

fn in_any(ranges: &[(u64, u64)], addr: u64) -> bool {
    ranges.iter().any(|&(s, e)| (s..e).contains(&addr))
}

/// `addr` lies in the live-patch area (payload allocations).
pub fn in_livepatch_area(addr: u64) -> bool {
    (LIVEPATCH_BASE..LIVEPATCH_BASE + LIVEPATCH_SIZE).contains(&addr)
}

impl Cpu for Board {
    fn ram(&self) -> &RamBlock {
        &self.ram
    }

    fn ram_mut(&mut self) -> &mut RamBlock {
        &mut self.ram
    }

    fn calibration(&self) -> Calibration {
        self.calib
    }

    fn scratch(&mut self) -> &mut Option<SavedContext> {
        &mut self.scratch
    }

    fn vcpu(&mut self) -> &mut VcpuState {
        let cur = self.st.current;
        &mut self.st.vcpus[cur]
    }
}

/// Stops the engine with a reason (the first reason wins).
pub fn stop(u: &mut Unicorn<Board>, why: Stop) {
    let st = &mut u.get_data_mut().st;
    if st.stop.is_none() {
        st.stop = Some(why);
    }
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
        PORT_MCA_INDEX => b.vcpu().mca_index = value,
        PORT_MCA_HI => b.vcpu().mca_hi = value,
        PORT_MCA_LO => {
            let v = b.vcpu();
            let full = u64::from(v.mca_hi) << 32 | u64::from(value);
            v.mca.write(v.mca_index, full);
        }
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
        PORT_MCA_LO => {
            let v = &mut st.vcpus[st.current];
            let full = v.mca.read(v.mca_index);
            v.mca_hi = (full >> 32) as u32;
            full as u32
        }
        PORT_MCA_HI => st.vcpus[st.current].mca_hi,
        _ => !0,
    }
}

/// Exceptions and `int n` reported by the engine.
pub fn on_interrupt(u: &mut Unicorn<Board>, intno: u32) {
    let vector = intno as u8;
    if vector == 14 {
        // A fetch from a freed payload's unmapped pages faults before any
        // block hook sees it: the payload table names it.
        let rip = reg(u, RegisterX86::RIP);
        if in_livepatch_area(rip) {
            let b = u.get_data_mut();
            if let Some(f) = b.st.watch.payload_exec(&b.ram, rip) {
                stop(u, Stop::Detected(f));
                return;
            }
        }
    }
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
    match deliver::deliver_or_double_fault(u, vector, kind) {
        Ok(()) => u.get_data_mut().st.deliveries += 1,
        Err(why) => stop(u, Stop::TripleFault { vector, why }),
    }
}

/// Delivers a fault recorded by [`on_interrupt`], after the engine stopped:
/// reads its error code, resets the engine's in-flight exception, and goes
/// through the IDT (escalating to #DF, then to a triple fault).
pub fn deliver_fault(u: &mut Unicorn<Board>, vector: u8) -> Result<(), DeliveryError> {
    let err = reset_fault_state(u)?;
    let code = deliver::has_error_code(vector).then_some(err);
    deliver::deliver_or_double_fault(u, vector, Kind::Exception { error_code: code })?;
    u.get_data_mut().st.deliveries += 1;
    Ok(())
}

/// Reads the last error code and resets `old_exception` to "none".
fn reset_fault_state(u: &mut Unicorn<Board>) -> Result<u32, EngineError> {
    let calib = u.get_data().calib;
    deliver::with_scratch(u, |u, scratch| {
        scratch.save(u)?;
        let code = scratch.read_i32(calib.error_code) as u32;
        scratch.write_i32(calib.old_exception, -1);
        scratch.restore(u)?;
        Ok(code)
    })
}

/// Drops the engine's translations of `[start, end)`, between slots.
/// Unicorn finds them through the current page tables, and a lookup of a
/// page not mapped for execution (a payload being loaded, a freed one)
/// faults inside Unicorn: it swallows the fault but keeps it as the CPU's
/// previous exception, so that the guest's next real fault would be
/// escalated (to #DF, then to a silent triple-fault stop). So that state
/// is reset after the lookup.
pub fn drop_translations(u: &mut Unicorn<Board>, start: u64, end: u64) -> Result<(), EngineError> {
    u.ctl_remove_cache(start, end)
        .map_err(engine::uc("remove cache"))?;
    let calib = u.get_data().calib;
    deliver::with_scratch(u, |u, scratch| {
        scratch.save(u)?;
        if scratch.read_i32(calib.old_exception) != -1 {
            scratch.write_i32(calib.old_exception, -1);
            scratch.restore(u)?;
        }
        Ok(())
    })
}

/// `ud2` and other invalid opcodes: #UD through the IDT.
pub fn on_invalid(u: &mut Unicorn<Board>) -> bool {
    on_interrupt(u, u32::from(TRAP_INVALID_OP));
    u.get_data().st.stop.is_none()
}

/// Code hook on every `hlt`.
pub fn on_hlt(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    let b = u.get_data_mut();
    if !b.step_stops_at(addr) {
        b.st.halting_at = Some(addr);
    }
}

/// Code hook on the step ranges: counts each instruction there and ends
/// the slot before the first one past its budget.
pub fn on_step(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    let b = u.get_data_mut();
    if !b.in_step_range(addr) {
        // A range that was a window and is no more: its blocks are
        // counted whole again.
        return;
    }
    let st = &mut b.st;
    if st.slot_used > 0 && st.slot_used >= st.slot_budget {
        let _ = u.emu_stop();
        return;
    }
    st.slot_used += 1;
    st.last_step = (addr, st.slot_used);
}

/// Instructions between two visits of one `pause` site below which the
/// vCPU counts as spinning.
pub const SPIN_DISTANCE: u64 = 512;

/// Code hook on every `pause`: the vCPU is in a spin loop. A coarse slot
/// of a vCPU known to spin ends at its second `pause` (as a CPU's
/// pause-loop exit would): it has looked at what it waits for once in
/// this slot, and running the rest of the quantum would only repeat it.
/// The slot is charged in full to the vCPU's clock, so timeouts keep
/// their virtual length.
pub fn on_pause(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    let b = u.get_data_mut();
    if b.step_stops_at(addr) {
        return;
    }
    let st = &mut b.st;
    st.paused = true;
    st.slot_pauses += 1;
    let yield_now = !st.counted
        && st.slot_pauses > 1
        && st.vcpus[st.current].spinning
        && (st.block.0..st.block.0 + u64::from(st.block.1)).contains(&addr);
    if yield_now {
        // The engine stops before the `pause`: the block it began is
        // counted up to there.
        let (start, _, n) = st.block;
        let before = if addr == start {
            0
        } else {
            count_insns(&b.ram, &b.step_ranges, start, (addr - start) as u32)
        };
        let st = &mut b.st;
        st.slot_used = st.slot_used + before - n;
        st.yielded = true;
        let _ = u.emu_stop();
        return;
    }
    let at = st.vcpus[st.current].retired + st.slot_used;
    let v = &mut st.vcpus[st.current];
    if let Some((site, then)) = v.last_pause {
        if site == addr && at.saturating_sub(then) <= SPIN_DISTANCE {
            v.spinning = true;
        }
    }
    v.last_pause = Some((addr, at));
}

/// Code hook on every `iretq`: hardware unblocks NMIs at IRET; the frame
/// at RSP is popped.
pub fn on_iret(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    if u.get_data().step_stops_at(addr) {
        return;
    }
    let rsp = reg(u, RegisterX86::RSP);
    let v = u.get_data_mut().vcpu();
    v.nmi_blocked = false;
    v.mce_blocked = false;
    if let Some(i) = v.frames.iter().rposition(|f| f.at == rsp) {
        v.frames.truncate(i);
    }
    if v.held_handler_depth.is_some_and(|d| v.frames.len() <= d) {
        // The NMI/MCE taken while held returned: held again.
        v.held_handler_depth = None;
        let _ = u.emu_stop();
    }
}

/// Code hook on trigger addresses: "when vCPU A reaches X".
pub fn on_reach(u: &mut Unicorn<Board>, addr: u64, _size: u32) {
    if u.get_data().step_stops_at(addr) {
        return;
    }
    let st = &mut u.get_data_mut().st;
    let cur = st.current;
    let retired = st.vcpus[cur].retired + st.slot_used;
    let actions = st.triggers.reached(cur, addr, retired, &mut st.fired);
    run_actions(u, actions);
}

/// Memory hook on watched ranges (watchpoints).
pub fn on_watch(u: &mut Unicorn<Board>, kind: MemType, addr: u64, size: usize, _v: i64) -> bool {
    let write = matches!(kind, MemType::WRITE);
    accessed(u, addr, size as u64, write, false);
    true
}

/// Fires the watch triggers an access matches: seen by a watch hook, or
/// (`by_code`) by the hook on stores into code pages.
fn accessed(u: &mut Unicorn<Board>, addr: u64, len: u64, write: bool, by_code: bool) {
    let b = u.get_data_mut();
    let st = &mut b.st;
    let cur = st.current;
    let seen = Access {
        vcpu: cur,
        addr,
        len,
        write,
        retired: st.vcpus[cur].retired + st.slot_used,
    };
    let actions = st
        .triggers
        .accessed(seen, &b.code_pages, by_code, &mut st.fired);
    run_actions(u, actions);
}

fn run_actions(u: &mut Unicorn<Board>, actions: Vec<Action>) {
    let cur = u.get_data().st.current;
    for a in actions {
        match a {
            Action::Inject { vcpu, irq } => {
                let b = u.get_data_mut();
                if let Some(m) = &mut b.marks {
                    m.push(Mark {
                        at: b.st.now,
                        vcpu,
                        kind: MarkKind::Inject { irq },
                    });
                }
                let st = &mut b.st;
                let Some(v) = st.vcpus.get_mut(vcpu) else {
                    continue;
                };
                irq.post(v);
                if vcpu == cur {
                    if let Err(why) = deliver::deliver_pending(u) {
                        stop(
                            u,
                            Stop::TripleFault {
                                vector: TRAP_NMI,
                                why,
                            },
                        );
                    }
                }
            }
            Action::Hold { vcpu, ns } => {
                let st = &mut u.get_data_mut().st;
                let now = st.now;
                if let Some(v) = st.vcpus.get_mut(vcpu) {
                    v.held_until = Some(now + ns);
                }
                if vcpu == cur {
                    let _ = u.emu_stop();
                }
            }
            Action::Break => stop(u, Stop::Break),
            Action::Note => {}
            Action::OpenWindow | Action::CloseWindow => {
                let open = a == Action::OpenWindow;
                let st = &mut u.get_data_mut().st;
                if st.event_window != open {
                    st.event_window = open;
                    // The next slot is planned with the window in force.
                    // (Only on a change: stopping an exact slot early
                    // would count instructions it never ran.)
                    let _ = u.emu_stop();
                }
            }
        }
    }
}

/// Reads a general register of the loaded vCPU (0 if the engine refuses).
pub fn reg(u: &Unicorn<Board>, r: RegisterX86) -> u64 {
    u.reg_read(r).unwrap_or(0)
}

/// The checks a block in the live-patch area, or any block while a patch
/// site is being written, gets before it runs. True when the engine must
/// stop before the block.
#[cold]
#[inline(never)]
fn checked_block(b: &mut Board, addr: u64, size: u32) -> bool {
    let detected = |b: &mut Board, f: Finding| {
        b.st.stop.get_or_insert(Stop::Detected(f));
        true
    };
    if in_livepatch_area(addr) {
        if let Some(f) = b.st.watch.payload_exec(&b.ram, addr) {
            return detected(b, f);
        }
        if !b.stale.is_empty() {
            let last = page_base(addr + u64::from(size).max(1) - 1);
            let hit: Vec<u64> = [page_base(addr), last]
                .into_iter()
                .filter(|p| b.stale.contains(p))
                .collect();
            if !hit.is_empty() {
                // This translation may be of older bytes: stop before it
                // runs; it is dropped and made again.
                b.refetch.extend(hit);
                return true;
            }
        }
    }
    if b.st.watch.writing() {
        // A site opened in this slot has no code hook yet (hooks are
        // added between slots): a block entering it is a fetch of it.
        let cur = b.st.current;
        let depth = b.st.vcpus[cur].frames.len();
        if let Some(f) =
            b.st.watch
                .site_exec(&b.ram, cur, depth, addr, u64::from(size))
        {
            return detected(b, f);
        }
    }
    false
}

/// Block hook: accounts the block's instructions against the slot budget
/// and ends the slot before a block that would exceed it (returns true to
/// stop the engine before the block); execution in the payload area is
/// checked against the payload table. The engine calls it directly
/// ([`engine::add_block_hook`]): it runs for every block executed.
fn on_block(b: &mut Board, addr: u64, size: u32) -> bool {
    // Most blocks are neither in the live-patch area nor run while a patch
    // site is being written: they only charge the slot.
    if (in_livepatch_area(addr) || b.st.watch.writing()) && checked_block(b, addr, size) {
        return true;
    }
    let n = match b.block_insns.get(addr, size) {
        Some(n) => n,
        None => {
            let n = count_insns(&b.ram, &b.step_ranges, addr, size);
            b.block_insns.insert(addr, size, n);
            n
        }
    };
    let inside = b.in_range(addr);
    let st = &mut b.st;
    let entering = st.slot_budget > 1 && inside && !st.in_range;
    // A precise slot refuses even its first block when that would run
    // past the budget (the rest is then counted by the engine).
    let over = st.slot_used + n > st.slot_budget;
    let refuse = over && (st.slot_used > 0 || st.slot_exact) || entering && st.slot_used > 0;
    if refuse && !st.counted {
        // The engine stops before this block executes.
        st.refused = over;
        return true;
    }
    st.in_range = inside;
    st.block = (addr, size, n);
    st.slot_used += n;
    false
}

impl engine::BlockHooked for Board {
    const HOOK: engine::BlockHook<Board> = on_block;
}

/// Instructions of the block `[addr, addr + size)` outside the step
/// ranges (those are counted by `on_step`, one by one).
fn count_insns(ram: &RamBlock, steps: &[(u64, u64)], addr: u64, size: u32) -> u64 {
    let end = addr + u64::from(size);
    if steps.iter().any(|&(s, e)| s <= addr && end <= e) {
        return 0;
    }
    let mut code = [0u8; 4096];
    let Some(code) = code.get_mut(..size as usize) else {
        return 1;
    };
    if ram.read(addr, code).is_err() {
        return 1;
    }
    let mut dec = Decoder::with_ip(64, code, addr, DecoderOptions::NONE);
    let mut n = 0;
    while dec.can_decode() {
        let ip = dec.ip();
        let _ = dec.decode();
        if !in_any(steps, ip) {
            n += 1;
        }
    }
    n
}

/// Hook on stores into code pages, which are read-only to the engine (a
/// write hook would send every load and store through Unicorn's slow
/// path): does the store, forgets instruction counts of blocks whose bytes
/// may change, drops their translations, and follows patch-site writes:
/// stores into the image's text, or into the text of a loaded payload with
/// CR0.WP clear (the patcher stacking onto it; the loader's own writes
/// into a payload not yet published are not sites). The live-patch area
/// is one range, so the hook also sees stores into payloads' RW data (a
/// replacement counting its calls, a hook's state): those change no code
/// and keep the decode cache, or every such store would make the next
/// blocks decode again.
pub fn on_code_write(u: &mut Unicorn<Board>, _k: MemType, addr: u64, size: usize, v: i64) -> bool {
    if size > 1 && !addr.is_multiple_of(size as u64) {
        // Unaligned: the engine stores it again byte by byte, each byte
        // through this hook.
        return true;
    }
    let n = size.min(8);
    let bytes = (v as u64).to_le_bytes();
    let bytes = &bytes[..n];
    accessed(u, addr, n as u64, true, true);
    let b = u.get_data_mut();
    let in_lp = in_livepatch_area(addr);
    let in_text = in_any(&b.text, addr);
    if in_lp && b.st.watch.in_payload_data(&b.ram, addr) || !in_lp && !in_text {
        // Data (a payload's, or what shares a page with the text).
        b.code_writes.data += u64::from(in_lp);
        return store(u, addr, bytes, Invalidate::None);
    }
    b.block_insns.clear();
    b.code_writes.flushes += 1;
    let live = in_lp && b.st.watch.in_live_payload_text(&b.ram, addr);
    // The image's text is always mapped for execution, so its translations
    // can be found at once; the live-patch area's only once a vCPU is
    // about to run code there (a payload being loaded over freed memory is
    // not executable; a lookup that faults inside a hook would leave the
    // fault pending).
    let drop = if in_text {
        Invalidate::Now
    } else {
        Invalidate::BeforeRun
    };
    if !u.get_data().st.watch.enabled {
        return store(u, addr, bytes, drop);
    }
    let patching = in_text || live && reg(u, RegisterX86::CR0) & (1 << 16) == 0;
    if patching {
        let b = u.get_data_mut();
        let cur = b.st.current;
        if let Some(w) = &mut b.marks {
            w.push(Mark {
                at: b.st.now,
                vcpu: cur,
                kind: MarkKind::PatchWrite { addr },
            });
        }
        let before = b.st.watch.opened.len();
        let depth = b.st.vcpus[cur].frames.len();
        b.st.watch.site_write(&b.ram, cur, depth, addr, bytes);
        if b.st.watch.opened.len() > before {
            // A site opens: every stack, as it is at this store.
            let current = crate::vcpu::Parked {
                rip: reg(u, RegisterX86::RIP),
                rsp: reg(u, RegisterX86::RSP),
                rbp: reg(u, RegisterX86::RBP),
                cs: reg(u, RegisterX86::CS),
            };
            let b = u.get_data_mut();
            let sites: Vec<u64> = b.st.watch.opened[before..].to_vec();
            for site in sites {
                let f = crate::detect::stack_hazard(
                    &mut b.st.watch,
                    &b.ram,
                    &b.symbols,
                    &b.st.vcpus,
                    cur,
                    current,
                    site,
                );
                if let Some(f) = f {
                    stop(u, Stop::Detected(f));
                    break;
                }
            }
        }
    }
    store(u, addr, bytes, drop)
}

/// When the translations of stored-to code are dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Invalidate {
    /// Not code.
    None,
    /// In the hook: the image's text, always mapped for execution.
    Now,
    /// Before it runs (`Board::stale`).
    BeforeRun,
}

/// Does a store the engine refused (code is read-only to it) and drops
/// the translations of the bytes (the engine's own self-modifying-code
/// check only sees the stores it does itself). Unicorn finds translations
/// through the current page tables: pages not mapped for execution wait
/// until code there is about to run (`Board::stale`).
fn store(u: &mut Unicorn<Board>, addr: u64, bytes: &[u8], drop: Invalidate) -> bool {
    let b = u.get_data_mut();
    if b.ram.write(addr, bytes).is_err() {
        return false;
    }
    match drop {
        Invalidate::None => {}
        Invalidate::Now => {
            let _ = u.ctl_remove_cache(addr, addr + bytes.len() as u64);
        }
        Invalidate::BeforeRun => {
            b.stale.insert(page_base(addr));
        }
    }
    true
}

/// Code hook on the bytes around a patch site: a fetch that overlaps a
/// site being written, or a site holding neither its old nor its new
/// instruction.
pub fn on_site_exec(u: &mut Unicorn<Board>, addr: u64, size: u32) {
    let b = u.get_data_mut();
    if b.step_stops_at(addr) {
        return;
    }
    let cur = b.st.current;
    let depth = b.st.vcpus[cur].frames.len();
    if let Some(f) =
        b.st.watch
            .site_exec(&b.ram, cur, depth, addr, u64::from(size))
    {
        stop(u, Stop::Detected(f));
    }
}
