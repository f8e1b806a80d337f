//! Payloads lower in the stack: what a payload built on top of them must
//! know. From a lower payload file: its build-id (what `--depends` names),
//! the functions its `.livepatch.funcs` replaces (a payload built from the
//! base source that replaces one of them again would undo the lower fix),
//! and the symbols the loader exports from it (new code and data, and the
//! copies of changed read-only objects, which a payload built on the stack
//! must use instead of the hypervisor's originals).

use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, Rela as _, SectionHeader as _, Sym as _};
use object::LittleEndian as LE;

use super::notes;
use crate::output::LIVEPATCH_FUNC_SIZE;

/// Errors reading a lower payload.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The file could not be read.
    #[error("--depends-payload {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a payload this tool can read.
    #[error("--depends-payload {path}: not a live-patch payload: {what}")]
    Malformed {
        /// File.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Its build-id.
    #[error(transparent)]
    Notes(#[from] notes::NoteError),
    /// Several payloads in the output directory have the `--depends` id.
    #[error("--depends {id}: {count} payloads in {dir} have that build-id; name one with --depends-payload")]
    Ambiguous {
        /// The id.
        id: String,
        /// Directory searched.
        dir: PathBuf,
        /// Matches.
        count: usize,
    },
}

/// A symbol the loader exports from a lower payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Run-time name (`file#name` for statics).
    pub name: String,
    /// `STB_LOCAL` in the payload.
    pub local: bool,
    /// `STT_*`.
    pub kind: u8,
    /// `st_size`.
    pub size: u64,
}

/// A payload lower in the stack.
#[derive(Debug, Clone)]
pub struct LowerPayload {
    /// Its file.
    pub path: PathBuf,
    /// Its build-id.
    pub build_id: Vec<u8>,
    /// Names of the functions it replaces (`.livepatch.funcs`).
    pub funcs: Vec<String>,
    /// Symbols the loader exports from it, sorted by name.
    pub exports: Vec<Export>,
}

impl LowerPayload {
    /// Read the payload at `path`.
    pub fn read(path: &Path) -> Result<LowerPayload, StackError> {
        let data = std::fs::read(path).map_err(|source| StackError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |what: String| StackError::Malformed {
            path: path.to_path_buf(),
            what,
        };
        let build_id = notes::elf_build_id(&data, &path.display().to_string())?;
        let h = elf::FileHeader64::<LE>::parse(&*data).map_err(|e| bad(e.to_string()))?;
        let e = h.endian().map_err(|e| bad(e.to_string()))?;
        if h.e_type(e) != elf::ET_REL {
            return Err(bad("not a relocatable object".into()));
        }
        let secs = h.sections(e, &*data).map_err(|e| bad(e.to_string()))?;
        let (symtab_idx, _) = secs
            .iter()
            .enumerate()
            .find(|(_, s)| s.sh_type(e) == elf::SHT_SYMTAB)
            .ok_or_else(|| bad("no symbol table".into()))?;
        let syms = secs
            .symbol_table_by_index(e, &*data, object::SectionIndex(symtab_idx))
            .map_err(|e| bad(e.to_string()))?;
        let sym_name = |s: &elf::Sym64<LE>| {
            syms.symbol_name(e, s)
                .ok()
                .and_then(|n| std::str::from_utf8(n).ok())
                .unwrap_or("")
        };
        let sec_data = |idx: usize| {
            secs.section(object::SectionIndex(idx))
                .ok()
                .and_then(|s| s.data(e, &*data).ok())
                .unwrap_or(&[])
        };

        // .livepatch.funcs: the name pointer (offset 0) and new_addr
        // (offset 8) of each entry are relocations in the object.
        let mut funcs = Vec::new();
        let mut new_code: Vec<(usize, u64)> = Vec::new();
        if let Some((fidx, _)) = secs.section_by_name(e, b".livepatch.funcs") {
            for rs in secs.iter() {
                if rs.sh_type(e) != elf::SHT_RELA || rs.sh_info(e) as usize != fidx.0 {
                    continue;
                }
                let relas = rs
                    .data_as_array::<elf::Rela64<LE>, _>(e, &*data)
                    .map_err(|e| bad(e.to_string()))?;
                for r in relas {
                    let Some(sym) = syms
                        .symbol(object::SymbolIndex(r.r_sym(e, false) as usize))
                        .ok()
                    else {
                        continue;
                    };
                    let shndx = usize::from(sym.st_shndx(e));
                    let at = sym.st_value(e).wrapping_add(r.r_addend(e) as u64);
                    match r.r_offset(e) % LIVEPATCH_FUNC_SIZE as u64 {
                        0 => {
                            let s = sec_data(shndx);
                            let start = usize::try_from(at).unwrap_or(usize::MAX);
                            if let Some(rest) = s.get(start..) {
                                let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                                funcs.push(String::from_utf8_lossy(&rest[..len]).into_owned());
                            }
                        }
                        8 => new_code.push((shndx, at)),
                        _ => {}
                    }
                }
            }
        }
        funcs.sort();
        funcs.dedup();

        // Exports, as the loader's symbol table: named symbols of allocated
        // sections, except those at a replacement function's address
        // (they override the hypervisor's and are not exported).
        let mut exports = Vec::new();
        for sym in syms.iter() {
            let kind = sym.st_type();
            let shndx = usize::from(sym.st_shndx(e));
            if kind == elf::STT_SECTION
                || kind == elf::STT_FILE
                || shndx == usize::from(elf::SHN_UNDEF)
                || shndx >= usize::from(elf::SHN_LORESERVE)
            {
                continue;
            }
            let Ok(sec) = secs.section(object::SectionIndex(shndx)) else {
                continue;
            };
            let flags = sec.sh_flags(e);
            if flags & u64::from(elf::SHF_ALLOC) == 0 {
                continue;
            }
            let name = sym_name(sym);
            if name.is_empty() || (name.starts_with(".L") && flags & u64::from(elf::SHF_MERGE) != 0)
            {
                continue;
            }
            if new_code.contains(&(shndx, sym.st_value(e))) {
                continue;
            }
            exports.push(Export {
                name: name.to_string(),
                local: sym.st_bind() == elf::STB_LOCAL,
                kind,
                size: sym.st_size(e),
            });
        }
        exports.sort_by(|a, b| a.name.cmp(&b.name));
        exports.dedup_by(|a, b| a.name == b.name);
        Ok(LowerPayload {
            path: path.to_path_buf(),
            build_id,
            funcs,
            exports,
        })
    }

    /// The payload in `dir` whose build-id is `id`, if there is one.
    pub fn find_by_build_id(dir: &Path, id: &[u8]) -> Result<Option<LowerPayload>, StackError> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(None);
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "livepatch"))
            .collect();
        paths.sort();
        let mut found: Vec<LowerPayload> = paths
            .iter()
            .filter_map(|p| LowerPayload::read(p).ok())
            .filter(|l| l.build_id == id)
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            count => Err(StackError::Ambiguous {
                id: notes::hex(id),
                dir: dir.to_path_buf(),
                count,
            }),
        }
    }
}
