//! What the machine keeps per vCPU besides Unicorn's CPU context: the
//! local-APIC view (pending vectors, NMI/MCE state, timer), the counters
//! the detectors and benchmarks read, the interrupt frames the emulator
//! delivered and not yet returned from, and the registers seen when the
//! vCPU last left the engine. A leaf module: it depends on nothing else in
//! the crate.

/// An event to inject into a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Irq {
    /// Non-maskable interrupt (vector 2), blocked until `iretq`.
    Nmi,
    /// Machine check (vector 18), blocked until `iretq`.
    Mce,
    /// Any maskable vector.
    Vector(u8),
}

/// One machine-check bank's registers (`public/platform.h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct McBank {
    /// MCi_STATUS.
    pub status: u64,
    /// MCi_ADDR.
    pub addr: u64,
    /// MCi_MISC.
    pub misc: u64,
}

/// Banks in a vCPU's machine-check architecture.
pub const MCA_BANKS: usize = abi::platform::MCA_BANKS;

/// The machine-check registers a vCPU's handler reads through
/// `PORT_MCA_*`: what a machine check carries. Zero: no error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct McBanks {
    /// MCG_STATUS (MCIP is set at delivery).
    pub mcg_status: u64,
    /// MCi_STATUS/ADDR/MISC of each bank.
    pub banks: [McBank; MCA_BANKS],
}

/// MCG_STATUS.RIPV: the interrupted context can be restarted.
pub const MCG_STATUS_RIPV: u64 = 1 << 0;
/// MCG_STATUS.EIPV: the interrupted RIP is where the error happened.
pub const MCG_STATUS_EIPV: u64 = 1 << 1;
/// MCG_STATUS.MCIP: a machine check is in progress.
pub const MCG_STATUS_MCIP: u64 = 1 << 2;
/// MCi_STATUS.VAL: the bank holds an error.
pub const MCI_STATUS_VAL: u64 = 1 << 63;
/// MCi_STATUS.UC: uncorrected.
pub const MCI_STATUS_UC: u64 = 1 << 61;
/// MCi_STATUS.EN: error reporting enabled.
pub const MCI_STATUS_EN: u64 = 1 << 60;
/// MCi_STATUS.MISCV: MCi_MISC is valid.
pub const MCI_STATUS_MISCV: u64 = 1 << 59;
/// MCi_STATUS.ADDRV: MCi_ADDR is valid.
pub const MCI_STATUS_ADDRV: u64 = 1 << 58;
/// MCi_STATUS.PCC: processor context corrupt.
pub const MCI_STATUS_PCC: u64 = 1 << 57;

/// MSR numbers of the registers, as `PORT_MCA_INDEX` takes them.
const MSR_MCG_CAP: u32 = 0x179;
const MSR_MCG_STATUS: u32 = 0x17a;
const MSR_MC0_CTL: u32 = 0x400;

impl McBanks {
    /// What an injected machine check carries unless the host set other
    /// banks: a corrected memory-read error in bank 0, restartable.
    pub fn corrected() -> McBanks {
        let mut b = McBanks {
            mcg_status: MCG_STATUS_RIPV | MCG_STATUS_EIPV,
            ..McBanks::default()
        };
        b.banks[0] = McBank {
            status: MCI_STATUS_VAL | MCI_STATUS_EN | MCI_STATUS_ADDRV | 0x009f,
            addr: 0x0010_0000,
            misc: 0,
        };
        b
    }

    /// Reads the register with MSR number `msr` (unknown ones read 0).
    pub fn read(&self, msr: u32) -> u64 {
        match msr {
            MSR_MCG_CAP => MCA_BANKS as u64,
            MSR_MCG_STATUS => self.mcg_status,
            _ => self.bank_reg(msr).map_or(0, |(b, r)| match r {
                0 => !0,
                1 => self.banks[b].status,
                2 => self.banks[b].addr,
                _ => self.banks[b].misc,
            }),
        }
    }

    /// Writes the register with MSR number `msr` (MCG_CAP and CTL ignore
    /// it).
    pub fn write(&mut self, msr: u32, value: u64) {
        if msr == MSR_MCG_STATUS {
            self.mcg_status = value;
            return;
        }
        if let Some((b, r)) = self.bank_reg(msr) {
            let bank = &mut self.banks[b];
            match r {
                1 => bank.status = value,
                2 => bank.addr = value,
                3 => bank.misc = value,
                _ => {}
            }
        }
    }

    fn bank_reg(&self, msr: u32) -> Option<(usize, u32)> {
        let off = msr.checked_sub(MSR_MC0_CTL)?;
        let bank = (off / 4) as usize;
        (bank < MCA_BANKS).then_some((bank, off % 4))
    }

    fn digest_into(&self, h: &mut blake3::Hasher) {
        h.update(&self.mcg_status.to_le_bytes());
        for b in &self.banks {
            for w in [b.status, b.addr, b.misc] {
                h.update(&w.to_le_bytes());
            }
        }
    }
}

/// An interrupt or exception frame the emulator pushed for this vCPU and
/// that no `iretq` has popped yet: what the handler interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The vector delivered.
    pub vector: u8,
    /// Where the hardware frame (RIP, CS, RFLAGS, RSP, SS) starts.
    pub at: u64,
    /// The interrupted (or faulting) RIP.
    pub rip: u64,
    /// The interrupted CS.
    pub cs: u64,
    /// The interrupted RBP, for frame-pointer walks under the handler.
    pub rbp: u64,
}

/// Registers of a vCPU as it left the engine last (the loaded vCPU's are
/// read from the engine instead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parked {
    /// Instruction pointer.
    pub rip: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// Frame pointer.
    pub rbp: u64,
    /// Code segment (its low bits are the CPL).
    pub cs: u64,
}

/// Per-vCPU state kept by the emulator.
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
    /// Cycles this vCPU has been given: retired instructions plus the
    /// cycles it spent halted or held.
    pub cycles: u64,
    /// Instructions it retired (its own count, free of scheduler noise).
    pub retired: u64,
    /// NMIs injected (posted) so far.
    pub nmis_injected: u64,
    /// NMIs delivered through the IDT so far.
    pub nmis_delivered: u64,
    /// Machine checks injected so far.
    pub mces_injected: u64,
    /// Machine checks delivered so far.
    pub mces_delivered: u64,
    /// What the next machine check injected carries (`None`:
    /// [`McBanks::corrected`]).
    pub mce_next: Option<McBanks>,
    /// What each pending machine check carries, oldest first.
    pub mce_queue: std::collections::VecDeque<McBanks>,
    /// The machine-check registers (loaded from the queue at delivery).
    pub mca: McBanks,
    /// `PORT_MCA_INDEX`: the register selected.
    pub mca_index: u32,
    /// High half latched by a `PORT_MCA_LO` read, or stored by a
    /// `PORT_MCA_HI` write for the next `PORT_MCA_LO` write.
    pub mca_hi: u32,
    /// Held by the host until this time, as if spinning with interrupts
    /// off: not scheduled, maskable interrupts stay pending, NMI and MCE
    /// are still taken.
    pub held_until: Option<u64>,
    /// Depth of `frames` when an NMI/MCE was taken while held: the vCPU
    /// runs until its handler returns to that depth.
    pub held_handler_depth: Option<usize>,
    /// Frames delivered and not yet returned from, outermost first.
    pub frames: Vec<Frame>,
    /// Registers as it left the engine last.
    pub parked: Parked,
    /// The last `pause` site it executed and its retired count then.
    pub last_pause: Option<(u64, u64)>,
    /// It executed the same `pause` site twice within a short distance:
    /// it spins and waits for another vCPU or for time.
    pub spinning: bool,
}

impl Irq {
    /// Makes the event pending on `v`.
    pub fn post(self, v: &mut VcpuState) {
        match self {
            Irq::Nmi => {
                v.nmi_pending += 1;
                v.nmis_injected += 1;
            }
            Irq::Mce => {
                v.mce_pending += 1;
                v.mces_injected += 1;
                let banks = v.mce_next.unwrap_or_else(McBanks::corrected);
                v.mce_queue.push_back(banks);
            }
            Irq::Vector(n) => v.raise(n),
        }
    }
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

    /// Whether an NMI or MCE is pending and not blocked.
    pub fn nmi_or_mce_deliverable(&self) -> bool {
        (self.nmi_pending > 0 && !self.nmi_blocked) || (self.mce_pending > 0 && !self.mce_blocked)
    }

    /// Whether an interrupt can wake it from `hlt`.
    pub fn can_wake(&self) -> bool {
        self.nmi_or_mce_deliverable() || (self.halted_if && self.highest().is_some())
    }

    /// Whether the host holds it at `now` (a held vCPU running an NMI or
    /// MCE handler counts as not held until the handler returns).
    pub fn is_held(&self, now: u64) -> bool {
        self.held_until.is_some_and(|t| t > now) && self.held_handler_depth.is_none()
    }

    /// Feeds the digest: every field, in a fixed order, as integers.
    pub fn digest_into(&self, h: &mut blake3::Hasher) {
        let flags = u64::from(self.started)
            | u64::from(self.halted) << 1
            | u64::from(self.halted_if) << 2
            | u64::from(self.nmi_blocked) << 3
            | u64::from(self.mce_blocked) << 4
            | u64::from(self.spinning) << 5;
        let words = [
            flags,
            self.pending[0],
            self.pending[1],
            self.pending[2],
            self.pending[3],
            u64::from(self.nmi_pending),
            u64::from(self.mce_pending),
            self.timer.map_or(u64::MAX, |t| t),
            self.cycles,
            self.retired,
            self.nmis_injected,
            self.nmis_delivered,
            self.mces_injected,
            self.mces_delivered,
            self.held_until.map_or(u64::MAX, |t| t),
            self.held_handler_depth.map_or(u64::MAX, |d| d as u64),
            self.frames.len() as u64,
        ];
        for w in words {
            h.update(&w.to_le_bytes());
        }
        // Machine-check state only once used, so that runs without it
        // keep their digests.
        let mca_used = self.mca != McBanks::default()
            || self.mca_index != 0
            || self.mca_hi != 0
            || self.mce_next.is_some()
            || !self.mce_queue.is_empty();
        if mca_used {
            self.mca.digest_into(h);
            h.update(&u64::from(self.mca_index).to_le_bytes());
            h.update(&u64::from(self.mca_hi).to_le_bytes());
            if let Some(n) = &self.mce_next {
                n.digest_into(h);
            }
            for q in &self.mce_queue {
                q.digest_into(h);
            }
        }
        for f in &self.frames {
            for w in [u64::from(f.vector), f.at, f.rip, f.cs, f.rbp] {
                h.update(&w.to_le_bytes());
            }
        }
    }
}
