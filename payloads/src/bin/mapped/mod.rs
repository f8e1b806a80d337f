//! Memory of the process: input files mapped read-only instead of read
//! into memory (pages that are never looked at, most of XEN-SYMS and the
//! debug sections, are never loaded, and nothing is copied), and one malloc
//! arena.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A whole input file: mapped, or read when it cannot be mapped (a pipe,
/// an empty file).
pub struct Input(Source);

/// Only [`Input::open`] makes these: `bytes` relies on `Mapped` being a
/// live mapping.
enum Source {
    /// A private read-only mapping of `len` bytes at `ptr`.
    Mapped { ptr: *mut libc::c_void, len: usize },
    /// The file's contents.
    Read(Vec<u8>),
}

impl Input {
    /// Map `path`, or read it if it cannot be mapped.
    pub fn open(path: &Path) -> io::Result<Input> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let Ok(len) = usize::try_from(len) else {
            return Err(io::Error::other("file too large to map"));
        };
        if len == 0 || !file.metadata()?.is_file() {
            return std::fs::read(path).map(|v| Input(Source::Read(v)));
        }
        // SAFETY: a fresh private read-only mapping of an open file
        // descriptor, at an address the kernel chooses; nothing aliases it.
        // The mapping stays valid after the descriptor is closed.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return std::fs::read(path).map(|v| Input(Source::Read(v)));
        }
        Ok(Input(Source::Mapped { ptr, len }))
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            // SAFETY: `ptr` is a live mapping of `len` readable bytes
            // (unmapped only in `drop`, which outlives this borrow). The
            // inputs are build outputs that nothing rewrites while the tool
            // runs (a file truncated under the mapping would raise SIGBUS,
            // as for every tool that maps its inputs, e.g. ld).
            Source::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(ptr.cast::<u8>(), *len)
            },
            Source::Read(v) => v,
        }
    }
}

/// `[start, end)` byte ranges of the section header table and of the
/// symbol table and relocation sections of an ELF64 little-endian file
/// (what the engine copies into its model while parsing). Nothing for a
/// file that is not such an ELF file; the parser reports those.
fn copied_ranges(data: &[u8]) -> Vec<(usize, usize)> {
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let as_usize = |v: u64| usize::try_from(v).ok();
    let mut out = Vec::new();
    if data.get(0..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return out;
    }
    let (Some(shoff), Some(entsize), Some(shnum)) = (
        u64_at(0x28).and_then(as_usize),
        u16_at(0x3a).map(usize::from),
        u16_at(0x3c).map(usize::from),
    ) else {
        return out;
    };
    if entsize < 0x28 || shoff == 0 {
        return out;
    }
    // Extended numbering: the count is in section 0's sh_size.
    let count = match shnum {
        0 => u64_at(shoff + 0x20).and_then(as_usize).unwrap_or(0),
        n => n,
    };
    let Some(table_end) = count
        .checked_mul(entsize)
        .and_then(|n| n.checked_add(shoff))
    else {
        return out;
    };
    out.push((shoff, table_end));
    for i in 0..count {
        let sh = shoff + i * entsize;
        let (Some(kind), Some(off), Some(size)) = (
            u32_at(sh + 4),
            u64_at(sh + 0x18).and_then(as_usize),
            u64_at(sh + 0x20).and_then(as_usize),
        ) else {
            break;
        };
        // SHT_SYMTAB, SHT_RELA, SHT_SYMTAB_SHNDX.
        if matches!(kind, 2 | 4 | 18) {
            if let Some(end) = off.checked_add(size) {
                out.push((off, end));
            }
        }
    }
    out
}

impl Input {
    /// Give back the pages of what the engine has copied (see
    /// [`copied_ranges`]); a later read of them would load them again
    /// from the file.
    pub fn release_copied(&self) {
        let Source::Mapped { ptr, len } = &self.0 else {
            return;
        };
        // The base page size of x86-64, the only target of this tool.
        let page = 4096usize;
        for (start, end) in copied_ranges(self.bytes()) {
            // Whole pages inside the range only.
            let (start, end) = (start.div_ceil(page) * page, (end.min(*len) / page) * page);
            if start >= end {
                continue;
            }
            // SAFETY: `[start, end)` lies inside the private read-only file
            // mapping made in `open` and is page-aligned. MADV_DONTNEED on
            // such a mapping only drops the pages from this process: the
            // memory stays mapped, and a later read faults the same file
            // contents back in, so borrows from `bytes` stay valid.
            unsafe {
                libc::madvise(
                    ptr.cast::<u8>().add(start).cast(),
                    end - start,
                    libc::MADV_DONTNEED,
                );
            }
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        if let Source::Mapped { ptr, len } = &self.0 {
            // SAFETY: unmaps exactly the mapping made in `open`; no borrow
            // from `bytes` outlives `self`.
            unsafe {
                libc::munmap(*ptr, *len);
            }
        }
    }
}

/// One malloc arena for the whole process. The engine's worker threads
/// (large inputs only) would otherwise each allocate from an arena of their
/// own, and memory freed in one cannot serve the other: the peak grows by
/// the difference (about 3 MB at 16,000 functions).
pub fn single_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes glibc's allocator policy; called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
