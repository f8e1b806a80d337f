//! The machine: N vCPUs on one Unicorn engine (contexts switched between
//! slots), shared RAM, virtual time from the instructions handed out, a
//! pluggable scheduler, race windows, triggers, detectors, the schedule
//! log, snapshots and the run digest.

use std::collections::BTreeSet;

use unicorn_engine::{Arch, HookType, Mode, Prot, RegisterX86, UcHookId, Unicorn};

use crate::board::{self, Board, BoardState, Stop};
use crate::deliver;
use crate::detect::{Finding, Watch, PATCH_LEN};
use crate::engine::{add_block_hook, calibrate, uc, EngineError, SavedContext};
use crate::image::Image;
use crate::livepatch::REGIONS_SYMBOL;
use crate::log::{Blob, Divergence, Entry, Header, ScheduleLog, LOG_VERSION};
use crate::platform::*;
use crate::ram::{page_base, RamBlock, RamError, RamSnapshot, PAGE_SIZE};
use crate::report::{self, Crash, CrashReason, Deadlock};
use crate::sched::{SchedError, Scheduler, Strategy, View};
use crate::timeline::{MarkKind, Phase, Timeline};
use crate::trigger::{Action, Trigger, TriggerId, When};
use crate::vcpu::{Irq, McBanks, Parked, VcpuState};
use crate::window::{WindowId, WindowKind, Windows};

/// Errors of the machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// The vCPU count is out of range.
    #[error("{0} vCPUs: the machine has 1 to {MAX_CPUS}")]
    VcpuCount(usize),
    /// The quantum is too small.
    #[error("quantum {0}: it must be at least 2")]
    Quantum(u64),
    /// The command line does not fit the boot protocol.
    #[error(
        "the command line has {0} bytes: it must be shorter than {BOOT_CMDLINE_MAX}, without NUL"
    )]
    Cmdline(usize),
    /// No such vCPU.
    #[error("vCPU {vcpu} does not exist ({vcpus} vCPUs)")]
    NoVcpu {
        /// The vCPU asked for.
        vcpu: usize,
        /// How many there are.
        vcpus: usize,
    },
    /// No such domain.
    #[error("no domain {0}")]
    NoDomain(u32),
    /// Data that does not fit the mailbox buffer.
    #[error("{0} bytes do not fit the mailbox buffer of {MBOX_BUF_SIZE}")]
    MailboxTooSmall(usize),
    /// The image has no such symbol.
    #[error("no symbol {0} in the image")]
    NoSymbol(String),
    /// A snapshot of a machine with another vCPU count.
    #[error("snapshot of a machine with {found} vCPUs restored on one with {expected}")]
    SnapshotMismatch {
        /// vCPUs of this machine.
        expected: usize,
        /// vCPUs of the snapshot.
        found: usize,
    },
    /// A bad strategy.
    #[error(transparent)]
    Strategy(#[from] SchedError),
    /// A log recorded on another machine.
    #[error("the log was recorded on {0}")]
    LogMachine(&'static str),
    /// A log names a write whose bytes were not supplied.
    #[error("the log's write at {addr:#x} names contents that were not supplied")]
    MissingBlob {
        /// Where the write went.
        addr: u64,
    },
    /// A replay left the recorded run.
    #[error(transparent)]
    Diverged(Box<Divergence>),
    /// The engine failed outside the guest's control.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A host access to guest memory failed.
    #[error(transparent)]
    Ram(#[from] RamError),
    /// The hypervisor crashed, hung, ran away, or a detector fired.
    #[error("{0}")]
    Crash(Box<Crash>),
}

impl MachineError {
    /// The crash report, if this is one.
    pub fn crash(&self) -> Option<&Crash> {
        match self {
            MachineError::Crash(c) => Some(c),
            _ => None,
        }
    }
}

/// Configuration of a machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of vCPUs, 1 to 64.
    pub vcpus: usize,
    /// Seed of the default (random) scheduler.
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
    /// Detectors on (a finding stops the run as a crash).
    pub detectors: bool,
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
            detectors: true,
        }
    }
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
    /// Instruction-granular slots.
    pub fine_steps: u64,
}

/// Registers of a vCPU, read from the machine.
pub type Regs = CpuUserRegs;

/// A whole-machine snapshot: RAM, every vCPU and device, the scheduler.
pub struct Snapshot {
    ram: RamSnapshot,
    contexts: Vec<Vec<u8>>,
    st: BoardState,
    sched: Box<dyn Scheduler>,
    windows: Windows,
    fine_steps: u64,
    backoff: u64,
    trace: Trace,
    last_progress: u64,
    stats: Stats,
    log_len: usize,
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

/// How a slot ended, for the round loop.
enum SlotEnd {
    Ran,
    Break,
}

/// The machine.
pub struct Machine {
    engine: Unicorn<'static, Board>,
    image: Image,
    cfg: Config,
    contexts: Vec<SavedContext>,
    loaded: usize,
    sched: Box<dyn Scheduler>,
    windows: Windows,
    single_step: Option<WindowId>,
    backoff: u64,
    trace: Trace,
    last_progress: u64,
    hooked_reach: BTreeSet<u64>,
    hooked_sites: BTreeSet<u64>,
    watch_hooks: Vec<(TriggerId, UcHookId)>,
    /// Ranges `on_step` is hooked on (hooks stay; a range that is no
    /// longer a window is skipped by the hook).
    step_hooked: Vec<(u64, u64)>,
    /// The step range that is always there: `.text.unpatchable`.
    core_steps: Option<(u64, u64)>,
    /// The last slot ran with Unicorn's instruction count (its count hook
    /// is installed).
    exact_mode: bool,
    stats: Stats,
    log: Vec<Entry>,
    header: Header,
    /// A trigger asked for the host.
    broke: bool,
    /// Who ran when, while recording.
    timeline: Option<Timeline>,
}

/// The parts of `[start, end)` outside every range of `covered`.
fn uncovered((start, end): (u64, u64), covered: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut parts = vec![(start, end)];
    for &(cs, ce) in covered {
        parts = parts
            .into_iter()
            .flat_map(|(s, e)| {
                if ce <= s || e <= cs {
                    vec![(s, e)]
                } else {
                    [(s, cs.max(s)), (ce.min(e), e)]
                        .into_iter()
                        .filter(|(a, b)| a < b)
                        .collect()
                }
            })
            .collect();
    }
    parts.retain(|(s, e)| s < e);
    parts
}

impl Machine {
    /// Builds a machine and loads `image`; nothing runs yet.
    pub fn new(image: Image, cfg: Config) -> Result<Machine, MachineError> {
        if cfg.vcpus == 0 || cfg.vcpus > MAX_CPUS {
            return Err(MachineError::VcpuCount(cfg.vcpus));
        }
        if cfg.quantum < 2 {
            return Err(MachineError::Quantum(cfg.quantum));
        }
        if cfg.cmdline.len() >= BOOT_CMDLINE_MAX || cfg.cmdline.contains('\0') {
            return Err(MachineError::Cmdline(cfg.cmdline.len()));
        }
        let calib = calibrate()?;
        let mut ram = RamBlock::try_new(RAM_SIZE as usize)?;
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
            watch: Watch::new(cfg.detectors, image.symbols.addr_of(REGIONS_SYMBOL)),
            ..BoardState::default()
        };
        st.vcpus[0].started = true;
        for v in st.vcpus.iter_mut() {
            v.parked.rip = IMAGE_BASE;
        }
        let board = Board {
            ram,
            calib,
            scratch: None,
            block_insns: Default::default(),
            code_writes: Default::default(),
            text: image.text.clone(),
            symbols: image.symbols.clone(),
            window_ranges: Vec::new(),
            step_ranges: Vec::new(),
            stale: BTreeSet::new(),
            refetch: Vec::new(),
            code_pages: Vec::new(),
            marks: None,
            st,
        };
        let mut engine =
            Unicorn::new_with_data(Arch::X86, Mode::MODE_64, board).map_err(uc("open"))?;
        let base = engine.get_data().ram.as_ptr();
        // SAFETY: the block is RAM_SIZE bytes, page aligned, and owned by
        // the engine's data, which Unicorn drops only after closing the
        // engine; host accesses borrow the block through the engine, so
        // none is alive while `emu_start` runs.
        unsafe { engine.mem_map_ptr(0, RAM_SIZE, Prot::ALL, base.cast()) }
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
        // Every block, for block-granular quanta.
        add_block_hook(&mut engine)?;
        // Code is read-only to the engine and a store into it calls the
        // hook, which makes it: a write hook would send every load and
        // store of all code through Unicorn's slow path. One hook per
        // page, so each store is seen once.
        let page = PAGE_SIZE as u64;
        let mut code_pages: Vec<(u64, u64)> = Vec::new();
        let mut ranges: Vec<(u64, u64)> = image.text.clone();
        ranges.push((LIVEPATCH_BASE, LIVEPATCH_BASE + LIVEPATCH_SIZE));
        ranges.sort_unstable();
        for (start, end) in ranges {
            let (from, to) = (start / page * page, end.div_ceil(page) * page);
            match code_pages.last_mut() {
                Some(last) if from <= last.1 => last.1 = last.1.max(to),
                _ => code_pages.push((from, to)),
            }
        }
        engine.get_data_mut().code_pages = code_pages.clone();
        for (from, to) in code_pages {
            engine
                .mem_protect(from, to - from, Prot::READ | Prot::EXEC)
                .map_err(uc("protect code"))?;
            engine
                .add_mem_hook(HookType::MEM_WRITE_PROT, from, to - 1, board::on_code_write)
                .map_err(uc("code write hook"))?;
        }
        // Before the site hooks, so that a slot ending at a site leaves
        // that site's hook alone (Unicorn skips later hooks of a stopped
        // instruction).
        let core_steps = match (
            image.symbols.addr_of("__unpatchable_start"),
            image.symbols.addr_of("__unpatchable_end"),
        ) {
            (Some(s), Some(e)) if s < e => Some((s, e)),
            _ => None,
        };
        if let Some((s, e)) = core_steps {
            engine
                .add_code_hook(s, e - 1, board::on_step)
                .map_err(uc("step hook"))?;
            engine.get_data_mut().step_ranges = vec![(s, e)];
        }
        for (sites, hook) in [
            (
                &image.hlt_sites,
                board::on_hlt as fn(&mut Unicorn<Board>, u64, u32),
            ),
            (&image.iret_sites, board::on_iret),
            (&image.pause_sites, board::on_pause),
        ] {
            for &a in sites {
                engine.add_code_hook(a, a, hook).map_err(uc("site hook"))?;
            }
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
        let strategy = Strategy::Random { seed: cfg.seed };
        let header = Header {
            version: LOG_VERSION,
            image: image.build_id_hex(),
            vcpus: cfg.vcpus,
            quantum: cfg.quantum,
            busy_guests: cfg.busy_guests,
            deadlock_window: cfg.deadlock_window,
            cmdline: cfg.cmdline.clone(),
            strategy,
        };
        Ok(Machine {
            engine,
            sched: strategy.build(cfg.vcpus)?,
            image,
            cfg,
            contexts,
            loaded: 0,
            windows: Windows::default(),
            single_step: None,
            backoff: 0,
            trace,
            last_progress: 0,
            hooked_reach: BTreeSet::new(),
            hooked_sites: BTreeSet::new(),
            watch_hooks: Vec::new(),
            exact_mode: false,
            step_hooked: core_steps.into_iter().collect(),
            core_steps,
            stats: Stats::default(),
            log: Vec::new(),
            header,
            broke: false,
            timeline: None,
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

    /// What the code-write hook did so far: stores that dropped the
    /// decode cache, stores into payload data that kept it.
    pub fn code_writes(&self) -> board::CodeWrites {
        self.engine.get_data().code_writes
    }

    /// State of vCPU `v`.
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
    pub fn ram(&self) -> &RamBlock {
        &self.engine.get_data().ram
    }

    /// Address of a hypervisor symbol by its Xen-style name.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.image.symbols.addr_of(name)
    }

    fn symbol_or_err(&self, name: &str) -> Result<u64, MachineError> {
        self.symbol(name)
            .ok_or_else(|| MachineError::NoSymbol(name.to_string()))
    }

    fn check_vcpu(&self, vcpu: usize) -> Result<(), MachineError> {
        if vcpu < self.cfg.vcpus {
            Ok(())
        } else {
            Err(MachineError::NoVcpu {
                vcpu,
                vcpus: self.cfg.vcpus,
            })
        }
    }

    fn round_no(&self) -> u64 {
        self.stats.rounds
    }

    fn record(&mut self, e: Entry) {
        self.log.push(e);
    }

    /// The schedule log so far, with the digest of the run as its end.
    pub fn schedule_log(&mut self) -> Result<ScheduleLog, MachineError> {
        let digest = self.digest()?;
        let mut entries = self.log.clone();
        entries.push(Entry::End {
            round: self.round_no(),
            digest,
        });
        Ok(ScheduleLog {
            header: self.header.clone(),
            entries,
        })
    }

    /// Installs a new strategy from now on (e.g. on a restored snapshot, so
    /// that many schedules fork from one state).
    pub fn set_strategy(&mut self, strategy: Strategy) -> Result<(), MachineError> {
        self.sched = strategy.build(self.cfg.vcpus)?;
        self.stats.fine_steps = 0;
        self.record(Entry::Strategy {
            round: self.round_no(),
            strategy,
        });
        self.trace.mix(0x5ced);
        Ok(())
    }

    /// The strategy in force.
    pub fn strategy(&self) -> Strategy {
        self.sched.strategy()
    }

    /// Single-steps every vCPU (one instruction per slot) while `on`.
    pub fn set_single_step(&mut self, on: bool) {
        match (on, self.single_step) {
            (true, None) => self.single_step = Some(self.add_window(WindowKind::Always)),
            (false, Some(id)) => {
                self.remove_window(id);
                self.single_step = None;
            }
            _ => {}
        }
    }

    /// Adds a race window: instruction-granular scheduling while it holds.
    pub fn add_window(&mut self, window: WindowKind) -> WindowId {
        let id = self.windows.add(window);
        self.sync_ranges();
        self.record(Entry::Window {
            round: self.round_no(),
            id,
            window,
        });
        id
    }

    /// A window over a symbol (`[addr, addr + size)`).
    pub fn add_symbol_window(&mut self, symbol: &str) -> Result<WindowId, MachineError> {
        let s = self
            .image
            .symbols
            .get(symbol)
            .ok_or_else(|| MachineError::NoSymbol(symbol.to_string()))?;
        let (start, end) = (s.addr, s.addr + s.size.max(1));
        Ok(self.add_window(WindowKind::Range { start, end }))
    }

    /// Removes a window; false if it did not exist.
    pub fn remove_window(&mut self, id: WindowId) -> bool {
        let removed = self.windows.remove(id);
        self.sync_ranges();
        if removed {
            self.record(Entry::CloseWindow {
                round: self.round_no(),
                id,
            });
        }
        removed
    }

    /// Makes the hooks follow the windows: the range windows, and the step
    /// ranges (the core's and the range windows', each hooked by `on_step`
    /// once; a block count cached before a change may be wrong after it).
    fn sync_ranges(&mut self) {
        let ranges = self.windows.ranges();
        let mut steps: Vec<(u64, u64)> = self.core_steps.into_iter().collect();
        for &r in &ranges {
            if !steps.contains(&r) {
                steps.push(r);
            }
        }
        // Hooks cover disjoint pieces, so that each instruction is counted
        // once however the windows overlap.
        for &r in &steps {
            for (start, end) in uncovered(r, &self.step_hooked) {
                // Blocks translated before the hook would not call it.
                let hooked = self
                    .engine
                    .add_code_hook(start, end - 1, board::on_step)
                    .and_then(|_| self.engine.ctl_remove_cache(start, end));
                if hooked.is_ok() {
                    self.step_hooked.push((start, end));
                }
            }
        }
        steps.retain(|&r| uncovered(r, &self.step_hooked).is_empty());
        let b = self.engine.get_data_mut();
        b.window_ranges = ranges;
        if b.step_ranges != steps {
            b.step_ranges = steps;
            b.block_insns.clear();
        }
    }

    /// Single-steps while any vCPU's RIP lies in `[start, end)`.
    pub fn add_step_range(&mut self, start: u64, end: u64) -> WindowId {
        self.add_window(WindowKind::Range { start, end })
    }

    /// Arms a trigger.
    pub fn arm(&mut self, trigger: Trigger) -> Result<TriggerId, MachineError> {
        match trigger.when {
            When::Reach { vcpu, .. } | When::Access { vcpu, .. } => {
                if let Some(v) = vcpu {
                    self.check_vcpu(v)?;
                }
            }
            When::Retired { vcpu, .. } | When::Cycle { vcpu, .. } => self.check_vcpu(vcpu)?,
            When::Time { .. } => {}
        }
        match trigger.action {
            Action::Inject { vcpu, .. } | Action::Hold { vcpu, .. } => self.check_vcpu(vcpu)?,
            Action::Break | Action::OpenWindow | Action::CloseWindow | Action::Note => {}
        }
        let id = self.engine.get_data_mut().st.triggers.arm(trigger);
        match trigger.when {
            When::Reach { addr, .. } if self.hooked_reach.insert(addr) => {
                self.engine
                    .add_code_hook(addr, addr, board::on_reach)
                    .map_err(uc("trigger hook"))?;
                // Code already translated would not see the new hook.
                self.engine
                    .ctl_remove_cache(addr, addr + 1)
                    .map_err(uc("remove cache"))?;
            }
            When::Access {
                start, end, write, ..
            } if !crate::trigger::served_by_code(
                &self.engine.get_data().code_pages,
                start,
                end,
                write,
            ) =>
            {
                let kind = if write {
                    HookType::MEM_WRITE
                } else {
                    HookType::MEM_READ
                };
                let h = self
                    .engine
                    .add_mem_hook(kind, start, end.max(start + 1) - 1, board::on_watch)
                    .map_err(uc("watch hook"))?;
                self.watch_hooks.push((id, h));
                self.engine.ctl_flush_tb().map_err(uc("flush tb"))?;
                self.engine.ctl_flush_tlb().map_err(uc("flush tlb"))?;
            }
            _ => {}
        }
        self.record(Entry::Arm {
            round: self.round_no(),
            id,
            trigger,
        });
        Ok(id)
    }

    /// Disarms a trigger; false if it was not armed.
    pub fn disarm(&mut self, id: TriggerId) -> Result<bool, MachineError> {
        let found = self.engine.get_data_mut().st.triggers.disarm(id);
        if let Some(i) = self.watch_hooks.iter().position(|(t, _)| *t == id) {
            let (_, h) = self.watch_hooks.remove(i);
            self.engine.remove_hook(h).map_err(uc("remove hook"))?;
        }
        if found {
            self.record(Entry::Disarm {
                round: self.round_no(),
                id,
            });
        }
        Ok(found)
    }

    /// Injects `irq` into `vcpu` before its next instruction.
    pub fn inject_now(&mut self, vcpu: usize, irq: Irq) -> Result<(), MachineError> {
        self.check_vcpu(vcpu)?;
        irq.post(&mut self.engine.get_data_mut().st.vcpus[vcpu]);
        self.mark(vcpu, MarkKind::Inject { irq });
        self.record(Entry::Inject {
            round: self.round_no(),
            vcpu,
            irq,
        });
        Ok(())
    }

    /// Sets the machine-check banks that the machine checks injected into
    /// `vcpu` from now on carry (`None`: a corrected error in bank 0).
    /// Each injection takes a copy, so the next one may carry others.
    pub fn set_mce_banks(
        &mut self,
        vcpu: usize,
        banks: Option<McBanks>,
    ) -> Result<(), MachineError> {
        self.check_vcpu(vcpu)?;
        self.engine.get_data_mut().st.vcpus[vcpu].mce_next = banks;
        self.record(Entry::MceBanks {
            round: self.round_no(),
            vcpu,
            banks,
        });
        Ok(())
    }

    /// Injects `irq` into `vcpu` when it has been given `cycle` cycles.
    pub fn inject_at_cycle(
        &mut self,
        vcpu: usize,
        cycle: u64,
        irq: Irq,
    ) -> Result<TriggerId, MachineError> {
        self.arm(Trigger {
            when: When::Cycle { vcpu, cycle },
            action: Action::Inject { vcpu, irq },
        })
    }

    /// Injects `irq` into `vcpu` at virtual time `at`.
    pub fn inject_at_time(
        &mut self,
        at: u64,
        vcpu: usize,
        irq: Irq,
    ) -> Result<TriggerId, MachineError> {
        self.arm(Trigger {
            when: When::Time { at },
            action: Action::Inject { vcpu, irq },
        })
    }

    /// Injects `irq` into `vcpu` the first time it is about to execute
    /// `addr`.
    pub fn inject_at_addr(
        &mut self,
        vcpu: usize,
        addr: u64,
        irq: Irq,
    ) -> Result<TriggerId, MachineError> {
        self.arm(Trigger {
            when: When::Reach {
                vcpu: Some(vcpu),
                addr,
                visit: crate::trigger::Visit::Nth(1),
            },
            action: Action::Inject { vcpu, irq },
        })
    }

    /// Injects `irq` into `vcpu` the first time it reaches `symbol+offset`.
    pub fn inject_at_symbol(
        &mut self,
        vcpu: usize,
        symbol: &str,
        offset: u64,
        irq: Irq,
    ) -> Result<TriggerId, MachineError> {
        let addr = self.symbol_or_err(symbol)?;
        self.inject_at_addr(vcpu, addr + offset, irq)
    }

    /// Holds `vcpu` until virtual time `until`, as if it spun with
    /// interrupts off: it runs nothing and maskable interrupts stay
    /// pending, so rendezvous and IPIs that need it wait or time out; an
    /// NMI or MCE is still taken (its handler runs, then the vCPU is held
    /// again).
    pub fn hold_vcpu(&mut self, vcpu: usize, until: u64) -> Result<(), MachineError> {
        self.check_vcpu(vcpu)?;
        self.engine.get_data_mut().st.vcpus[vcpu].held_until = Some(until);
        self.record(Entry::Hold {
            round: self.round_no(),
            vcpu,
            until,
        });
        Ok(())
    }

    /// Releases a held vCPU at once.
    pub fn release_vcpu(&mut self, vcpu: usize) -> Result<(), MachineError> {
        self.check_vcpu(vcpu)?;
        self.engine.get_data_mut().st.vcpus[vcpu].held_until = None;
        self.record(Entry::Release {
            round: self.round_no(),
            vcpu,
        });
        Ok(())
    }

    /// Types `bytes` on the console (debug keys) now.
    pub fn send_input(&mut self, bytes: &[u8]) {
        let st = &mut self.engine.get_data_mut().st;
        st.serial_in.extend(bytes.iter().copied());
        st.vcpus[0].raise(SERIAL_VECTOR);
        self.record(Entry::Input {
            round: self.round_no(),
            text: String::from_utf8_lossy(bytes).into_owned(),
        });
    }

    /// The host writes guest memory (a mailbox request, a payload): logged,
    /// so a replay repeats it.
    pub fn host_write(&mut self, addr: u64, data: &[u8]) -> Result<(), MachineError> {
        self.engine.get_data_mut().ram.write(addr, data)?;
        self.record(Entry::Write {
            round: self.round_no(),
            addr,
            data: Blob::of(data),
        });
        Ok(())
    }

    /// Registers of vCPU `v` (switches the engine to it if needed).
    pub fn regs(&mut self, v: usize) -> Result<Regs, MachineError> {
        self.check_vcpu(v)?;
        self.load(v)?;
        Ok(report::regs_from_engine(&self.engine))
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
        self.run_until(ns, |m| m.now() >= end).map(|_| ())
    }

    /// Runs until `done` holds, for at most `budget` ns of virtual time, or
    /// until a trigger breaks. Returns whether `done` held.
    pub fn run_until(
        &mut self,
        budget: u64,
        mut done: impl FnMut(&Machine) -> bool,
    ) -> Result<bool, MachineError> {
        let end = self.now().saturating_add(budget);
        let from = self.round_no();
        self.broke = false;
        let mut result = Ok(false);
        loop {
            if done(self) {
                result = Ok(true);
                break;
            }
            if self.now() >= end || self.broke {
                break;
            }
            if let Err(e) = self.round(end) {
                result = Err(e);
                break;
            }
        }
        self.record(Entry::Run {
            round: from,
            to: self.round_no(),
            end,
            trace: self.trace.0,
        });
        let held = result?;
        self.check_events()?;
        Ok(held)
    }

    /// Starts recording a [`Timeline`] (RIPs in `livepatch` ranges count as
    /// live-patch code); recording changes nothing the run does.
    pub fn record_timeline(&mut self, livepatch: Vec<(u64, u64)>) {
        self.timeline = Some(Timeline::new(self.cfg.vcpus, livepatch));
        self.engine.get_data_mut().marks = Some(Vec::new());
    }

    /// Stops recording and returns the timeline, if one was recorded.
    pub fn take_timeline(&mut self) -> Option<Timeline> {
        let mut t = self.timeline.take()?;
        for m in self.engine.get_data_mut().marks.take().unwrap_or_default() {
            t.mark(m.at, m.vcpu, m.kind);
        }
        t.marks.sort_by_key(|m| m.at);
        Some(t)
    }

    fn mark(&mut self, vcpu: usize, kind: MarkKind) {
        let now = self.now();
        if let Some(t) = &mut self.timeline {
            t.mark(now, vcpu, kind);
        }
    }

    fn record_slot(&mut self, v: usize, start: u64, end: u64) {
        let st = &self.engine.get_data().st;
        let Some(s) = st.vcpus.get(v).filter(|s| s.started) else {
            return;
        };
        if let Some(t) = &mut self.timeline {
            let phase: Phase = t.phase_of(s, start);
            t.span(v, start, end, phase);
        }
    }

    /// Whether the last run stopped at a trigger's `Break`.
    pub fn broke(&self) -> bool {
        self.broke
    }

    /// Runs rounds up to round `to` (replay).
    fn run_rounds(&mut self, to: u64, end: u64) -> Result<(), MachineError> {
        self.broke = false;
        while self.round_no() < to && !self.broke {
            self.round(end)?;
        }
        Ok(())
    }

    fn fire_due(&mut self) -> Result<(), MachineError> {
        let now = self.now();
        let st = &mut self.engine.get_data_mut().st;
        for v in st.vcpus.iter_mut() {
            if v.timer.is_some_and(|t| t <= now) {
                v.timer = None;
                v.raise(TIMER_VECTOR);
            }
            if v.held_until.is_some_and(|t| t <= now) {
                v.held_until = None;
            }
        }
        let mut fired = Vec::new();
        let mut actions = st.triggers.due_time(now, &mut fired);
        for v in 0..st.vcpus.len() {
            let (r, c) = (st.vcpus[v].retired, st.vcpus[v].cycles);
            actions.extend(st.triggers.due_counts(v, r, c, &mut fired));
        }
        st.triggers.sweep();
        self.log_fired(fired);
        for a in actions {
            self.host_action(a);
        }
        Ok(())
    }

    fn host_action(&mut self, a: Action) {
        let now = self.now();
        let st = &mut self.engine.get_data_mut().st;
        match a {
            Action::Inject { vcpu, irq } => {
                if let Some(v) = st.vcpus.get_mut(vcpu) {
                    irq.post(v);
                }
                if let Some(t) = &mut self.timeline {
                    t.mark(now, vcpu, MarkKind::Inject { irq });
                }
            }
            Action::Hold { vcpu, ns } => {
                if let Some(v) = st.vcpus.get_mut(vcpu) {
                    v.held_until = Some(now + ns);
                }
            }
            Action::Break => self.broke = true,
            Action::OpenWindow | Action::CloseWindow => st.event_window = a == Action::OpenWindow,
            Action::Note => {}
        }
    }

    fn log_fired(&mut self, fired: Vec<crate::trigger::Fired>) {
        let round = self.round_no();
        for f in fired {
            self.trace
                .mix(u64::from(f.trigger.0) << 32 | f.retired & 0xffff_ffff);
            self.record(Entry::Fired { round, fired: f });
        }
    }

    /// vCPUs that can run now.
    fn eligible(&self, out: &mut Vec<usize>) {
        let now = self.now();
        out.clear();
        for (i, s) in self.engine.get_data().st.vcpus.iter().enumerate() {
            if !s.started {
                continue;
            }
            let held = s.is_held(now) && !s.nmi_or_mce_deliverable();
            if held || (s.halted && !s.can_wake()) {
                continue;
            }
            out.push(i);
        }
    }

    fn round(&mut self, end: u64) -> Result<(), MachineError> {
        self.fire_due()?;
        let mut eligible = Vec::with_capacity(self.cfg.vcpus);
        self.eligible(&mut eligible);
        let st = &self.engine.get_data().st;
        // Only vCPUs that can run race: a halted or held one inside a
        // window does not hold it open.
        let in_window = st.event_window
            || (!self.windows.is_empty()
                && self
                    .windows
                    .covers(eligible.iter().map(|&v| st.vcpus[v].parked.rip)));
        // Spinning that no preemption point can change: some eligible
        // vCPU waits in a `pause` loop and at most one does not, so no two
        // vCPUs race. Run coarse, backing off.
        let racing = eligible.iter().filter(|&&v| !st.vcpus[v].spinning).count();
        let all_spin = racing < 2 && racing < eligible.len();
        let fine = in_window && !all_spin;
        let every = self.every_instruction();
        let quantum = if in_window && all_spin {
            self.backoff = (self.backoff * 2).clamp(64, self.cfg.quantum);
            self.backoff
        } else {
            self.backoff = 0;
            self.cfg.quantum
        };
        let q_round = if fine { 1 } else { quantum };
        let now = self.now();
        {
            let st = &mut self.engine.get_data_mut().st;
            for (i, s) in st.vcpus.iter_mut().enumerate() {
                if s.started && !eligible.contains(&i) {
                    s.cycles += q_round;
                }
            }
        }
        let slots = eligible.len();
        let mut ran = 0u64;
        for slot in 0..slots {
            if slot > 0 {
                self.eligible(&mut eligible);
            }
            if eligible.is_empty() || self.broke {
                break;
            }
            let view = View {
                round: self.stats.rounds,
                slot,
                fine,
                quantum,
                eligible: &eligible,
                fine_steps: self.stats.fine_steps,
            };
            let choice = self.sched.next(&view);
            let v = if eligible.contains(&choice.vcpu) {
                choice.vcpu
            } else {
                eligible[0]
            };
            for p in self.sched.take_preemptions() {
                let retired = self.engine.get_data().st.vcpus[p.from].retired;
                self.trace
                    .mix(p.step ^ (p.from as u64) << 48 ^ (p.to as u64) << 56);
                self.record(Entry::Preempt {
                    round: self.round_no(),
                    preemption: p,
                    retired,
                });
            }
            let mut q = if fine {
                1
            } else {
                choice.insns.clamp(1, quantum)
            };
            // Fine rounds are exact in the step ranges by themselves;
            // elsewhere a vCPU runs a block, unless every instruction is
            // asked for (an `Always` window, the event window).
            let mut exact = fine && every;
            let (retired, cycles) = {
                let s = &self.engine.get_data().st.vcpus[v];
                (s.retired, s.cycles)
            };
            let to_count = self
                .engine
                .get_data()
                .st
                .triggers
                .next_count(v, retired, cycles);
            if let Some(d) = to_count {
                if d <= q {
                    q = d;
                    exact = true;
                }
            }
            let paused = match self.run_slot(v, q, exact, now)? {
                SlotEnd::Ran => self.engine.get_data().st.paused,
                SlotEnd::Break => {
                    self.broke = true;
                    false
                }
            };
            if fine {
                self.stats.fine_steps += 1;
            }
            self.sched.ran(v, paused);
            if self.timeline.is_some() {
                ran |= 1 << v;
                self.record_slot(v, now, now + q_round);
            }
        }
        if self.timeline.is_some() {
            for i in (0..self.cfg.vcpus).filter(|i| ran & (1 << i) == 0) {
                self.record_slot(i, now, now + q_round);
            }
        }
        self.stats.rounds += 1;
        let now = self.now() + q_round;
        self.engine.get_data_mut().st.now = now;
        self.fast_forward(end)?;
        if self.now().saturating_sub(self.last_progress) > self.cfg.deadlock_window {
            return Err(self.crash(
                self.loaded,
                CrashReason::Deadlock(Deadlock::NoProgress {
                    window_ms: self.cfg.deadlock_window / 1_000_000,
                }),
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
            .chain(st.triggers.next_time())
            .min();
        let Some(next) = next else {
            return Err(self.crash(
                self.loaded,
                CrashReason::Deadlock(Deadlock::AllHalted),
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
        if self.timeline.is_some() {
            for v in 0..self.cfg.vcpus {
                self.record_slot(v, now, target);
            }
        }
        self.last_progress = target;
        Ok(())
    }

    /// Runs vCPU `v` for `q` instructions: exactly (Unicorn's instruction
    /// count, used for single steps and injection points), or at block
    /// granularity (a block hook ends the slot before the block that would
    /// exceed `q`; several times faster).
    fn run_slot(
        &mut self,
        v: usize,
        q: u64,
        exact: bool,
        now: u64,
    ) -> Result<SlotEnd, MachineError> {
        self.load(v)?;
        let (held, exact, q) = {
            let s = &self.engine.get_data().st.vcpus[v];
            let held = s.is_held(now);
            // A held vCPU only takes an NMI or MCE, one step at a time
            // until its handler returns.
            if held || s.held_handler_depth.is_some() {
                (held, exact, 1)
            } else {
                (false, exact, q)
            }
        };
        let delivered = if held {
            let depth = self.engine.get_data().st.vcpus[v].frames.len();
            let r = deliver::deliver_pending(&mut self.engine);
            if let Ok(Some(_)) = r {
                self.engine.get_data_mut().st.vcpus[v].held_handler_depth = Some(depth);
            }
            r
        } else {
            deliver::deliver_pending(&mut self.engine)
        };
        if let Err(why) = delivered {
            return Err(self.crash(
                v,
                CrashReason::TripleFault {
                    vector: TRAP_NMI,
                    why,
                },
                None,
            ));
        }
        if self.engine.get_data().st.vcpus[v].halted {
            self.engine.get_data_mut().st.vcpus[v].cycles += q;
            self.engine.get_data_mut().st.paused = false;
            return Ok(SlotEnd::Ran);
        }
        {
            let st = &mut self.engine.get_data_mut().st;
            st.halting_at = None;
            st.slot_used = 0;
            st.paused = false;
            st.slot_budget = q;
            st.slot_exact = exact;
            st.slot_pauses = 0;
            st.yielded = false;
            st.refused = false;
            st.last_step = (0, 0);
            st.block = (0, 0, 0);
        }
        let rip = board::reg(&self.engine, RegisterX86::RIP);
        let inside = self.engine.get_data().in_range(rip);
        self.engine.get_data_mut().st.in_range = inside;
        let (result, retired) = if exact && self.every_instruction() {
            // Every instruction everywhere: the engine counts.
            let r = self.counted(rip, q)?;
            (r, q)
        } else {
            // Blocks and step ranges count; a precise slot whose next block
            // would run past its budget outside the step ranges has the
            // engine count the rest.
            let r = self.uncounted(rip)?;
            let st = &self.engine.get_data().st;
            let used = st.slot_used;
            let rest = q.saturating_sub(used);
            if r.is_ok() && exact && st.refused && st.stop.is_none() && rest > 0 {
                let rip = board::reg(&self.engine, RegisterX86::RIP);
                (self.counted(rip, rest)?, q)
            } else {
                (r, used)
            }
        };
        self.stats.slots += 1;
        self.stats.instructions += retired;
        let stop = self.engine.get_data_mut().st.stop.take();
        let mut end = SlotEnd::Ran;
        match stop {
            Some(Stop::Fault { vector }) => {
                if let Err(why) = board::deliver_fault(&mut self.engine, vector) {
                    return Err(self.crash(v, CrashReason::TripleFault { vector, why }, None));
                }
            }
            Some(Stop::Panic { regs }) => {
                let frame = (regs != 0).then_some(regs);
                return Err(self.crash(v, CrashReason::Panic, frame));
            }
            Some(Stop::TripleFault { vector, why }) => {
                return Err(self.crash(v, CrashReason::TripleFault { vector, why }, None));
            }
            Some(Stop::Detected(f)) => return Err(self.crash(v, CrashReason::Detected(f), None)),
            Some(Stop::Break) => end = SlotEnd::Break,
            None => {}
        }
        if let Err(e) = result {
            return Err(self.crash(v, CrashReason::Engine(e), None));
        }
        let g = |r| board::reg(&self.engine, r);
        let parked = Parked {
            rip: g(RegisterX86::RIP),
            rsp: g(RegisterX86::RSP),
            rbp: g(RegisterX86::RBP),
            cs: g(RegisterX86::CS),
        };
        let rflags = g(RegisterX86::RFLAGS);
        let now = self.now();
        let st = &mut self.engine.get_data_mut().st;
        let halting = st.halting_at;
        let paused = st.paused;
        let yielded = st.yielded;
        let fired = std::mem::take(&mut st.fired);
        let s = &mut st.vcpus[v];
        if halting.is_some_and(|a| parked.rip == a + 1) {
            s.halted = true;
            s.halted_if = rflags & (1 << 9) != 0;
        }
        // A vCPU that halted idles for the rest of its slot.
        s.cycles += if s.halted || yielded { q } else { retired };
        s.retired += retired;
        if !paused
            && s.last_pause
                .is_none_or(|(_, at)| s.retired.saturating_sub(at) > board::SPIN_DISTANCE)
        {
            s.spinning = false;
        }
        s.parked = parked;
        if parked.cs & 3 == 3 || (s.halted && s.halted_if) {
            self.last_progress = now;
        }
        self.trace.mix(v as u64);
        self.trace.mix(retired);
        self.trace.mix(parked.rip);
        self.log_fired(fired);
        self.sites_opened()?;
        Ok(end)
    }

    /// Every instruction is a step (an `Always` window, the event window):
    /// exact slots are counted by the engine everywhere.
    fn every_instruction(&self) -> bool {
        self.windows.always() || self.engine.get_data().st.event_window
    }

    /// Runs exactly `n` instructions from `rip`, counted by the engine.
    /// Unicorn counts with a code hook it adds on a counted run (blocks
    /// translated before do not call it: flush) and removes, flushing
    /// every translation, on the next uncounted one; so counted runs are
    /// kept for what the step ranges cannot do.
    fn counted(
        &mut self,
        rip: u64,
        n: u64,
    ) -> Result<Result<(), unicorn_engine::uc_error>, MachineError> {
        if !self.exact_mode {
            self.engine.ctl_flush_tb().map_err(uc("flush tb"))?;
            self.exact_mode = true;
        }
        let st = &mut self.engine.get_data_mut().st;
        st.counted = true;
        st.slot_budget = st.slot_used + n;
        let r = self.run_refetching(rip, |m| {
            let st = &m.engine.get_data().st;
            // Nothing left: stopped before a stale block once the count
            // was reached (every block entered so far ran whole).
            let rest = st.slot_budget.saturating_sub(st.slot_used);
            (rest > 0).then_some(rest as usize)
        })?;
        self.engine.get_data_mut().st.counted = false;
        Ok(r)
    }

    /// Runs uncounted from `rip` (blocks and step ranges count).
    fn uncounted(
        &mut self,
        rip: u64,
    ) -> Result<Result<(), unicorn_engine::uc_error>, MachineError> {
        self.run_refetching(rip, |_| Some(0))
    }

    /// Runs from `rip`, and on from where it stopped each time the block
    /// hook stopped it before a stale block. `count` gives each run's
    /// instruction count for the engine (0: uncounted), or `None` when
    /// nothing is left to run.
    fn run_refetching(
        &mut self,
        rip: u64,
        count: impl Fn(&Machine) -> Option<usize>,
    ) -> Result<Result<(), unicorn_engine::uc_error>, MachineError> {
        let mut rip = rip;
        loop {
            let Some(n) = count(self) else {
                return Ok(Ok(()));
            };
            let r = self.engine.emu_start(rip, 0, 0, n);
            if n == 0 {
                // An uncounted run drops the engine's count hook.
                self.exact_mode = false;
            }
            if !self.refetched(&r)? {
                return Ok(r);
            }
            rip = board::reg(&self.engine, RegisterX86::RIP);
        }
    }

    /// After a run: if the block hook stopped it before a block from a
    /// stale page, drops that page's translations (the vCPU fetches from
    /// it, so it is mapped now) and says so: the slot goes on from there,
    /// as if nothing had stopped it (the schedule must not depend on which
    /// translations happened to exist).
    fn refetched(
        &mut self,
        r: &Result<(), unicorn_engine::uc_error>,
    ) -> Result<bool, MachineError> {
        let b = self.engine.get_data_mut();
        if b.refetch.is_empty() {
            return Ok(false);
        }
        let again = r.is_ok() && b.st.stop.is_none();
        let pages = std::mem::take(&mut b.refetch);
        for page in pages {
            board::drop_translations(&mut self.engine, page, page + PAGE_SIZE as u64)?;
            self.engine.get_data_mut().stale.remove(&page);
        }
        Ok(again)
    }

    /// Patch sites whose write began in the last slot: hook their bytes
    /// (their stacks were checked by the write hook, at the store).
    fn sites_opened(&mut self) -> Result<(), MachineError> {
        let opened = std::mem::take(&mut self.engine.get_data_mut().st.watch.opened);
        for site in opened {
            if self.hooked_sites.insert(site) {
                let from = site.saturating_sub(15);
                let to = site + PATCH_LEN as u64 - 1;
                self.engine
                    .add_code_hook(from, to, board::on_site_exec)
                    .map_err(uc("site hook"))?;
                board::drop_translations(&mut self.engine, from, to + 1)?;
            }
        }
        Ok(())
    }

    /// Checks NMI/MCE accounting: every event delivered to a vCPU that is
    /// no longer in its handler must have been counted as handled, or as
    /// deferred (taken in the live-patch window, owed: `public/platform.h`).
    pub fn check_events(&mut self) -> Result<(), MachineError> {
        if !self.cfg.detectors {
            return Ok(());
        }
        let (Some(nmi), Some(mce)) = (
            self.symbol(NMI_HANDLED_SYMBOL),
            self.symbol(MCE_HANDLED_SYMBOL),
        ) else {
            return Ok(());
        };
        let owed = [
            self.symbol(NMI_DEFERRED_SYMBOL),
            self.symbol(MCE_DEFERRED_SYMBOL),
        ];
        for v in 0..self.cfg.vcpus {
            let s = &self.engine.get_data().st.vcpus[v];
            let checks = [
                (
                    Irq::Nmi,
                    nmi,
                    s.nmis_injected,
                    s.nmis_delivered,
                    s.nmi_blocked,
                ),
                (
                    Irq::Mce,
                    mce,
                    s.mces_injected,
                    s.mces_delivered,
                    s.mce_blocked,
                ),
            ];
            for ((irq, table, injected, delivered, blocked), owed) in checks.into_iter().zip(owed) {
                if blocked {
                    continue;
                }
                let handled = self.ram().read_u64(table + 8 * v as u64)?;
                let deferred = match owed {
                    Some(at) => self.ram().read_u64(at + 8 * v as u64)?,
                    None => 0,
                };
                if handled.saturating_add(deferred) < delivered {
                    let f = Finding::LostEvent {
                        irq,
                        injected,
                        delivered,
                        handled,
                    };
                    return Err(self.crash(v, CrashReason::Detected(f), None));
                }
            }
        }
        Ok(())
    }

    /// A crash report of `reason` on the vCPU that ran last.
    pub fn fail(&mut self, reason: CrashReason) -> MachineError {
        self.crash(self.loaded, reason, None)
    }

    fn crash(&mut self, v: usize, reason: CrashReason, frame: Option<u64>) -> MachineError {
        // Make sure the engine holds the crashed vCPU.
        let _ = self.load(v);
        let ctx = report::Context {
            now: self.now(),
            retired: self.engine.get_data().st.vcpus[v].retired,
            log_position: self.log.len(),
        };
        let crash = report::build(&mut self.engine, &self.image, v, reason, frame, ctx);
        MachineError::Crash(Box::new(crash))
    }

    /// Names a code address as reports do: `symbol+off/size` in the
    /// hypervisor, `function+off/size [payload]` in a loaded payload's text
    /// (from the symbols mini-xen publishes with its region), else the
    /// address.
    pub fn describe(&mut self, addr: u64) -> String {
        report::describe(&mut self.engine, &self.image, addr)
    }

    /// Reads a u64 of hypervisor data at `symbol + index * 8`.
    pub fn read_symbol_u64(&self, symbol: &str, index: u64) -> Result<u64, MachineError> {
        let a = self.symbol_or_err(symbol)?;
        Ok(self.ram().read_u64(a + index * 8)?)
    }

    /// Takes a snapshot of the whole machine.
    pub fn snapshot(&mut self) -> Result<Snapshot, MachineError> {
        let mut snap = Snapshot {
            ram: RamSnapshot::default(),
            contexts: Vec::new(),
            st: BoardState::default(),
            sched: self.sched.clone_box(),
            windows: Windows::default(),
            fine_steps: 0,
            backoff: 0,
            trace: self.trace,
            last_progress: 0,
            stats: Stats::default(),
            log_len: 0,
        };
        self.snapshot_into(&mut snap)?;
        Ok(snap)
    }

    /// Takes a snapshot into `snap`, reusing its buffers: after the first
    /// time, no 64 MiB allocation (about 10x faster).
    pub fn snapshot_into(&mut self, snap: &mut Snapshot) -> Result<(), MachineError> {
        self.contexts[self.loaded].save(&self.engine)?;
        self.engine
            .get_data_mut()
            .ram
            .refresh_snapshot(&mut snap.ram)?;
        snap.contexts.resize_with(self.contexts.len(), Vec::new);
        for (dst, c) in snap.contexts.iter_mut().zip(&self.contexts) {
            dst.clear();
            dst.extend_from_slice(c.bytes());
        }
        snap.st.clone_from(&self.engine.get_data().st);
        snap.sched = self.sched.clone_box();
        snap.windows.clone_from(&self.windows);
        snap.fine_steps = self.stats.fine_steps;
        snap.backoff = self.backoff;
        snap.trace = self.trace;
        snap.last_progress = self.last_progress;
        snap.stats = self.stats;
        snap.log_len = self.log.len();
        Ok(())
    }

    /// Returns the machine to `snap`; it then continues bit-identically
    /// (with the strategy it had, unless [`Machine::set_strategy`] follows).
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), MachineError> {
        if snap.contexts.len() != self.contexts.len() {
            return Err(MachineError::SnapshotMismatch {
                expected: self.contexts.len(),
                found: snap.contexts.len(),
            });
        }
        // Code whose bytes the restore changes loses its translations (the
        // patch sites, a payload loaded over freed memory); the rest keeps
        // them. Only the dirty pages can differ from the baseline; from
        // another snapshot, any code page can.
        let changed: Vec<(u64, u64)> = {
            let ram = &self.engine.get_data().ram;
            let pages: Vec<u64> = if ram.is_baseline(&snap.ram) {
                ram.dirty_pages().map(|p| (p * PAGE_SIZE) as u64).collect()
            } else {
                (0..RAM_SIZE / PAGE_SIZE as u64)
                    .map(|p| p * PAGE_SIZE as u64)
                    .collect()
            };
            let (now, then) = (ram.contents(), snap.ram.as_bytes());
            pages
                .into_iter()
                .filter(|&a| self.code_page(a))
                .filter_map(|a| {
                    let page = a as usize..a as usize + PAGE_SIZE;
                    let (x, y) = (now.get(page.clone())?, then.get(page)?);
                    let first = x.iter().zip(y).position(|(p, q)| p != q)?;
                    let last = x.iter().zip(y).rposition(|(p, q)| p != q)?;
                    Some((a + first as u64, a + last as u64 + 1))
                })
                .collect()
        };
        self.engine.get_data_mut().ram.restore_from(&snap.ram)?;
        for (from, to) in changed {
            if board::in_livepatch_area(from) {
                // Maybe not mapped for execution now: before it runs.
                self.engine.get_data_mut().stale.insert(page_base(from));
            } else {
                board::drop_translations(&mut self.engine, from, to)?;
            }
        }
        for (c, bytes) in self.contexts.iter_mut().zip(&snap.contexts) {
            c.bytes_mut().copy_from_slice(bytes);
        }
        self.engine.get_data_mut().st = snap.st.clone();
        self.engine.get_data_mut().block_insns.clear();
        self.sched = snap.sched.clone_box();
        self.windows = snap.windows.clone();
        self.sync_ranges();
        self.backoff = snap.backoff;
        self.trace = snap.trace;
        self.last_progress = snap.last_progress;
        self.stats = snap.stats;
        self.stats.fine_steps = snap.fine_steps;
        self.log.truncate(snap.log_len);
        self.loaded = snap.st.current;
        self.contexts[self.loaded].restore(&self.engine)?;
        self.engine.ctl_flush_tlb().map_err(uc("flush tlb"))?;
        self.broke = false;
        Ok(())
    }

    /// Whether the page at `a` may hold code: image text, the payload area
    /// (the pages that are read-only to the engine).
    fn code_page(&self, a: u64) -> bool {
        self.engine.get_data().in_code_page(a)
    }

    /// A hash of the whole run so far: the schedule, every vCPU's registers
    /// and state, RAM and the console.
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
            self.engine.get_data().st.vcpus[v].digest_into(&mut h);
        }
        self.load(original)?;
        let st = &self.engine.get_data().st;
        h.update(&st.now.to_le_bytes());
        h.update(&[u8::from(st.event_window)]);
        h.update(&st.console);
        h.update(self.ram().contents());
        Ok(h.finalize().to_hex().to_string())
    }

    /// Replays `log` on this freshly built machine: repeats the host's
    /// inputs at the rounds they were made, checks every decision the run
    /// makes against the log, and returns the digest at the end (equal to
    /// the recorded one). `blobs` supplies the contents of large writes by
    /// hash (the payloads).
    pub fn replay(
        &mut self,
        log: &ScheduleLog,
        blobs: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<String, MachineError> {
        let h = &log.header;
        if h.vcpus != self.cfg.vcpus {
            return Err(MachineError::LogMachine("another number of vCPUs"));
        }
        if h.image != self.header.image {
            return Err(MachineError::LogMachine("another image"));
        }
        if h.quantum != self.cfg.quantum
            || h.busy_guests != self.cfg.busy_guests
            || h.cmdline != self.cfg.cmdline
            || h.deadlock_window != self.cfg.deadlock_window
        {
            return Err(MachineError::LogMachine("another machine configuration"));
        }
        if h.strategy != self.header.strategy {
            return Err(MachineError::LogMachine("another seed"));
        }
        let diverged = |index: usize, expected: Option<&Entry>, got: Option<&Entry>| {
            MachineError::Diverged(Box::new(Divergence {
                index,
                expected: expected.cloned(),
                got: got.cloned(),
            }))
        };
        for (i, e) in log.entries.iter().enumerate() {
            // Everything the machine logged so far must match the log.
            if self.log.len() > i {
                continue;
            }
            if let Entry::End { digest, .. } = e {
                let got = self.digest()?;
                if &got != digest {
                    let mine = Entry::End {
                        round: self.round_no(),
                        digest: got,
                    };
                    return Err(diverged(i, Some(e), Some(&mine)));
                }
                return Ok(got);
            }
            if e.is_check() {
                return Err(diverged(i, Some(e), None));
            }
            self.apply_entry(e, blobs)?;
            let k = self.log.len().min(log.entries.len());
            if let Some(j) = (i..k).find(|&j| self.log[j] != log.entries[j]) {
                return Err(diverged(j, log.entries.get(j), self.log.get(j)));
            }
            if self.log.len() > log.entries.len() {
                let j = log.entries.len();
                return Err(diverged(j, None, self.log.get(j)));
            }
        }
        Err(diverged(log.entries.len(), None, None))
    }

    fn apply_entry(
        &mut self,
        e: &Entry,
        blobs: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<(), MachineError> {
        match e {
            Entry::Run { to, end, .. } => {
                let from = self.round_no();
                let r = self.run_rounds(*to, *end);
                self.record(Entry::Run {
                    round: from,
                    to: self.round_no(),
                    end: *end,
                    trace: self.trace.0,
                });
                r?;
                self.check_events()
            }
            Entry::Write { addr, data, .. } => {
                let bytes = data
                    .bytes(blobs)
                    .ok_or(MachineError::MissingBlob { addr: *addr })?;
                self.host_write(*addr, &bytes)
            }
            Entry::Input { text, .. } => {
                self.send_input(text.as_bytes());
                Ok(())
            }
            Entry::Inject { vcpu, irq, .. } => self.inject_now(*vcpu, *irq),
            Entry::MceBanks { vcpu, banks, .. } => self.set_mce_banks(*vcpu, *banks),
            Entry::Hold { vcpu, until, .. } => self.hold_vcpu(*vcpu, *until),
            Entry::Release { vcpu, .. } => self.release_vcpu(*vcpu),
            Entry::Arm { trigger, .. } => self.arm(*trigger).map(|_| ()),
            Entry::Disarm { id, .. } => self.disarm(*id).map(|_| ()),
            Entry::Window { window, .. } => {
                self.add_window(*window);
                Ok(())
            }
            Entry::CloseWindow { id, .. } => {
                self.remove_window(*id);
                Ok(())
            }
            Entry::Strategy { strategy, .. } => self.set_strategy(*strategy),
            Entry::Fired { .. } | Entry::Preempt { .. } | Entry::End { .. } => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::uncovered;

    #[test]
    fn uncovered_parts_leave_out_every_covered_range() {
        let hooked = [(0x100, 0x200), (0x300, 0x380)];
        assert_eq!(uncovered((0x120, 0x180), &hooked), []);
        assert_eq!(uncovered((0x100, 0x200), &hooked), []);
        assert_eq!(
            uncovered((0x80, 0x400), &hooked),
            [(0x80, 0x100), (0x200, 0x300), (0x380, 0x400)]
        );
        assert_eq!(uncovered((0x1f0, 0x310), &hooked), [(0x200, 0x300)]);
        assert_eq!(uncovered((0x400, 0x500), &hooked), [(0x400, 0x500)]);
    }
}
