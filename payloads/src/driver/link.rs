//! Linking the payload: `ld -r --build-id=sha1` of the diff objects, the
//! wholly new objects and the dependency notes, then `.livepatch.funcs`
//! made read-only (as mini-xen's and Xen's test payloads), then a check of
//! the result against what the hypervisor's loader accepts, so that a
//! payload the loader would refuse fails here, with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use object::elf;
use object::read::elf::{FileHeader, Rela as _, SectionHeader as _};
use object::LittleEndian as LE;

use crate::output::LIVEPATCH_FUNC_SIZE;

/// Largest payload the loader accepts (`LIVEPATCH_MAX_SIZE`).
pub const MAX_PAYLOAD_SIZE: usize = abi::livepatch::MAX_SIZE as usize;
/// Section limit of the loader (`LIVEPATCH_MAX_SECTIONS`).
pub const MAX_SECTIONS: usize = abi::livepatch::MAX_SECTIONS;

/// Errors linking or checking the payload.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// `ld` could not be run.
    #[error("cannot run `ld`: {0} (install binutils)")]
    Spawn(std::io::Error),
    /// `ld` failed.
    #[error("`ld -r` of the payload failed:\n{output}\ninputs: {inputs}")]
    Ld {
        /// What ld said.
        output: String,
        /// Input objects.
        inputs: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The linked payload is not a well-formed ELF object.
    #[error("the linked payload {path} is malformed: {what}")]
    Malformed {
        /// Payload.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The loader would refuse the payload.
    #[error("the payload would be refused by the hypervisor's loader:\n{}", .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Refused {
        /// Every reason.
        problems: Vec<String>,
    },
}

/// Link `inputs` into `out` with `ld -r --build-id=sha1`.
pub fn ld_relocatable(inputs: &[PathBuf], out: &Path) -> Result<(), LinkError> {
    let output = Command::new("ld")
        .args([
            "-r",
            "-m",
            "elf_x86_64",
            "--build-id=sha1",
            "-z",
            "noexecstack",
            "-o",
        ])
        .arg(out)
        .args(inputs)
        .output()
        .map_err(LinkError::Spawn)?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(LinkError::Ld {
            output: text.trim_end().to_string(),
            inputs: inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    Ok(())
}

fn malformed(path: &Path, what: impl std::fmt::Display) -> LinkError {
    LinkError::Malformed {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

/// Clear `SHF_WRITE` of `section` in place (no-op if absent). Returns
/// whether the section exists.
pub fn make_read_only(data: &mut [u8], path: &Path, section: &str) -> Result<bool, LinkError> {
    let (shoff, shentsize, idx) = {
        let h = elf::FileHeader64::<LE>::parse(&*data).map_err(|e| malformed(path, e))?;
        let e = h.endian().map_err(|e| malformed(path, e))?;
        let secs = h.sections(e, &*data).map_err(|e| malformed(path, e))?;
        let Some((idx, _)) = secs.section_by_name(e, section.as_bytes()) else {
            return Ok(false);
        };
        (h.e_shoff.get(e), h.e_shentsize.get(e), idx.0)
    };
    let at = usize::try_from(shoff)
        .ok()
        .and_then(|o| o.checked_add(idx * usize::from(shentsize)))
        .and_then(|o| o.checked_add(8))
        .ok_or_else(|| malformed(path, "section header offset overflows"))?;
    let field = data
        .get_mut(at..at + 8)
        .ok_or_else(|| malformed(path, "section header past the end"))?;
    let mut w = [0u8; 8];
    w.copy_from_slice(field);
    let flags = u64::from_le_bytes(w) & !u64::from(elf::SHF_WRITE);
    field.copy_from_slice(&flags.to_le_bytes());
    Ok(true)
}

/// Facts about a checked payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadInfo {
    /// Its own build-id.
    pub build_id: Vec<u8>,
    /// Number of `.livepatch.funcs` entries.
    pub funcs: usize,
    /// Hook sections present.
    pub hooks: Vec<String>,
    /// Sections.
    pub sections: usize,
    /// Size in bytes.
    pub size: usize,
    /// Writable sections that hold the payload's own state (everything
    /// writable but `.livepatch.funcs` and the hook arrays, which are
    /// written only by relocations): the loader refuses to re-apply such a
    /// payload after a revert.
    pub state_sections: Vec<String>,
}

/// Is `name` a section the loader does not count as payload state?
fn is_relocated_only(name: &str) -> bool {
    name == ".livepatch.funcs" || name.starts_with(".livepatch.hooks.")
}

use abi::livepatch::{HOOK_ARRAYS, HOOK_SINGLES};

fn note_desc(data: &[u8]) -> Option<&[u8]> {
    let u = |o: usize| {
        data.get(o..o + 4).map(|b| {
            let mut w = [0u8; 4];
            w.copy_from_slice(b);
            u32::from_le_bytes(w) as usize
        })
    };
    let (namesz, descsz, ty) = (u(0)?, u(4)?, u(8)?);
    if ty != NT_GNU_BUILD_ID_USIZE || namesz != 4 || data.get(12..16)? != b"GNU\0" {
        return None;
    }
    data.get(16..16usize.checked_add(descsz)?)
}

const NT_GNU_BUILD_ID_USIZE: usize = super::notes::NT_GNU_BUILD_ID as usize;

/// Check a linked payload against the loader's rules (payload container,
/// mandatory sections, section sizes, relocation types).
pub fn verify(data: &[u8], path: &Path) -> Result<PayloadInfo, LinkError> {
    let mut problems = Vec::new();
    let mut info = PayloadInfo {
        size: data.len(),
        ..PayloadInfo::default()
    };
    if data.len() > MAX_PAYLOAD_SIZE {
        problems.push(format!(
            "it is {} bytes; the loader takes at most {MAX_PAYLOAD_SIZE} (split the patch into several payloads)",
            data.len()
        ));
    }
    let h = elf::FileHeader64::<LE>::parse(data).map_err(|e| malformed(path, e))?;
    let e = h.endian().map_err(|e| malformed(path, e))?;
    if h.e_type.get(e) != elf::ET_REL || h.e_phnum.get(e) != 0 {
        problems.push("it is not a relocatable object without program headers".into());
    }
    if h.e_machine.get(e) != elf::EM_X86_64 {
        problems.push("it is not an x86-64 object".into());
    }
    let secs = h.sections(e, data).map_err(|e| malformed(path, e))?;
    info.sections = secs.len();
    if secs.len() >= MAX_SECTIONS {
        problems.push(format!(
            "it has {} sections; the loader takes fewer than {MAX_SECTIONS}",
            secs.len()
        ));
    }
    let name_of = |s: &elf::SectionHeader64<LE>| {
        secs.section_name(e, s)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|_| "<bad name>".into())
    };
    let by_name = |n: &str| secs.section_by_name(e, n.as_bytes()).map(|(_, s)| s);
    let symtabs = secs
        .iter()
        .filter(|s| s.sh_type(e) == elf::SHT_SYMTAB)
        .count();
    if symtabs != 1 {
        problems.push(format!(
            "it has {symtabs} symbol tables; the loader needs exactly one"
        ));
    }
    for n in [
        ".note.gnu.build-id",
        ".livepatch.depends",
        ".livepatch.xen_depends",
    ] {
        match by_name(n) {
            None => problems.push(format!("section {n} is missing")),
            Some(s) => {
                let d = s.data(e, data).unwrap_or_default();
                match note_desc(d) {
                    Some(id) if !id.is_empty() => {
                        if n == ".note.gnu.build-id" {
                            info.build_id = id.to_vec();
                        }
                    }
                    _ => problems.push(format!("section {n} is not a GNU build-id note")),
                }
            }
        }
    }
    let mut patching = false;
    if let Some(s) = by_name(".livepatch.funcs") {
        let size = s.sh_size(e) as usize;
        patching = true;
        if size == 0 || size % LIVEPATCH_FUNC_SIZE != 0 {
            problems.push(format!(
                ".livepatch.funcs is {size} bytes, not a non-zero multiple of {LIVEPATCH_FUNC_SIZE}"
            ));
        }
        info.funcs = size / LIVEPATCH_FUNC_SIZE;
    }
    for n in HOOK_ARRAYS.iter().chain(HOOK_SINGLES.iter()) {
        if let Some(s) = by_name(n) {
            patching = true;
            info.hooks
                .push(n.trim_start_matches(".livepatch.hooks.").to_string());
            let size = s.sh_size(e);
            let single = HOOK_SINGLES.contains(n);
            if (single && size != 8) || (!single && (size == 0 || size % 8 != 0)) {
                problems.push(format!(
                    "{n} is {size} bytes; it must hold {}",
                    if single {
                        "exactly one pointer"
                    } else {
                        "one or more pointers"
                    }
                ));
            }
        }
    }
    if !patching {
        problems
            .push("nothing to patch: no .livepatch.funcs and no .livepatch.hooks.* section".into());
    }
    for s in secs.iter() {
        let flags = s.sh_flags(e);
        let name = name_of(s);
        if flags & u64::from(elf::SHF_ALLOC) != 0
            && flags & u64::from(elf::SHF_WRITE) != 0
            && flags & u64::from(elf::SHF_EXECINSTR) != 0
        {
            problems.push(format!("section {name} is writable and executable"));
        }
        if flags & u64::from(elf::SHF_ALLOC) != 0
            && flags & u64::from(elf::SHF_WRITE) != 0
            && s.sh_size(e) != 0
            && !is_relocated_only(&name)
        {
            info.state_sections.push(name.clone());
        }
        if s.sh_type(e) == elf::SHT_NOBITS
            && flags & u64::from(elf::SHF_WRITE) != 0
            && s.sh_size(e) > MAX_PAYLOAD_SIZE as u64
        {
            problems.push(format!(
                "section {name} is larger than {MAX_PAYLOAD_SIZE} bytes"
            ));
        }
        let is_rel = matches!(s.sh_type(e), elf::SHT_REL | elf::SHT_RELA);
        if !is_rel && name.starts_with(".rel") {
            problems.push(format!(
                "section {name} is of type {}, not a relocation section",
                s.sh_type(e)
            ));
        }
        match s.sh_type(e) {
            elf::SHT_REL => problems.push(format!(
                "section {name} has SHT_REL relocations; the loader handles only SHT_RELA"
            )),
            elf::SHT_RELA => {
                // As the loader: a relocation section is applied, to the
                // section its name says, or refused (never skipped).
                let info = s.sh_info(e) as usize;
                let target = secs.section(object::SectionIndex(info)).ok();
                let Some(target) = target.filter(|_| info != 0) else {
                    problems.push(format!(
                        "section {name} applies to section [{info}] of {}",
                        secs.len()
                    ));
                    continue;
                };
                let tname = name_of(target);
                if name.strip_prefix(".rela") != Some(tname.as_str()) {
                    problems.push(format!(
                        "section {name} applies to section [{info}] {tname}"
                    ));
                }
                if target.sh_flags(e) & u64::from(elf::SHF_ALLOC) == 0 {
                    continue;
                }
                let relas = s
                    .data_as_array::<elf::Rela64<LE>, _>(e, data)
                    .unwrap_or_default();
                for r in relas {
                    let ty = r.r_type(e, false);
                    let sym = r.r_sym(e, false);
                    let at = format!("{tname}+{:#x}", r.r_offset(e));
                    if !matches!(
                        ty,
                        elf::R_X86_64_NONE
                            | elf::R_X86_64_64
                            | elf::R_X86_64_PC32
                            | elf::R_X86_64_PLT32
                    ) {
                        problems.push(format!(
                            "{at}: relocation {} is not supported by the loader (NONE, 64, PC32, PLT32); build with -fpic and hidden visibility",
                            crate::elf::reloc_name(ty)
                        ));
                    } else if sym == 0 && ty != elf::R_X86_64_NONE {
                        problems.push(format!("{at}: relocation against symbol 0 (STN_UNDEF)"));
                    }
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(info)
    } else {
        Err(LinkError::Refused { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_descriptor() {
        let n = super::super::notes::note_bytes(&[9, 8, 7]);
        assert_eq!(note_desc(&n), Some(&[9u8, 8, 7][..]));
        assert_eq!(note_desc(&n[..10]), None);
    }
}
