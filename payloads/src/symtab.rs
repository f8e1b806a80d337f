//! Symbol lookup in the hypervisor ELF (`xen-syms`).
//!
//! Globals are looked up by name; static symbols by Xen's run-time name
//! `<file>#<name>`, where `<file>` is the `STT_FILE` symbol that precedes the
//! symbol in the hypervisor's symbol table (the same string GCC put into the
//! object's `STT_FILE`).

use std::hash::BuildHasher as _;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap as HashMap};

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

/// Names kept in one string, values found by the name's hash: one
/// allocation for all of XEN-SYMS's names instead of one per symbol.
#[derive(Debug, Clone)]
struct NameTable<V> {
    text: String,
    /// (start, length) of the name in `text`, and its value.
    entries: HashTable<(usize, usize, V)>,
}

impl<V> Default for NameTable<V> {
    fn default() -> Self {
        NameTable::with_capacity(0, 0)
    }
}

fn hash(name: &str) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl<V> NameTable<V> {
    /// Room for `n` names of `bytes` bytes in all.
    fn with_capacity(n: usize, bytes: usize) -> Self {
        NameTable {
            text: String::with_capacity(bytes),
            entries: HashTable::with_capacity(n),
        }
    }

    fn name(&self, start: usize, len: usize) -> &str {
        &self.text[start..start + len]
    }

    fn get(&self, name: &str) -> Option<&V> {
        self.entries
            .find(hash(name), |&(s, l, _)| self.name(s, l) == name)
            .map(|(_, _, v)| v)
    }

    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of the name `parts` spell, `new()` if it has none, or
    /// `old(value)` if it has.
    fn upsert(&mut self, parts: &[&str], new: impl FnOnce() -> V, old: impl FnOnce(&mut V)) {
        let start = self.text.len();
        for p in parts {
            self.text.push_str(p);
        }
        let len = self.text.len() - start;
        let h = hash(&self.text[start..]);
        let text = &self.text;
        let found = self
            .entries
            .find_mut(h, |&(s, l, _)| text[s..s + l] == text[start..]);
        match found {
            Some((_, _, v)) => {
                old(v);
                self.text.truncate(start);
            }
            None => {
                self.entries
                    .insert_unique(h, (start, len, new()), |&(s, l, _)| hash(&text[s..s + l]));
            }
        }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|&(s, l, _)| self.name(s, l))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The hypervisor's symbols, indexed for lookup.
#[derive(Debug, Clone, Default)]
pub struct XenSymbols {
    globals: NameTable<XenSym>,
    weaks: NameTable<XenSym>,
    /// The first static of each run-time name, and how many share it.
    locals: NameTable<(XenSym, usize)>,
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
                // The run-time name, `file#name` (as `mangle_local`).
                let parts = match file {
                    Some(f) if !f.is_empty() => [f, "#", name],
                    _ => [name, "", ""],
                };
                self.locals.upsert(&parts, || (sym, 1), |(_, n)| *n += 1);
            }
            elf::STB_WEAK => self.weaks.upsert(&[name], || sym, |_| {}),
            _ => self.globals.upsert(&[name], || sym, |_| {}),
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
            self.locals.upsert(&[runtime_name], || (sym, 1), |_| {});
        } else {
            self.globals.upsert(&[runtime_name], || sym, |_| {});
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
        let strings = Strtab::of_section(&sections, endian, data, symtab.string_section())
            .map_err(|e| bad(format!("symbol names: {e}")))?;
        // Sized up front: growing the tables rehashed every name and copied
        // the names again at each doubling. The string table bounds the
        // names of each table (a static's file prefix aside).
        let mut out = XenSymbols {
            globals: NameTable::with_capacity(symtab.len() / 2, strings.size()),
            locals: NameTable::with_capacity(symtab.len() / 2, strings.size()),
            ..XenSymbols::default()
        };
        let mut current_file: Option<String> = None;
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
        let weaks = self.weaks.names().filter(|k| !self.globals.contains_key(k));
        let locals = self
            .locals
            .names()
            .filter(|k| !self.globals.contains_key(k) && !self.weaks.contains_key(k));
        self.globals.len() + weaks.count() + locals.count()
    }

    /// No symbols at all.
    pub fn is_empty(&self) -> bool {
        self.globals.is_empty() && self.weaks.is_empty() && self.locals.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64) -> XenSym {
        XenSym {
            addr,
            size: 8,
            kind: elf::STT_FUNC,
            in_payload: false,
        }
    }

    #[test]
    fn first_global_wins_weaks_back_them_up_and_statics_count_their_twins() {
        let mut t = XenSymbols::empty();
        t.insert("f", None, elf::STB_GLOBAL, sym(1));
        t.insert("f", None, elf::STB_GLOBAL, sym(2));
        t.insert("w", None, elf::STB_WEAK, sym(3));
        t.insert("f", None, elf::STB_WEAK, sym(4));
        t.insert("s", Some("a.c"), elf::STB_LOCAL, sym(5));
        t.insert("s", Some("a.c"), elf::STB_LOCAL, sym(6));
        t.insert("s", Some("b.c"), elf::STB_LOCAL, sym(7));
        t.insert("n", None, elf::STB_LOCAL, sym(8));
        assert_eq!(t.lookup_global("f"), Some(sym(1)));
        assert_eq!(t.lookup_strong("w"), None);
        assert_eq!(t.lookup_global("w"), Some(sym(3)));
        assert_eq!(t.lookup_local(Some("a.c"), "s"), LocalLookup::Ambiguous(2));
        assert_eq!(t.lookup_local(Some("b.c"), "s"), LocalLookup::Found(sym(7)));
        assert_eq!(t.lookup_local(None, "n"), LocalLookup::Found(sym(8)));
        assert_eq!(t.lookup_local(Some("c.c"), "s"), LocalLookup::Missing);
        assert!(t.contains("a.c#s") && t.contains("w") && !t.contains("s"));
        // f, w, a.c#s, b.c#s, n.
        assert_eq!(t.len(), 5);
        t.insert_payload_symbol("b.c#s", true, elf::STT_FUNC, 4);
        assert_eq!(t.lookup_local(Some("b.c"), "s"), LocalLookup::Found(sym(7)));
        t.insert_payload_symbol("g", false, elf::STT_OBJECT, 4);
        assert!(t.lookup_global("g").is_some_and(|s| s.in_payload));
        assert_eq!(t.len(), 6);
    }
}
