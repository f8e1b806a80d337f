//! Build-ids: reading them from ELF files, parsing them from the command
//! line, and the GNU build-id notes a payload carries in
//! `.livepatch.depends` and `.livepatch.xen_depends`.
//!
//! A note is what `ld --build-id` writes into `.note.gnu.build-id`:
//! `namesz = 4`, `descsz = len(id)`, `type = NT_GNU_BUILD_ID (3)`, the name
//! `"GNU\0"`, then the id padded to 4 bytes. The test payloads of mini-xen
//! copy the hypervisor's note section as it is; this writes the same bytes
//! for any id, in an object that is linked into the payload (so the
//! payload's own build-id covers what it depends on).

use object::write::Object;
use object::{Architecture, BinaryFormat, Endianness, SectionKind};

/// `NT_GNU_BUILD_ID`.
pub const NT_GNU_BUILD_ID: u32 = 3;

/// Errors about build-ids.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// A command-line id is not hex.
    #[error("{flag} {value}: not a build-id; give the hex digits of the id (e.g. the output of `readelf -n FILE`)")]
    BadHex {
        /// Flag.
        flag: String,
        /// Value.
        value: String,
    },
    /// An ELF file could not be parsed.
    #[error("{file}: {what}")]
    Elf {
        /// File.
        file: String,
        /// What is wrong.
        what: String,
    },
    /// An ELF file has no build-id.
    #[error("{file} has no .note.gnu.build-id; it must be linked with `ld --build-id`")]
    Missing {
        /// File.
        file: String,
    },
    /// The notes object could not be written.
    #[error("cannot create the dependency notes: {0}")]
    Write(String),
}

/// Parse a hex build-id (optionally `0x`-prefixed; `:` and spaces ignored).
pub fn parse_hex(flag: &str, value: &str) -> Result<Vec<u8>, NoteError> {
    let bad = || NoteError::BadHex {
        flag: flag.to_string(),
        value: value.to_string(),
    };
    let v = value.trim();
    let v = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .unwrap_or(v);
    let digits: Vec<u8> = v
        .bytes()
        .filter(|c| *c != b':' && !c.is_ascii_whitespace())
        .collect();
    if digits.is_empty() || digits.len() % 2 != 0 || digits.len() > 128 {
        return Err(bad());
    }
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).map_err(|_| bad())?;
            u8::from_str_radix(s, 16).map_err(|_| bad())
        })
        .collect()
}

/// Lower-case hex.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The GNU build-id of an ELF file.
pub fn elf_build_id(data: &[u8], file: &str) -> Result<Vec<u8>, NoteError> {
    use object::Object as _;
    let f = object::File::parse(data).map_err(|e| NoteError::Elf {
        file: file.to_string(),
        what: e.to_string(),
    })?;
    match f.build_id() {
        Ok(Some(id)) if !id.is_empty() => Ok(id.to_vec()),
        Ok(_) => Err(NoteError::Missing {
            file: file.to_string(),
        }),
        Err(e) => Err(NoteError::Elf {
            file: file.to_string(),
            what: e.to_string(),
        }),
    }
}

/// The bytes of a GNU build-id note holding `id`.
pub fn note_bytes(id: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(16 + id.len() + 3);
    n.extend_from_slice(&4u32.to_le_bytes());
    n.extend_from_slice(&(id.len() as u32).to_le_bytes());
    n.extend_from_slice(&NT_GNU_BUILD_ID.to_le_bytes());
    n.extend_from_slice(b"GNU\0");
    n.extend_from_slice(id);
    while n.len() % 4 != 0 {
        n.push(0);
    }
    n
}

/// A relocatable object with `.livepatch.depends` (`depends`) and
/// `.livepatch.xen_depends` (`xen_depends`): allocated, read-only,
/// 4-byte aligned, as the test payloads' notes.
pub fn notes_object(depends: &[u8], xen_depends: &[u8]) -> Result<Vec<u8>, NoteError> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    for (name, id) in [
        (".livepatch.depends", depends),
        (".livepatch.xen_depends", xen_depends),
    ] {
        let s = obj.add_section(
            Vec::new(),
            name.as_bytes().to_vec(),
            SectionKind::ReadOnlyData,
        );
        obj.set_section_data(s, note_bytes(id), 4);
    }
    obj.write().map_err(|e| NoteError::Write(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids() {
        assert_eq!(
            parse_hex("--depends", "0xa1b2").ok(),
            Some(vec![0xa1, 0xb2])
        );
        assert_eq!(parse_hex("--depends", "a1:b2").ok(), Some(vec![0xa1, 0xb2]));
        assert!(parse_hex("--depends", "abc").is_err());
        assert!(parse_hex("--depends", "zz").is_err());
        assert!(parse_hex("--depends", "").is_err());
        assert_eq!(hex(&[0, 0xff]), "00ff");
    }

    #[test]
    fn note_layout_matches_ld() {
        let id: Vec<u8> = (1..=20).collect();
        let n = note_bytes(&id);
        assert_eq!(n.len(), 36);
        assert_eq!(&n[0..12], &[4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(&n[12..16], b"GNU\0");
        assert_eq!(&n[16..], &id[..]);
        assert_eq!(note_bytes(&[1, 2, 3]).len(), 20);
    }
}
