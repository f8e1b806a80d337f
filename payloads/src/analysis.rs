//! Per-object analysis: section classification, comparison units (a function,
//! a data object, or an anonymous section such as a jump table or string
//! literals) and the semantic target of every relocation.
//!
//! A relocation against a section symbol (GCC/gas use these for static
//! functions and variables) is resolved to the named symbol covering the
//! targeted byte, so that relocations can be compared across objects and
//! rewritten against Xen's symbols. For PC-relative relocations in code the
//! targeted byte is found by decoding the instruction (the field is not
//! always at the end of the instruction).

use rustc_hash::FxHashMap as HashMap;

use object::elf;

use crate::elf::{is_pc32, ElfObject, Reloc, SecIdx, SymIdx, SymSection};
use crate::insn::{field_to_insn_end, InsnMap};
use crate::names;
use crate::parallel;

/// Index of a unit in [`Analysis::units`].
pub type UnitIdx = usize;

/// Errors found while analysing an object.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A relocation targets something the tool cannot model.
    #[error("{file}: {section}+{offset:#x}: {what}")]
    BadTarget {
        /// Object file.
        file: String,
        /// Section holding the relocation.
        section: String,
        /// Offset of the relocated field.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// Tables that are regenerated entry by entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecialKind {
    /// `.bug_frames.N`
    BugFrames,
    /// `.ex_table`
    ExTable,
    /// `.altinstructions`
    AltInstructions,
}

/// Code sections referenced only from a special table, included per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CompanionKind {
    /// `.fixup` (referenced by `.ex_table`)
    Fixup,
    /// `.altinstr_replacement` (referenced by `.altinstructions`)
    AltReplacement,
}

/// Classification of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecKind {
    /// ELF metadata: symbol/string tables, relocation sections, groups.
    Meta,
    /// Not loaded or not relevant (debug info, `.comment`, notes, `.discard`).
    Ignored,
    /// `.init.*` and other init-only sections: can never be patched.
    Init,
    /// Ordinary code or data, split into units by its symbols.
    Plain,
    /// `SHF_MERGE` section (string literals, constants): compared by content.
    Mergeable {
        /// `SHF_STRINGS` set.
        strings: bool,
        /// `sh_entsize`.
        entsize: u64,
    },
    /// Table regenerated entry by entry.
    Special(SpecialKind),
    /// Code included per group referenced by a special table.
    Companion(CompanionKind),
    /// `.livepatch.hooks.*`
    Hook,
}

/// Classify a section by type, flags and name.
pub fn classify(obj: &ElfObject<'_>, sec: SecIdx) -> SecKind {
    let Some(s) = obj.sections.get(sec) else {
        return SecKind::Meta;
    };
    match s.sh_type {
        elf::SHT_NULL
        | elf::SHT_SYMTAB
        | elf::SHT_STRTAB
        | elf::SHT_RELA
        | elf::SHT_REL
        | elf::SHT_GROUP
        | elf::SHT_SYMTAB_SHNDX => return SecKind::Meta,
        _ => {}
    }
    let name = s.name;
    if name.starts_with(".livepatch.hooks.") {
        return SecKind::Hook;
    }
    if !s.is_alloc()
        || name.starts_with(".discard")
        || name.starts_with(".note")
        || name == ".eh_frame"
        || name.starts_with(".debug")
        || s.sh_type == elf::SHT_NOTE
    {
        return SecKind::Ignored;
    }
    if name.starts_with(".init.")
        || name.starts_with(".exit.")
        || name.starts_with(".initcall")
        || name.ends_with(".init")
    {
        return SecKind::Init;
    }
    if name.starts_with(".bug_frames.") {
        return SecKind::Special(SpecialKind::BugFrames);
    }
    match name {
        ".ex_table" => return SecKind::Special(SpecialKind::ExTable),
        ".altinstructions" => return SecKind::Special(SpecialKind::AltInstructions),
        ".fixup" => return SecKind::Companion(CompanionKind::Fixup),
        ".altinstr_replacement" => return SecKind::Companion(CompanionKind::AltReplacement),
        _ => {}
    }
    if s.is_merge() {
        return SecKind::Mergeable {
            strings: s.is_strings(),
            entsize: s.entsize,
        };
    }
    SecKind::Plain
}

/// Is a section of this name RELRO data (`.data.rel.ro`, `.data.rel.ro.*`)?
/// GCC puts `const` objects that need relocations there (with `-fpic`,
/// tables of function pointers and of strings); they are `SHF_WRITE` only
/// so that the loader can relocate them.
pub fn is_relro(name: &str) -> bool {
    name == ".data.rel.ro" || name.starts_with(".data.rel.ro.")
}

/// A unit of comparison and inclusion.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Section holding the unit.
    pub sec: SecIdx,
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Naming symbol (`None` for anonymous units).
    pub owner: Option<SymIdx>,
    /// The unit is its whole section.
    pub whole: bool,
    /// Range of indices into the section's `relocs` that lie in the unit.
    pub relocs: (usize, usize),
}

impl Unit {
    /// An anonymous unit covering all of section `sec`.
    fn whole_section(sec: SecIdx, size: u64, nrelocs: usize) -> Unit {
        Unit {
            sec,
            start: 0,
            end: size,
            owner: None,
            whole: true,
            relocs: (0, nrelocs),
        }
    }
}

/// Semantic relocation target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `STN_UNDEF`.
    None,
    /// A named symbol (defined or undefined); `addend` is relative to the symbol.
    Sym {
        /// Symbol index.
        sym: SymIdx,
        /// Addend to use against the symbol.
        addend: i64,
    },
    /// Anonymous bytes in a section (string literals, jump tables ...).
    Sec {
        /// Section index.
        sec: SecIdx,
        /// Addend to use against the section symbol.
        addend: i64,
        /// The byte actually referenced (addend corrected for PC-relative code).
        off: i64,
    },
}

/// Analysis of one object.
#[derive(Debug)]
pub struct Analysis<'a> {
    /// The parsed object.
    pub obj: ElfObject<'a>,
    /// Kind of every section.
    pub kinds: Vec<SecKind>,
    /// All units, sorted by (section, start).
    pub units: Vec<Unit>,
    /// For each section, the range of its units in `units`.
    pub sec_units: Vec<(usize, usize)>,
    /// Unit named by each symbol.
    pub sym_unit: Vec<Option<UnitIdx>>,
    /// Relocation targets, parallel to each section's `relocs`.
    pub targets: Vec<Vec<Target>>,
    /// Parent function of each `.cold` part.
    pub cold_parent: Vec<Option<SymIdx>>,
    /// `.cold` parts of each function (sorted by symbol index).
    pub children: HashMap<SymIdx, Vec<SymIdx>>,
}

fn owner_rank(obj: &ElfObject<'_>, s: SymIdx) -> (u8, u8, SymIdx) {
    let Some(sym) = obj.symbols.get(s) else {
        return (9, 9, s);
    };
    let typed = if sym.is_func() || sym.is_object() {
        0
    } else {
        1
    };
    let bind = match sym.bind {
        elf::STB_GLOBAL => 0,
        elf::STB_WEAK => 1,
        _ => 2,
    };
    (typed, bind, s)
}

impl<'a> Analysis<'a> {
    /// Analyse a parsed object.
    pub fn new(obj: ElfObject<'a>) -> Result<Self, AnalysisError> {
        let nsec = obj.sections.len();
        let kinds: Vec<SecKind> = (0..nsec).map(|i| classify(&obj, i)).collect();

        // Named entities per section.
        let mut per_sec: Vec<Vec<SymIdx>> = vec![Vec::new(); nsec];
        for sym in &obj.symbols {
            if let SymSection::Section(s) = sym.section {
                if sym.is_named_entity() {
                    if let Some(v) = per_sec.get_mut(s) {
                        v.push(sym.index);
                    }
                }
            }
        }

        let mut units: Vec<Unit> = Vec::new();
        let mut sec_units = vec![(0usize, 0usize); nsec];
        let mut sym_unit: Vec<Option<UnitIdx>> = vec![None; obj.symbols.len()];
        for (si, sec) in obj.sections.iter().enumerate() {
            let first = units.len();
            match kinds.get(si) {
                Some(SecKind::Plain) => {
                    let syms = per_sec.get_mut(si).map(std::mem::take).unwrap_or_default();
                    if syms.is_empty() {
                        if sec.size > 0 {
                            units.push(Unit::whole_section(si, sec.size, sec.relocs.len()));
                        }
                    } else {
                        let mut syms = syms;
                        syms.sort_by_key(|&s| {
                            let v = obj.symbols.get(s).map(|x| x.value).unwrap_or(0);
                            (v, owner_rank(&obj, s))
                        });
                        // Group by start value.
                        let mut groups: Vec<(u64, u64, Vec<SymIdx>)> = Vec::new();
                        for &s in &syms {
                            let Some(sym) = obj.symbols.get(s) else {
                                continue;
                            };
                            let end = sym.value.saturating_add(sym.size);
                            match groups.last_mut() {
                                Some((start, gend, members)) if *start == sym.value => {
                                    *gend = (*gend).max(end);
                                    members.push(s);
                                }
                                _ => groups.push((sym.value, end, vec![s])),
                            }
                        }
                        let n = groups.len();
                        for gi in 0..n {
                            let next_start = groups.get(gi + 1).map(|g| g.0).unwrap_or(sec.size);
                            let Some((start, gend, members)) = groups.get(gi) else {
                                continue;
                            };
                            let mut end = *gend;
                            if end <= *start {
                                // Zero-sized symbol: extend to the next symbol or the section end.
                                end = next_start.max(*start);
                            }
                            let owner = members.first().copied();
                            let lo = sec.relocs.partition_point(|r| r.offset < *start);
                            let hi = sec.relocs.partition_point(|r| r.offset < end);
                            let idx = units.len();
                            for &m in members {
                                if let Some(slot) = sym_unit.get_mut(m) {
                                    *slot = Some(idx);
                                }
                            }
                            units.push(Unit {
                                sec: si,
                                start: *start,
                                end,
                                owner,
                                whole: n == 1 && *start == 0 && end >= sec.size,
                                relocs: (lo, hi.max(lo)),
                            });
                        }
                    }
                }
                Some(SecKind::Mergeable { .. }) => {
                    units.push(Unit::whole_section(si, sec.size, sec.relocs.len()));
                }
                _ => {}
            }
            if let Some(slot) = sec_units.get_mut(si) {
                *slot = (first, units.len());
            }
        }

        // Kept for the whole run: no spare capacity.
        units.shrink_to_fit();
        drop(per_sec);

        // Cold parts and their parents.
        let mut funcs_by_name: HashMap<(&str, Option<&str>), SymIdx> = HashMap::default();
        for sym in &obj.symbols {
            if sym.is_func() && sym.defined_in().is_some() {
                let file = if sym.is_local() { sym.file } else { None };
                funcs_by_name.entry((sym.name, file)).or_insert(sym.index);
            }
        }
        let mut cold_parent = vec![None; obj.symbols.len()];
        let mut children: HashMap<SymIdx, Vec<SymIdx>> = HashMap::default();
        for sym in &obj.symbols {
            if !sym.is_func() || sym.defined_in().is_none() {
                continue;
            }
            if let Some(parent) = names::cold_parent(sym.name) {
                let p = funcs_by_name
                    .get(&(parent, sym.file))
                    .or_else(|| funcs_by_name.get(&(parent, None)))
                    .copied();
                if let Some(p) = p {
                    if let Some(slot) = cold_parent.get_mut(sym.index) {
                        *slot = Some(p);
                    }
                    children.entry(p).or_default().push(sym.index);
                }
            }
        }

        let mut an = Analysis {
            obj,
            kinds,
            units,
            sec_units,
            sym_unit,
            targets: Vec::new(),
            cold_parent,
            children,
        };
        // Collected into a vector of its own size: collecting the results
        // in place would keep the (larger) allocation of the results.
        let mut targets = Vec::with_capacity(nsec);
        for t in parallel::map(nsec, |si| an.resolve_section(si)) {
            targets.push(t?);
        }
        an.targets = targets;
        Ok(an)
    }

    fn resolve_section(&self, si: SecIdx) -> Result<Vec<Target>, AnalysisError> {
        let Some(sec) = self.obj.sections.get(si) else {
            return Ok(Vec::new());
        };
        match self.kinds.get(si) {
            Some(SecKind::Meta | SecKind::Ignored | SecKind::Init) | None => return Ok(Vec::new()),
            _ => {}
        }
        let mut map: Option<InsnMap> = None;
        let mut out = Vec::with_capacity(sec.relocs.len());
        for r in &sec.relocs {
            out.push(self.resolve(si, r, &mut map)?);
        }
        Ok(out)
    }

    fn resolve(
        &self,
        src: SecIdx,
        r: &Reloc,
        map: &mut Option<InsnMap>,
    ) -> Result<Target, AnalysisError> {
        if r.sym == 0 {
            return Ok(Target::None);
        }
        let Some(sym) = self.obj.symbols.get(r.sym) else {
            return Ok(Target::None);
        };
        let (tsec, base) = if sym.is_section() {
            match sym.defined_in() {
                Some(t) => (t, 0i64),
                None => {
                    return Ok(Target::Sym {
                        sym: r.sym,
                        addend: r.addend,
                    })
                }
            }
        } else if sym.is_named_entity() || sym.defined_in().is_none() {
            return Ok(Target::Sym {
                sym: r.sym,
                addend: r.addend,
            });
        } else {
            // Local label inside a section.
            match (sym.defined_in(), i64::try_from(sym.value)) {
                (Some(t), Ok(v)) => (t, v),
                _ => {
                    return Ok(Target::Sym {
                        sym: r.sym,
                        addend: r.addend,
                    })
                }
            }
        };
        let addend = base.wrapping_add(r.addend);
        let (lo, hi) = self.sec_units.get(tsec).copied().unwrap_or((0, 0));
        let units = self.units.get(lo..hi).unwrap_or(&[]);
        // Fast path: a section that is exactly one named unit.
        if let [u] = units {
            if u.whole {
                if let Some(owner) = u.owner {
                    return Ok(Target::Sym { sym: owner, addend });
                }
            }
        }
        let off = addend.wrapping_add(self.pc_rel_adjust(src, r, map));
        if matches!(self.kinds.get(tsec), Some(SecKind::Plain)) && !units.is_empty() {
            if let Ok(uoff) = u64::try_from(off) {
                let pos = units.partition_point(|u| u.start <= uoff);
                // Unit containing the byte, else a unit ending exactly there
                // (a loop bound one past the end of an array).
                let hit = pos.checked_sub(1).and_then(|i| units.get(i)).filter(|u| {
                    uoff < u.end
                        || (uoff == u.end && units.get(pos).map_or(true, |n| n.start > uoff))
                });
                if let Some(u) = hit {
                    if let Some(owner) = u.owner {
                        let value = self
                            .obj
                            .symbols
                            .get(owner)
                            .and_then(|s| i64::try_from(s.value).ok())
                            .unwrap_or(0);
                        return Ok(Target::Sym {
                            sym: owner,
                            addend: addend.wrapping_sub(value),
                        });
                    }
                }
            }
        }
        Ok(Target::Sec {
            sec: tsec,
            addend,
            off,
        })
    }

    /// For PC-relative relocations in code: distance from the field to the
    /// end of the instruction (the CPU adds the displacement there).
    fn pc_rel_adjust(&self, src: SecIdx, r: &Reloc, map: &mut Option<InsnMap>) -> i64 {
        let Some(sec) = self.obj.sections.get(src) else {
            return 0;
        };
        if !is_pc32(r.r_type) || !sec.is_exec() {
            return 0;
        }
        let m = map.get_or_insert_with(|| InsnMap::decode(sec.data));
        field_to_insn_end(m, r.offset)
            .and_then(|d| i64::try_from(d).ok())
            .unwrap_or(4)
    }

    /// Units of a section.
    pub fn units_of(&self, sec: SecIdx) -> std::ops::Range<UnitIdx> {
        let (lo, hi) = self.sec_units.get(sec).copied().unwrap_or((0, 0));
        lo..hi
    }

    /// Unit containing byte `off` of section `sec`.
    pub fn unit_at(&self, sec: SecIdx, off: i64) -> Option<UnitIdx> {
        let range = self.units_of(sec);
        let units = self.units.get(range.clone())?;
        let uoff = u64::try_from(off).ok()?;
        let pos = units.partition_point(|u| u.start <= uoff);
        let i = pos.checked_sub(1)?;
        let u = units.get(i)?;
        (uoff < u.end || (uoff == u.end && u.end == u.start)).then_some(range.start + i)
    }

    /// Display name of a unit: its symbol, else its section.
    pub fn unit_name(&self, u: UnitIdx) -> String {
        let Some(unit) = self.units.get(u) else {
            return String::from("?");
        };
        match unit.owner.and_then(|o| self.obj.symbols.get(o)) {
            Some(sym) => sym.name.to_string(),
            None => self
                .obj
                .sections
                .get(unit.sec)
                .map(|s| s.name.to_string())
                .unwrap_or_default(),
        }
    }

    /// Name of a section.
    pub fn sec_name(&self, sec: SecIdx) -> &'a str {
        self.obj.sections.get(sec).map(|s| s.name).unwrap_or("")
    }

    /// Name of a symbol.
    pub fn sym_name(&self, sym: SymIdx) -> &'a str {
        self.obj.symbols.get(sym).map(|s| s.name).unwrap_or("")
    }

    /// Bytes of a unit (empty for NOBITS).
    pub fn unit_bytes(&self, u: UnitIdx) -> &'a [u8] {
        let Some(unit) = self.units.get(u) else {
            return &[];
        };
        let Some(sec) = self.obj.sections.get(unit.sec) else {
            return &[];
        };
        let (Ok(s), Ok(e)) = (usize::try_from(unit.start), usize::try_from(unit.end)) else {
            return &[];
        };
        sec.data.get(s..e.min(sec.data.len())).unwrap_or(&[])
    }

    /// Relocations (with targets) lying in a unit.
    pub fn unit_relocs(&self, u: UnitIdx) -> impl Iterator<Item = (&Reloc, Target)> + '_ {
        let (sec, lo, hi) = match self.units.get(u) {
            Some(unit) => (unit.sec, unit.relocs.0, unit.relocs.1),
            None => (0, 0, 0),
        };
        let relocs = self
            .obj
            .sections
            .get(sec)
            .and_then(|s| s.relocs.get(lo..hi))
            .unwrap_or(&[]);
        let targets = self
            .targets
            .get(sec)
            .and_then(|t| t.get(lo..hi))
            .unwrap_or(&[]);
        relocs.iter().zip(targets.iter().copied())
    }

    /// Relocations (with targets) of a section whose offsets lie in `[start, end)`.
    pub fn range_relocs(
        &self,
        sec: SecIdx,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = (&Reloc, Target)> + '_ {
        let s = self.obj.sections.get(sec);
        let relocs = s.map(|s| s.relocs.as_slice()).unwrap_or(&[]);
        let lo = relocs.partition_point(|r| r.offset < start);
        let hi = relocs.partition_point(|r| r.offset < end).max(lo);
        let targets = self
            .targets
            .get(sec)
            .and_then(|t| t.get(lo..hi))
            .unwrap_or(&[]);
        relocs
            .get(lo..hi)
            .unwrap_or(&[])
            .iter()
            .zip(targets.iter().copied())
    }

    /// The unit a symbol names, if it is defined in a plain or mergeable section.
    pub fn unit_of_sym(&self, sym: SymIdx) -> Option<UnitIdx> {
        self.sym_unit.get(sym).copied().flatten()
    }

    /// Is the unit a function (its owner is `STT_FUNC`, or it is in code)?
    pub fn unit_is_func(&self, u: UnitIdx) -> bool {
        let Some(unit) = self.units.get(u) else {
            return false;
        };
        match unit.owner.and_then(|o| self.obj.symbols.get(o)) {
            Some(s) => s.is_func() || (s.kind == elf::STT_NOTYPE && self.is_exec(unit.sec)),
            None => false,
        }
    }

    /// Section has `SHF_EXECINSTR`.
    pub fn is_exec(&self, sec: SecIdx) -> bool {
        self.obj
            .sections
            .get(sec)
            .map(|s| s.is_exec())
            .unwrap_or(false)
    }

    /// Section is read-only once the payload is loaded: no `SHF_WRITE`,
    /// or RELRO data (`.data.rel.ro*`: `const` objects holding addresses,
    /// written only by the relocations applied at load).
    pub fn is_read_only(&self, sec: SecIdx) -> bool {
        !self.is_write(sec) || is_relro(self.sec_name(sec))
    }

    /// Section has `SHF_WRITE`.
    pub fn is_write(&self, sec: SecIdx) -> bool {
        self.obj
            .sections
            .get(sec)
            .map(|s| s.is_write())
            .unwrap_or(false)
    }

    /// Read a NUL-terminated string at `off` of section `sec`.
    pub fn c_string_at(&self, sec: SecIdx, off: i64) -> Option<&'a [u8]> {
        let data = self.obj.sections.get(sec)?.data;
        let start = usize::try_from(off).ok()?;
        let rest = data.get(start..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        rest.get(..len)
    }

    /// Read `len` bytes at `off` of section `sec`.
    pub fn bytes_at(&self, sec: SecIdx, off: i64, len: u64) -> Option<&'a [u8]> {
        let data = self.obj.sections.get(sec)?.data;
        let start = usize::try_from(off).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        data.get(start..end)
    }
}
