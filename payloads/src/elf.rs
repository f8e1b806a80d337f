//! ELF64 x86-64 relocatable object reader and in-memory model.
//!
//! The model borrows section contents and names from the input buffer, so
//! reading a 30 MB object costs little more than building the index vectors.
//! Every access to the input is bounds-checked by `object`'s low-level ELF
//! API; extended section numbering (`SHN_XINDEX`, `e_shnum == 0`) is handled.

use object::elf;
use object::read::elf::{FileHeader, Rela as _, SectionHeader as _, Sym as _};
use object::LittleEndian as LE;

use crate::strtab::Strtab;

/// Index of a section in its object (ELF section header index).
pub type SecIdx = usize;
/// Index of a symbol in its object's `.symtab`.
pub type SymIdx = usize;

/// Errors found while reading an object file.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The buffer does not start with an ELF header.
    #[error("{file}: not an ELF file")]
    NotElf {
        /// File name used in messages.
        file: String,
    },
    /// The ELF file is of a kind this tool does not handle.
    #[error("{file}: unsupported ELF file: {what}")]
    Unsupported {
        /// File name used in messages.
        file: String,
        /// What is unsupported.
        what: String,
    },
    /// The ELF structure is inconsistent or truncated.
    #[error("{file}: malformed ELF: {what}")]
    Malformed {
        /// File name used in messages.
        file: String,
        /// What is wrong.
        what: String,
    },
    /// A section is malformed.
    #[error("{file}: section [{index}] {section}: {what}")]
    BadSection {
        /// File name used in messages.
        file: String,
        /// Section index.
        index: usize,
        /// Section name (may be empty if unreadable).
        section: String,
        /// What is wrong.
        what: String,
    },
    /// A symbol is malformed.
    #[error("{file}: symbol #{index} `{symbol}`: {what}")]
    BadSymbol {
        /// File name used in messages.
        file: String,
        /// Symbol index.
        index: usize,
        /// Symbol name (may be empty if unreadable).
        symbol: String,
        /// What is wrong.
        what: String,
    },
    /// A relocation entry is malformed.
    #[error("{file}: relocation #{index} in {section} (offset {offset:#x}): {what}")]
    BadRelocation {
        /// File name used in messages.
        file: String,
        /// Name of the relocation section.
        section: String,
        /// Entry index.
        index: usize,
        /// `r_offset` of the entry.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// Where a symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymSection {
    /// `SHN_UNDEF`.
    Undef,
    /// `SHN_ABS`.
    Abs,
    /// `SHN_COMMON`.
    Common,
    /// A real section.
    Section(SecIdx),
}

/// One relocation (always RELA; REL sections are rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reloc {
    /// Offset of the relocated field in the base section.
    pub offset: u64,
    /// `R_X86_64_*` type.
    pub r_type: u32,
    /// Symbol index.
    pub sym: SymIdx,
    /// Explicit addend.
    pub addend: i64,
}

/// One section of the object.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    /// Section header index.
    pub index: SecIdx,
    /// Name from `.shstrtab`.
    pub name: &'a str,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info`.
    pub info: u32,
    /// `sh_addralign` (0 is normalised to 1).
    pub align: u64,
    /// `sh_entsize`.
    pub entsize: u64,
    /// File contents (empty for `SHT_NOBITS`).
    pub data: &'a [u8],
    /// Relocations applying to this section, sorted by offset (stable).
    pub relocs: Vec<Reloc>,
    /// Index of the (first) relocation section applying to this section.
    pub rela_section: Option<SecIdx>,
    /// Member of an `SHT_GROUP` (COMDAT) group.
    pub grouped: bool,
}

impl Section<'_> {
    /// `SHF_ALLOC` set.
    pub fn is_alloc(&self) -> bool {
        self.flags & u64::from(elf::SHF_ALLOC) != 0
    }
    /// `SHF_EXECINSTR` set.
    pub fn is_exec(&self) -> bool {
        self.flags & u64::from(elf::SHF_EXECINSTR) != 0
    }
    /// `SHF_WRITE` set.
    pub fn is_write(&self) -> bool {
        self.flags & u64::from(elf::SHF_WRITE) != 0
    }
    /// `SHF_MERGE` set.
    pub fn is_merge(&self) -> bool {
        self.flags & u64::from(elf::SHF_MERGE) != 0
    }
    /// `SHF_STRINGS` set.
    pub fn is_strings(&self) -> bool {
        self.flags & u64::from(elf::SHF_STRINGS) != 0
    }
    /// `SHT_NOBITS`.
    pub fn is_nobits(&self) -> bool {
        self.sh_type == elf::SHT_NOBITS
    }
}

/// One symbol of the object.
#[derive(Debug, Clone)]
pub struct Symbol<'a> {
    /// Index in `.symtab`.
    pub index: SymIdx,
    /// Name from `.strtab` (section symbols get their section's name).
    pub name: &'a str,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// `st_other` (visibility).
    pub other: u8,
    /// Where it is defined.
    pub section: SymSection,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// Name of the `STT_FILE` symbol preceding this symbol (locals only).
    pub file: Option<&'a str>,
}

impl Symbol<'_> {
    /// Local binding.
    pub fn is_local(&self) -> bool {
        self.bind == elf::STB_LOCAL
    }
    /// `STT_FUNC`.
    pub fn is_func(&self) -> bool {
        self.kind == elf::STT_FUNC
    }
    /// `STT_OBJECT` or `STT_TLS`.
    pub fn is_object(&self) -> bool {
        self.kind == elf::STT_OBJECT || self.kind == elf::STT_TLS
    }
    /// `STT_SECTION`.
    pub fn is_section(&self) -> bool {
        self.kind == elf::STT_SECTION
    }
    /// `STT_FILE`.
    pub fn is_file(&self) -> bool {
        self.kind == elf::STT_FILE
    }
    /// Defined in a real section.
    pub fn defined_in(&self) -> Option<SecIdx> {
        match self.section {
            SymSection::Section(s) => Some(s),
            _ => None,
        }
    }
    /// A symbol that names code or data (as opposed to labels, sections, files).
    pub fn is_named_entity(&self) -> bool {
        if self.name.is_empty() || self.is_section() || self.is_file() {
            return false;
        }
        if self.is_func() || self.is_object() {
            return true;
        }
        // Assembler-defined globals without a type still name an entity;
        // local NOTYPE symbols are labels (`.LC0`, `1:` ...).
        self.kind == elf::STT_NOTYPE && !self.is_local()
    }
}

/// A parsed relocatable object.
#[derive(Debug, Clone)]
pub struct ElfObject<'a> {
    /// Name used in messages.
    pub file: String,
    /// `EI_OSABI`.
    pub os_abi: u8,
    /// `EI_ABIVERSION`.
    pub abi_version: u8,
    /// `e_flags`.
    pub e_flags: u32,
    /// All sections, indexed by section header index (index 0 is the null section).
    pub sections: Vec<Section<'a>>,
    /// All symbols, indexed by symbol table index (index 0 is the null symbol).
    pub symbols: Vec<Symbol<'a>>,
}

const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_OSABI: usize = 7;
const EI_ABIVERSION: usize = 8;

fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Width in bytes of the field patched by an x86-64 relocation type, if known.
pub fn reloc_width(r_type: u32) -> Option<u64> {
    Some(match r_type {
        elf::R_X86_64_NONE => 0,
        elf::R_X86_64_64 | elf::R_X86_64_PC64 | elf::R_X86_64_GOTOFF64 | elf::R_X86_64_GOTPC64 => 8,
        elf::R_X86_64_PC32
        | elf::R_X86_64_PLT32
        | elf::R_X86_64_32
        | elf::R_X86_64_32S
        | elf::R_X86_64_GOTPCREL
        | elf::R_X86_64_GOTPCRELX
        | elf::R_X86_64_REX_GOTPCRELX
        | elf::R_X86_64_GOTPC32
        | elf::R_X86_64_TPOFF32
        | elf::R_X86_64_GOTTPOFF
        | elf::R_X86_64_TLSGD
        | elf::R_X86_64_TLSLD
        | elf::R_X86_64_DTPOFF32 => 4,
        elf::R_X86_64_16 | elf::R_X86_64_PC16 => 2,
        elf::R_X86_64_8 | elf::R_X86_64_PC8 => 1,
        _ => return None,
    })
}

/// Human readable name of an x86-64 relocation type.
pub fn reloc_name(r_type: u32) -> String {
    let s = match r_type {
        elf::R_X86_64_NONE => "R_X86_64_NONE",
        elf::R_X86_64_64 => "R_X86_64_64",
        elf::R_X86_64_PC32 => "R_X86_64_PC32",
        elf::R_X86_64_PLT32 => "R_X86_64_PLT32",
        elf::R_X86_64_32 => "R_X86_64_32",
        elf::R_X86_64_32S => "R_X86_64_32S",
        elf::R_X86_64_PC64 => "R_X86_64_PC64",
        elf::R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
        elf::R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
        elf::R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
        elf::R_X86_64_16 => "R_X86_64_16",
        elf::R_X86_64_PC16 => "R_X86_64_PC16",
        elf::R_X86_64_8 => "R_X86_64_8",
        elf::R_X86_64_PC8 => "R_X86_64_PC8",
        elf::R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
        _ => return format!("relocation type {r_type}"),
    };
    s.to_string()
}

/// PC-relative 32-bit relocation (the target is relative to the end of the instruction in code).
pub fn is_pc32(r_type: u32) -> bool {
    r_type == elf::R_X86_64_PC32 || r_type == elf::R_X86_64_PLT32
}

impl<'a> ElfObject<'a> {
    /// Parse a relocatable x86-64 ELF64 little-endian object.
    pub fn parse(data: &'a [u8], file: &str) -> Result<Self, ElfError> {
        let fname = || file.to_string();
        if data.len() < 4 || data.get(0..4) != Some(&elf::ELFMAG[..]) {
            return Err(ElfError::NotElf { file: fname() });
        }
        match data.get(EI_CLASS) {
            Some(&elf::ELFCLASS64) => {}
            Some(c) => {
                return Err(ElfError::Unsupported {
                    file: fname(),
                    what: format!("ELF class {c} (only ELFCLASS64 is supported)"),
                })
            }
            None => {
                return Err(ElfError::Malformed {
                    file: fname(),
                    what: "truncated ELF header".into(),
                })
            }
        }
        if data.get(EI_DATA) != Some(&elf::ELFDATA2LSB) {
            return Err(ElfError::Unsupported {
                file: fname(),
                what: "not little-endian".into(),
            });
        }
        let header = elf::FileHeader64::<LE>::parse(data).map_err(|e| ElfError::Malformed {
            file: fname(),
            what: e.to_string(),
        })?;
        let endian = header.endian().map_err(|e| ElfError::Malformed {
            file: fname(),
            what: e.to_string(),
        })?;
        let machine = header.e_machine(endian);
        if machine != elf::EM_X86_64 {
            return Err(ElfError::Unsupported {
                file: fname(),
                what: format!("machine {machine} (only EM_X86_64 is supported)"),
            });
        }
        let e_type = header.e_type(endian);
        if e_type != elf::ET_REL {
            return Err(ElfError::Unsupported {
                file: fname(),
                what: format!("ELF type {e_type} (a relocatable object, ET_REL, is required)"),
            });
        }
        if header.e_phnum(endian) != 0 {
            return Err(ElfError::Unsupported {
                file: fname(),
                what: "relocatable object with program headers".into(),
            });
        }
        let table = header
            .sections(endian, data)
            .map_err(|e| ElfError::Malformed {
                file: fname(),
                what: format!("section table: {e}"),
            })?;

        let names = Strtab::of_section_names(header, &table, endian, data).map_err(|e| {
            ElfError::Malformed {
                file: fname(),
                what: format!("section names: {e}"),
            }
        })?;
        let mut sections = read_sections(&table, names, endian, data, file)?;
        let symbols = read_symbols(&table, endian, data, &sections, file)?;
        read_groups_and_relocs(&table, endian, data, &mut sections, symbols.len(), file)?;
        Ok(ElfObject {
            file: file.to_string(),
            os_abi: data.get(EI_OSABI).copied().unwrap_or(0),
            abi_version: data.get(EI_ABIVERSION).copied().unwrap_or(0),
            e_flags: header.e_flags(endian),
            sections,
            symbols,
        })
    }

    /// Name of the first `STT_FILE` symbol, if any.
    pub fn first_file(&self) -> Option<&'a str> {
        self.symbols.iter().find(|s| s.is_file()).map(|s| s.name)
    }
}

type Table<'a> = object::read::elf::SectionTable<'a, elf::FileHeader64<LE>>;

/// The section headers, names and contents.
fn read_sections<'a>(
    table: &Table<'a>,
    names: Strtab<'a>,
    endian: LE,
    data: &'a [u8],
    file: &str,
) -> Result<Vec<Section<'a>>, ElfError> {
    let fname = || file.to_string();
    let mut sections: Vec<Section<'a>> = Vec::with_capacity(table.len());
    for (i, sh) in table.iter().enumerate() {
        let name_bytes = names
            .get(sh.sh_name(endian))
            .map_err(|e| ElfError::BadSection {
                file: fname(),
                index: i,
                section: String::new(),
                what: format!("name: {e}"),
            })?;
        let name = utf8(name_bytes).ok_or_else(|| ElfError::BadSection {
            file: fname(),
            index: i,
            section: String::from_utf8_lossy(name_bytes).into_owned(),
            what: "name is not valid UTF-8".into(),
        })?;
        let sh_type = sh.sh_type(endian);
        let section_data = if sh_type == elf::SHT_NOBITS || sh_type == elf::SHT_NULL {
            &[][..]
        } else {
            sh.data(endian, data).map_err(|e| ElfError::BadSection {
                file: fname(),
                index: i,
                section: name.to_string(),
                what: format!("contents: {e}"),
            })?
        };
        let align = sh.sh_addralign(endian).max(1);
        sections.push(Section {
            index: i,
            name,
            sh_type,
            flags: sh.sh_flags(endian),
            size: sh.sh_size(endian),
            link: sh.sh_link(endian),
            info: sh.sh_info(endian),
            align,
            entsize: sh.sh_entsize(endian),
            data: section_data,
            relocs: Vec::new(),
            rela_section: None,
            grouped: false,
        });
    }
    Ok(sections)
}

/// The symbol table; statics get the `STT_FILE` name before them.
fn read_symbols<'a>(
    table: &Table<'a>,
    endian: LE,
    data: &'a [u8],
    sections: &[Section<'a>],
    file: &str,
) -> Result<Vec<Symbol<'a>>, ElfError> {
    let fname = || file.to_string();
    let symtab = table
        .symbols(endian, data, elf::SHT_SYMTAB)
        .map_err(|e| ElfError::Malformed {
            file: fname(),
            what: format!("symbol table: {e}"),
        })?;
    if symtab.is_empty() {
        return Err(ElfError::Malformed {
            file: fname(),
            what: "no symbol table (.symtab); was the object stripped?".into(),
        });
    }
    let mut symbols: Vec<Symbol<'a>> = Vec::with_capacity(symtab.len());
    let mut current_file: Option<&'a str> = None;
    let strings =
        Strtab::of_section(table, endian, data, symtab.string_section()).map_err(|e| {
            ElfError::Malformed {
                file: fname(),
                what: format!("symbol names: {e}"),
            }
        })?;
    for (i, sym) in symtab.iter().enumerate() {
        let name_bytes = strings
            .get(sym.st_name(endian))
            .map_err(|e| ElfError::BadSymbol {
                file: fname(),
                index: i,
                symbol: String::new(),
                what: format!("name: {e}"),
            })?;
        let mut name = utf8(name_bytes).ok_or_else(|| ElfError::BadSymbol {
            file: fname(),
            index: i,
            symbol: String::from_utf8_lossy(name_bytes).into_owned(),
            what: "name is not valid UTF-8".into(),
        })?;
        let shndx = sym.st_shndx(endian);
        let section = match shndx {
            elf::SHN_UNDEF => SymSection::Undef,
            elf::SHN_ABS => SymSection::Abs,
            elf::SHN_COMMON => SymSection::Common,
            _ => {
                let idx = symtab
                    .symbol_section(endian, sym, object::SymbolIndex(i))
                    .map_err(|e| ElfError::BadSymbol {
                        file: fname(),
                        index: i,
                        symbol: name.to_string(),
                        what: format!("section index: {e}"),
                    })?;
                match idx {
                    Some(s) if s.0 < sections.len() && s.0 != 0 => SymSection::Section(s.0),
                    _ => {
                        return Err(ElfError::BadSymbol {
                            file: fname(),
                            index: i,
                            symbol: name.to_string(),
                            what: format!("invalid section index {shndx:#x}"),
                        })
                    }
                }
            }
        };
        let kind = sym.st_type();
        let bind = sym.st_bind();
        if kind == elf::STT_SECTION {
            if let SymSection::Section(s) = section {
                if let Some(sec) = sections.get(s) {
                    name = sec.name;
                }
            }
        }
        if kind == elf::STT_FILE {
            current_file = Some(name);
        }
        symbols.push(Symbol {
            index: i,
            name,
            kind,
            bind,
            other: sym.st_other(),
            section,
            value: sym.st_value(endian),
            size: sym.st_size(endian),
            file: if bind == elf::STB_LOCAL {
                current_file
            } else {
                None
            },
        });
    }
    Ok(symbols)
}

/// Group membership, and each section's relocations (checked, sorted by
/// offset).
fn read_groups_and_relocs(
    table: &Table<'_>,
    endian: LE,
    data: &[u8],
    sections: &mut [Section<'_>],
    nsyms: usize,
    file: &str,
) -> Result<(), ElfError> {
    let fname = || file.to_string();
    let mut rela_lists: Vec<(usize, Vec<Reloc>)> = Vec::new();
    for (i, sh) in table.iter().enumerate() {
        let sh_type = sh.sh_type(endian);
        let sec_name = sections.get(i).map(|s| s.name).unwrap_or("");
        match sh_type {
            elf::SHT_GROUP => {
                let words = sections.get(i).map(|s| s.data).unwrap_or(&[]);
                // First word is the flags; the rest are member section indices.
                for chunk in words.chunks_exact(4).skip(1) {
                    let member =
                        u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
                    match sections.get_mut(member) {
                        Some(m) if member != 0 => m.grouped = true,
                        _ => {
                            return Err(ElfError::BadSection {
                                file: fname(),
                                index: i,
                                section: sec_name.to_string(),
                                what: format!("group member index {member} out of range"),
                            })
                        }
                    }
                }
            }
            elf::SHT_REL => {
                let target = sh.sh_info(endian) as usize;
                let alloc_target = sections.get(target).map(|s| s.is_alloc()).unwrap_or(false);
                if alloc_target {
                    return Err(ElfError::Unsupported {
                        file: fname(),
                        what: format!(
                            "SHT_REL relocation section {sec_name} (only RELA is supported)"
                        ),
                    });
                }
            }
            elf::SHT_RELA => {
                let target = sh.sh_info(endian) as usize;
                let bad = |what: String| ElfError::BadSection {
                    file: fname(),
                    index: i,
                    section: sec_name.to_string(),
                    what,
                };
                if target == 0 || target >= sections.len() {
                    return Err(bad(format!("sh_info {target} does not name a section")));
                }
                let (relas, link) = sh
                    .rela(endian, data)
                    .map_err(|e| bad(format!("entries: {e}")))?
                    .ok_or_else(|| bad("not a RELA section".into()))?;
                let link_ok = table
                    .section(link)
                    .map(|l| l.sh_type(endian) == elf::SHT_SYMTAB)
                    .unwrap_or(false);
                if !link_ok {
                    return Err(bad("sh_link does not name the symbol table".into()));
                }
                let base = &sections[target];
                let mut list = Vec::with_capacity(relas.len());
                for (n, r) in relas.iter().enumerate() {
                    let offset = r.r_offset(endian);
                    let r_type = r.r_type(endian, false);
                    let sym = r.r_sym(endian, false) as usize;
                    let rerr = |what: String| ElfError::BadRelocation {
                        file: fname(),
                        section: sec_name.to_string(),
                        index: n,
                        offset,
                        what,
                    };
                    if sym >= nsyms {
                        return Err(rerr(format!(
                            "symbol index {sym} out of range ({nsyms} symbols)"
                        )));
                    }
                    if base.is_alloc() {
                        let width = reloc_width(r_type)
                            .ok_or_else(|| rerr(format!("unknown {}", reloc_name(r_type))))?;
                        if offset
                            .checked_add(width)
                            .map_or(true, |end| end > base.size)
                        {
                            return Err(rerr(format!(
                                "field lies outside {} (size {:#x})",
                                base.name, base.size
                            )));
                        }
                    }
                    list.push(Reloc {
                        offset,
                        r_type,
                        sym,
                        addend: r.r_addend(endian),
                    });
                }
                rela_lists.push((i, list));
            }
            _ => {}
        }
    }
    for (rela_idx, list) in rela_lists {
        let target = sections[rela_idx].info as usize;
        if let Some(base) = sections.get_mut(target) {
            if base.rela_section.is_none() {
                base.rela_section = Some(rela_idx);
            }
            base.relocs.extend(list);
        }
    }
    for s in sections.iter_mut() {
        if s.relocs.windows(2).any(|w| w[0].offset > w[1].offset) {
            s.relocs.sort_by_key(|r| r.offset);
        }
    }
    Ok(())
}
