//! The mini-xen build: the flat image to boot and, from the ELF beside it,
//! the symbol table (with Xen's `file.c#name` names for statics), the
//! build-id and the addresses of instructions the emulator must watch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use iced_x86::{Code, Decoder, DecoderOptions};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

use crate::platform;

/// Errors loading an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file could not be read.
    #[error("cannot read {path}: {source} (run `make image` first?)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ELF could not be parsed.
    #[error("{path}: not a usable ELF: {source}")]
    Elf {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: object::Error,
    },
    /// The image does not fit the machine.
    #[error("{path}: {why}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// One symbol of the hypervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Address.
    pub addr: u64,
    /// Size in bytes (0 if unknown).
    pub size: u64,
    /// Xen-style name: `name` for globals, `file.c#name` for statics.
    pub name: String,
    /// Whether it is a function.
    pub is_func: bool,
}

/// Symbols sorted by address, looked up by address or by name.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    by_addr: Vec<Symbol>,
    by_name: BTreeMap<String, usize>,
}

impl SymbolTable {
    /// Builds a table from symbols in any order.
    /// Symbols without a size (assembler labels) extend to the next one.
    pub fn new(mut syms: Vec<Symbol>) -> SymbolTable {
        syms.sort_by(|a, b| (a.addr, &a.name).cmp(&(b.addr, &b.name)));
        for i in 0..syms.len() {
            if syms[i].size == 0 {
                let addr = syms[i].addr;
                if let Some(next) = syms[i + 1..].iter().find(|s| s.addr > addr) {
                    syms[i].size = next.addr - addr;
                }
            }
        }
        let by_name = syms
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        SymbolTable {
            by_addr: syms,
            by_name,
        }
    }

    /// Address of a symbol by its Xen-style name.
    pub fn addr_of(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).map(|&i| self.by_addr[i].addr)
    }

    /// The symbol by name.
    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.by_name.get(name).map(|&i| &self.by_addr[i])
    }

    /// The function or object containing `addr`, and the offset into it.
    pub fn lookup(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let idx = self.by_addr.partition_point(|s| s.addr <= addr);
        self.by_addr[..idx]
            .iter()
            .rev()
            .take(8)
            .find(|s| s.size > 0 && addr < s.addr + s.size)
            .map(|s| (s, addr - s.addr))
    }

    /// `name+0xoff/0xsize`, Xen's notation, or the bare address.
    pub fn describe(&self, addr: u64) -> String {
        match self.lookup(addr) {
            Some((s, off)) => format!("{}+{:#x}/{:#x}", s.name, off, s.size),
            None => format!("{addr:#x}"),
        }
    }

    /// All symbols, by address.
    pub fn iter(&self) -> impl Iterator<Item = &Symbol> {
        self.by_addr.iter()
    }
}

/// A loaded mini-xen build.
#[derive(Clone, Debug)]
pub struct Image {
    /// Path of the ELF.
    pub elf_path: PathBuf,
    /// The flat image, loaded at [`platform::IMAGE_BASE`].
    pub flat: Vec<u8>,
    /// The GNU build-id note.
    pub build_id: Vec<u8>,
    /// Hypervisor symbols.
    pub symbols: SymbolTable,
    /// Addresses of every `hlt` in hypervisor text.
    pub hlt_sites: Vec<u64>,
    /// Addresses of every `iretq` in hypervisor text.
    pub iret_sites: Vec<u64>,
    /// Addresses of every `pause` (spin-loop hint) in hypervisor text.
    pub pause_sites: Vec<u64>,
    /// The executable ranges of the image.
    pub text: Vec<(u64, u64)>,
}

impl Image {
    /// The image `make image` builds, relative to the workspace.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../mini-xen/build/mini-xen")
    }

    /// Loads the ELF at `elf_path` and the flat image `<elf_path>.bin`.
    pub fn load(elf_path: &Path) -> Result<Image, ImageError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ImageError::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let elf = read(elf_path)?;
        let mut bin_path = elf_path.as_os_str().to_owned();
        bin_path.push(".bin");
        let flat = read(Path::new(&bin_path))?;
        Self::from_parts(elf_path, &elf, flat)
    }

    /// Builds an image from the bytes of the ELF and of the flat image.
    pub fn from_parts(elf_path: &Path, elf: &[u8], flat: Vec<u8>) -> Result<Image, ImageError> {
        let layout = |why: String| ImageError::Layout {
            path: elf_path.to_path_buf(),
            why,
        };
        let file = object::File::parse(elf).map_err(|source| ImageError::Elf {
            path: elf_path.to_path_buf(),
            source,
        })?;
        if platform::IMAGE_BASE + flat.len() as u64 > platform::IMAGE_LIMIT {
            return Err(layout(format!(
                "flat image of {} bytes is too big",
                flat.len()
            )));
        }
        // objcopy -O binary holds every allocated section with contents:
        // a flat image that ends before one of them is truncated.
        let need = file
            .sections()
            .filter(|s| s.address() >= platform::IMAGE_BASE && s.size() > 0)
            .filter(|s| s.file_range().is_some())
            .map(|s| s.address() + s.size() - platform::IMAGE_BASE)
            .max()
            .unwrap_or(0);
        if (flat.len() as u64) < need {
            return Err(layout(format!(
                "flat image of {} bytes is truncated: the ELF's sections end {need} bytes in",
                flat.len()
            )));
        }
        let build_id = file
            .build_id()
            .ok()
            .flatten()
            .map(<[u8]>::to_vec)
            .ok_or_else(|| layout("no GNU build-id note".into()))?;
        let symbols = SymbolTable::new(read_symbols(&file));
        let mut text = Vec::new();
        for s in file.sections() {
            if s.kind() == SectionKind::Text && s.size() > 0 {
                text.push((s.address(), s.address() + s.size()));
            }
        }
        let (hlt_sites, iret_sites, pause_sites) = scan_text(&file, &flat);
        Ok(Image {
            elf_path: elf_path.to_path_buf(),
            flat,
            build_id,
            symbols,
            hlt_sites,
            iret_sites,
            pause_sites,
            text,
        })
    }

    /// The build-id as lowercase hex.
    pub fn build_id_hex(&self) -> String {
        self.build_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn read_symbols(file: &object::File) -> Vec<Symbol> {
    let mut out = Vec::new();
    let mut current_file = String::new();
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        if sym.kind() == SymbolKind::File {
            current_file = name.rsplit('/').next().unwrap_or(name).to_string();
            continue;
        }
        if name.is_empty() || sym.section_index().is_none() {
            continue;
        }
        if !matches!(
            sym.kind(),
            SymbolKind::Text | SymbolKind::Data | SymbolKind::Unknown
        ) {
            continue;
        }
        let name = if sym.is_local() && !current_file.is_empty() {
            format!("{current_file}#{name}")
        } else {
            name.to_string()
        };
        out.push(Symbol {
            addr: sym.address(),
            size: sym.size(),
            name,
            is_func: sym.kind() == SymbolKind::Text,
        });
    }
    out
}

/// Decodes the executable sections linearly (mini-xen keeps no data in
/// text) and records `hlt`, `iretq` and `pause` addresses.
fn scan_text(file: &object::File, flat: &[u8]) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
    let mut hlt = Vec::new();
    let mut iret = Vec::new();
    let mut pause = Vec::new();
    for sec in file.sections() {
        if sec.kind() != SectionKind::Text || sec.size() == 0 {
            continue;
        }
        let start = sec.address();
        let range = start
            .checked_sub(platform::IMAGE_BASE)
            .and_then(|off| usize::try_from(off).ok())
            .zip(usize::try_from(sec.size()).ok());
        let Some(code) = range.and_then(|(off, len)| flat.get(off..off.checked_add(len)?)) else {
            continue;
        };
        let mut dec = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
        while dec.can_decode() {
            let insn = dec.decode();
            match insn.code() {
                Code::Hlt => hlt.push(insn.ip()),
                Code::Iretq => iret.push(insn.ip()),
                Code::Pause => pause.push(insn.ip()),
                _ => {}
            }
        }
    }
    (hlt, iret, pause)
}
