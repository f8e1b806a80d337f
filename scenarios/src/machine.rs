//! The runner's view of the machine: every call this crate makes into the
//! `emulator` crate is in this module, so a change of the machine's API is
//! adapted here and nowhere else.

use std::path::{Path, PathBuf};

use emulator::hypercall::{Guest, XENMEM_PAGING_REQUEST};
use emulator::livepatch::Client;
use emulator::trigger::{Action as Do, Trigger, Visit, When as TriggerWhen};
use emulator::{Config, Machine};

pub use emulator::detect::DETECTOR_NAMES;
pub use emulator::hypercall::{
    errno, mailbox_buf, nr, XENMEM_WRITE_WORD, XENVER_CALLPATH, XENVER_EXTRAVERSION, XENVER_VERSION,
};
pub use emulator::image::ImageError;
pub use emulator::livepatch::{
    Action, Entry, LivepatchError, Status, ACTION_APPLY_NODEPS, DEFAULT_TIMEOUT_NS, NAME_SIZE,
    STATE_APPLIED, STATE_CHECKED,
};
pub use emulator::log::{Entry as LogEntry, ScheduleLog};
pub use emulator::platform::{BOOT_CMDLINE_MAX, LIVEPATCH_BASE, LIVEPATCH_SIZE, NR_DOMAINS};
pub use emulator::sched::{bounded_count, bounded_index, Bounded, Pct, Strategy};
pub use emulator::timeline::{MarkKind, Phase, Timeline};
pub use emulator::{Crash, CrashReason, Image, Irq, MachineError, Snapshot};

/// The hypervisor's table of debug-key handlers (`{fn, desc}` per key).
const KEY_TABLE_SYMBOL: &str = "keyhandler.c#key_table";

/// Most vCPUs a machine has.
pub const MAX_VCPUS: u16 = 64;

/// What to boot: the machine half of a scenario or of the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// Number of vCPUs, 1 to [`MAX_VCPUS`].
    pub vcpus: u16,
    /// Scheduler seed.
    pub seed: u64,
    /// Guests never block (a CPU-bound load).
    pub busy: bool,
    /// The hypervisor command line (Xen's `key=value` words).
    pub cmdline: String,
}

/// The mini-xen ELF `make image` builds.
pub fn default_image() -> PathBuf {
    Image::default_path()
}

/// Loads a mini-xen ELF and its flat image (`PATH.bin`).
pub fn load_image(path: &Path) -> Result<Image, ImageError> {
    Image::load(path)
}

/// Size in bytes of `symbol` in `image`, when the image has it.
pub fn symbol_size(image: &Image, symbol: &str) -> Option<u64> {
    image.symbols.get(symbol).map(|s| s.size)
}

/// Whether `symbol+offset` starts an instruction (decoding the symbol from
/// its start): a trigger anywhere else would never fire.
pub fn starts_instruction(image: &Image, symbol: &str, offset: u64) -> bool {
    use iced_x86::{Decoder, DecoderOptions};
    let Some(sym) = image.symbols.get(symbol) else {
        return false;
    };
    let Some(start) = sym.addr.checked_sub(emulator::platform::IMAGE_BASE) else {
        return false;
    };
    let end = start.saturating_add(sym.size.max(offset + 1));
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return false;
    };
    let Some(code) = image.flat.get(start..end.min(image.flat.len())) else {
        return false;
    };
    let mut d = Decoder::with_ip(64, code, sym.addr, DecoderOptions::NONE);
    let target = sym.addr + offset;
    while d.can_decode() && d.ip() < target {
        let _ = d.decode();
    }
    d.ip() == target
}

/// Address of the first `int` instruction in `symbol`, decoding it from
/// its start.
pub fn first_int(image: &Image, symbol: &str) -> Option<u64> {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};
    let sym = image.symbols.get(symbol)?;
    let start = usize::try_from(sym.addr.checked_sub(emulator::platform::IMAGE_BASE)?).ok()?;
    let end = start.checked_add(usize::try_from(sym.size).ok()?)?;
    let code = image.flat.get(start..end)?;
    let mut d = Decoder::with_ip(64, code, sym.addr, DecoderOptions::NONE);
    while d.can_decode() {
        let i = d.decode();
        if i.mnemonic() == Mnemonic::Int {
            return Some(i.ip());
        }
    }
    None
}

/// The name of the function holding `addr` in `image`.
pub fn function_at(image: &Image, addr: u64) -> Option<&str> {
    image.symbols.lookup(addr).map(|(s, _)| s.name.as_str())
}

/// One stretch of instructions a vCPU retired, seen with single steps on
/// (normally one instruction; more only when the machine ran a coarse
/// slot, which a measurement counts as noise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The vCPU.
    pub vcpu: usize,
    /// Address of the (first) instruction.
    pub rip: u64,
    /// Instructions retired: 1 for a single step.
    pub n: u64,
    /// It ran in ring 3.
    pub user: bool,
    /// An asynchronous interrupt (a vector of 32 or more other than the
    /// hypercall's, an NMI or an MCE) was being handled before it or is
    /// now: the instruction is not the program's own path.
    pub irq: bool,
    /// Virtual time after it, in ns.
    pub now: u64,
}

/// `[start, end)` of `symbol` in `image`, when it has it.
pub fn symbol_range(image: &Image, symbol: &str) -> Option<(u64, u64)> {
    image
        .symbols
        .get(symbol)
        .map(|s| (s.addr, s.addr + s.size.max(1)))
}

/// Every function of `image` whose name says it is live-patch code (the
/// timeline's live-patch phase).
pub fn livepatch_ranges(image: &Image) -> Vec<(u64, u64)> {
    image
        .symbols
        .iter()
        .filter(|s| s.is_func && s.name.contains("livepatch"))
        .map(|s| (s.addr, s.addr + s.size.max(1)))
        .collect()
}

/// Whether `e` is domain `domid`'s hypercall that never completed because
/// the hypervisor crashed the domain (it printed `Domain N crashed`):
/// the domain is dead, the hypervisor is not hung.
pub fn domain_crashed(e: &MachineError, domid: u32, console: &[u8]) -> bool {
    let hung = matches!(
        e.crash().map(|c| &c.reason),
        Some(CrashReason::Budget(emulator::report::Budget::Hypercall { domid: d, .. })) if *d == domid
    );
    let line = format!("Domain {domid} crashed");
    hung && String::from_utf8_lossy(console).contains(&line)
}

/// The guest address of domain `domid`'s mailbox buffer.
pub fn mailbox_buffer(domid: u32) -> u64 {
    emulator::hypercall::mailbox_buf(domid)
}

/// The image's build-id, hex.
pub fn build_id(image: &Image) -> String {
    image.build_id_hex()
}

/// A short stable name of what stopped the machine, and the function it
/// stopped in: a failure's kind and place.
pub fn crash_kind(c: &Crash) -> (&'static str, Option<String>) {
    let kind = match &c.reason {
        CrashReason::Panic => "panic",
        CrashReason::TripleFault { .. } => "triple-fault",
        CrashReason::Engine(_) => "engine-fault",
        CrashReason::Deadlock(_) => "deadlock",
        CrashReason::Budget(_) => "hang",
        CrashReason::Detected(f) => f.name(),
    };
    let place = c
        .function
        .as_deref()
        .map(|f| f.split(['+', ' ']).next().unwrap_or(f).to_string());
    (kind, place)
}

/// An event to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Non-maskable interrupt.
    Nmi,
    /// Machine check.
    Mce,
    /// mini-xen's event-check IPI (what `smp_send_event_check` sends).
    Ipi,
    /// Any maskable vector.
    Vector(u8),
}

impl Event {
    fn irq(self) -> Irq {
        match self {
            Event::Nmi => Irq::Nmi,
            Event::Mce => Irq::Mce,
            Event::Ipi => Irq::Vector(emulator::platform::EVENT_CHECK_VECTOR),
            Event::Vector(v) => Irq::Vector(v),
        }
    }
}

/// A point a run reports reaching (with the vCPU's retired count), for
/// later runs to aim injections at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// vCPU `vcpu`'s first store into the hypervisor's text (a patch write).
    FirstTextWrite {
        /// The vCPU.
        vcpu: usize,
    },
    /// vCPU `vcpu` first reaches `symbol`.
    Reach {
        /// The vCPU.
        vcpu: usize,
        /// The symbol.
        symbol: String,
    },
}

/// When an injected event is delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// Before the vCPU's next instruction.
    Now,
    /// When vCPU `of` (the target itself, if `None`) is about to execute
    /// `symbol+offset` for the `visit`-th time.
    At {
        /// Hypervisor symbol (Xen's names, `file.c#static`).
        symbol: String,
        /// Byte offset into it.
        offset: u64,
        /// The vCPU that reaches it, when not the target.
        of: Option<usize>,
        /// On its n-th visit (1: the first).
        visit: u64,
    },
    /// When vCPU `of` (any, if `None`) first reads or writes the `len`
    /// bytes at `symbol+offset` (a watchpoint).
    Watch {
        /// Hypervisor symbol (data or code).
        symbol: String,
        /// Byte offset into it.
        offset: u64,
        /// Bytes watched.
        len: u64,
        /// Writes (true) or reads (false).
        write: bool,
        /// The vCPU that accesses it, or any.
        of: Option<usize>,
    },
    /// After the vCPU has run this many more instructions.
    Instructions(u64),
    /// After this much more virtual time, in ns.
    After(u64),
}

/// A booted machine and its clients (dom0's live-patch tool, guests).
pub struct Testbed {
    m: Machine,
}

impl From<Machine> for Testbed {
    /// A testbed over a machine built (and perhaps run) elsewhere.
    fn from(m: Machine) -> Testbed {
        Testbed { m }
    }
}

impl Testbed {
    /// The machine, given back.
    pub fn into_machine(self) -> Machine {
        self.m
    }

    /// Builds the machine (powered on, not yet run).
    pub fn new(image: Image, boot: &Boot) -> Result<Testbed, MachineError> {
        let mut cfg = Config::new(usize::from(boot.vcpus), boot.seed);
        cfg.busy_guests = boot.busy;
        cfg.cmdline = boot.cmdline.clone();
        Ok(Testbed {
            m: Machine::new(image, cfg)?,
        })
    }

    /// Runs for `ns` of virtual time.
    pub fn run_for(&mut self, ns: u64) -> Result<(), MachineError> {
        self.m.run_for(ns)
    }

    /// Virtual time now, in ns.
    pub fn now(&self) -> u64 {
        self.m.now()
    }

    /// Everything the hypervisor printed.
    pub fn console(&self) -> &[u8] {
        self.m.console()
    }

    /// Types `bytes` on the console (debug keys).
    pub fn send_input(&mut self, bytes: &[u8]) {
        self.m.send_input(bytes);
    }

    /// Hash of the run so far (schedule and state).
    pub fn digest(&mut self) -> Result<String, MachineError> {
        self.m.digest()
    }

    /// Arranges for `event` to reach `vcpu` at `when`.
    pub fn inject(&mut self, vcpu: usize, event: Event, when: &When) -> Result<(), MachineError> {
        let irq = event.irq();
        match when {
            When::Now => self.m.inject_now(vcpu, irq),
            When::At {
                symbol,
                offset,
                of,
                visit,
            } => {
                let when = TriggerWhen::Reach {
                    vcpu: Some(of.unwrap_or(vcpu)),
                    addr: self.address(symbol)? + offset,
                    visit: Visit::Nth(*visit),
                };
                self.arm_inject(when, vcpu, irq)
            }
            When::Watch {
                symbol,
                offset,
                len,
                write,
                of,
            } => {
                let start = self.address(symbol)? + offset;
                let when = TriggerWhen::Access {
                    vcpu: *of,
                    start,
                    end: start + len.max(&1),
                    write: *write,
                    visit: Visit::Nth(1),
                };
                self.arm_inject(when, vcpu, irq)
            }
            When::Instructions(n) => {
                let cycles = self.m.vcpu(vcpu).map_or(0, |v| v.cycles);
                self.m
                    .inject_at_cycle(vcpu, cycles.saturating_add(*n), irq)
                    .map(drop)
            }
            When::After(ns) => {
                let at = self.m.now().saturating_add(*ns);
                self.m.inject_at_time(at, vcpu, irq).map(drop)
            }
        }
    }

    /// Arms `p`: its firing is logged with the vCPU's retired count.
    pub fn arm_probe(&mut self, p: &Probe) -> Result<u32, MachineError> {
        let when = match p {
            Probe::FirstTextWrite { vcpu } => TriggerWhen::Access {
                vcpu: Some(*vcpu),
                start: self.address("_stext")?,
                end: self.address("_etext")?,
                write: true,
                visit: Visit::Nth(1),
            },
            Probe::Reach { vcpu, symbol } => TriggerWhen::Reach {
                vcpu: Some(*vcpu),
                addr: self.address(symbol)?,
                visit: Visit::Nth(1),
            },
        };
        let id = self.m.arm(Trigger {
            when,
            action: Do::Note,
        })?;
        Ok(id.0)
    }

    /// Arranges for `event` to reach `vcpu` when vCPU `of` has retired
    /// exactly `count` instructions (the slot is cut there).
    pub fn inject_at_retired(
        &mut self,
        vcpu: usize,
        event: Event,
        of: usize,
        count: u64,
    ) -> Result<(), MachineError> {
        let when = TriggerWhen::Retired { vcpu: of, count };
        self.arm_inject(when, vcpu, event.irq())
    }

    /// Injects `irq` into `vcpu` when `when` fires.
    fn arm_inject(&mut self, when: TriggerWhen, vcpu: usize, irq: Irq) -> Result<(), MachineError> {
        self.m
            .arm(Trigger {
                when,
                action: Do::Inject { vcpu, irq },
            })
            .map(drop)
    }

    fn address(&self, symbol: &str) -> Result<u64, MachineError> {
        self.m
            .symbol(symbol)
            .ok_or_else(|| MachineError::NoSymbol(symbol.to_string()))
    }

    /// Installs `strategy` from now on (a fork of the schedule).
    pub fn set_strategy(&mut self, strategy: Strategy) -> Result<(), MachineError> {
        self.m.set_strategy(strategy)
    }

    /// A race window over `[start, end)`: schedules switch at single
    /// instructions while a runnable vCPU is inside.
    pub fn add_window(&mut self, start: u64, end: u64) {
        self.m.add_step_range(start, end);
    }

    /// Fine (single-instruction) slots run since the strategy was installed.
    pub fn fine_steps(&self) -> u64 {
        self.m.stats().fine_steps
    }

    /// A snapshot of the whole machine.
    pub fn snapshot(&mut self) -> Result<Snapshot, MachineError> {
        self.m.snapshot()
    }

    /// Back to `snap`, bit for bit.
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), MachineError> {
        self.m.restore(snap)
    }

    /// The schedule log so far, ending with the digest.
    pub fn schedule_log(&mut self) -> Result<ScheduleLog, MachineError> {
        self.m.schedule_log()
    }

    /// The lost-event detector: every NMI and MCE delivered was handled.
    pub fn check_events(&mut self) -> Result<(), MachineError> {
        self.m.check_events()
    }

    /// The debug keys the hypervisor registered (its `key_table`), with
    /// their descriptions, ascending; empty if the image has no table.
    pub fn debug_keys(&self) -> Result<Vec<(char, String)>, MachineError> {
        const ENTRIES: u64 = 128;
        let Some(table) = self.m.symbol(KEY_TABLE_SYMBOL) else {
            return Ok(Vec::new());
        };
        let ram = self.m.ram();
        let mut keys = Vec::new();
        for k in 0..ENTRIES {
            let entry = table + 16 * k;
            if ram.read_u64(entry)? == 0 {
                continue;
            }
            let desc = ram.read_u64(entry + 8)?;
            let mut text = [0u8; 64];
            ram.read(desc, &mut text)?;
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            let c = char::from(k as u8);
            keys.push((c, String::from_utf8_lossy(&text[..end]).into_owned()));
        }
        Ok(keys)
    }

    /// Starts recording a timeline; RIPs in `livepatch` count as live-patch
    /// code.
    pub fn record_timeline(&mut self, livepatch: Vec<(u64, u64)>) {
        self.m.record_timeline(livepatch);
    }

    /// The timeline recorded, if any.
    pub fn take_timeline(&mut self) -> Option<Timeline> {
        self.m.take_timeline()
    }

    /// Holds `vcpu` (it runs nothing and takes no interrupt) until virtual
    /// time `until`; a time already past releases it.
    pub fn hold(&mut self, vcpu: usize, until: u64) -> Result<(), MachineError> {
        self.m.hold_vcpu(vcpu, until)
    }

    /// dom0 uploads `payload` as `name`; the sysctl's rc.
    pub fn upload(&mut self, name: &str, payload: &[u8]) -> Result<i64, LivepatchError> {
        Client::new(&mut self.m).upload(name, payload)
    }

    /// GET of `name`: its status, or the sysctl's rc.
    pub fn get(&mut self, name: &str) -> Result<Result<Status, i64>, LivepatchError> {
        Client::new(&mut self.m).get(name)
    }

    /// The hypervisor's signature policy, or the sysctl's rc.
    pub fn signature(
        &mut self,
    ) -> Result<Result<emulator::livepatch::SignaturePolicy, i64>, LivepatchError> {
        Client::new(&mut self.m).signature()
    }

    /// Every loaded payload, or the sysctl's rc.
    pub fn list(&mut self) -> Result<Result<Vec<Entry>, i64>, LivepatchError> {
        Client::new(&mut self.m).list()
    }

    /// ACTION `action` on `name`; the sysctl's rc.
    pub fn action(
        &mut self,
        name: &str,
        action: Action,
        timeout: u32,
        flags: u32,
    ) -> Result<i64, LivepatchError> {
        Client::new(&mut self.m).action(name, action, timeout, flags)
    }

    /// ACTION, then (when accepted) the rendezvous runs and a GET follows.
    pub fn action_and_settle(
        &mut self,
        name: &str,
        action: Action,
        timeout: u32,
        flags: u32,
    ) -> Result<(i64, Option<Result<Status, i64>>), LivepatchError> {
        Client::new(&mut self.m).action_and_settle(name, action, timeout, flags)
    }

    /// The image booted.
    pub fn image(&self) -> &Image {
        self.m.image()
    }

    /// Reads guest memory (hypervisor addresses).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MachineError> {
        Ok(self.m.ram().read(addr, buf)?)
    }

    /// Domain `domid` issues hypercall `op` (`rdi, rsi, rdx = args`)
    /// `calls` times in a ring-3 loop (`MBOX_OP_REPEAT`), the machine
    /// running normally; the last call's result.
    pub fn repeat(
        &mut self,
        domid: u32,
        calls: u64,
        op: u64,
        args: [u64; 3],
        data: &[u8],
    ) -> Result<i64, MachineError> {
        let op_repeat = emulator::platform::MBOX_OP_REPEAT;
        let a = [calls, op, args[0], args[1], args[2]];
        Ok(Guest::new(&mut self.m, domid).call(op_repeat, a, data)?.0)
    }

    /// Domain `domid` issues hypercall `op` (`rdi, rsi, rdx = args`)
    /// `calls` times in a ring-3 loop (`MBOX_OP_REPEAT`; `data` starts
    /// its mailbox buffer), with every vCPU single-stepped meanwhile;
    /// `each` sees every instruction any vCPU retires, from the machine's
    /// own per-vCPU retired counts. Returns the last call's result.
    pub fn repeat_traced(
        &mut self,
        domid: u32,
        calls: u64,
        op: u64,
        args: [u64; 3],
        data: &[u8],
        mut each: impl FnMut(&Step),
    ) -> Result<i64, MachineError> {
        use emulator::platform::{HYPERCALL_VECTOR, MBOX_OP_REPEAT, TRAP_MACHINE_CHECK, TRAP_NMI};
        let is_irq = |v: &emulator::vcpu::VcpuState| {
            v.frames.iter().any(|f| {
                (f.vector >= 32 && f.vector != HYPERCALL_VECTOR)
                    || f.vector == TRAP_NMI
                    || f.vector == TRAP_MACHINE_CHECK
            })
        };
        // Per vCPU: retired count, RIP, ring 3, in an interrupt.
        let mut last: Vec<(u64, u64, bool, bool)> = (0..self.m.config().vcpus)
            .filter_map(|v| self.m.vcpu(v))
            .map(|s| (s.retired, s.parked.rip, s.parked.cs & 3 == 3, is_irq(s)))
            .collect();
        self.m.set_single_step(true);
        let r = Guest::new(&mut self.m, domid).call_observed(
            MBOX_OP_REPEAT,
            [calls, op, args[0], args[1], args[2]],
            data,
            |m| {
                for (v, l) in last.iter_mut().enumerate() {
                    let Some(s) = m.vcpu(v) else { continue };
                    let irq = is_irq(s);
                    if s.retired != l.0 {
                        each(&Step {
                            vcpu: v,
                            rip: l.1,
                            n: s.retired - l.0,
                            user: l.2,
                            irq: l.3 || irq,
                            now: m.now(),
                        });
                    }
                    *l = (s.retired, s.parked.rip, s.parked.cs & 3 == 3, irq);
                }
            },
        );
        self.m.set_single_step(false);
        Ok(r?.0)
    }

    /// Domain `domid` issues hypercall `nr` with `args`, its mailbox
    /// buffer holding `data` first: the rc and the buffer after.
    pub fn hypercall(
        &mut self,
        domid: u32,
        nr: u64,
        args: [u64; 5],
        data: &[u8],
    ) -> Result<(i64, Vec<u8>), MachineError> {
        Guest::new(&mut self.m, domid).call(nr, args, data)
    }

    /// Domain `domid`'s `XENVER_version`: (major, minor).
    pub fn version(&mut self, domid: u32) -> Result<(u32, u32), MachineError> {
        Guest::new(&mut self.m, domid).version()
    }

    /// Domain `domid`'s `XENVER_extraversion`.
    pub fn extraversion(&mut self, domid: u32) -> Result<Result<String, i64>, MachineError> {
        Guest::new(&mut self.m, domid).extraversion()
    }

    /// Domain `domid`'s `XENVER_build_id`.
    pub fn build_id(&mut self, domid: u32) -> Result<Result<Vec<u8>, i64>, MachineError> {
        Guest::new(&mut self.m, domid).build_id()
    }

    /// Domain `domid` posts a paging request and the machine runs for
    /// `ns`: the request's rc if it returned by then, `None` while the
    /// domain's vCPU sleeps in the hypervisor.
    pub fn paging_request(&mut self, domid: u32, ns: u64) -> Result<Option<i64>, MachineError> {
        Guest::new(&mut self.m, domid).post(nr::MEMORY_OP, [XENMEM_PAGING_REQUEST, 0, 0, 0, 0])?;
        self.m.run_for(ns)?;
        Guest::new(&mut self.m, domid).result()
    }

    /// Domain `domid` (dom0) answers `target`'s paging request with
    /// `value`: its rc, and `target`'s result once the machine has run for
    /// at most `ns` (`None` if the request has not returned by then).
    pub fn paging_resume(
        &mut self,
        domid: u32,
        target: u32,
        value: u64,
        ns: u64,
    ) -> Result<(i64, Option<i64>), MachineError> {
        let rc = Guest::new(&mut self.m, domid).paging_resume(target, value)?;
        if rc != 0 {
            return Ok((rc, None));
        }
        let step = ns.div_ceil(10).max(1);
        for _ in 0..10 {
            if let Some(r) = Guest::new(&mut self.m, target).result()? {
                return Ok((rc, Some(r)));
            }
            self.m.run_for(step)?;
        }
        Ok((rc, Guest::new(&mut self.m, target).result()?))
    }

    /// Domain `domid` writes `value` at `offset` of its memory
    /// (`XENMEM_write_word`); the hypercall's rc.
    pub fn write_word(&mut self, domid: u32, offset: u64, value: u64) -> Result<i64, MachineError> {
        Guest::new(&mut self.m, domid).write_word(offset, value, None)
    }

    /// Domain `domid` signals event channel `port`; the hypercall's rc.
    pub fn evtchn_send(&mut self, domid: u32, port: u32) -> Result<i64, MachineError> {
        Guest::new(&mut self.m, domid).evtchn_send(port)
    }

    /// Domain `domid` writes `text` on the console; the hypercall's rc.
    pub fn console_write(&mut self, domid: u32, text: &str) -> Result<i64, MachineError> {
        Guest::new(&mut self.m, domid).console_write(text)
    }

    /// Domain `domid`'s `XEN_SYSCTL_physinfo`, as text, or the rc.
    pub fn physinfo(&mut self, domid: u32) -> Result<Result<String, i64>, MachineError> {
        Ok(Guest::new(&mut self.m, domid).physinfo()?.map(|p| {
            format!(
                "nr_cpus={} nr_domains={} nr_vcpus={} total_pages={}",
                p.nr_cpus, p.nr_domains, p.nr_vcpus, p.total_pages
            )
        }))
    }
}
