//! Structure-aware mutations of a well-formed payload.
//!
//! Each mutation targets one structure the loader parses: the ELF header,
//! a section header, a symbol (special `st_shndx` values included), a
//! relocation (every type number), a `.livepatch.funcs` field, a note, a
//! string table's terminators, or the file's length (truncation at every
//! structural boundary).
//!
//! Scope: the loader checks structure; it cannot tell well-formed but
//! different code from the intended code. So the mutator never produces a
//! payload that is structurally valid yet runs other code or writes other
//! memory than its author wrote: inside executable sections, and for the
//! relocations and symbols that code uses, it only writes values the
//! loader must refuse (types it does not handle, indices and offsets out
//! of bounds, values outside their section, addends that overflow), never
//! in-bounds retargeting; it never clears a section's WRITE or EXECINSTR
//! flag (code writing to read-only data, or calling non-executable code,
//! is well-formed), never drops whole relocations of code, and never
//! retargets data pointers outside the special sections the loader
//! validates. Everything else, any value.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::elf::{self, ehdr, rela, shdr, sym, Layout, Section};

/// What a mutation aimed at, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Ehdr,
    Shdr,
    Sym,
    Rela,
    Func,
    Note,
    Strtab,
    Truncate,
}

/// One mutation that was applied: what and a description for reproducers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub target: Target,
    pub what: String,
}

/// Addresses of hypervisor functions, for absolute `.livepatch.funcs`
/// values.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub functions: Vec<u64>,
}

fn put(b: &mut [u8], at: usize, v: u64, width: usize) {
    if let Some(dst) = b.get_mut(at..at + width) {
        dst.copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

fn get(b: &[u8], at: usize, width: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = b.get(at..at + width) {
        w[..width].copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// An interesting value for a field now `cur`, `bound` being what it is
/// measured against (a size, a count).
fn interesting(rng: &mut ChaCha8Rng, cur: u64, bound: u64, width: usize) -> u64 {
    let max = if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    };
    let v = match rng.gen_range(0..14) {
        0 => 0,
        1 => 1,
        2 => cur.wrapping_add(1),
        3 => cur.wrapping_sub(1),
        4 => cur ^ (1 << rng.gen_range(0..(8 * width as u32))),
        5 => bound,
        6 => bound.wrapping_add(1),
        7 => bound.wrapping_sub(1),
        8 => max,
        9 => max >> 1,
        10 => (max >> 1).wrapping_add(1),
        11 => cur.wrapping_add(rng.gen_range(1..=8)),
        12 => cur.wrapping_mul(2),
        _ => rng.gen(),
    };
    v & max
}

/// The mutator: deterministic for a given rng.
pub struct Mutator<'a> {
    pub file: Vec<u8>,
    layout: Layout,
    targets: &'a Targets,
    /// Symbol indices that relocations of code (or of data outside the
    /// checked sections) refer to.
    code_syms: Vec<u64>,
}

impl<'a> Mutator<'a> {
    /// A mutator over a copy of `file`, which must be well-formed.
    pub fn new(file: &[u8], targets: &'a Targets) -> Result<Mutator<'a>, elf::ElfError> {
        let layout = Layout::parse(file)?;
        let mut code_syms = Vec::new();
        for r in layout.all_of_type(elf::SHT_RELA) {
            let Some(t) = layout.target_of(r) else {
                continue;
            };
            if Scope::of(t) != Scope::Bounded {
                continue;
            }
            for at in Layout::entries(r, rela::LEN) {
                code_syms.push(elf::u64_at(file, at + rela::INFO)? >> 32);
            }
        }
        code_syms.sort_unstable();
        code_syms.dedup();
        Ok(Mutator {
            file: file.to_vec(),
            layout,
            targets,
            code_syms,
        })
    }

    /// Applies one random mutation.
    pub fn mutate(&mut self, rng: &mut ChaCha8Rng) -> Applied {
        loop {
            let r = match rng.gen_range(0..100) {
                0..=7 => self.ehdr(rng),
                8..=29 => self.shdr(rng),
                30..=44 => self.sym(rng),
                45..=62 => self.rela(rng),
                63..=84 => self.func(rng),
                85..=91 => self.note(rng),
                92..=95 => self.strtab(rng),
                _ => self.truncate(rng),
            };
            if let Some(a) = r {
                return a;
            }
        }
    }

    fn ehdr(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let fields: &[(&str, usize, usize)] = &[
            ("e_ident[EI_CLASS]", ehdr::IDENT + 4, 1),
            ("e_ident[EI_DATA]", ehdr::IDENT + 5, 1),
            ("e_ident[EI_VERSION]", ehdr::IDENT + 6, 1),
            ("e_ident[EI_OSABI]", ehdr::IDENT + 7, 1),
            ("e_ident[EI_ABIVERSION]", ehdr::IDENT + 8, 1),
            ("e_ident[magic]", ehdr::IDENT + rng.gen_range(0..4), 1),
            ("e_type", ehdr::TYPE, 2),
            ("e_machine", ehdr::MACHINE, 2),
            ("e_version", ehdr::VERSION, 4),
            ("e_phoff", ehdr::PHOFF, 8),
            ("e_shoff", ehdr::SHOFF, 8),
            ("e_flags", ehdr::FLAGS, 4),
            ("e_ehsize", ehdr::EHSIZE, 2),
            ("e_phnum", ehdr::PHNUM, 2),
            ("e_shentsize", ehdr::SHENTSIZE, 2),
            ("e_shnum", ehdr::SHNUM, 2),
            ("e_shstrndx", ehdr::SHSTRNDX, 2),
        ];
        let &(name, at, width) = fields.choose(rng)?;
        let cur = get(&self.file, at, width);
        let bound = match name {
            "e_shoff" => self.file.len() as u64,
            "e_shnum" | "e_shstrndx" => self.layout.sections.len() as u64,
            _ => cur,
        };
        let v = interesting(rng, cur, bound, width);
        put(&mut self.file, at, v, width);
        Some(Applied {
            target: Target::Ehdr,
            what: format!("{name} {cur:#x} -> {v:#x}"),
        })
    }

    fn shdr(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let s = self.layout.sections.get(1..)?.choose(rng)?.clone();
        let n = self.layout.sections.len() as u64;
        let (field, at, width) = *[
            ("sh_name", shdr::NAME, 4),
            ("sh_type", shdr::TYPE, 4),
            ("sh_flags", shdr::FLAGS, 8),
            ("sh_addr", shdr::ADDR, 8),
            ("sh_offset", shdr::OFFSET, 8),
            ("sh_size", shdr::SIZE, 8),
            ("sh_link", shdr::LINK, 4),
            ("sh_info", shdr::INFO, 4),
            ("sh_addralign", shdr::ADDRALIGN, 8),
            ("sh_entsize", shdr::ENTSIZE, 8),
        ]
        .choose(rng)?;
        let cur = get(&self.file, s.hdr + at, width);
        let other = self.layout.sections.choose(rng)?.clone();
        let v = match field {
            "sh_name" => {
                let names = self.layout.sections.get(self.shstrndx())?.size;
                let another = get(&self.file, other.hdr + shdr::NAME, 4);
                if is_special(&s.name) {
                    // Renamed to nothing, or to a duplicate: renaming a
                    // special section into an ordinary one is well-formed.
                    let v = *[names, names + 1, u64::from(u32::MAX), another].choose(rng)?;
                    if v == another && !is_special(&other.name) {
                        return None;
                    }
                    v
                } else if rng.gen_bool(0.5) {
                    another
                } else {
                    interesting(rng, cur, names, width)
                }
            }
            "sh_type" => match rng.gen_range(0..3) {
                0 => rng.gen_range(0..=19),
                1 => *[0x6fff_fff6u64, 0x6fff_ffff, 0x7000_0001, 0x8000_0000].choose(rng)?,
                _ => interesting(rng, cur, cur, width),
            },
            "sh_flags" => {
                let bits = *[
                    elf::SHF_WRITE,
                    elf::SHF_ALLOC,
                    elf::SHF_EXECINSTR,
                    0x10,
                    0x20,
                    0x40,
                    0x200,
                    0x400,
                    0x0ff0_0000,
                    0xf000_0000,
                ]
                .choose(rng)?;
                let v = cur ^ bits;
                // Clearing WRITE or EXECINSTR is well-formed (see above).
                let cleared = cur & !v;
                if cleared & (elf::SHF_WRITE | elf::SHF_EXECINSTR) != 0 {
                    return None;
                }
                v
            }
            "sh_offset" if s.data().is_some_and(|r| !r.is_empty()) => {
                // Contents moved onto bytes no other section claims are
                // other contents, well-formed: only overlaps, the
                // headers, the end of the file and misalignment.
                let overlap = other.data().is_some_and(|r| !r.is_empty());
                match rng.gen_range(0..6) {
                    0 if overlap => other.offset,
                    1 if overlap => other.offset + other.size - 1,
                    2 => self.layout.shoff as u64,
                    3 => rng.gen_range(0..elf::ehdr::SIZE as u64),
                    4 => self.file.len() as u64 - s.size.min(self.file.len() as u64) + 1,
                    5 if s.align > 1 => cur + rng.gen_range(1..s.align),
                    _ => return None,
                }
            }
            "sh_size" => {
                let v = interesting(rng, cur, self.file.len() as u64, width);
                // Contents grown onto bytes no other section claims are
                // more contents, well-formed (and relocations refused as
                // past the end may then fit): only past the end of file.
                let grown_in_file = v > cur && s.offset.saturating_add(v) <= self.file.len() as u64;
                if s.data().is_some_and(|r| !r.is_empty()) && grown_in_file {
                    return None;
                }
                // Dropping whole relocations of code is not detectable.
                if s.sh_type == elf::SHT_RELA
                    && v < cur
                    && v % rela::LEN as u64 == 0
                    && self.layout.target_of(&s).map(Scope::of) == Some(Scope::Bounded)
                {
                    return None;
                }
                v
            }
            "sh_link" | "sh_info" => match rng.gen_range(0..4) {
                0 => other.index as u64,
                1 => n,
                2 => 0,
                _ => interesting(rng, cur, n, width),
            },
            _ => interesting(rng, cur, cur, width),
        };
        if field == "sh_info"
            && s.sh_type == elf::SHT_RELA
            && self.layout.sections.get(v as usize).map(Scope::of) != Some(Scope::Funcs)
        {
            // Retargeting relocations onto another loaded section writes
            // well-formed garbage into it; only the loader's own bounds
            // (0, e_shnum and past) and unloaded sections are in scope.
            if (v as usize) < self.layout.sections.len()
                && v != 0
                && self.layout.sections[v as usize].flags & elf::SHF_ALLOC != 0
            {
                return None;
            }
        }
        put(&mut self.file, s.hdr + at, v, width);
        Some(Applied {
            target: Target::Shdr,
            what: format!("[{}] {} {field} {cur:#x} -> {v:#x}", s.index, s.name),
        })
    }

    fn shstrndx(&self) -> usize {
        usize::from(elf::u16_at(&self.file, ehdr::SHSTRNDX).unwrap_or(0))
    }

    fn symtab(&self) -> Option<&Section> {
        self.layout.by_type(elf::SHT_SYMTAB)
    }

    fn sym(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let st = self.symtab()?.clone();
        let entries = Layout::entries(&st, sym::LEN);
        let idx = rng.gen_range(1..entries.len().max(2));
        let at = *entries.get(idx)?;
        let shndx = get(&self.file, at + sym::SHNDX, 2);
        let n = self.layout.sections.len() as u64;
        let used_by_code = self.code_syms.binary_search(&(idx as u64)).is_ok();
        let defined_in_alloc = (shndx as usize) < self.layout.sections.len()
            && shndx != 0
            && self.layout.sections[shndx as usize].flags & elf::SHF_ALLOC != 0;
        let (field, off, width, v) = match rng.gen_range(0..6) {
            0 => {
                let cur = get(&self.file, at + sym::NAME, 4);
                let strsz = self
                    .layout
                    .sections
                    .get(st.link as usize)
                    .map_or(0, |s| s.size);
                ("st_name", sym::NAME, 4, interesting(rng, cur, strsz, 4))
            }
            1 => ("st_info", sym::INFO, 1, u64::from(rng.gen::<u8>())),
            2 => ("st_other", sym::OTHER, 1, u64::from(rng.gen::<u8>())),
            3 => {
                let mut choices = vec![0u64, 0xff00, 0xfff1, 0xfff2, 0xffff, n, n + 1];
                choices.extend(
                    self.layout
                        .sections
                        .iter()
                        .filter(|s| s.flags & elf::SHF_ALLOC == 0)
                        .map(|s| s.index as u64),
                );
                let v = *choices.choose(rng)?;
                // An absolute symbol that code uses is well-formed.
                if v == 0xfff1 && used_by_code {
                    return None;
                }
                ("st_shndx", sym::SHNDX, 2, v)
            }
            4 => {
                let cur = get(&self.file, at + sym::VALUE, 8);
                let v = if defined_in_alloc {
                    // Only outside its section: inside, it is other code.
                    let size = self.layout.sections[shndx as usize].size;
                    *[size + 1, size + 16, 1 << 40, u64::MAX, u64::MAX - 7].choose(rng)?
                } else if shndx == 0xfff1 && used_by_code {
                    return None;
                } else {
                    interesting(rng, cur, cur, 8)
                };
                ("st_value", sym::VALUE, 8, v)
            }
            _ => {
                let cur = get(&self.file, at + sym::SIZE, 8);
                ("st_size", sym::SIZE, 8, interesting(rng, cur, cur, 8))
            }
        };
        let cur = get(&self.file, at + off, width);
        put(&mut self.file, at + off, v, width);
        Some(Applied {
            target: Target::Sym,
            what: format!("symbol {idx} {field} {cur:#x} -> {v:#x}"),
        })
    }

    /// Symbol `idx` is defined in an executable section.
    fn in_code(&self, idx: u64) -> bool {
        let Some(st) = self.symtab() else {
            return false;
        };
        let Some(&at) = Layout::entries(st, sym::LEN).get(idx as usize) else {
            return false;
        };
        let shndx = get(&self.file, at + sym::SHNDX, 2) as usize;
        self.layout
            .sections
            .get(shndx)
            .is_some_and(Section::is_code)
    }

    fn rela(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let relas: Vec<Section> = self.layout.all_of_type(elf::SHT_RELA).cloned().collect();
        let r = relas.choose(rng)?.clone();
        let target = self.layout.target_of(&r)?.clone();
        let scope = Scope::of(&target);
        let entries = Layout::entries(&r, rela::LEN);
        let k = rng.gen_range(0..entries.len().max(1));
        let at = *entries.get(k)?;
        let nsym = self.symtab().map_or(0, |s| s.size / sym::LEN as u64);
        let info = get(&self.file, at + rela::INFO, 8);
        let (symndx, ty) = (info >> 32, info & 0xffff_ffff);
        let cur_off = get(&self.file, at + rela::OFFSET, 8);
        // Writes a function's entry point (new_addr, a hook): never onto
        // other code, never to 0 (a NOP patch).
        let entry_point = match scope {
            Scope::Funcs => funcs_field(cur_off) == Some(FuncField::NewAddr),
            Scope::Hooks => true,
            Scope::Bounded => false,
        };
        let out_of_bounds = [
            target.size.saturating_sub(3),
            target.size,
            target.size + 8,
            u64::MAX,
            u64::MAX - 3,
        ];
        let (field, off, v) = match rng.gen_range(0..4) {
            0 => {
                // Every type number; where the loader cannot check the
                // result, only those it refuses.
                let t = if rng.gen_bool(0.8) {
                    rng.gen_range(0..=42u64)
                } else {
                    u64::from(rng.gen::<u32>())
                };
                if (scope == Scope::Bounded && matches!(t, 0 | 1 | 2 | 4))
                    || (entry_point && t == 0)
                {
                    return None;
                }
                ("type", rela::INFO, (symndx << 32) | t)
            }
            1 => {
                let s = match scope {
                    Scope::Bounded => *[0, nsym, nsym + 1, u64::from(u32::MAX)].choose(rng)?,
                    _ => match rng.gen_range(0..3) {
                        0 => rng.gen_range(0..nsym.max(1)),
                        1 => nsym,
                        _ => interesting(rng, symndx, nsym, 4),
                    },
                };
                if entry_point && s < nsym && self.in_code(s) {
                    return None;
                }
                ("symbol", rela::INFO, (s << 32) | ty)
            }
            2 => {
                let v = if scope == Scope::Bounded || entry_point && scope == Scope::Funcs {
                    *out_of_bounds.choose(rng)?
                } else {
                    interesting(rng, cur_off, target.size, 8)
                };
                ("r_offset", rela::OFFSET, v)
            }
            _ => {
                let cur = get(&self.file, at + rela::ADDEND, 8);
                let v = match scope {
                    Scope::Bounded if matches!(ty, 2 | 4) => {
                        // Out of rel32 reach.
                        *[1u64 << 40, (-(1i64 << 40)) as u64, 1 << 62].choose(rng)?
                    }
                    Scope::Bounded => return None,
                    _ if entry_point || funcs_field(cur_off) == Some(FuncField::OldAddr) => {
                        cur.wrapping_add(*SMALL_SHIFTS.choose(rng)?)
                    }
                    _ => interesting(rng, cur, target.size, 8),
                };
                ("r_addend", rela::ADDEND, v)
            }
        };
        let cur = get(&self.file, at + off, 8);
        put(&mut self.file, at + off, v, 8);
        Some(Applied {
            target: Target::Rela,
            what: format!("{} [{k}] {field} {cur:#x} -> {v:#x}", r.name),
        })
    }

    /// The relocation entry (file offset) that writes `.livepatch.funcs`
    /// offset `off`, if any.
    fn rela_for(&self, funcs: &Section, off: u64) -> Option<usize> {
        let r = self
            .layout
            .all_of_type(elf::SHT_RELA)
            .find(|r| r.info as usize == funcs.index)?;
        Layout::entries(r, rela::LEN)
            .into_iter()
            .find(|&at| get(&self.file, at + rela::OFFSET, 8) == off)
    }

    fn func(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let funcs = self.layout.by_name(".livepatch.funcs")?.clone();
        let data = funcs.data()?;
        let n = funcs.size / abi::livepatch::FUNC_SIZE as u64;
        let i = rng.gen_range(0..n.max(1));
        let base = i * abi::livepatch::FUNC_SIZE as u64;
        let at = data.start + base as usize;
        let (field, off, width) = *[
            ("name", 0usize, 8usize),
            ("new_addr", 8, 8),
            ("old_addr", 16, 8),
            ("new_size", 24, 4),
            ("old_size", 28, 4),
            ("version", 32, 1),
            ("pad", 33 + rng.gen_range(0..39), 1),
            ("expect.flags", 72, 1),
            ("expect.data", 73 + rng.gen_range(0..31), 1),
        ]
        .choose(rng)?;
        let new_reloc = self.rela_for(&funcs, base + 8);
        // A NOP entry: how many bytes it NOPs is the patch itself.
        let nop = new_reloc.is_none() && get(&self.file, at + 8, 8) == 0;
        if nop && field == "new_size" {
            return None;
        }
        if off < 24 {
            let reloc = self.rela_for(&funcs, base + off as u64);
            let fun = self.targets.functions.choose(rng).copied().unwrap_or(0);
            let checked = field != "name";
            match (reloc, rng.gen_range(0..3)) {
                (Some(r), 0) => {
                    // Shift the relocated value.
                    let cur = get(&self.file, r + rela::ADDEND, 8);
                    let d = if checked {
                        *SMALL_SHIFTS.choose(rng)?
                    } else {
                        *[1u64, 2, 3, 4, 5, 8, 16, u64::MAX].choose(rng)?
                    };
                    let v = cur.wrapping_add(d);
                    put(&mut self.file, r + rela::ADDEND, v, 8);
                    return Some(Applied {
                        target: Target::Func,
                        what: format!("funcs[{i}].{field} addend {cur:#x} -> {v:#x}"),
                    });
                }
                (reloc, _) => {
                    // An absolute value instead of the relocation: values
                    // the loader must refuse, or (old_addr of a jump)
                    // another harmless hypervisor function.
                    let file_old = get(&self.file, at + 16, 8);
                    let mut values = vec![
                        u64::MAX,
                        fun.wrapping_add(1),
                        fun.wrapping_add(4),
                        abi::platform::domain_window(0),
                        1 << 40,
                    ];
                    match field {
                        "name" => values.extend([0, fun, abi::platform::LIVEPATCH_BASE]),
                        "new_addr" => values.extend([fun, file_old]),
                        _ if nop => values.push(abi::platform::LIVEPATCH_BASE),
                        _ => values.extend([0, fun, abi::platform::LIVEPATCH_BASE]),
                    }
                    let v = *values.choose(rng)?;
                    if let Some(r) = reloc {
                        let info = get(&self.file, r + rela::INFO, 8);
                        put(&mut self.file, r + rela::INFO, info & !0xffff_ffff, 8);
                    }
                    put(&mut self.file, at + off, v, 8);
                    return Some(Applied {
                        target: Target::Func,
                        what: format!(
                            "funcs[{i}].{field} = {v:#x} (absolute{})",
                            if reloc.is_some() {
                                ", relocation dropped"
                            } else {
                                ""
                            }
                        ),
                    });
                }
            }
        }
        let cur = get(&self.file, at + off, width);
        let v = interesting(rng, cur, cur, width);
        put(&mut self.file, at + off, v, width);
        Some(Applied {
            target: Target::Func,
            what: format!("funcs[{i}].{field} {cur:#x} -> {v:#x}"),
        })
    }

    fn note(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let notes: Vec<Section> = self
            .layout
            .sections
            .iter()
            .filter(|s| {
                s.sh_type == elf::SHT_NOTE
                    || s.name.starts_with(".livepatch.") && s.name.ends_with("depends")
            })
            .cloned()
            .collect();
        let s = notes.choose(rng)?;
        let data = s.data()?;
        let (field, off, width) = *[
            ("n_namesz", 0usize, 4usize),
            ("n_descsz", 4, 4),
            ("n_type", 8, 4),
            ("name", 12 + rng.gen_range(0..4), 1),
            ("desc", 16 + rng.gen_range(0..20), 1),
        ]
        .choose(rng)?;
        let at = data.start + off;
        if at + width > data.end {
            return None;
        }
        let cur = get(&self.file, at, width);
        let v = interesting(rng, cur, s.size, width);
        put(&mut self.file, at, v, width);
        Some(Applied {
            target: Target::Note,
            what: format!("{} {field} {cur:#x} -> {v:#x}", s.name),
        })
    }

    fn strtab(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let tabs: Vec<Section> = self.layout.all_of_type(elf::SHT_STRTAB).cloned().collect();
        let s = tabs.choose(rng)?;
        let data = s.data()?;
        if data.is_empty() {
            return None;
        }
        let (what, at) = match rng.gen_range(0..3) {
            0 => ("last NUL", data.end - 1),
            1 => ("first NUL", data.start),
            _ => {
                // Some terminator in the middle: two names become one. Not
                // one ending a special section name (names share
                // suffixes): renaming one into an ordinary section is
                // well-formed (see above).
                let names = s.index == self.shstrndx();
                let file = &self.file;
                let nuls: Vec<usize> = (data.start..data.end)
                    .filter(|&o| file.get(o) == Some(&0))
                    .filter(|&o| {
                        let before = &file[data.start..o];
                        let from = before.iter().rposition(|&c| c == 0).map_or(0, |p| p + 1);
                        let name = String::from_utf8_lossy(&before[from..]);
                        !names || !SPECIAL_PREFIXES.iter().any(|p| name.contains(p))
                    })
                    .collect();
                ("inner NUL", *nuls.choose(rng)?)
            }
        };
        let v: u8 = rng.gen_range(b'a'..=b'z');
        *self.file.get_mut(at)? = v;
        Some(Applied {
            target: Target::Strtab,
            what: format!("{} {what} at {at:#x} -> {:?}", s.name, v as char),
        })
    }

    fn truncate(&mut self, rng: &mut ChaCha8Rng) -> Option<Applied> {
        let b = self.layout.boundaries(self.file.len());
        let at = *b.choose(rng)?;
        let at = match rng.gen_range(0..3) {
            0 => at.saturating_sub(1),
            1 => at,
            _ => (at + 1).min(self.file.len()),
        };
        if at >= self.file.len() {
            return None;
        }
        self.file.truncate(at);
        Some(Applied {
            target: Target::Truncate,
            what: format!("truncated to {at:#x}"),
        })
    }
}

/// Shifts of an entry point or a patched address: inside the function
/// (the loader refuses a mid-function address), or far out of reach.
const SMALL_SHIFTS: &[u64] = &[1, 2, 3, 4, u64::MAX, 1 << 40];

/// Names the loader looks sections up by.
const SPECIAL_PREFIXES: &[&str] = &[
    ".livepatch.",
    ".note.gnu.build-id",
    ".bug_frames.",
    ".altinstructions",
    ".altinstr_replacement",
    ".ex_table",
    ".modinfo",
];

fn is_special(name: &str) -> bool {
    SPECIAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// What the loader checks of the values relocations write into a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `.livepatch.funcs`: every field.
    Funcs,
    /// `.livepatch.hooks.*`: each pointer, to a payload function.
    Hooks,
    /// Anything else: only bounds, so only values out of bounds.
    Bounded,
}

impl Scope {
    fn of(s: &Section) -> Scope {
        if s.name == ".livepatch.funcs" {
            Scope::Funcs
        } else if s.name.starts_with(".livepatch.hooks.") {
            Scope::Hooks
        } else {
            Scope::Bounded
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FuncField {
    Name,
    NewAddr,
    OldAddr,
}

/// The relocated field of `.livepatch.funcs` at section offset `off`.
fn funcs_field(off: u64) -> Option<FuncField> {
    match off % abi::livepatch::FUNC_SIZE as u64 {
        0 => Some(FuncField::Name),
        8 => Some(FuncField::NewAddr),
        16 => Some(FuncField::OldAddr),
        _ => None,
    }
}
