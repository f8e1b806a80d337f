//! Building and writing the payload object.
//!
//! [`plan`] decides the output sections (whole copies, or packed ranges for
//! partially included sections), the symbols (defined copies, section
//! symbols, and undefined references resolved by the loader against the
//! hypervisor), the rewritten relocations and the `.livepatch.funcs`
//! entries. [`OutputPlan::write`] serialises it with `object`'s ELF writer,
//! which also handles extended section numbering.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::borrow::Cow;

use object::elf;
use object::write::elf::{FileHeader, Rel, SectionHeader, SectionIndex, Sym, Writer};
use object::write::StringId;
use object::Endianness;

use crate::analysis::{is_relro, Analysis, SecKind, Target};
use crate::compare::{Comparison, Status};
use crate::correlate::Correlation;
use crate::elf::{reloc_name, SymIdx};
use crate::include::Inclusion;
use crate::insn::unrelocated_escape;
use crate::names::{copy_name, mangle_local};
use crate::report::Problem;
use crate::special::merge_ranges;
use crate::symtab::{LocalLookup, XenSymbols};

/// Size of `struct livepatch_func` (payload version 2), from the ABI
/// mirror that is checked against the C header.
pub const LIVEPATCH_FUNC_SIZE: usize = abi::livepatch::FUNC_SIZE;
/// `LIVEPATCH_PAYLOAD_VERSION`.
pub const LIVEPATCH_PAYLOAD_VERSION: u8 = abi::livepatch::PAYLOAD_VERSION;

/// Field offsets of `struct livepatch_func`.
mod func_off {
    use abi::livepatch::LivepatchFunc;
    use std::mem::offset_of;
    pub const NAME: u64 = offset_of!(LivepatchFunc, name) as u64;
    pub const NEW_ADDR: u64 = offset_of!(LivepatchFunc, new_addr) as u64;
    pub const OLD_ADDR: usize = offset_of!(LivepatchFunc, old_addr);
    pub const NEW_SIZE: usize = offset_of!(LivepatchFunc, new_size);
    pub const OLD_SIZE: usize = offset_of!(LivepatchFunc, old_size);
    pub const VERSION: usize = offset_of!(LivepatchFunc, version);
}
/// Size of the jump written over the old function.
pub const PATCH_INSN_SIZE: u64 = 5;
/// Minimum size when the old function starts with ENDBR64.
pub const PATCH_INSN_SIZE_ENDBR: u64 = 9;

/// Errors writing the payload.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The ELF writer failed.
    #[error("{file}: cannot write the payload object: {what}")]
    Write {
        /// Object name.
        file: String,
        /// Cause.
        what: String,
    },
    /// An input section has an alignment the writer cannot honour.
    #[error("{file}: section {section} has invalid alignment {align}")]
    BadAlignment {
        /// Object name.
        file: String,
        /// Section.
        section: String,
        /// Alignment.
        align: u64,
    },
}

/// Output policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// Refuse `R_X86_64_32`/`32S` (Xen's loader accepts only NONE, 64, PC32,
    /// PLT32); by default they are passed through with a warning, for
    /// hypervisors linked below 4 GiB and built with `-fno-pic`.
    pub strict_relocs: bool,
}

#[derive(Debug, Clone, Copy)]
enum SymRef {
    SectionSym(usize),
    Defined(usize),
    External(usize),
}

#[derive(Debug, Clone)]
struct OutReloc {
    offset: u64,
    r_type: u32,
    sym: SymRef,
    addend: i64,
}

#[derive(Debug)]
struct OutSection<'a> {
    name: String,
    sh_type: u32,
    flags: u64,
    align: u64,
    entsize: u64,
    data: Cow<'a, [u8]>,
    size: u64,
    /// (input start, input end, output start)
    map: Vec<(u64, u64, u64)>,
    /// Copied whole (offsets unchanged).
    whole: bool,
    relocs: Vec<OutReloc>,
}

impl OutSection<'_> {
    fn map_off(&self, off: i64) -> Option<i64> {
        if self.whole {
            // A whole copy keeps every offset, including the biased addends
            // of PC-relative data (`.long sym - frame_start`).
            return Some(off);
        }
        let uoff = u64::try_from(off).ok()?;
        let idx = self.map.partition_point(|&(s, _, _)| s <= uoff);
        let &(s, e, o) = self.map.get(idx.checked_sub(1)?)?;
        if uoff <= e {
            i64::try_from(o + (uoff - s)).ok()
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
struct DefinedSym {
    src: SymIdx,
    name: String,
    kind: u8,
    bind: u8,
    other: u8,
    section: usize,
    value: u64,
    size: u64,
}

/// A reference the loader resolves against the hypervisor.
#[derive(Debug, Clone)]
pub struct ExternalSym {
    /// Patched symbol.
    pub src: SymIdx,
    /// Run-time name.
    pub name: String,
    /// `STT_*` in the object.
    pub kind: u8,
    /// Users.
    pub referrers: Vec<String>,
    /// Defined (unchanged) in the object, as opposed to an `extern`.
    pub defined_in_object: bool,
    /// Address in XEN-SYMS.
    pub addr: Option<u64>,
    /// Exported by a payload lower in the stack (resolved when loaded).
    pub in_lower_payload: bool,
}

/// One `.livepatch.funcs` entry.
#[derive(Debug, Clone)]
pub struct FuncEntry {
    /// Patched function symbol.
    pub src: SymIdx,
    /// Name string.
    pub name: String,
    /// Old address (absolute, from XEN-SYMS).
    pub old_addr: u64,
    /// Old size.
    pub old_size: u64,
    /// New size.
    pub new_size: u64,
}

/// Everything needed to write the payload object.
#[derive(Debug)]
pub struct OutputPlan<'a> {
    file_sym: Option<String>,
    sections: Vec<OutSection<'a>>,
    defined: Vec<DefinedSym>,
    defined_of: HashMap<SymIdx, usize>,
    /// References left to the hypervisor, sorted by name.
    pub externals: Vec<ExternalSym>,
    /// `.livepatch.funcs` entries.
    pub funcs: Vec<FuncEntry>,
    /// Problems found while planning.
    pub problems: Vec<Problem>,
    /// Warnings.
    pub warnings: Vec<String>,
    os_abi: u8,
    abi_version: u8,
    e_flags: u32,
    file: String,
}

fn align_up(v: u64, a: u64) -> u64 {
    if a <= 1 {
        v
    } else {
        v.div_ceil(a).saturating_mul(a)
    }
}

const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// What [`plan`] reads: the analysed objects and every earlier decision.
#[derive(Clone, Copy)]
struct Ctx<'c, 'a> {
    p: &'c Analysis<'a>,
    o: &'c Analysis<'c>,
    corr: &'c Correlation,
    cmp: &'c Comparison,
    inc: &'c Inclusion,
    xen: &'c XenSymbols,
    opts: &'c OutputOptions,
}

/// Problems and warnings found while planning.
#[derive(Default)]
struct Findings {
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

/// Plan the payload object.
pub fn plan<'a>(
    p: &Analysis<'a>,
    o: &Analysis<'_>,
    corr: &Correlation,
    cmp: &Comparison,
    inc: &Inclusion,
    xen: &XenSymbols,
    opts: &OutputOptions,
) -> Result<OutputPlan<'a>, OutputError> {
    let cx = Ctx {
        p,
        o,
        corr,
        cmp,
        inc,
        xen,
        opts,
    };
    let mut found = Findings::default();
    let (mut sections, sec_pos) = plan_sections(cx.p, cx.inc, &mut found)?;
    let mut defined = plan_defined(cx.p, cx.inc, &sections, &sec_pos);
    let defined_set: HashSet<SymIdx> = defined.iter().map(|d| d.src).collect();
    let (funcs, overriding) = plan_funcs(cx, &defined_set, &mut found);
    let defined_of = name_defined(cx, &overriding, &mut defined, &mut found);
    let externals = plan_relocs(cx, &sec_pos, &mut sections, &defined_of, &mut found);
    let externals = sort_externals(externals, &mut sections);
    Ok(OutputPlan {
        file_sym: p.obj.first_file().map(str::to_string),
        sections,
        defined,
        defined_of,
        externals,
        funcs,
        problems: found.problems,
        warnings: found.warnings,
        os_abi: p.obj.os_abi,
        abi_version: p.obj.abi_version,
        e_flags: p.obj.e_flags,
        file: p.obj.file.clone(),
    })
}

/// Output sections: whole copies, or the included ranges packed; and the
/// output position of each input section.
fn plan_sections<'a>(
    p: &Analysis<'a>,
    inc: &Inclusion,
    found: &mut Findings,
) -> Result<(Vec<OutSection<'a>>, Vec<Option<usize>>), OutputError> {
    let problems = &mut found.problems;
    let nsec = p.obj.sections.len();
    let mut sec_pos: Vec<Option<usize>> = vec![None; nsec];
    let mut sections: Vec<OutSection<'a>> = Vec::new();
    for (si, sec) in p.obj.sections.iter().enumerate() {
        let ranges: Vec<(u64, u64)> = match p.kinds.get(si) {
            Some(SecKind::Plain | SecKind::Mergeable { .. }) => merge_ranges(
                p.units_of(si)
                    .filter(|&u| inc.unit_in.get(u).copied().unwrap_or(false))
                    .filter_map(|u| p.units.get(u).map(|x| (x.start, x.end)))
                    .collect(),
            ),
            Some(SecKind::Special(_) | SecKind::Companion(_) | SecKind::Hook) => {
                inc.ranges.get(&si).cloned().unwrap_or_default()
            }
            _ => continue,
        };
        if ranges.is_empty() {
            continue;
        }
        if sec.grouped {
            problems.push(Problem::GroupedSection {
                section: sec.name.to_string(),
            });
        }
        if !sec.align.is_power_of_two() || sec.align > (1 << 20) {
            return Err(OutputError::BadAlignment {
                file: p.obj.file.clone(),
                section: sec.name.to_string(),
                align: sec.align,
            });
        }
        let whole = ranges.as_slice() == [(0, sec.size)];
        if !whole && sec.is_exec() {
            let relocs = &sec.relocs;
            for &(s, e) in &ranges {
                let has_reloc = |a: u64, b: u64| {
                    let i = relocs.partition_point(|r| r.offset < a);
                    relocs.get(i).is_some_and(|r| r.offset < b)
                };
                if let Some((at, target)) = unrelocated_escape(sec.data, s, e, has_reloc) {
                    problems.push(Problem::BadReference {
                        location: format!("{}+{at:#x}", sec.name),
                        what: format!(
                            "PC-relative reference to {}+{target:#x} resolved by the assembler, outside the part copied into the payload",
                            sec.name
                        ),
                    });
                }
            }
        }
        let (data, size, map) = if whole {
            (Cow::Borrowed(sec.data), sec.size, vec![(0, sec.size, 0)])
        } else {
            let mut buf: Vec<u8> = Vec::new();
            let mut map = Vec::with_capacity(ranges.len());
            let mut cursor = 0u64;
            for &(s, e) in &ranges {
                cursor = align_up(cursor, sec.align);
                map.push((s, e, cursor));
                if !sec.is_nobits() {
                    let (Ok(us), Ok(ue), Ok(uc)) = (
                        usize::try_from(s),
                        usize::try_from(e),
                        usize::try_from(cursor),
                    ) else {
                        continue;
                    };
                    buf.resize(uc, 0);
                    buf.extend_from_slice(sec.data.get(us..ue).unwrap_or(&[]));
                }
                cursor += e - s;
            }
            (Cow::Owned(buf), cursor, map)
        };
        sec_pos[si] = Some(sections.len());
        sections.push(OutSection {
            name: sec.name.to_string(),
            sh_type: sec.sh_type,
            // RELRO data is written only by the loader's relocations: the
            // copy goes to the payload's read-only region.
            flags: if is_relro(sec.name) {
                sec.flags & !u64::from(elf::SHF_GROUP | elf::SHF_WRITE)
            } else {
                sec.flags & !u64::from(elf::SHF_GROUP)
            },
            align: sec.align,
            entsize: sec.entsize,
            data,
            size,
            map,
            whole,
            relocs: Vec::new(),
        });
    }
    Ok((sections, sec_pos))
}

/// Defined symbols of the included parts, in patched index order.
fn plan_defined(
    p: &Analysis<'_>,
    inc: &Inclusion,
    sections: &[OutSection<'_>],
    sec_pos: &[Option<usize>],
) -> Vec<DefinedSym> {
    let mut defined: Vec<DefinedSym> = Vec::new();
    for sym in &p.obj.symbols {
        if !sym.is_named_entity() {
            continue;
        }
        let Some(si) = sym.defined_in() else { continue };
        let Some(pos) = sec_pos.get(si).copied().flatten() else {
            continue;
        };
        if matches!(
            p.kinds.get(si),
            Some(SecKind::Plain | SecKind::Mergeable { .. })
        ) {
            let included = p
                .unit_of_sym(sym.index)
                .and_then(|u| inc.unit_in.get(u).copied())
                .unwrap_or(false);
            if !included {
                continue;
            }
        }
        let Some(out) = sections.get(pos) else {
            continue;
        };
        let Some(value) = i64::try_from(sym.value).ok().and_then(|v| out.map_off(v)) else {
            continue;
        };
        defined.push(DefinedSym {
            src: sym.index,
            name: String::new(),
            kind: sym.kind,
            bind: sym.bind,
            other: sym.other,
            section: pos,
            value: u64::try_from(value).unwrap_or(0),
            size: sym.size,
        });
    }
    defined
}

/// `.livepatch.funcs` entries: changed functions (not cold parts); also
/// the symbols that override the hypervisor's.
fn plan_funcs(
    cx: Ctx<'_, '_>,
    defined_set: &HashSet<SymIdx>,
    found: &mut Findings,
) -> (Vec<FuncEntry>, HashSet<SymIdx>) {
    let Ctx {
        p,
        o,
        corr,
        cmp,
        inc,
        xen,
        ..
    } = cx;
    let problems = &mut found.problems;
    let mut funcs: Vec<FuncEntry> = Vec::new();
    let mut overriding: HashSet<SymIdx> = HashSet::default();
    for (u, unit) in p.units.iter().enumerate() {
        if !inc.unit_in.get(u).copied().unwrap_or(false)
            || cmp.units.get(u).map(|s| s.status) != Some(Status::Changed)
            || !p.unit_is_func(u)
        {
            continue;
        }
        let Some(owner) = unit.owner else { continue };
        if p.cold_parent.get(owner).copied().flatten().is_some() || !defined_set.contains(&owner) {
            continue;
        }
        let Some(os) = corr.sym_p2o.get(owner).copied().flatten() else {
            continue;
        };
        let Some(osym) = o.obj.symbols.get(os) else {
            continue;
        };
        let (name, found) = if osym.is_local() {
            let name = mangle_local(osym.file, osym.name);
            match xen.lookup_local(osym.file, osym.name) {
                LocalLookup::Found(x) => (name, Some(x)),
                LocalLookup::Missing => (name, None),
                LocalLookup::Ambiguous(n) => {
                    problems.push(Problem::AmbiguousInXenSyms {
                        symbol: name,
                        count: n,
                    });
                    continue;
                }
            }
        } else {
            if osym.bind == elf::STB_WEAK && xen.lookup_strong(osym.name).is_some() {
                problems.push(Problem::BadReference {
                    location: osym.name.to_string(),
                    what: "changed weak function is overridden by a strong definition in XEN-SYMS; the entry would patch the other function".into(),
                });
                continue;
            }
            (osym.name.to_string(), xen.lookup_global(osym.name))
        };
        let Some(x) = found else {
            problems.push(Problem::NotInXenSyms {
                symbol: name,
                needed_by: format!(
                    "the .livepatch.funcs entry of changed function `{}`",
                    p.sym_name(owner)
                ),
            });
            continue;
        };
        let old_size = if x.size != 0 { x.size } else { osym.size };
        let endbr = o
            .unit_of_sym(os)
            .map(|ou| o.unit_bytes(ou).starts_with(&ENDBR64))
            .unwrap_or(false);
        let needed = if endbr {
            PATCH_INSN_SIZE_ENDBR
        } else {
            PATCH_INSN_SIZE
        };
        if old_size < needed {
            problems.push(Problem::TooSmall {
                function: name.clone(),
                size: old_size,
                needed,
            });
        }
        let psym_size = p.obj.symbols.get(owner).map(|s| s.size).unwrap_or(0);
        let new_size = if psym_size != 0 {
            psym_size
        } else {
            unit.end - unit.start
        };
        if u32::try_from(new_size).is_err() || u32::try_from(old_size).is_err() {
            problems.push(Problem::BadReference {
                location: name.clone(),
                what: "function size does not fit struct livepatch_func".into(),
            });
        }
        overriding.insert(owner);
        funcs.push(FuncEntry {
            src: owner,
            name,
            // 0: the loader finds a lower payload's function by name.
            old_addr: if x.in_payload { 0 } else { x.addr },
            old_size,
            new_size,
        });
    }
    (funcs, overriding)
}

/// Names of the defined symbols (statics as `file#name`, copies renamed
/// away from the hypervisor's names); locals first. Returns the index of
/// each source symbol.
fn name_defined(
    cx: Ctx<'_, '_>,
    overriding: &HashSet<SymIdx>,
    defined: &mut [DefinedSym],
    found: &mut Findings,
) -> HashMap<SymIdx, usize> {
    let Ctx {
        p,
        o,
        corr,
        cmp,
        xen,
        ..
    } = cx;
    let problems = &mut found.problems;
    let mut used: HashSet<String> = HashSet::default();
    for d in defined.iter_mut() {
        let Some(sym) = p.obj.symbols.get(d.src) else {
            continue;
        };
        let twin = corr
            .sym_p2o
            .get(d.src)
            .copied()
            .flatten()
            .and_then(|os| o.obj.symbols.get(os));
        if !sym.is_local() {
            d.name = sym.name.to_string();
            let is_new = p
                .unit_of_sym(d.src)
                .and_then(|u| cmp.units.get(u))
                .map(|s| s.status == Status::New)
                .unwrap_or(twin.is_none());
            if is_new && xen.contains(&d.name) {
                problems.push(Problem::NewSymbolClash {
                    symbol: d.name.clone(),
                });
            }
        } else {
            let base = match twin {
                Some(t) => mangle_local(t.file, t.name),
                None => mangle_local(sym.file, sym.name),
            };
            let mut name = base.clone();
            if !overriding.contains(&d.src) {
                let mut k = 1;
                while xen.contains(&name) || used.contains(&name) {
                    name = copy_name(&base, k);
                    k += 1;
                }
            }
            d.name = name;
        }
        used.insert(d.name.clone());
    }
    defined.sort_by_key(|d| {
        let local = p
            .obj
            .symbols
            .get(d.src)
            .map(|s| s.is_local())
            .unwrap_or(false);
        (!local, d.src)
    });
    defined
        .iter()
        .enumerate()
        .map(|(i, d)| (d.src, i))
        .collect()
}

/// The rewritten relocations of every output section, and the references
/// left to the hypervisor (in discovery order).
fn plan_relocs(
    cx: Ctx<'_, '_>,
    sec_pos: &[Option<usize>],
    sections: &mut [OutSection<'_>],
    defined_of: &HashMap<SymIdx, usize>,
    found: &mut Findings,
) -> Vec<ExternalSym> {
    let Ctx { p, opts, .. } = cx;
    let (problems, warnings) = (&mut found.problems, &mut found.warnings);
    let mut externals: Vec<ExternalSym> = Vec::new();
    let mut ext_of_sym: HashMap<SymIdx, usize> = HashMap::default();
    let mut ext_by_name: HashMap<String, usize> = HashMap::default();
    let mut narrow: Vec<String> = Vec::new();
    for (si, pos) in sec_pos.iter().enumerate() {
        let Some(pos) = *pos else { continue };
        let map = sections.get(pos).map(|s| s.map.clone()).unwrap_or_default();
        let mut out_relocs: Vec<OutReloc> = Vec::new();
        for &(s, e, _) in &map {
            for (r, t) in p.range_relocs(si, s, e) {
                let location = format!("{}+{:#x}", p.sec_name(si), r.offset);
                let Some(offset) = i64::try_from(r.offset)
                    .ok()
                    .and_then(|x| sections.get(pos).and_then(|sec| sec.map_off(x)))
                    .and_then(|x| u64::try_from(x).ok())
                else {
                    continue;
                };
                match r.r_type {
                    elf::R_X86_64_NONE => continue,
                    elf::R_X86_64_64 | elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {}
                    elf::R_X86_64_32 | elf::R_X86_64_32S if !opts.strict_relocs => {
                        if !narrow.contains(&location) && narrow.len() < 1000 {
                            narrow.push(format!("{location} {}", reloc_name(r.r_type)));
                        }
                    }
                    other => {
                        problems.push(Problem::UnsupportedRelocation {
                            location,
                            r_type: reloc_name(other),
                        });
                        continue;
                    }
                }
                let referrer = || match p.unit_at(si, i64::try_from(r.offset).unwrap_or(-1)) {
                    Some(u) => p.unit_name(u),
                    None => p.sec_name(si).to_string(),
                };
                let (sym, addend) = match t {
                    Target::Sym { sym, addend } => {
                        if let Some(&d) = defined_of.get(&sym) {
                            (SymRef::Defined(d), addend)
                        } else {
                            let idx = match ext_of_sym.get(&sym) {
                                Some(&i) => i,
                                None => {
                                    let ext =
                                        make_external(cx, sym, problems, warnings, &referrer());
                                    let i = match ext_by_name.get(&ext.name) {
                                        Some(&i) => i,
                                        None => {
                                            ext_by_name.insert(ext.name.clone(), externals.len());
                                            externals.push(ext);
                                            externals.len() - 1
                                        }
                                    };
                                    ext_of_sym.insert(sym, i);
                                    i
                                }
                            };
                            if let Some(ext) = externals.get_mut(idx) {
                                let who = referrer();
                                if !ext.referrers.contains(&who) && ext.referrers.len() < 16 {
                                    ext.referrers.push(who);
                                }
                            }
                            (SymRef::External(idx), addend)
                        }
                    }
                    Target::Sec { sec, addend, off } => {
                        let mapped = sec_pos.get(sec).copied().flatten().and_then(|tp| {
                            sections
                                .get(tp)
                                .and_then(|ts| ts.map_off(off))
                                .map(|m| (tp, m))
                        });
                        match mapped {
                            Some((tp, m)) => (
                                SymRef::SectionSym(tp),
                                addend.wrapping_add(m.wrapping_sub(off)),
                            ),
                            None => {
                                problems.push(Problem::BadReference {
                                    location,
                                    what: format!(
                                        "refers to {}{off:+#x}, which is not part of the payload",
                                        p.sec_name(sec)
                                    ),
                                });
                                continue;
                            }
                        }
                    }
                    Target::None => {
                        problems.push(Problem::BadReference {
                            location,
                            what: "relocation without symbol (STN_UNDEF)".into(),
                        });
                        continue;
                    }
                };
                out_relocs.push(OutReloc {
                    offset,
                    r_type: r.r_type,
                    sym,
                    addend,
                });
            }
        }
        if let Some(sec) = sections.get_mut(pos) {
            sec.relocs = out_relocs;
        }
    }
    if !narrow.is_empty() {
        let n = narrow.len();
        let shown: Vec<&str> = narrow.iter().take(3).map(String::as_str).collect();
        warnings.push(format!(
            "{n} absolute 32-bit relocation(s) ({}{}) are not accepted by Xen's loader; the hypervisor and payload must live below 4 GiB (or build with -fpic / -mcmodel=large)",
            shown.join(", "),
            if n > 3 { ", ..." } else { "" }
        ));
    }
    externals
}

/// Externals sorted by name, references remapped.
fn sort_externals(
    externals: Vec<ExternalSym>,
    sections: &mut [OutSection<'_>],
) -> Vec<ExternalSym> {
    let mut order: Vec<usize> = (0..externals.len()).collect();
    order.sort_by(|&a, &b| {
        let na = externals.get(a).map(|e| e.name.as_str()).unwrap_or("");
        let nb = externals.get(b).map(|e| e.name.as_str()).unwrap_or("");
        na.cmp(nb)
    });
    let mut new_pos = vec![0usize; externals.len()];
    for (newi, &oldi) in order.iter().enumerate() {
        if let Some(slot) = new_pos.get_mut(oldi) {
            *slot = newi;
        }
    }
    let mut sorted: Vec<ExternalSym> = Vec::with_capacity(externals.len());
    for &oldi in &order {
        if let Some(e) = externals.get(oldi) {
            sorted.push(e.clone());
        }
    }
    for sec in sections.iter_mut() {
        for r in &mut sec.relocs {
            if let SymRef::External(i) = r.sym {
                r.sym = SymRef::External(new_pos.get(i).copied().unwrap_or(0));
            }
        }
    }
    sorted
}

/// The reference to `sym` the loader resolves: its run-time name and what
/// the hypervisor (or a lower payload) has under it.
fn make_external(
    cx: Ctx<'_, '_>,
    sym: SymIdx,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
    referrer: &str,
) -> ExternalSym {
    let Ctx {
        p, o, corr, xen, ..
    } = cx;
    let psym = p.obj.symbols.get(sym);
    let defined_in_object = psym.map(|s| s.defined_in().is_some()).unwrap_or(false);
    let kind = psym.map(|s| s.kind).unwrap_or(elf::STT_NOTYPE);
    let local = psym.map(|s| s.is_local()).unwrap_or(false);
    let (name, found) = if local {
        let twin = corr
            .sym_p2o
            .get(sym)
            .copied()
            .flatten()
            .and_then(|os| o.obj.symbols.get(os));
        let (file, plain) = match (twin, psym) {
            (Some(t), _) => (t.file, t.name),
            (None, Some(s)) => (s.file, s.name),
            (None, None) => (None, ""),
        };
        let name = mangle_local(file, plain);
        let found = match xen.lookup_local(file, plain) {
            LocalLookup::Found(x) => Some(x),
            LocalLookup::Missing => {
                problems.push(Problem::NotInXenSyms {
                    symbol: name.clone(),
                    needed_by: referrer.to_string(),
                });
                None
            }
            LocalLookup::Ambiguous(n) => {
                problems.push(Problem::AmbiguousInXenSyms {
                    symbol: name.clone(),
                    count: n,
                });
                None
            }
        };
        (name, found)
    } else {
        let name = psym.map(|s| s.name).unwrap_or("").to_string();
        let found = xen.lookup_global(&name);
        if found.is_none() {
            if defined_in_object {
                problems.push(Problem::NotInXenSyms {
                    symbol: name.clone(),
                    needed_by: referrer.to_string(),
                });
            } else {
                warnings.push(format!(
                    "undefined symbol `{name}` (used by {referrer}) is not in XEN-SYMS; another payload object must provide it"
                ));
            }
        }
        (name, found)
    };
    // A payload lower in the stack replaced the hypervisor's object with a
    // copy: use the copy, or its fix would be undone.
    let (name, in_lower_payload) = match xen.payload_copy_of(&name) {
        Some(copy) => (copy.to_string(), true),
        None => (name, found.is_some_and(|x| x.in_payload)),
    };
    ExternalSym {
        src: sym,
        name,
        kind,
        referrers: Vec::new(),
        defined_in_object,
        addr: found.filter(|_| !in_lower_payload).map(|x| x.addr),
        in_lower_payload,
    }
}

/// `.livepatch.strings` and `.livepatch.funcs`, ready to write.
struct FuncsSection {
    strings: Vec<u8>,
    data: Vec<u8>,
    /// (offset, against `.livepatch.strings` (else a defined symbol),
    /// defined symbol index, addend).
    relocs: Vec<(u64, bool, usize, i64)>,
}

/// `.livepatch.strings`, `.livepatch.funcs` and `.rela.livepatch.funcs`:
/// (name, index) of each, flattened.
type LivepatchSections = (
    StringId,
    SectionIndex,
    StringId,
    SectionIndex,
    StringId,
    SectionIndex,
);

/// What [`OutputPlan::write`] reserved for the sections.
struct SectionIds {
    sec_idx: Vec<SectionIndex>,
    sec_name_id: Vec<StringId>,
    rela_idx: Vec<Option<(SectionIndex, StringId)>>,
    lp: Option<LivepatchSections>,
    symtab: SectionIndex,
}

/// What [`OutputPlan::write`] reserved for the symbols.
struct SymbolIds {
    num_local: u32,
    file_str: Option<StringId>,
    secsym: Vec<u32>,
    lp_secsyms: Option<(u32, u32)>,
    def_idx: Vec<u32>,
    def_str: Vec<StringId>,
    ext_idx: Vec<u32>,
    ext_str: Vec<StringId>,
}

/// File offsets [`OutputPlan::write`] reserved.
struct Ranges {
    sec_off: Vec<usize>,
    rela_off: Vec<usize>,
    lp_off: Option<(usize, usize, usize)>,
}

impl OutputPlan<'_> {
    /// Payload name of a defined (copied) patched symbol.
    pub fn defined_name(&self, sym: SymIdx) -> Option<&str> {
        self.defined_of
            .get(&sym)
            .and_then(|&i| self.defined.get(i))
            .map(|d| d.name.as_str())
    }

    /// The contents of `.livepatch.strings` and `.livepatch.funcs`, and the
    /// relocations of each entry's name and new address.
    fn funcs_section(&self) -> Result<FuncsSection, OutputError> {
        let werr = |what: String| OutputError::Write {
            file: self.file.clone(),
            what,
        };
        let mut strings: Vec<u8> = Vec::new();
        let mut string_off: HashMap<&str, u64> = HashMap::default();
        let mut funcs_data: Vec<u8> = Vec::with_capacity(self.funcs.len() * LIVEPATCH_FUNC_SIZE);
        let mut funcs_relocs: Vec<(u64, bool, usize, i64)> = Vec::new(); // (offset, to_strings, defined idx, addend)
        for (i, f) in self.funcs.iter().enumerate() {
            let soff = match string_off.get(f.name.as_str()) {
                Some(&o) => o,
                None => {
                    let o = strings.len() as u64;
                    strings.extend_from_slice(f.name.as_bytes());
                    strings.push(0);
                    string_off.insert(f.name.as_str(), o);
                    o
                }
            };
            let base = (i * LIVEPATCH_FUNC_SIZE) as u64;
            let mut entry = [0u8; LIVEPATCH_FUNC_SIZE];
            entry[func_off::OLD_ADDR..func_off::OLD_ADDR + 8]
                .copy_from_slice(&f.old_addr.to_le_bytes());
            entry[func_off::NEW_SIZE..func_off::NEW_SIZE + 4]
                .copy_from_slice(&u32::try_from(f.new_size).unwrap_or(u32::MAX).to_le_bytes());
            entry[func_off::OLD_SIZE..func_off::OLD_SIZE + 4]
                .copy_from_slice(&u32::try_from(f.old_size).unwrap_or(u32::MAX).to_le_bytes());
            entry[func_off::VERSION] = LIVEPATCH_PAYLOAD_VERSION;
            funcs_data.extend_from_slice(&entry);
            let soff_i = i64::try_from(soff).map_err(|_| werr("string table too large".into()))?;
            funcs_relocs.push((base + func_off::NAME, true, 0, soff_i));
            let d = self.defined_of.get(&f.src).copied().ok_or_else(|| {
                werr(format!(
                    "function `{}` is not defined in the payload",
                    f.name
                ))
            })?;
            funcs_relocs.push((base + func_off::NEW_ADDR, false, d, 0));
        }
        Ok(FuncsSection {
            strings,
            data: funcs_data,
            relocs: funcs_relocs,
        })
    }

    /// The symbol table, in the order the indices were reserved: null,
    /// file, section symbols, defined symbols, external references.
    fn write_symbols(
        &self,
        w: &mut Writer<'_>,
        file_str: Option<StringId>,
        sec_idx: &[SectionIndex],
        lp_secs: Option<(SectionIndex, SectionIndex)>,
        def_str: &[StringId],
        ext_str: &[StringId],
    ) {
        w.write_null_symbol();
        if let Some(id) = file_str {
            w.write_symbol(&Sym {
                name: Some(id),
                section: None,
                st_info: (elf::STB_LOCAL << 4) | elf::STT_FILE,
                st_other: 0,
                st_shndx: elf::SHN_ABS,
                st_value: 0,
                st_size: 0,
            });
        }
        let section_sym = |idx: SectionIndex| Sym {
            name: None,
            section: Some(idx),
            st_info: (elf::STB_LOCAL << 4) | elf::STT_SECTION,
            st_other: 0,
            st_shndx: 0,
            st_value: 0,
            st_size: 0,
        };
        for &idx in sec_idx {
            w.write_symbol(&section_sym(idx));
        }
        if let Some((sidx, fidx)) = lp_secs {
            w.write_symbol(&section_sym(sidx));
            w.write_symbol(&section_sym(fidx));
        }
        for (d, id) in self.defined.iter().zip(def_str.iter()) {
            w.write_symbol(&Sym {
                name: Some(*id),
                section: sec_idx.get(d.section).copied(),
                st_info: (d.bind << 4) | (d.kind & 0xf),
                st_other: d.other,
                st_shndx: 0,
                st_value: d.value,
                st_size: d.size,
            });
        }
        for (e, id) in self.externals.iter().zip(ext_str.iter()) {
            let kind = if e.kind == elf::STT_SECTION || e.kind == elf::STT_FILE {
                elf::STT_NOTYPE
            } else {
                e.kind
            };
            w.write_symbol(&Sym {
                name: Some(*id),
                section: None,
                st_info: (elf::STB_GLOBAL << 4) | kind,
                st_other: 0,
                st_shndx: elf::SHN_UNDEF,
                st_value: 0,
                st_size: 0,
            });
        }
    }

    /// Serialise the payload object: reserve section indices, symbols and
    /// file ranges, then write contents, symbols and section headers.
    pub fn write(&self) -> Result<Vec<u8>, OutputError> {
        let werr = |what: String| OutputError::Write {
            file: self.file.clone(),
            what,
        };
        let funcs = self.funcs_section()?;
        let rela_names: Vec<String> = self
            .sections
            .iter()
            .map(|s| format!(".rela{}", s.name))
            .collect();
        let mut buf: Vec<u8> = Vec::new();
        let mut w = Writer::new(Endianness::Little, true, &mut buf);
        w.reserve_file_header();
        let ids = self.reserve_sections(&mut w, &rela_names);
        let syms = self.reserve_symbols(&mut w, &ids);
        let ranges = self.reserve_ranges(&mut w, &funcs);

        w.write_file_header(&FileHeader {
            os_abi: self.os_abi,
            abi_version: self.abi_version,
            e_type: elf::ET_REL,
            e_machine: elf::EM_X86_64,
            e_entry: 0,
            e_flags: self.e_flags,
        })
        .map_err(|e| werr(e.to_string()))?;
        self.write_contents(&mut w, &syms, &funcs);
        self.write_symbols(
            &mut w,
            syms.file_str,
            &ids.sec_idx,
            ids.lp.map(|(_, sidx, _, fidx, _, _)| (sidx, fidx)),
            &syms.def_str,
            &syms.ext_str,
        );
        w.write_symtab_shndx();
        w.write_strtab();
        w.write_shstrtab();
        self.write_section_headers(&mut w, &ids, &syms, &ranges, &funcs);
        drop(w);
        Ok(buf)
    }

    /// Section indices and names, in header order: each section, then its
    /// relocations; the `.livepatch.*` sections; the tables.
    fn reserve_sections<'w>(&'w self, w: &mut Writer<'w>, rela_names: &'w [String]) -> SectionIds {
        let mut sec_idx: Vec<SectionIndex> = Vec::with_capacity(self.sections.len());
        let mut sec_name_id = Vec::with_capacity(self.sections.len());
        let mut rela_idx: Vec<Option<(SectionIndex, object::write::StringId)>> = Vec::new();
        for (s, rname) in self.sections.iter().zip(rela_names.iter()) {
            sec_name_id.push(w.add_section_name(s.name.as_bytes()));
            sec_idx.push(w.reserve_section_index());
            if s.relocs.is_empty() {
                rela_idx.push(None);
            } else {
                let id = w.add_section_name(rname.as_bytes());
                rela_idx.push(Some((w.reserve_section_index(), id)));
            }
        }
        let lp = if !self.funcs.is_empty() {
            let sname = w.add_section_name(b".livepatch.strings");
            let sidx = w.reserve_section_index();
            let fname = w.add_section_name(b".livepatch.funcs");
            let fidx = w.reserve_section_index();
            let rname = w.add_section_name(b".rela.livepatch.funcs");
            let ridx = w.reserve_section_index();
            Some((sname, sidx, fname, fidx, rname, ridx))
        } else {
            None
        };
        let symtab = w.reserve_symtab_section_index();
        let total_sections = self.sections.len() * 2 + 8;
        if total_sections >= usize::from(elf::SHN_LORESERVE) - 16 {
            w.reserve_symtab_shndx_section_index();
        }
        w.reserve_strtab_section_index();
        w.reserve_shstrtab_section_index();

        SectionIds {
            sec_idx,
            sec_name_id,
            rela_idx,
            lp,
            symtab,
        }
    }

    /// Symbol indices: null, file, section symbols, defined, external.
    fn reserve_symbols<'w>(&'w self, w: &mut Writer<'w>, ids: &SectionIds) -> SymbolIds {
        w.reserve_null_symbol_index();
        let mut num_local: u32 = 1;
        let file_str = self.file_sym.as_ref().map(|f| w.add_string(f.as_bytes()));
        if file_str.is_some() {
            w.reserve_symbol_index(None);
            num_local += 1;
        }
        let mut secsym: Vec<u32> = Vec::with_capacity(self.sections.len());
        for &idx in &ids.sec_idx {
            secsym.push(w.reserve_symbol_index(Some(idx)).0);
            num_local += 1;
        }
        let lp_secsyms = ids.lp.map(|(_, sidx, _, fidx, _, _)| {
            let a = w.reserve_symbol_index(Some(sidx)).0;
            let b = w.reserve_symbol_index(Some(fidx)).0;
            (a, b)
        });
        if lp_secsyms.is_some() {
            num_local += 2;
        }
        let mut def_idx: Vec<u32> = Vec::with_capacity(self.defined.len());
        let mut def_str = Vec::with_capacity(self.defined.len());
        for d in &self.defined {
            def_str.push(w.add_string(d.name.as_bytes()));
            let sidx = ids.sec_idx.get(d.section).copied();
            def_idx.push(w.reserve_symbol_index(sidx).0);
            if d.bind == elf::STB_LOCAL {
                num_local += 1;
            }
        }
        let mut ext_idx: Vec<u32> = Vec::with_capacity(self.externals.len());
        let mut ext_str = Vec::with_capacity(self.externals.len());
        for e in &self.externals {
            ext_str.push(w.add_string(e.name.as_bytes()));
            ext_idx.push(w.reserve_symbol_index(None).0);
        }

        SymbolIds {
            num_local,
            file_str,
            secsym,
            lp_secsyms,
            def_idx,
            def_str,
            ext_idx,
            ext_str,
        }
    }

    /// File ranges of the contents, relocations and tables.
    fn reserve_ranges(&self, w: &mut Writer<'_>, funcs: &FuncsSection) -> Ranges {
        let mut sec_off: Vec<usize> = Vec::with_capacity(self.sections.len());
        let mut rela_off: Vec<usize> = Vec::with_capacity(self.sections.len());
        for s in &self.sections {
            let align = usize::try_from(s.align).unwrap_or(1).max(1);
            if s.sh_type == elf::SHT_NOBITS {
                sec_off.push(w.reserved_len());
            } else {
                sec_off.push(w.reserve(s.data.len(), align));
            }
            rela_off.push(if s.relocs.is_empty() {
                0
            } else {
                w.reserve_relocations(s.relocs.len(), true)
            });
        }
        let lp_off = if !self.funcs.is_empty() {
            let so = w.reserve(funcs.strings.len(), 1);
            let fo = w.reserve(funcs.data.len(), 8);
            let ro = w.reserve_relocations(funcs.relocs.len(), true);
            Some((so, fo, ro))
        } else {
            None
        };
        w.reserve_symtab();
        w.reserve_symtab_shndx();
        w.reserve_strtab();
        w.reserve_shstrtab();
        w.reserve_section_headers();

        Ranges {
            sec_off,
            rela_off,
            lp_off,
        }
    }

    /// Section contents and relocations, then the `.livepatch.*` sections.
    fn write_contents(&self, w: &mut Writer<'_>, syms: &SymbolIds, funcs: &FuncsSection) {
        let sym_index = |r: &SymRef| -> u32 {
            match *r {
                SymRef::SectionSym(i) => syms.secsym.get(i).copied().unwrap_or(0),
                SymRef::Defined(i) => syms.def_idx.get(i).copied().unwrap_or(0),
                SymRef::External(i) => syms.ext_idx.get(i).copied().unwrap_or(0),
            }
        };
        for s in &self.sections {
            if s.sh_type != elf::SHT_NOBITS {
                w.write_align(usize::try_from(s.align).unwrap_or(1).max(1));
                w.write(&s.data);
            }
            if !s.relocs.is_empty() {
                w.write_align_relocation();
                for r in &s.relocs {
                    w.write_relocation(
                        true,
                        &Rel {
                            r_offset: r.offset,
                            r_sym: sym_index(&r.sym),
                            r_type: r.r_type,
                            r_addend: r.addend,
                        },
                    );
                }
            }
        }
        if let Some((str_sym, _)) = syms.lp_secsyms {
            w.write(&funcs.strings);
            w.write_align(8);
            w.write(&funcs.data);
            w.write_align_relocation();
            for &(off, to_strings, d, addend) in &funcs.relocs {
                let r_sym = if to_strings {
                    str_sym
                } else {
                    syms.def_idx.get(d).copied().unwrap_or(0)
                };
                w.write_relocation(
                    true,
                    &Rel {
                        r_offset: off,
                        r_sym,
                        r_type: elf::R_X86_64_64,
                        r_addend: addend,
                    },
                );
            }
        }
    }

    /// Section headers, same order as the indices.
    fn write_section_headers(
        &self,
        w: &mut Writer<'_>,
        ids: &SectionIds,
        syms: &SymbolIds,
        ranges: &Ranges,
        funcs: &FuncsSection,
    ) {
        w.write_null_section_header();
        for (i, s) in self.sections.iter().enumerate() {
            let (Some(&name), Some(&off)) = (ids.sec_name_id.get(i), ranges.sec_off.get(i)) else {
                continue;
            };
            w.write_section_header(&SectionHeader {
                name: Some(name),
                sh_type: s.sh_type,
                sh_flags: s.flags,
                sh_addr: 0,
                sh_offset: off as u64,
                sh_size: if s.sh_type == elf::SHT_NOBITS {
                    s.size
                } else {
                    s.data.len() as u64
                },
                sh_link: 0,
                sh_info: 0,
                sh_addralign: s.align,
                sh_entsize: s.entsize,
            });
            if let (Some(Some((_, rname))), Some(&roff), Some(&base)) = (
                ids.rela_idx.get(i),
                ranges.rela_off.get(i),
                ids.sec_idx.get(i),
            ) {
                w.write_relocation_section_header(
                    *rname,
                    base,
                    ids.symtab,
                    roff,
                    s.relocs.len(),
                    true,
                );
            }
        }
        if let (Some((sname, _, fname, fidx, rname, _)), Some((so, fo, ro))) =
            (ids.lp, ranges.lp_off)
        {
            w.write_section_header(&SectionHeader {
                name: Some(sname),
                sh_type: elf::SHT_PROGBITS,
                sh_flags: u64::from(elf::SHF_ALLOC),
                sh_addr: 0,
                sh_offset: so as u64,
                sh_size: funcs.strings.len() as u64,
                sh_link: 0,
                sh_info: 0,
                sh_addralign: 1,
                sh_entsize: 0,
            });
            w.write_section_header(&SectionHeader {
                name: Some(fname),
                sh_type: elf::SHT_PROGBITS,
                sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
                sh_addr: 0,
                sh_offset: fo as u64,
                sh_size: funcs.data.len() as u64,
                sh_link: 0,
                sh_info: 0,
                sh_addralign: 8,
                sh_entsize: LIVEPATCH_FUNC_SIZE as u64,
            });
            w.write_relocation_section_header(
                rname,
                fidx,
                ids.symtab,
                ro,
                funcs.relocs.len(),
                true,
            );
        }
        w.write_symtab_section_header(syms.num_local);
        w.write_symtab_shndx_section_header();
        w.write_strtab_section_header();
        w.write_shstrtab_section_header();
    }
}
