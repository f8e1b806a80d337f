//! ELF string tables, read directly. The `object` crate finds a name's end
//! with `memchr`, whose first call probes the CPU's features with `cpuid`:
//! a trap to the hypervisor on a virtual machine, and a sizeable part of a
//! small diff's run. Names are short, so a plain scan costs less anyway.

use object::elf::{FileHeader64, SectionHeader64};
use object::read::elf::{FileHeader as _, SectionHeader as _, SectionTable};
use object::{LittleEndian as LE, SectionIndex};

/// A string table's bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Strtab<'a>(&'a [u8]);

/// Why a name cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrtabError {
    /// The string table section is missing or not a string table.
    #[error("no string table at section {0}")]
    Missing(usize),
    /// The offset is past the table's end, or the name has no NUL.
    #[error("offset {0:#x} is not a name in the string table")]
    Offset(u32),
}

impl<'a> Strtab<'a> {
    /// The section at `index` of `table`, as a string table (index 0: the
    /// empty table).
    pub fn of_section(
        table: &SectionTable<'a, FileHeader64<LE>>,
        endian: LE,
        data: &'a [u8],
        index: SectionIndex,
    ) -> Result<Strtab<'a>, StrtabError> {
        if index.0 == 0 {
            return Ok(Strtab::default());
        }
        let missing = StrtabError::Missing(index.0);
        let sh: &SectionHeader64<LE> = table.section(index).map_err(|_| missing)?;
        if sh.sh_type(endian) != object::elf::SHT_STRTAB {
            return Err(missing);
        }
        sh.data(endian, data).map(Strtab).map_err(|_| missing)
    }

    /// The section-name table of the file `header` heads.
    pub fn of_section_names(
        header: &FileHeader64<LE>,
        table: &SectionTable<'a, FileHeader64<LE>>,
        endian: LE,
        data: &'a [u8],
    ) -> Result<Strtab<'a>, StrtabError> {
        let index = header
            .shstrndx(endian, data)
            .map_err(|_| StrtabError::Missing(0))?;
        Strtab::of_section(table, endian, data, SectionIndex(index as usize))
    }

    /// The table's size in bytes: what all its names take, NULs included.
    pub fn size(&self) -> usize {
        self.0.len()
    }

    /// The NUL-terminated name at `off`, without its NUL.
    pub fn get(&self, off: u32) -> Result<&'a [u8], StrtabError> {
        let rest = self.0.get(off as usize..).ok_or(StrtabError::Offset(off))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(StrtabError::Offset(off))?;
        Ok(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_at_their_nul_and_bad_offsets_are_refused() {
        let t = Strtab(b"\0abc\0de\0x");
        assert_eq!(t.get(0), Ok(&b""[..]));
        assert_eq!(t.get(1), Ok(&b"abc"[..]));
        assert_eq!(t.get(2), Ok(&b"bc"[..]));
        assert_eq!(t.get(5), Ok(&b"de"[..]));
        assert_eq!(t.get(8), Err(StrtabError::Offset(8)));
        assert_eq!(t.get(99), Err(StrtabError::Offset(99)));
        assert_eq!(Strtab::default().get(0), Err(StrtabError::Offset(0)));
    }
}
