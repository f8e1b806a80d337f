//! The machine: N vCPUs on one Unicorn engine (contexts switched by the
//! scheduler), shared RAM, a seeded deterministic scheduler whose virtual
//! time comes from the instructions it hands out, event injection,
//! failure detection and snapshots.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unicorn_engine::{Arch, HookType, Mode, Prot, RegisterX86, Unicorn};

use crate::board::{self, AddrTrigger, Board, BoardState, Stop, VcpuState};
use crate::deliver::{deliver, Kind};
use crate::engine::{calibrate, uc, EngineError, SavedContext};
use crate::image::Image;
use crate::platform::*;
use crate::ram::{RamBlock, RamError};
use crate::report::{self, Crash, CrashReason};

/// Errors of the machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// The configuration is unusable.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The engine failed outside the guest's control.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A host access to guest memory failed.
    #[error(transparent)]
    Ram(#[from] RamError),
    /// The hypervisor crashed, hung or ran away.
    #[error("{0}")]
    Crash(Box<Crash>),
}

/// An event to inject into a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irq {
    /// Non-maskable interrupt (vector 2), blocked until `iretq`.
    Nmi,
    /// Machine check (vector 18).
    Mce,
    /// Any maskable vector.
    Vector(u8),
}

impl Irq {
    /// Makes the event pending on `v`.
    pub fn post(self, v: &mut VcpuState) {
        match self {
            Irq::Nmi => v.nmi_pending += 1,
            Irq::Mce => v.mce_pending += 1,
            Irq::Vector(n) => v.raise(n),
        }
    }
}

/// Configuration of a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of vCPUs, 1 to 64.
    pub vcpus: usize,
    /// Seed of the scheduler.
    pub seed: u64,
    /// Guests never block (CPU-bound load).
    pub busy_guests: bool,
    /// Coarse quantum in instructions (= ns of virtual time per round).
    pub quantum: u64,
    /// Without guest-mode or idle progress for this long, report a deadlock.
    pub deadlock_window: u64,
    /// The hypervisor command line (Xen's `key=value` words), written
    /// through the boot protocol; shorter than `BOOT_CMDLINE_MAX`.
    pub cmdline: String,
}

impl Config {
    /// Defaults for `vcpus` vCPUs and `seed`.
    pub fn new(vcpus: usize, seed: u64) -> Config {
        Config {
            vcpus,
            seed,
            busy_guests: false,
            quantum: 10_000,
            deadlock_window: 200_000_000,
            cmdline: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct CycleTrigger {
    vcpu: usize,
    cycle: u64,
    irq: Irq,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct TimedEvent {
    vcpu: usize,
    irq: Irq,
}

/// Counters of the scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Slots in which a vCPU ran.
    pub slots: u64,
    /// Instructions handed to running vCPUs.
    pub instructions: u64,
    /// Rounds of the scheduler.
    pub rounds: u64,
}

/// A whole-machine snapshot: RAM, every vCPU and every device.
#[derive(Clone)]
pub struct Snapshot {
    ram: Vec<u8>,
    contexts: Vec<Vec<u8>>,
    st: BoardState,
    rng: ChaCha8Rng,
    trace: Trace,
    last_progress: u64,
    last_rip: Vec<u64>,
    cycle_triggers: Vec<CycleTrigger>,
    timed: Vec<(u64, TimedEvent)>,
    stats: Stats,
}

/// A running hash of the schedule: every slot's vCPU, instruction count
/// and final RIP. Cheap enough to update per single-stepped instruction;
/// folded into the run digest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Trace(u64, u64);

impl Trace {
    fn mix(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
        self.1 = self.1.wrapping_add(self.0 ^ (x << 1 | 1)).rotate_left(17);
    }
}

/// The machine.
pub struct Machine {
    // Declared before `_ram`: the engine must be dropped first.
    engine: Unicorn<'static, Board>,
    _ram: RamBlock,
    image: Image,
    cfg: Config,
    contexts: Vec<SavedContext>,
    loaded: usize,
    rng: ChaCha8Rng,
    trace: Trace,
    last_progress: u64,
    last_rip: Vec<u64>,
    cycle_triggers: Vec<CycleTrigger>,
    timed: Vec<(u64, TimedEvent)>,
    hooked: BTreeSet<u64>,
    step_ranges: Vec<(u64, u64)>,
    single_step: bool,
    /// The last slot ran with Unicorn's instruction count.
    exact_mode: bool,
    stats: Stats,
}

impl Machine {
    /// Builds a machine and loads `image`; nothing runs yet.
    pub fn new(image: Image, cfg: Config) -> Result<Machine, MachineError> {
        if cfg.vcpus == 0 || cfg.vcpus > MAX_CPUS {
            return Err(MachineError::Config(format!(
                "{} vCPUs: the machine has 1 to {MAX_CPUS}",
                cfg.vcpus
            )));
        }
        if cfg.quantum < 2 {
            return Err(MachineError::Config("quantum must be at least 2".into()));
        }
        if cfg.cmdline.len() >= BOOT_CMDLINE_MAX || cfg.cmdline.contains('\0') {
            return Err(MachineError::Config(format!(
                "the command line must be shorter than {BOOT_CMDLINE_MAX} bytes, without NUL"
            )));
        }
        let calib = calibrate()?;
        let ram_block = RamBlock::new(RAM_SIZE as usize);
        let ram = ram_block.view();
        ram.write(IMAGE_BASE, &image.flat)?;
        let info = BootInfo {
            magic: BOOT_INFO_MAGIC,
            nr_cpus: cfg.vcpus as u32,
            flags: if cfg.busy_guests { BOOT_BUSY_GUESTS } else { 0 },
            nr_domains: NR_DOMAINS,
            cmdline_len: cfg.cmdline.len() as u32,
        };
        ram.write(BOOT_INFO, &info.to_bytes())?;
        ram.write(BOOT_CMDLINE, cfg.cmdline.as_bytes())?;

        let mut st = BoardState {
            vcpus: vec![VcpuState::default(); cfg.vcpus],
            ..BoardState::default()
        };
        st.vcpus[0].started = true;
        let board = Board {
            ram,
            calib,
            scratch: None,
            block_insns: Default::default(),
            st,
        };
        let mut engine =
            Unicorn::new_with_data(Arch::X86, Mode::MODE_64, board).map_err(uc("open"))?;
        // SAFETY: the block is RAM_SIZE bytes, page aligned, and outlives
        // the engine (field order in `Machine`).
        unsafe { engine.mem_map_ptr(0, RAM_SIZE, Prot::ALL, ram.as_ptr().cast()) }
            .map_err(uc("map RAM"))?;
        engine.get_data_mut().scratch = Some(SavedContext::new(&engine)?);
        engine
            .add_intr_hook(board::on_interrupt)
            .map_err(uc("intr hook"))?;
        engine
            .add_insn_invalid_hook(board::on_invalid)
            .map_err(uc("invalid hook"))?;
        engine
            .add_insn_in_hook(board::on_in)
            .map_err(uc("in hook"))?;
        engine
            .add_insn_out_hook(board::on_out)
            .map_err(uc("out hook"))?;
        // Every block, for block-granular quanta (`begin > end`: all code).
        engine
            .add_block_hook(1, 0, board::on_block)
            .map_err(uc("block hook"))?;
        let code_ranges = image
            .text
            .iter()
            .copied()
            .chain([(LIVEPATCH_BASE, LIVEPATCH_BASE + LIVEPATCH_SIZE)]);
        for (start, end) in code_ranges {
            engine
                .add_mem_hook(HookType::MEM_WRITE, start, end - 1, board::on_code_write)
                .map_err(uc("code write hook"))?;
        }
        for &a in &image.hlt_sites {
            engine
                .add_code_hook(a, a, board::on_hlt)
                .map_err(uc("hlt hook"))?;
        }
        for &a in &image.iret_sites {
            engine
                .add_code_hook(a, a, board::on_iret)
                .map_err(uc("iret hook"))?;
        }
        let mut contexts = Vec::with_capacity(cfg.vcpus);
        for v in 0..cfg.vcpus {
            for (r, val) in [
                (RegisterX86::RIP, IMAGE_BASE),
                (RegisterX86::RDI, v as u64),
                (RegisterX86::RSP, 0),
                (RegisterX86::RFLAGS, 2),
            ] {
                engine.reg_write(r, val).map_err(uc("reg write"))?;
            }
            let mut c = SavedContext::new(&engine)?;
            c.save(&engine)?;
            contexts.push(c);
        }
        contexts[0].restore(&engine)?;
        let mut trace = Trace::default();
        for chunk in image.build_id.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            trace.mix(u64::from_le_bytes(w));
        }
        trace.mix(cfg.vcpus as u64);
        trace.mix(cfg.seed);
        Ok(Machine {
            engine,
            _ram: ram_block,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            last_rip: vec![IMAGE_BASE; cfg.vcpus],
            image,
            cfg,
            contexts,
            loaded: 0,
            trace,
            last_progress: 0,
            cycle_triggers: Vec::new(),
            timed: Vec::new(),
            hooked: BTreeSet::new(),
            step_ranges: Vec::new(),
            single_step: false,
            exact_mode: false,
            stats: Stats::default(),
        })
    }

    /// The image this machine booted.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Virtual time in ns.
    pub fn now(&self) -> u64 {
        self.engine.get_data().st.now
    }

    /// Console output so far.
    pub fn console(&self) -> &[u8] {
        &self.engine.get_data().st.console
    }

    /// Scheduler counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Interrupt state of vCPU `v`.
    pub fn vcpu(&self, v: usize) -> Option<&VcpuState> {
        self.engine.get_data().st.vcpus.get(v)
    }

    /// Whether every vCPU has started and is halted (idle).
    pub fn all_idle(&self) -> bool {
        self.engine
            .get_data()
            .st
            .vcpus
            .iter()
            .all(|v| v.started && v.halted)
    }

    /// Guest RAM.
    pub fn ram(&self) -> crate::ram::Ram {
        self.engine.get_data().ram
    }

    /// Address of a hypervisor symbol by its Xen-style name.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.image.symbols.addr_of(name)
    }

    /// Single-steps every vCPU (one instruction per slot) while `on`.
    pub fn set_single_step(&mut self, on: bool) {
        self.single_step = on;
    }

    /// Single-steps while any vCPU's RIP lies in `[start, end)`.
    pub fn add_step_range(&mut self, start: u64, end: u64) {
        self.step_ranges.push((start, end));
    }

    /// Injects `irq` into `vcpu` before its next instruction.
    pub fn inject_now(&mut self, vcpu: usize, irq: Irq) -> Result<(), MachineError> {
        let v = self.vcpu_mut(vcpu)?;
        irq.post(v);
        Ok(())
    }

    /// Injects `irq` into `vcpu` when it has run `cycle` cycles.
    pub fn inject_at_cycle(
        &mut self,
        vcpu: usize,
        cycle: u64,
        irq: Irq,
    ) -> Result<(), MachineError> {
        self.vcpu_mut(vcpu)?;
        self.cycle_triggers.push(CycleTrigger { vcpu, cycle, irq });
        Ok(())
    }

    /// Injects `irq` into `vcpu` at virtual time `at`.
    pub fn inject_at_time(&mut self, at: u64, vcpu: usize, irq: Irq) -> Result<(), MachineError> {
        self.vcpu_mut(vcpu)?;
        self.timed.push((at, TimedEvent { vcpu, irq }));
        Ok(())
    }

    /// Injects `irq` into `vcpu` when it is about to execute `addr`.
    pub fn inject_at_addr(&mut self, vcpu: usize, addr: u64, irq: Irq) -> Result<(), MachineError> {
        self.vcpu_mut(vcpu)?;
        if self.hooked.insert(addr) {
            self.engine
                .add_code_hook(addr, addr, board::on_trigger)
                .map_err(uc("trigger hook"))?;
            // Code already translated would not see the new hook.
            self.engine
                .ctl_remove_cache(addr, addr + 1)
                .map_err(uc("remove cache"))?;
        }
        self.engine
            .get_data_mut()
            .st
            .addr_triggers
            .push(AddrTrigger { vcpu, addr, irq });
        Ok(())
    }

    /// Injects `irq` into `vcpu` at `symbol+offset`.
    pub fn inject_at_symbol(
        &mut self,
        vcpu: usize,
        symbol: &str,
        offset: u64,
        irq: Irq,
    ) -> Result<(), MachineError> {
        let addr = self
            .symbol(symbol)
            .ok_or_else(|| MachineError::Config(format!("no symbol {symbol} in the image")))?;
        self.inject_at_addr(vcpu, addr + offset, irq)
    }

    /// Holds `vcpu` until virtual time `until`, as if it spun with
    /// interrupts off: it runs nothing and takes no interrupt (they stay
    /// pending), so rendezvous and IPIs that need it wait or time out.
    pub fn hold_vcpu(&mut self, vcpu: usize, until: u64) -> Result<(), MachineError> {
        self.vcpu_mut(vcpu)?.held_until = Some(until);
        Ok(())
    }

    /// Types `bytes` on the console (debug keys) now.
    pub fn send_input(&mut self, bytes: &[u8]) {
        let st = &mut self.engine.get_data_mut().st;
        st.serial_in.extend(bytes.iter().copied());
        st.vcpus[0].raise(SERIAL_VECTOR);
    }

    fn vcpu_mut(&mut self, vcpu: usize) -> Result<&mut VcpuState, MachineError> {
        let n = self.cfg.vcpus;
        self.engine
            .get_data_mut()
            .st
            .vcpus
            .get_mut(vcpu)
            .ok_or_else(|| MachineError::Config(format!("vCPU {vcpu} does not exist ({n} vCPUs)")))
    }

    fn load(&mut self, v: usize) -> Result<(), EngineError> {
        if self.loaded != v {
            self.contexts[self.loaded].save(&self.engine)?;
            self.contexts[v].restore(&self.engine)?;
            self.loaded = v;
        }
        self.engine.get_data_mut().st.current = v;
        Ok(())
    }

    /// Runs for `ns` of virtual time.
    pub fn run_for(&mut self, ns: u64) -> Result<(), MachineError> {
        let end = self.now().saturating_add(ns);
        while self.now() < end {
            self.round(end)?;
        }
        Ok(())
    }

    /// Runs until `done` holds, for at most `budget` ns of virtual time.
    /// Returns whether `done` held.
    pub fn run_until(
        &mut self,
        budget: u64,
        mut done: impl FnMut(&Machine) -> bool,
    ) -> Result<bool, MachineError> {
        let end = self.now().saturating_add(budget);
        while !done(self) {
            if self.now() >= end {
                return Ok(false);
            }
            self.round(end)?;
        }
        Ok(true)
    }

    fn fire_due(&mut self) {
        let now = self.now();
        let mut due = Vec::new();
        self.timed.retain(|(at, e)| {
            if *at <= now {
                due.push(e.clone());
                false
            } else {
                true
            }
        });
        for e in due {
            e.irq.post(&mut self.engine.get_data_mut().st.vcpus[e.vcpu]);
        }
        let st = &mut self.engine.get_data_mut().st;
        for v in st.vcpus.iter_mut() {
            if v.timer.is_some_and(|t| t <= now) {
                v.timer = None;
                v.raise(TIMER_VECTOR);
            }
        }
        let vcpus = &mut st.vcpus;
        self.cycle_triggers.retain(|t| {
            if vcpus[t.vcpu].cycles >= t.cycle {
                t.irq.post(&mut vcpus[t.vcpu]);
                false
            } else {
                true
            }
        });
    }

    fn round(&mut self, end: u64) -> Result<(), MachineError> {
        self.fire_due();
        let fine = self.single_step
            || self
                .last_rip
                .iter()
                .any(|&rip| self.step_ranges.iter().any(|&(s, e)| (s..e).contains(&rip)));
        let q_round = if fine { 1 } else { self.cfg.quantum };
        let mut order: Vec<usize> = (0..self.cfg.vcpus)
            .filter(|&v| self.engine.get_data().st.vcpus[v].started)
            .collect();
        order.shuffle(&mut self.rng);
        for v in order {
            let now = self.now();
            let (halted, wake, cycles, held) = {
                let s = &mut self.engine.get_data_mut().st.vcpus[v];
                if s.held_until.is_some_and(|t| t <= now) {
                    s.held_until = None;
                }
                (s.halted, s.can_wake(), s.cycles, s.held_until.is_some())
            };
            if (halted && !wake) || held {
                self.engine.get_data_mut().st.vcpus[v].cycles += q_round;
                continue;
            }
            let mut q = if fine {
                1
            } else {
                self.rng.gen_range(q_round / 2..=q_round)
            };
            let mut exact = fine;
            for t in self.cycle_triggers.iter().filter(|t| t.vcpu == v) {
                if t.cycle > cycles && t.cycle - cycles <= q {
                    q = t.cycle - cycles;
                    exact = true;
                }
            }
            self.run_slot(v, q, exact)?;
        }
        self.stats.rounds += 1;
        let now = self.now() + q_round;
        self.engine.get_data_mut().st.now = now;
        self.fast_forward(end)?;
        if self.now().saturating_sub(self.last_progress) > self.cfg.deadlock_window {
            return Err(self.crash(
                self.loaded,
                CrashReason::Deadlock(format!(
                    "no vCPU reached guest mode or idle for {} ms of virtual time",
                    self.cfg.deadlock_window / 1_000_000
                )),
                None,
            ));
        }
        Ok(())
    }

    /// When every vCPU sleeps, jumps to the next event; with none, that is a
    /// deadlock.
    fn fast_forward(&mut self, end: u64) -> Result<(), MachineError> {
        let st = &self.engine.get_data().st;
        let asleep = st
            .vcpus
            .iter()
            .all(|v| !v.started || (v.halted && !v.can_wake() && v.held_until.is_none()));
        if !asleep {
            return Ok(());
        }
        let next = st
            .vcpus
            .iter()
            .filter_map(|v| v.timer)
            .chain(self.timed.iter().map(|(at, _)| *at))
            .min();
        let Some(next) = next else {
            return Err(self.crash(
                self.loaded,
                CrashReason::Deadlock(
                    "every vCPU is halted and no interrupt can wake any of them".into(),
                ),
                None,
            ));
        };
        let now = st.now;
        let target = next.min(end).max(now);
        let st = &mut self.engine.get_data_mut().st;
        for v in st.vcpus.iter_mut().filter(|v| v.started) {
            v.cycles += target - now;
        }
        st.now = target;
        self.last_progress = target;
        Ok(())
    }

    /// Runs vCPU `v` for `q` instructions: exactly (Unicorn's instruction
    /// count, used for single steps and injection points), or at block
    /// granularity (a block hook ends the slot before the block that would
    /// exceed `q`; several times faster).
    fn run_slot(&mut self, v: usize, q: u64, exact: bool) -> Result<(), MachineError> {
        self.load(v)?;
        if let Err(why) = deliver_pending(&mut self.engine) {
            return Err(self.crash(v, CrashReason::TripleFault(why), None));
        }
        if self.engine.get_data().st.vcpus[v].halted {
            self.engine.get_data_mut().st.vcpus[v].cycles += q;
            return Ok(());
        }
        {
            let st = &mut self.engine.get_data_mut().st;
            st.halting_at = None;
            st.slot_used = 0;
            // In exact mode the block hook is only a backstop.
            st.slot_budget = q;
        }
        if exact && !self.exact_mode {
            // Unicorn adds its instruction-count hook on the first counted
            // run; blocks translated before do not call it.
            self.engine.ctl_flush_tb().map_err(uc("flush tb"))?;
        }
        self.exact_mode = exact;
        let rip = board::reg(&self.engine, RegisterX86::RIP);
        let count = if exact { q as usize } else { 0 };
        let result = self.engine.emu_start(rip, 0, 0, count);
        let retired = if exact {
            q
        } else {
            self.engine.get_data().st.slot_used
        };
        self.stats.slots += 1;
        self.stats.instructions += retired;
        let stop = self.engine.get_data_mut().st.stop.take();
        match stop {
            Some(Stop::Fault { vector }) => {
                if let Err(why) = board::deliver_fault(&mut self.engine, vector) {
                    return Err(self.crash(v, CrashReason::TripleFault(why), None));
                }
            }
            Some(Stop::Panic { regs }) => {
                let frame = (regs != 0).then_some(regs);
                return Err(self.crash(v, CrashReason::Panic, frame));
            }
            Some(Stop::TripleFault { why }) => {
                return Err(self.crash(v, CrashReason::TripleFault(why), None));
            }
            None => {}
        }
        if let Err(e) = result {
            return Err(self.crash(v, CrashReason::Engine(format!("{e:?}")), None));
        }
        let rip_after = board::reg(&self.engine, RegisterX86::RIP);
        let rflags = board::reg(&self.engine, RegisterX86::RFLAGS);
        let cs = board::reg(&self.engine, RegisterX86::CS);
        let now = self.now();
        let b = self.engine.get_data_mut();
        let halting = b.st.halting_at;
        let s = &mut b.st.vcpus[v];
        if halting.is_some_and(|a| rip_after == a + 1) {
            s.halted = true;
            s.halted_if = rflags & (1 << 9) != 0;
        }
        // A vCPU that halted idles for the rest of its slot.
        s.cycles += if s.halted { q } else { retired };
        if cs & 3 == 3 || (s.halted && s.halted_if) {
            self.last_progress = now;
        }
        self.last_rip[v] = rip_after;
        self.trace.mix(v as u64);
        self.trace.mix(retired);
        self.trace.mix(rip_after);
        Ok(())
    }

    fn crash(&mut self, v: usize, reason: CrashReason, frame: Option<u64>) -> MachineError {
        // Make sure the engine holds the crashed vCPU.
        let _ = self.load(v);
        let crash = report::build(&self.engine, &self.image, v, reason, frame);
        MachineError::Crash(Box::new(crash))
    }

    /// Reads a u64 of hypervisor data at `symbol + index * 8`.
    pub fn read_symbol_u64(&self, symbol: &str, index: u64) -> Result<u64, MachineError> {
        let a = self
            .symbol(symbol)
            .ok_or_else(|| MachineError::Config(format!("no symbol {symbol} in the image")))?;
        Ok(self.ram().read_u64(a + index * 8)?)
    }

    /// Has domain `domid`'s vCPU 0 issue hypercall `op` through its
    /// mailbox; `data` is placed at the start of the mailbox buffer, whose
    /// guest address is [`Machine::mailbox_buf`]. Returns the hypercall's
    /// result and the buffer afterwards.
    pub fn hypercall(
        &mut self,
        domid: u32,
        op: u64,
        args: [u64; 5],
        data: &[u8],
    ) -> Result<(i64, Vec<u8>), MachineError> {
        if domid >= NR_DOMAINS || data.len() > MBOX_BUF_SIZE {
            return Err(MachineError::Config(format!(
                "no domain {domid}, or {} bytes do not fit the mailbox",
                data.len()
            )));
        }
        let ram = self.ram();
        let mbox = domain_window(domid);
        ram.write(Self::mailbox_buf(domid), data)?;
        ram.write_u64(mbox + MBOX_OP, op)?;
        for (i, a) in args.iter().enumerate() {
            ram.write_u64(mbox + MBOX_ARGS + 8 * i as u64, *a)?;
        }
        let seq = ram.read_u32(mbox + MBOX_SEQ)?.wrapping_add(1);
        ram.write_u32(mbox + MBOX_SEQ, seq)?;
        ram.write_u32(mbox + MBOX_STATE, MBOX_REQUEST)?;
        let done = self.run_until(1_000_000_000, |m| {
            m.ram()
                .read_u32(mbox + MBOX_STATE)
                .is_ok_and(|s| s == MBOX_DONE)
        })?;
        if !done {
            return Err(self.crash(
                self.loaded,
                CrashReason::Budget(format!(
                    "d{domid} did not complete hypercall {op} within 1 s of virtual time"
                )),
                None,
            ));
        }
        let ret = ram.read_u64(mbox + MBOX_RET)? as i64;
        let mut buf = vec![0u8; MBOX_BUF_SIZE];
        ram.read(Self::mailbox_buf(domid), &mut buf)?;
        ram.write_u32(mbox + MBOX_STATE, MBOX_IDLE)?;
        Ok((ret, buf))
    }

    /// Guest address of domain `domid`'s mailbox buffer.
    pub fn mailbox_buf(domid: u32) -> u64 {
        domain_window(domid) + MBOX_BUF_OFFSET
    }

    /// Takes a snapshot of the whole machine.
    pub fn snapshot(&mut self) -> Result<Snapshot, MachineError> {
        let mut snap = Snapshot {
            ram: Vec::new(),
            contexts: Vec::new(),
            st: BoardState::default(),
            rng: self.rng.clone(),
            trace: self.trace,
            last_progress: 0,
            last_rip: Vec::new(),
            cycle_triggers: Vec::new(),
            timed: Vec::new(),
            stats: Stats::default(),
        };
        self.snapshot_into(&mut snap)?;
        Ok(snap)
    }

    /// Takes a snapshot into `snap`, reusing its buffers: after the first
    /// time, no 64 MiB allocation (about 10x faster).
    pub fn snapshot_into(&mut self, snap: &mut Snapshot) -> Result<(), MachineError> {
        self.contexts[self.loaded].save(&self.engine)?;
        snap.ram.clear();
        snap.ram.extend_from_slice(self.ram().contents());
        snap.contexts.resize_with(self.contexts.len(), Vec::new);
        for (dst, c) in snap.contexts.iter_mut().zip(&self.contexts) {
            dst.clear();
            dst.extend_from_slice(c.bytes());
        }
        snap.st.clone_from(&self.engine.get_data().st);
        snap.rng.clone_from(&self.rng);
        snap.trace = self.trace;
        snap.last_progress = self.last_progress;
        snap.last_rip.clone_from(&self.last_rip);
        snap.cycle_triggers.clone_from(&self.cycle_triggers);
        snap.timed.clone_from(&self.timed);
        snap.stats = self.stats;
        Ok(())
    }

    /// Returns the machine to `snap`; it then continues bit-identically.
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), MachineError> {
        if snap.contexts.len() != self.contexts.len() {
            return Err(MachineError::Config("snapshot of another machine".into()));
        }
        self.ram().restore(&snap.ram)?;
        for (c, bytes) in self.contexts.iter_mut().zip(&snap.contexts) {
            c.bytes_mut().copy_from_slice(bytes);
        }
        self.engine.get_data_mut().st = snap.st.clone();
        self.engine.get_data_mut().block_insns.clear();
        self.rng = snap.rng.clone();
        self.trace = snap.trace;
        self.last_progress = snap.last_progress;
        self.last_rip = snap.last_rip.clone();
        self.cycle_triggers = snap.cycle_triggers.clone();
        self.timed = snap.timed.clone();
        self.stats = snap.stats;
        self.loaded = snap.st.current;
        self.contexts[self.loaded].restore(&self.engine)?;
        self.engine.ctl_flush_tb().map_err(uc("flush tb"))?;
        self.engine.ctl_flush_tlb().map_err(uc("flush tlb"))?;
        self.exact_mode = false;
        Ok(())
    }

    /// A hash of the whole run so far: the schedule, every vCPU's registers
    /// and interrupt state, RAM and the console.
    pub fn digest(&mut self) -> Result<String, MachineError> {
        let mut h = blake3::Hasher::new();
        h.update(&self.trace.0.to_le_bytes());
        h.update(&self.trace.1.to_le_bytes());
        let original = self.loaded;
        for v in 0..self.cfg.vcpus {
            self.load(v)?;
            for r in DIGEST_REGS {
                h.update(&board::reg(&self.engine, r).to_le_bytes());
            }
            let s = &self.engine.get_data().st.vcpus[v];
            h.update(format!("{s:?}").as_bytes());
        }
        self.load(original)?;
        let st = &self.engine.get_data().st;
        h.update(&st.now.to_le_bytes());
        h.update(&st.console);
        h.update(self.ram().contents());
        Ok(h.finalize().to_hex().to_string())
    }
}

const DIGEST_REGS: [RegisterX86; 22] = [
    RegisterX86::RAX,
    RegisterX86::RBX,
    RegisterX86::RCX,
    RegisterX86::RDX,
    RegisterX86::RSI,
    RegisterX86::RDI,
    RegisterX86::RBP,
    RegisterX86::RSP,
    RegisterX86::R8,
    RegisterX86::R9,
    RegisterX86::R10,
    RegisterX86::R11,
    RegisterX86::R12,
    RegisterX86::R13,
    RegisterX86::R14,
    RegisterX86::R15,
    RegisterX86::RIP,
    RegisterX86::RFLAGS,
    RegisterX86::CS,
    RegisterX86::CR0,
    RegisterX86::CR3,
    RegisterX86::CR4,
];

/// Delivers the most urgent deliverable event pending on the loaded vCPU:
/// NMI, then machine check, then the highest maskable vector if RFLAGS.IF.
pub fn deliver_pending(u: &mut Unicorn<Board>) -> Result<(), String> {
    let cur = u.get_data().st.current;
    let s = &u.get_data().st.vcpus[cur];
    if s.nmi_pending == 0 && s.mce_pending == 0 && s.pending == [0; 4] {
        return Ok(());
    }
    let rflags = board::reg(u, RegisterX86::RFLAGS);
    let s = &u.get_data().st.vcpus[cur];
    let (vector, irq) = if s.nmi_pending > 0 && !s.nmi_blocked {
        (TRAP_NMI, Irq::Nmi)
    } else if s.mce_pending > 0 && !s.mce_blocked {
        (TRAP_MACHINE_CHECK, Irq::Mce)
    } else if rflags & (1 << 9) != 0 {
        match s.highest() {
            Some(n) => (n, Irq::Vector(n)),
            None => return Ok(()),
        }
    } else {
        return Ok(());
    };
    if !s.halted {
        // `sti; hlt`: the interrupt shadow lets the hlt execute first.
        let rip = board::reg(u, RegisterX86::RIP);
        let ram = u.get_data().ram;
        let mut b = [0u8; 2];
        if rip > 0 && ram.read(rip - 1, &mut b).is_ok() && b == [0xfb, 0xf4] {
            u.reg_write(RegisterX86::RIP, rip + 1)
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    deliver(u, vector, Kind::External).map_err(|e| format!("delivering {irq:?}: {e}"))?;
    let st = &mut u.get_data_mut().st;
    st.deliveries += 1;
    let s = &mut st.vcpus[cur];
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
        }
        Irq::Vector(n) => s.clear(n),
    }
    Ok(())
}
