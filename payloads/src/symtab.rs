//! Symbol lookup in the hypervisor ELF (`xen-syms`).
//!
//! Globals are looked up by name; static symbols by Xen's run-time name
//! `<file>#<name>`, where `<file>` is the `STT_FILE` symbol that precedes the
//! symbol in the hypervisor's symbol table (the same string GCC put into the
//! object's `STT_FILE`).

use rustc_hash::FxHashMap as HashMap;

use object::elf;
use object::read::elf::{FileHeader, Sym as _};
use object::LittleEndian as LE;

use crate::names::{copy_base, mangle_local};
use crate::strtab::Strtab;

/// Errors reading the hypervisor symbol table.
#[derive(Debug, thiserror::Error)]
pub enum SymtabError {
    /// Not an ELF file.
    #[error("{file}: not an ELF file")]
    NotElf {
        /// File name.
        file: String,
    },
    /// Unsupported or malformed ELF.
    #[error("{file}: {what}")]
    Bad {
        /// File name.
        file: String,
        /// What is wrong.
        what: String,
    },
}

/// One hypervisor symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XenSym {
    /// Address (`st_value`).
    pub addr: u64,
    /// Size (`st_size`).
    pub size: u64,
    /// `STT_*`.
    pub kind: u8,
    /// Exported by a payload lower in the stack: the address is only known
    /// once that payload is loaded (`addr` is 0).
    pub in_payload: bool,
}

/// Result of looking up a static symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalLookup {
    /// Exactly one match.
    Found(XenSym),
    /// No match.
    Missing,
    /// More than one symbol of that name in that file.
    Ambiguous(usize),
}

/// The hypervisor's symbols, indexed for lookup.
#[derive(Debug, Clone, Default)]
pub struct XenSymbols {
    globals: HashMap<String, XenSym>,
    weaks: HashMap<String, XenSym>,
    /// The first static of each run-time name, and how many share it.
    locals: HashMap<String, (XenSym, usize)>,
    /// Run-time name -> the lower payload's copy that replaces it.
    copies: HashMap<String, String>,
}

impl XenSymbols {
    /// An empty table (every lookup fails).
    pub fn empty() -> Self {
        XenSymbols::default()
    }

    /// Add a symbol (used by tests and by `parse`). `file` is the current
    /// `STT_FILE` name for locals.
    pub fn insert(&mut self, name: &str, file: Option<&str>, bind: u8, sym: XenSym) {
        if name.is_empty() {
            return;
        }
        match bind {
            elf::STB_LOCAL => {
                self.locals
                    .entry(mangle_local(file, name))
                    .and_modify(|(_, n)| *n += 1)
                    .or_insert((sym, 1));
            }
            elf::STB_WEAK => {
                if !self.weaks.contains_key(name) {
                    self.weaks.insert(name.to_string(), sym);
                }
            }
            _ => {
                if !self.globals.contains_key(name) {
                    self.globals.insert(name.to_string(), sym);
                }
            }
        }
    }

    /// Add a symbol exported by a payload lower in the stack, under its
    /// run-time name (`file#name` for statics). The hypervisor's symbols
    /// stay first, as in the loader's lookup. A copy of a hypervisor
    /// object (`name.new`, ...) replaces the original for every later
    /// lookup of the original's name; the last payload added wins.
    pub fn insert_payload_symbol(&mut self, runtime_name: &str, local: bool, kind: u8, size: u64) {
        if runtime_name.is_empty() {
            return;
        }
        let sym = XenSym {
            addr: 0,
            size,
            kind,
            in_payload: true,
        };
        if let Some(base) = copy_base(runtime_name) {
            if self.contains(base) {
                self.copies
                    .insert(base.to_string(), runtime_name.to_string());
            }
        }
        if local {
            self.locals
                .entry(runtime_name.to_string())
                .or_insert((sym, 1));
        } else {
            self.globals.entry(runtime_name.to_string()).or_insert(sym);
        }
    }

    /// The lower payload's copy that replaces `runtime_name`, if any.
    pub fn payload_copy_of(&self, runtime_name: &str) -> Option<&str> {
        self.copies.get(runtime_name).map(String::as_str)
    }

    /// Read the `.symtab` of an ELF64 x86-64 file (executable or relocatable).
    pub fn parse(data: &[u8], file: &str) -> Result<Self, SymtabError> {
        let bad = |what: String| SymtabError::Bad {
            file: file.to_string(),
            what,
        };
        if data.get(0..4) != Some(&elf::ELFMAG[..]) {
            return Err(SymtabError::NotElf {
                file: file.to_string(),
            });
        }
        if data.get(4) != Some(&elf::ELFCLASS64) || data.get(5) != Some(&elf::ELFDATA2LSB) {
            return Err(bad("not a 64-bit little-endian ELF file".into()));
        }
        let header = elf::FileHeader64::<LE>::parse(data).map_err(|e| bad(e.to_string()))?;
        let endian = header.endian().map_err(|e| bad(e.to_string()))?;
        if header.e_machine(endian) != elf::EM_X86_64 {
            return Err(bad(format!(
                "machine {} is not x86-64",
                header.e_machine(endian)
            )));
        }
        let sections = header
            .sections(endian, data)
            .map_err(|e| bad(format!("section table: {e}")))?;
        let symtab = sections
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(|e| bad(format!("symbol table: {e}")))?;
        if symtab.is_empty() {
            return Err(bad(
                "no .symtab (the hypervisor ELF must not be stripped)".into()
            ));
        }
        // Sized up front: growing the tables rehashed every name.
        let mut out = XenSymbols {
            globals: HashMap::with_capacity_and_hasher(symtab.len() / 2, Default::default()),
            locals: HashMap::with_capacity_and_hasher(symtab.len() / 2, Default::default()),
            ..XenSymbols::default()
        };
        let mut current_file: Option<String> = None;
        let strings = Strtab::of_section(&sections, endian, data, symtab.string_section())
            .map_err(|e| bad(format!("symbol names: {e}")))?;
        for sym in symtab.iter() {
            let name = strings
                .get(sym.st_name(endian))
                .map_err(|e| bad(format!("symbol name: {e}")))?;
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            let kind = sym.st_type();
            if kind == elf::STT_FILE {
                current_file = Some(name.to_string());
                continue;
            }
            if kind == elf::STT_SECTION || sym.st_shndx(endian) == elf::SHN_UNDEF {
                continue;
            }
            out.insert(
                name,
                current_file.as_deref(),
                sym.st_bind(),
                XenSym {
                    addr: sym.st_value(endian),
                    size: sym.st_size(endian),
                    kind,
                    in_payload: false,
                },
            );
        }
        Ok(out)
    }

    /// Defined global (or, failing that, weak) symbol.
    pub fn lookup_global(&self, name: &str) -> Option<XenSym> {
        self.globals
            .get(name)
            .or_else(|| self.weaks.get(name))
            .copied()
    }

    /// Defined strong (`STB_GLOBAL`) symbol only.
    pub fn lookup_strong(&self, name: &str) -> Option<XenSym> {
        self.globals.get(name).copied()
    }

    /// Static symbol `name` of source file `file`.
    pub fn lookup_local(&self, file: Option<&str>, name: &str) -> LocalLookup {
        match self.locals.get(&mangle_local(file, name)) {
            None => LocalLookup::Missing,
            Some(&(one, 1)) => LocalLookup::Found(one),
            Some(&(_, n)) => LocalLookup::Ambiguous(n),
        }
    }

    /// Is this run-time name (`name` or `file#name`) taken?
    pub fn contains(&self, runtime_name: &str) -> bool {
        self.globals.contains_key(runtime_name)
            || self.weaks.contains_key(runtime_name)
            || self.locals.contains_key(runtime_name)
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        let weaks = self.weaks.keys().filter(|k| !self.globals.contains_key(*k));
        let locals = self
            .locals
            .keys()
            .filter(|k| !self.globals.contains_key(*k) && !self.weaks.contains_key(*k));
        self.globals.len() + weaks.count() + locals.count()
    }

    /// No symbols at all.
    pub fn is_empty(&self) -> bool {
        self.globals.is_empty() && self.weaks.is_empty() && self.locals.is_empty()
    }
}
