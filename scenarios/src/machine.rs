//! The runner's view of the machine: every call this crate makes into the
//! `emulator` crate is in this module, so a change of the machine's API is
//! adapted here and nowhere else.

use std::path::{Path, PathBuf};

use emulator::hypercall::{nr, Guest, XENMEM_PAGING_REQUEST};
use emulator::livepatch::Client;
use emulator::{Config, Irq, Machine};

pub use emulator::hypercall::errno;
pub use emulator::image::ImageError;
pub use emulator::livepatch::{
    Action, Entry, LivepatchError, Status, ACTION_APPLY_NODEPS, DEFAULT_TIMEOUT_NS, NAME_SIZE,
    STATE_APPLIED, STATE_CHECKED,
};
pub use emulator::platform::{BOOT_CMDLINE_MAX, NR_DOMAINS};
pub use emulator::{Image, MachineError};

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

/// When an injected event is delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// Before the vCPU's next instruction.
    Now,
    /// When the vCPU is about to execute `symbol+offset`.
    At {
        /// Hypervisor symbol (Xen's names, `file.c#static`).
        symbol: String,
        /// Byte offset into it.
        offset: u64,
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
            When::At { symbol, offset } => self
                .m
                .inject_at_symbol(vcpu, symbol, *offset, irq)
                .map(drop),
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
