//! Detectors: named, structured failure kinds and the state they watch.
//!
//! - Patch sites: every code write (image text, or payload text written
//!   with CR0.WP clear) opens or continues a 5-byte site; a fetch that
//!   overlaps a site whose write has begun and not ended is a torn patch
//!   site; executing a site that holds neither its old nor its new bytes is
//!   foreign bytes.
//! - Payload execution: a block in the payload area is checked against the
//!   hypervisor's payload table (`public/livepatch.h`): text of a payload
//!   that is not applied (after a revert), or memory of an unloaded one.
//! - Stack hazards: when a site is written, every vCPU's stack is walked
//!   (frame pointers, and every interrupt frame the emulator delivered);
//!   a return address or interrupted RIP inside the function being patched
//!   or inside the payload being reverted is a hazard.
//! - Lost NMI/MCE: injected vs delivered vs handled (the hypervisor's
//!   per-CPU counts, `public/platform.h`).

use serde::Serialize;

use crate::image::SymbolTable;
use crate::livepatch::{
    LivepatchRegion, LivepatchRegionSymbol, MAX_REGIONS, REGIONS_SLOT_OFFSET, REGION_APPLIED,
    REGION_BUSY, REGION_FREE, REGION_FREED, REGION_LOADED,
};
use crate::platform::RAM_SIZE;
use crate::ram::RamBlock as Ram;
use crate::vcpu::{Frame, Irq, Parked, VcpuState};

/// Bytes of a patch site: the 5-byte `jmp rel32`.
pub const PATCH_LEN: usize = 5;
const FULL: u8 = (1 << PATCH_LEN) - 1;

/// A detector's finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A vCPU fetched an instruction overlapping a site whose multi-byte
    /// write had begun and not ended.
    TornPatchSite {
        /// First byte of the site.
        site: u64,
        /// Bytes of the site written so far.
        written: u8,
        /// The vCPU writing it.
        writer: usize,
        /// Start of the instruction fetched.
        fetch: u64,
    },
    /// A site held bytes that are neither its old nor its new instruction
    /// when it was executed.
    ForeignBytes {
        /// First byte of the site.
        site: u64,
        /// What it held.
        bytes: [u8; PATCH_LEN],
    },
    /// Code of a payload that is not applied ran (after its revert).
    ExecInactivePayload {
        /// The payload.
        payload: String,
        /// The address.
        addr: u64,
    },
    /// Code ran in memory of an unloaded payload.
    ExecFreedPayload {
        /// The payload that had the memory.
        payload: String,
        /// The address.
        addr: u64,
    },
    /// An NMI or MCE was delivered but never handled.
    LostEvent {
        /// Which kind.
        irq: Irq,
        /// Posted by the host or a trigger.
        injected: u64,
        /// Delivered through the IDT.
        delivered: u64,
        /// Counted as handled by the hypervisor.
        handled: u64,
    },
    /// When a site was written, a vCPU held an address inside the code
    /// being changed.
    StackHazard {
        /// The site written.
        site: u64,
        /// The vCPU holding the address.
        holder: usize,
        /// The return address or interrupted RIP.
        addr: u64,
        /// Whether it was an interrupted RIP (else a return address).
        interrupted: bool,
        /// The range at risk: start.
        start: u64,
        /// The range at risk: end.
        end: u64,
    },
}

/// Every detector's name, as [`Finding::name`] gives it.
pub const DETECTOR_NAMES: [&str; 6] = [
    "torn-patch-site",
    "foreign-bytes",
    "exec-after-revert",
    "exec-after-unload",
    "lost-event",
    "stack-hazard",
];

impl Finding {
    /// A stable short name, as scenarios name detectors.
    pub fn name(&self) -> &'static str {
        match self {
            Finding::TornPatchSite { .. } => "torn-patch-site",
            Finding::ForeignBytes { .. } => "foreign-bytes",
            Finding::ExecInactivePayload { .. } => "exec-after-revert",
            Finding::ExecFreedPayload { .. } => "exec-after-unload",
            Finding::LostEvent { .. } => "lost-event",
            Finding::StackHazard { .. } => "stack-hazard",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::TornPatchSite {
                site,
                written,
                writer,
                fetch,
            } => write!(
                f,
                "torn patch site {site:#x}: instruction at {fetch:#x} fetched while vCPU {writer} \
                 had written {written} of its {PATCH_LEN} bytes"
            ),
            Finding::ForeignBytes { site, bytes } => write!(
                f,
                "patch site {site:#x} executed holding {bytes:02x?}: neither its old nor its new \
                 instruction"
            ),
            Finding::ExecInactivePayload { payload, addr } => write!(
                f,
                "execution at {addr:#x} in payload {payload}, which is not applied (reverted)"
            ),
            Finding::ExecFreedPayload { payload, addr } => write!(
                f,
                "execution at {addr:#x} in the freed memory of unloaded payload {payload}"
            ),
            Finding::LostEvent {
                irq,
                injected,
                delivered,
                handled,
            } => write!(
                f,
                "lost {irq:?}: {injected} injected, {delivered} delivered, {handled} handled"
            ),
            Finding::StackHazard {
                site,
                holder,
                addr,
                interrupted,
                start,
                end,
            } => write!(
                f,
                "stack hazard: site {site:#x} written while vCPU {holder} held {} {addr:#x} \
                 inside [{start:#x}, {end:#x})",
                if *interrupted {
                    "an interrupted RIP"
                } else {
                    "a return address"
                }
            ),
        }
    }
}

/// One patch site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// First byte.
    pub start: u64,
    /// The bytes before the write began.
    pub old: [u8; PATCH_LEN],
    /// The bytes written (old where not written yet).
    pub new: [u8; PATCH_LEN],
    /// Bit i: byte i written.
    written: u8,
    /// The vCPU writing it.
    pub writer: usize,
    /// How many interrupt frames the writer had at its last store: the
    /// writer itself fetching at that depth or above has ended its write
    /// (a NOP patch longer than a site leaves its last site partly
    /// written), fetching deeper (in an NMI/MCE handler) has not.
    depth: usize,
}

impl Site {
    /// Whether a write to it has begun and not ended.
    pub fn in_progress(&self) -> bool {
        self.written != 0 && self.written != FULL
    }

    fn contains(&self, a: u64) -> bool {
        (self.start..self.start + PATCH_LEN as u64).contains(&a)
    }
}

/// What the detectors watch, kept with the board (cloned in snapshots).
#[derive(Clone, Debug, Default)]
pub struct Watch {
    /// Detectors are on.
    pub enabled: bool,
    /// Address of the hypervisor's payload table, if it has one.
    pub regions_at: Option<u64>,
    /// Every site seen.
    pub sites: Vec<Site>,
    /// Sites whose write began during the current slot, for the machine to
    /// hook and to check stacks against.
    pub opened: Vec<u64>,
    /// Some site's write has begun and not ended (what `writing` asks on
    /// every block, kept instead of searched for).
    open: bool,
    regions_gen: Option<u64>,
    regions: Vec<LivepatchRegion>,
}

impl Watch {
    /// A watch, on or off, reading the payload table at `regions_at`.
    pub fn new(enabled: bool, regions_at: Option<u64>) -> Watch {
        Watch {
            enabled,
            regions_at,
            ..Watch::default()
        }
    }

    /// A store of `bytes` at `addr` into code by `vcpu` with `depth`
    /// interrupt frames, before it lands.
    pub fn site_write(&mut self, ram: &Ram, vcpu: usize, depth: usize, addr: u64, bytes: &[u8]) {
        if !self.enabled {
            return;
        }
        for (i, &b) in bytes.iter().enumerate() {
            let a = addr + i as u64;
            let idx = match self.sites.iter().position(|s| s.contains(a)) {
                Some(k) => {
                    let s = &mut self.sites[k];
                    if !s.in_progress() {
                        // A finished site written again (revert, stacking).
                        let mut cur = [0u8; PATCH_LEN];
                        let _ = ram.read(s.start, &mut cur);
                        s.old = cur;
                        s.new = cur;
                        s.written = 0;
                        s.writer = vcpu;
                        self.opened.push(s.start);
                    }
                    k
                }
                None => {
                    let mut cur = [0u8; PATCH_LEN];
                    let _ = ram.read(a, &mut cur);
                    self.sites.push(Site {
                        start: a,
                        old: cur,
                        new: cur,
                        written: 0,
                        writer: vcpu,
                        depth,
                    });
                    self.opened.push(a);
                    self.sites.len() - 1
                }
            };
            let s = &mut self.sites[idx];
            let off = (a - s.start) as usize;
            s.new[off] = b;
            s.written |= 1 << off;
            s.depth = depth;
        }
        self.open = self.sites.iter().any(Site::in_progress);
    }

    /// Whether some site's write has begun and not ended.
    pub fn writing(&self) -> bool {
        self.enabled && self.open
    }

    /// vCPU `vcpu`, with `depth` interrupt frames, is about to execute
    /// `[addr, addr + size)`.
    pub fn site_exec(
        &mut self,
        ram: &Ram,
        vcpu: usize,
        depth: usize,
        addr: u64,
        size: u64,
    ) -> Option<Finding> {
        if !self.enabled {
            return None;
        }
        let mut closed = false;
        let mut found = None;
        for s in &mut self.sites {
            let overlaps = addr < s.start + PATCH_LEN as u64 && addr + size > s.start;
            if !overlaps {
                continue;
            }
            if s.in_progress() && s.writer == vcpu && depth <= s.depth {
                // The writer's own flow goes on: its write has ended.
                s.written = FULL;
                let _ = ram.read(s.start, &mut s.new);
                closed = true;
            }
            if s.in_progress() {
                found = Some(Finding::TornPatchSite {
                    site: s.start,
                    written: s.written.count_ones() as u8,
                    writer: s.writer,
                    fetch: addr,
                });
                break;
            }
            let mut cur = [0u8; PATCH_LEN];
            if ram.read(s.start, &mut cur).is_ok() && cur != s.old && cur != s.new {
                found = Some(Finding::ForeignBytes {
                    site: s.start,
                    bytes: cur,
                });
                break;
            }
        }
        if closed {
            self.open = self.sites.iter().any(Site::in_progress);
        }
        found
    }

    fn refresh_regions(&mut self, ram: &Ram) {
        let Some(at) = self.regions_at else {
            return;
        };
        let Ok(gen) = ram.read_u64(at) else {
            return;
        };
        if self.regions_gen == Some(gen) {
            return;
        }
        let size = std::mem::size_of::<LivepatchRegion>();
        let mut buf = vec![0u8; size * MAX_REGIONS];
        if ram.read(at + REGIONS_SLOT_OFFSET as u64, &mut buf).is_err() {
            return;
        }
        self.regions = buf
            .chunks(size)
            .map(LivepatchRegion::from_bytes)
            .filter(|r| r.state != REGION_FREE)
            .collect();
        self.regions_gen = Some(gen);
    }

    /// A block at `addr` in the payload area is about to run.
    pub fn payload_exec(&mut self, ram: &Ram, addr: u64) -> Option<Finding> {
        if !self.enabled {
            return None;
        }
        self.refresh_regions(ram);
        let live = self
            .regions
            .iter()
            .find(|r| r.state != REGION_FREED && (r.text_start..r.text_end).contains(&addr));
        if let Some(r) = live {
            return match r.state {
                REGION_APPLIED | REGION_BUSY => None,
                REGION_LOADED => Some(Finding::ExecInactivePayload {
                    payload: r.name(),
                    addr,
                }),
                _ => None,
            };
        }
        let owned = self
            .regions
            .iter()
            .any(|r| r.state != REGION_FREED && (r.mem_start..r.mem_end).contains(&addr));
        if owned {
            return None;
        }
        self.regions
            .iter()
            .rev()
            .find(|r| r.state == REGION_FREED && (r.mem_start..r.mem_end).contains(&addr))
            .map(|r| Finding::ExecFreedPayload {
                payload: r.name(),
                addr,
            })
    }

    /// Whether `addr` lies in the text of a published, not freed payload.
    pub fn in_live_payload_text(&mut self, ram: &Ram, addr: u64) -> bool {
        self.refresh_regions(ram);
        self.regions
            .iter()
            .any(|r| r.state != REGION_FREED && (r.text_start..r.text_end).contains(&addr))
    }

    /// Whether `addr` lies in a published payload's data (its memory
    /// outside its text): a store there changes no code.
    pub fn in_payload_data(&mut self, ram: &Ram, addr: u64) -> bool {
        self.refresh_regions(ram);
        self.regions.iter().any(|r| {
            r.state != REGION_FREED
                && (r.mem_start..r.mem_end).contains(&addr)
                && !(r.text_start..r.text_end).contains(&addr)
        })
    }

    /// The payload whose text holds `addr`, if any.
    pub fn payload_at(&mut self, ram: &Ram, addr: u64) -> Option<LivepatchRegion> {
        self.refresh_regions(ram);
        self.regions
            .iter()
            .find(|r| r.state != REGION_FREED && (r.text_start..r.text_end).contains(&addr))
            .or_else(|| {
                self.regions
                    .iter()
                    .rev()
                    .find(|r| (r.mem_start..r.mem_end).contains(&addr))
            })
            .copied()
    }
}

/// The function of payload `r` that holds `addr`, from the symbols the
/// hypervisor publishes with the slot: (name, offset, size), as the
/// loader's own lookup finds it (the closest symbol at or below `addr` in
/// the text; without a size, up to the next one).
pub fn payload_function(ram: &Ram, r: &LivepatchRegion, addr: u64) -> Option<(String, u64, u64)> {
    /// More would be a table the loader never wrote.
    const MAX_SYMBOLS: u32 = 1 << 16;
    if r.state == REGION_FREED || r.symtab == 0 || r.nsyms > MAX_SYMBOLS {
        return None;
    }
    let size = std::mem::size_of::<LivepatchRegionSymbol>();
    let mut raw = vec![0u8; size * r.nsyms as usize];
    ram.read(r.symtab, &mut raw).ok()?;
    let syms: Vec<LivepatchRegionSymbol> = raw
        .chunks_exact(size)
        .map(LivepatchRegionSymbol::from_bytes)
        .filter(|s| (r.text_start..r.text_end).contains(&s.value))
        .collect();
    let best = syms
        .iter()
        .filter(|s| s.value <= addr)
        .max_by_key(|s| (s.value, s.size))?;
    let next = syms
        .iter()
        .map(|s| s.value)
        .filter(|&v| v > addr)
        .min()
        .unwrap_or(r.text_end);
    let len = if best.size != 0 {
        best.size
    } else {
        next - best.value
    };
    if addr >= best.value + len {
        return None;
    }
    let mut name = [0u8; 64];
    ram.read(best.name, &mut name).ok()?;
    let end = name.iter().position(|&c| c == 0)?;
    let name = std::str::from_utf8(&name[..end]).ok()?;
    Some((name.to_string(), addr - best.value, len))
}

/// A code address held by a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// The address.
    pub addr: u64,
    /// An interrupted RIP (or the current RIP), not a return address.
    pub interrupted: bool,
}

/// Every code address a vCPU holds: its RIP, the return addresses of its
/// frame-pointer chain, and for each interrupt frame the interrupted RIP
/// and the chain under it.
pub fn held_addresses(ram: &Ram, rip: u64, rbp: u64, frames: &[Frame]) -> Vec<Held> {
    let mut out = vec![Held {
        addr: rip,
        interrupted: true,
    }];
    walk(ram, rbp, &mut out);
    for f in frames.iter().filter(|f| f.cs & 3 == 0) {
        out.push(Held {
            addr: f.rip,
            interrupted: true,
        });
        walk(ram, f.rbp, &mut out);
    }
    out
}

fn walk(ram: &Ram, mut rbp: u64, out: &mut Vec<Held>) {
    for _ in 0..64 {
        if rbp == 0 || !rbp.is_multiple_of(8) || rbp + 16 > RAM_SIZE {
            return;
        }
        let (Ok(next), Ok(ret)) = (ram.read_u64(rbp), ram.read_u64(rbp + 8)) else {
            return;
        };
        if ret == 0 {
            return;
        }
        out.push(Held {
            addr: ret,
            interrupted: false,
        });
        if next <= rbp {
            return;
        }
        rbp = next;
    }
}

/// Ranges at risk when `site` is written: the function holding it, the
/// payload text holding it, and the payload its old `jmp` led to (a
/// revert).
fn ranges_at_risk(
    watch: &mut Watch,
    ram: &Ram,
    symbols: &SymbolTable,
    site: u64,
) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if let Some((s, _)) = symbols.lookup(site) {
        if s.size > 0 && site < s.addr + s.size {
            out.push((s.addr, s.addr + s.size));
        }
    }
    if let Some(r) = watch.payload_at(ram, site) {
        out.push((r.text_start, r.text_end));
    }
    let old = watch.sites.iter().find(|s| s.start == site).map(|s| s.old);
    if let Some(old) = old.filter(|o| o[0] == 0xe9) {
        let rel = i32::from_le_bytes([old[1], old[2], old[3], old[4]]);
        let target = (site + PATCH_LEN as u64).wrapping_add_signed(i64::from(rel));
        if let Some(r) = watch.payload_at(ram, target) {
            out.push((r.text_start, r.text_end));
        }
    }
    out
}

/// At the store that opens `site`: a vCPU holding a return address or an
/// interrupted RIP inside the code at risk. `current` is the writer's
/// registers (vCPU `writer`, loaded in the engine); the others are parked.
pub fn stack_hazard(
    watch: &mut Watch,
    ram: &Ram,
    symbols: &SymbolTable,
    vcpus: &[VcpuState],
    writer: usize,
    current: Parked,
    site: u64,
) -> Option<Finding> {
    let ranges = ranges_at_risk(watch, ram, symbols, site);
    if ranges.is_empty() {
        return None;
    }
    for (w, s) in vcpus.iter().enumerate() {
        if !s.started {
            continue;
        }
        let p = if w == writer { current } else { s.parked };
        // Guest code holds nothing of the hypervisor's but what its
        // interrupt frames show.
        let (rip, rbp) = if p.cs & 3 == 3 {
            (0, 0)
        } else {
            (p.rip, p.rbp)
        };
        for h in held_addresses(ram, rip, rbp, &s.frames) {
            if h.addr == 0 {
                continue;
            }
            if let Some(&(start, end)) = ranges.iter().find(|&&(a, e)| (a..e).contains(&h.addr)) {
                return Some(Finding::StackHazard {
                    site,
                    holder: w,
                    addr: h.addr,
                    interrupted: h.interrupted,
                    start,
                    end,
                });
            }
        }
    }
    None
}
