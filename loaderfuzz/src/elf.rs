//! Just enough of an ELF-64 relocatable object to aim mutations: where the
//! header fields, section headers, symbols, relocations and
//! `.livepatch.funcs` entries are in the file. Read-only; offsets are into
//! the file, so a mutation writes them directly.

/// ELF header field offsets (`Elf64_Ehdr`).
pub mod ehdr {
    pub const IDENT: usize = 0;
    pub const TYPE: usize = 16;
    pub const MACHINE: usize = 18;
    pub const VERSION: usize = 20;
    pub const PHOFF: usize = 32;
    pub const SHOFF: usize = 40;
    pub const FLAGS: usize = 48;
    pub const EHSIZE: usize = 52;
    pub const PHNUM: usize = 56;
    pub const SHENTSIZE: usize = 58;
    pub const SHNUM: usize = 60;
    pub const SHSTRNDX: usize = 62;
    pub const SIZE: usize = 64;
}

/// Section header field offsets (`Elf64_Shdr`).
pub mod shdr {
    pub const NAME: usize = 0;
    pub const TYPE: usize = 4;
    pub const FLAGS: usize = 8;
    pub const ADDR: usize = 16;
    pub const OFFSET: usize = 24;
    pub const SIZE: usize = 32;
    pub const LINK: usize = 40;
    pub const INFO: usize = 44;
    pub const ADDRALIGN: usize = 48;
    pub const ENTSIZE: usize = 56;
    pub const LEN: usize = 64;
}

/// Symbol field offsets (`Elf64_Sym`).
pub mod sym {
    pub const NAME: usize = 0;
    pub const INFO: usize = 4;
    pub const OTHER: usize = 5;
    pub const SHNDX: usize = 6;
    pub const VALUE: usize = 8;
    pub const SIZE: usize = 16;
    pub const LEN: usize = 24;
}

/// Relocation field offsets (`Elf64_Rela`).
pub mod rela {
    pub const OFFSET: usize = 0;
    pub const INFO: usize = 8;
    pub const ADDEND: usize = 16;
    pub const LEN: usize = 24;
}

pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_RELA: u32 = 4;
pub const SHT_NOTE: u32 = 7;
pub const SHT_NOBITS: u32 = 8;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXECINSTR: u64 = 4;

/// Why a file could not be read as the object it is meant to be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than its header or section table says.
    #[error("truncated at {0:#x}")]
    Truncated(usize),
    /// A section header or name is not where it should be.
    #[error("section {0} is malformed")]
    Section(usize),
}

/// One section header, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub index: usize,
    /// File offset of its header.
    pub hdr: usize,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub align: u64,
}

impl Section {
    /// Its bytes in the file, when it has any there.
    pub fn data(&self) -> Option<std::ops::Range<usize>> {
        if self.sh_type == SHT_NOBITS {
            return None;
        }
        let start = usize::try_from(self.offset).ok()?;
        let end = start.checked_add(usize::try_from(self.size).ok()?)?;
        Some(start..end)
    }

    /// Executable: its contents and the relocations into them are code.
    pub fn is_code(&self) -> bool {
        self.flags & SHF_EXECINSTR != 0
    }
}

/// The decoded layout of a well-formed object.
#[derive(Debug, Clone)]
pub struct Layout {
    pub shoff: usize,
    pub sections: Vec<Section>,
}

pub fn u16_at(b: &[u8], at: usize) -> Result<u16, ElfError> {
    let s = b.get(at..at + 2).ok_or(ElfError::Truncated(at))?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

pub fn u32_at(b: &[u8], at: usize) -> Result<u32, ElfError> {
    let s = b.get(at..at + 4).ok_or(ElfError::Truncated(at))?;
    let mut w = [0u8; 4];
    w.copy_from_slice(s);
    Ok(u32::from_le_bytes(w))
}

pub fn u64_at(b: &[u8], at: usize) -> Result<u64, ElfError> {
    let s = b.get(at..at + 8).ok_or(ElfError::Truncated(at))?;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Ok(u64::from_le_bytes(w))
}

impl Layout {
    /// Decodes the section table of `b`.
    pub fn parse(b: &[u8]) -> Result<Layout, ElfError> {
        let shoff = u64_at(b, ehdr::SHOFF)? as usize;
        let shnum = usize::from(u16_at(b, ehdr::SHNUM)?);
        let shstrndx = usize::from(u16_at(b, ehdr::SHSTRNDX)?);
        let mut sections = Vec::with_capacity(shnum);
        for index in 0..shnum {
            let hdr = shoff + index * shdr::LEN;
            sections.push(Section {
                index,
                hdr,
                name: String::new(),
                sh_type: u32_at(b, hdr + shdr::TYPE)?,
                flags: u64_at(b, hdr + shdr::FLAGS)?,
                offset: u64_at(b, hdr + shdr::OFFSET)?,
                size: u64_at(b, hdr + shdr::SIZE)?,
                link: u32_at(b, hdr + shdr::LINK)?,
                info: u32_at(b, hdr + shdr::INFO)?,
                align: u64_at(b, hdr + shdr::ADDRALIGN)?,
            });
        }
        let names = sections
            .get(shstrndx)
            .and_then(Section::data)
            .and_then(|r| b.get(r))
            .ok_or(ElfError::Section(shstrndx))?;
        for s in &mut sections {
            let at = u32_at(b, s.hdr + shdr::NAME)? as usize;
            let rest = names.get(at..).ok_or(ElfError::Section(s.index))?;
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            s.name = String::from_utf8_lossy(&rest[..end]).into_owned();
        }
        Ok(Layout { shoff, sections })
    }

    /// The first section named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The first section of type `t`.
    pub fn by_type(&self, t: u32) -> Option<&Section> {
        self.sections.iter().find(|s| s.sh_type == t)
    }

    /// Sections of type `t`.
    pub fn all_of_type(&self, t: u32) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(move |s| s.sh_type == t)
    }

    /// The section a relocation section applies to.
    pub fn target_of(&self, rela: &Section) -> Option<&Section> {
        self.sections.get(rela.info as usize)
    }

    /// File offsets of every entry of section `s` of `entsize`-byte entries.
    pub fn entries(s: &Section, entsize: usize) -> Vec<usize> {
        match s.data() {
            Some(r) => (r.start..r.end)
                .step_by(entsize)
                .filter(|o| o + entsize <= r.end)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Every boundary of the file's structure: header, each section's
    /// start and end, each section header.
    pub fn boundaries(&self, file_len: usize) -> Vec<usize> {
        let mut v = vec![0, ehdr::SIZE, self.shoff, file_len];
        for s in &self.sections {
            v.push(s.hdr);
            v.push(s.hdr + shdr::LEN);
            if let Some(r) = s.data() {
                v.push(r.start);
                v.push(r.end);
            }
        }
        v.retain(|&o| o <= file_len);
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A symbol of the object: its index, name and where its entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub index: usize,
    pub name: String,
    /// File offset of its `Elf64_Sym`.
    pub at: usize,
}

impl Layout {
    /// Every symbol of the (first) symbol table, by index.
    pub fn symbols(&self, b: &[u8]) -> Result<Vec<Symbol>, ElfError> {
        let st = self.by_type(SHT_SYMTAB).ok_or(ElfError::Section(0))?;
        let names = self
            .sections
            .get(st.link as usize)
            .and_then(Section::data)
            .and_then(|r| b.get(r))
            .ok_or(ElfError::Section(st.link as usize))?;
        Layout::entries(st, sym::LEN)
            .into_iter()
            .enumerate()
            .map(|(index, at)| {
                let n = u32_at(b, at + sym::NAME)? as usize;
                let rest = names.get(n..).unwrap_or_default();
                let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                Ok(Symbol {
                    index,
                    name: String::from_utf8_lossy(&rest[..end]).into_owned(),
                    at,
                })
            })
            .collect()
    }
}
