//! `XEN_SYSCTL_livepatch_op` and `struct livepatch_func`, mirrored from
//! `mini-xen/include/public/livepatch.h`.

/// `XEN_SYSCTL_livepatch_op`.
pub const XEN_SYSCTL_LIVEPATCH_OP: u32 = 27;
/// `XEN_LIVEPATCH_NAME_SIZE`, including the NUL.
pub const NAME_SIZE: usize = 128;
/// `LIVEPATCH_MAX_SIZE`.
pub const MAX_SIZE: u64 = 2 << 20;
/// Sub-ops.
pub const OP_UPLOAD: u32 = 0;
/// `XEN_SYSCTL_LIVEPATCH_GET`.
pub const OP_GET: u32 = 1;
/// `XEN_SYSCTL_LIVEPATCH_LIST`.
pub const OP_LIST: u32 = 2;
/// `XEN_SYSCTL_LIVEPATCH_ACTION`.
pub const OP_ACTION: u32 = 3;
/// `XEN_SYSCTL_LIVEPATCH_SIGNATURE` (mini-xen's): the signature policy.
pub const OP_SIGNATURE: u32 = 4;
/// `LIVEPATCH_STATE_CHECKED`.
pub const STATE_CHECKED: u32 = 1;
/// `LIVEPATCH_STATE_APPLIED`.
pub const STATE_APPLIED: u32 = 2;
/// What an ACTION timeout of 0 stands for: 30 ms of virtual time.
pub const DEFAULT_TIMEOUT_NS: u32 = 30_000_000;
/// `LIVEPATCH_ACTION_APPLY_NODEPS`.
pub const ACTION_APPLY_NODEPS: u32 = 1;
/// `LIVEPATCH_LIST_MAX`.
pub const LIST_MAX: u32 = 1024;
/// `LIVEPATCH_SIG_NOTE_NAME`, with its NUL.
pub const SIG_NOTE_NAME: [u8; 4] = *b"Xen\0";
/// `LIVEPATCH_SIG_NOTE_TYPE`.
pub const SIG_NOTE_TYPE: u32 = 0x4c50_5331;
/// `LIVEPATCH_SIG_VERSION`.
pub const SIG_VERSION: u16 = 1;
/// `LIVEPATCH_SIG_ALG_ED25519`.
pub const SIG_ALG_ED25519: u8 = 1;
/// `LIVEPATCH_SIG_HASH_SHA512`.
pub const SIG_HASH_SHA512: u8 = 1;
/// `LIVEPATCH_SIG_KEY_ID_SIZE`.
pub const SIG_KEY_ID_SIZE: usize = 8;
/// `LIVEPATCH_SIG_SIZE`.
pub const SIG_SIZE: usize = 64;
/// `LIVEPATCH_SIG_DESC_SIZE`: the note's descriptor.
pub const SIG_DESC_SIZE: usize = SIG_NOTE_SIZE - std::mem::offset_of!(SignatureNote, version);
/// `LIVEPATCH_SIG_NOTE_SIZE`: what signing appends to a payload.
pub const SIG_NOTE_SIZE: usize = std::mem::size_of::<SignatureNote>();
/// Where the signature starts inside the note: the signed message is the
/// file up to here.
pub const SIG_OFFSET: usize = std::mem::offset_of!(SignatureNote, signature);

/// `livepatch-signature=` on the hypervisor command line
/// (`LIVEPATCH_SIG_MODE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureMode {
    /// Not checked.
    Off = 0,
    /// Checked; a failure is logged and the payload loads.
    Warn = 1,
    /// Checked; a failure refuses the upload with -EACCES.
    Enforce = 2,
}

impl SignatureMode {
    /// The mode with ABI value `v`.
    pub fn from_abi(v: u32) -> Option<SignatureMode> {
        match v {
            0 => Some(SignatureMode::Off),
            1 => Some(SignatureMode::Warn),
            2 => Some(SignatureMode::Enforce),
            _ => None,
        }
    }

    /// The command-line word.
    pub fn name(self) -> &'static str {
        match self {
            SignatureMode::Off => "off",
            SignatureMode::Warn => "warn",
            SignatureMode::Enforce => "enforce",
        }
    }
}

/// `struct xen_sysctl_livepatch_signature` (every field OUT).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlLivepatchSignature {
    /// `LIVEPATCH_SIG_MODE_*`.
    pub mode: u32,
    /// `LIVEPATCH_SIG_ALG_*` of the built-in key.
    pub algorithm: u8,
    /// Zero.
    pub pad: [u8; 3],
    /// Key id of the built-in key.
    pub key_id: [u8; SIG_KEY_ID_SIZE],
}

impl Wire for XenSysctlLivepatchSignature {
    fn put(&self, out: &mut [u8], at: usize) {
        use std::mem::offset_of;
        put(out, at + offset_of!(Self, mode), &self.mode.to_le_bytes());
        put(out, at + offset_of!(Self, algorithm), &[self.algorithm]);
        put(out, at + offset_of!(Self, pad), &self.pad);
        put(out, at + offset_of!(Self, key_id), &self.key_id);
    }
}

/// `struct livepatch_signature_note`: the last bytes of a signed payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureNote {
    /// 4.
    pub namesz: u32,
    /// [`SIG_DESC_SIZE`].
    pub descsz: u32,
    /// [`SIG_NOTE_TYPE`].
    pub note_type: u32,
    /// [`SIG_NOTE_NAME`].
    pub name: [u8; 4],
    /// [`SIG_VERSION`].
    pub version: u16,
    /// `LIVEPATCH_SIG_ALG_*`.
    pub algorithm: u8,
    /// `LIVEPATCH_SIG_HASH_*`.
    pub hash: u8,
    /// Zero.
    pub reserved: u32,
    /// First bytes of SHA-512 of the public key.
    pub key_id: [u8; SIG_KEY_ID_SIZE],
    /// The signature of everything before it.
    pub signature: [u8; SIG_SIZE],
}

impl SignatureNote {
    /// A version-1 Ed25519 note for `key_id`, signature still zero.
    pub fn ed25519(key_id: [u8; SIG_KEY_ID_SIZE]) -> SignatureNote {
        SignatureNote {
            namesz: SIG_NOTE_NAME.len() as u32,
            descsz: SIG_DESC_SIZE as u32,
            note_type: SIG_NOTE_TYPE,
            name: SIG_NOTE_NAME,
            version: SIG_VERSION,
            algorithm: SIG_ALG_ED25519,
            hash: SIG_HASH_SHA512,
            reserved: 0,
            key_id,
            signature: [0; SIG_SIZE],
        }
    }

    /// Little-endian bytes, as appended to a payload.
    pub fn to_bytes(&self) -> [u8; SIG_NOTE_SIZE] {
        use std::mem::offset_of;
        let mut out = [0u8; SIG_NOTE_SIZE];
        put(
            &mut out,
            offset_of!(Self, namesz),
            &self.namesz.to_le_bytes(),
        );
        put(
            &mut out,
            offset_of!(Self, descsz),
            &self.descsz.to_le_bytes(),
        );
        put(
            &mut out,
            offset_of!(Self, note_type),
            &self.note_type.to_le_bytes(),
        );
        put(&mut out, offset_of!(Self, name), &self.name);
        put(
            &mut out,
            offset_of!(Self, version),
            &self.version.to_le_bytes(),
        );
        put(&mut out, offset_of!(Self, algorithm), &[self.algorithm]);
        put(&mut out, offset_of!(Self, hash), &[self.hash]);
        put(
            &mut out,
            offset_of!(Self, reserved),
            &self.reserved.to_le_bytes(),
        );
        put(&mut out, offset_of!(Self, key_id), &self.key_id);
        put(&mut out, offset_of!(Self, signature), &self.signature);
        out
    }

    /// The note at the end of `file`, if its fixed header (sizes, type,
    /// name) is there; the other fields as found.
    pub fn find(file: &[u8]) -> Option<SignatureNote> {
        use std::mem::offset_of;
        let at = file.len().checked_sub(SIG_NOTE_SIZE)?;
        let n = &file[at..];
        let u32_at = |o: usize| u32::from_le_bytes([n[o], n[o + 1], n[o + 2], n[o + 3]]);
        let mut key_id = [0u8; SIG_KEY_ID_SIZE];
        key_id.copy_from_slice(&n[offset_of!(Self, key_id)..][..SIG_KEY_ID_SIZE]);
        let mut signature = [0u8; SIG_SIZE];
        signature.copy_from_slice(&n[SIG_OFFSET..][..SIG_SIZE]);
        let v = offset_of!(Self, version);
        let note = SignatureNote {
            namesz: u32_at(offset_of!(Self, namesz)),
            descsz: u32_at(offset_of!(Self, descsz)),
            note_type: u32_at(offset_of!(Self, note_type)),
            name: [n[12], n[13], n[14], n[15]],
            version: u16::from_le_bytes([n[v], n[v + 1]]),
            algorithm: n[offset_of!(Self, algorithm)],
            hash: n[offset_of!(Self, hash)],
            reserved: u32_at(offset_of!(Self, reserved)),
            key_id,
            signature,
        };
        let header = note.namesz == SIG_NOTE_NAME.len() as u32
            && note.descsz == SIG_DESC_SIZE as u32
            && note.note_type == SIG_NOTE_TYPE
            && note.name == SIG_NOTE_NAME;
        header.then_some(note)
    }
}

/// Size of `struct livepatch_func` (payload version 2).
pub const FUNC_SIZE: usize = std::mem::size_of::<LivepatchFunc>();
/// `LIVEPATCH_PAYLOAD_VERSION`: `struct livepatch_func`'s `version`.
pub const PAYLOAD_VERSION: u8 = 2;
/// `LIVEPATCH_MAX_SECTIONS`: a payload has fewer sections than this.
pub const MAX_SECTIONS: usize = 1024;
/// `LIVEPATCH_HOOKS_LOAD` and `_UNLOAD`: arrays of hooks.
pub const HOOK_ARRAYS: [&str; 2] = [".livepatch.hooks.load", ".livepatch.hooks.unload"];
/// `LIVEPATCH_HOOKS_PREAPPLY` .. `_POSTREVERT`: one hook each.
pub const HOOK_SINGLES: [&str; 6] = [
    ".livepatch.hooks.preapply",
    ".livepatch.hooks.apply",
    ".livepatch.hooks.postapply",
    ".livepatch.hooks.prerevert",
    ".livepatch.hooks.revert",
    ".livepatch.hooks.postrevert",
];

/// `struct xen_livepatch_name`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenLivepatchName {
    /// Guest address of the name.
    pub name: u64,
    /// strlen + 1.
    pub size: u16,
    /// Must be zero.
    pub pad: [u16; 3],
}

/// `struct xen_sysctl_livepatch_upload`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlLivepatchUpload {
    pub name: XenLivepatchName,
    pub size: u64,
    pub payload: u64,
}

/// `struct xen_livepatch_status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenLivepatchStatus {
    pub state: u32,
    pub rc: i32,
}

/// `struct xen_sysctl_livepatch_get`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlLivepatchGet {
    pub name: XenLivepatchName,
    pub status: XenLivepatchStatus,
}

/// `struct xen_sysctl_livepatch_list`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlLivepatchList {
    pub version: u32,
    pub idx: u32,
    pub nr: u32,
    pub pad: u32,
    pub name_total_size: u32,
    pub metadata_total_size: u32,
    pub status: u64,
    pub name: u64,
    pub len: u64,
    pub metadata: u64,
    pub metadata_len: u64,
}

/// `struct xen_sysctl_livepatch_action`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlLivepatchAction {
    pub name: XenLivepatchName,
    pub cmd: u32,
    pub timeout: u32,
    pub flags: u32,
    pub pad: u32,
}

/// `struct xen_sysctl_livepatch_op` without its union.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlLivepatchOpHead {
    pub cmd: u32,
    pub flags: u32,
}

/// Size of the union of `struct xen_sysctl_livepatch_op`: its largest
/// member.
pub const OP_UNION_SIZE: usize = std::mem::size_of::<XenSysctlLivepatchList>();

/// `struct livepatch_func` (payload version 2) as in `.livepatch.funcs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivepatchFunc {
    pub name: u64,
    pub new_addr: u64,
    pub old_addr: u64,
    pub new_size: u32,
    pub old_size: u32,
    pub version: u8,
    pub pad: [u8; 39],
    /// `struct livepatch_expectation`: enabled:1, len:5, rsv:2, data[31].
    pub expect: [u8; 32],
}

/// Little-endian encoding of an ABI struct, field by field at the offsets
/// of its `#[repr(C)]` layout (which a test checks against the C header).
pub trait Wire {
    /// Writes the struct at `at` of `out`.
    fn put(&self, out: &mut [u8], at: usize);
}

/// Copies `bytes` into `out` at `at` (panics past the end: callers size
/// their buffers from the ABI).
pub fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

impl Wire for XenLivepatchName {
    fn put(&self, out: &mut [u8], at: usize) {
        use std::mem::offset_of;
        put(out, at + offset_of!(Self, name), &self.name.to_le_bytes());
        put(out, at + offset_of!(Self, size), &self.size.to_le_bytes());
    }
}

impl Wire for XenSysctlLivepatchUpload {
    fn put(&self, out: &mut [u8], at: usize) {
        use std::mem::offset_of;
        self.name.put(out, at + offset_of!(Self, name));
        put(out, at + offset_of!(Self, size), &self.size.to_le_bytes());
        put(
            out,
            at + offset_of!(Self, payload),
            &self.payload.to_le_bytes(),
        );
    }
}

impl Wire for XenSysctlLivepatchGet {
    fn put(&self, out: &mut [u8], at: usize) {
        self.name.put(out, at + std::mem::offset_of!(Self, name));
    }
}

impl Wire for XenSysctlLivepatchList {
    fn put(&self, out: &mut [u8], at: usize) {
        use std::mem::offset_of;
        for (off, v) in [
            (offset_of!(Self, version), self.version),
            (offset_of!(Self, idx), self.idx),
            (offset_of!(Self, nr), self.nr),
            (offset_of!(Self, name_total_size), self.name_total_size),
            (
                offset_of!(Self, metadata_total_size),
                self.metadata_total_size,
            ),
        ] {
            put(out, at + off, &v.to_le_bytes());
        }
        for (off, v) in [
            (offset_of!(Self, status), self.status),
            (offset_of!(Self, name), self.name),
            (offset_of!(Self, len), self.len),
            (offset_of!(Self, metadata), self.metadata),
            (offset_of!(Self, metadata_len), self.metadata_len),
        ] {
            put(out, at + off, &v.to_le_bytes());
        }
    }
}

impl Wire for XenSysctlLivepatchAction {
    fn put(&self, out: &mut [u8], at: usize) {
        use std::mem::offset_of;
        self.name.put(out, at + offset_of!(Self, name));
        put(out, at + offset_of!(Self, cmd), &self.cmd.to_le_bytes());
        put(
            out,
            at + offset_of!(Self, timeout),
            &self.timeout.to_le_bytes(),
        );
        put(out, at + offset_of!(Self, flags), &self.flags.to_le_bytes());
    }
}

/// `LIVEPATCH_ACTION_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Free a CHECKED payload.
    Unload = 1,
    /// Undo an APPLIED payload.
    Revert = 2,
    /// Patch in a CHECKED payload.
    Apply = 3,
    /// Revert every applied payload and apply this one.
    Replace = 4,
}

/// Offset of the live-patch op inside `struct xen_sysctl` (after `cmd` and
/// `interface_version`).
pub const OP_AT: usize = 8;
/// Offset of the op's union inside `struct xen_sysctl` (after the op's
/// `cmd` and `flags`).
pub const UNION_AT: usize = OP_AT + std::mem::size_of::<XenSysctlLivepatchOpHead>();

const _: () = assert!(UNION_AT + OP_UNION_SIZE <= crate::hypercall::XEN_SYSCTL_SIZE);
const _: () = assert!(std::mem::size_of::<XenSysctlLivepatchSignature>() <= OP_UNION_SIZE);

/// Symbol of the [`LivepatchRegions`] table the detectors read.
pub const REGIONS_SYMBOL: &str = "livepatch_regions";
/// `LIVEPATCH_REGION_*`: a slot never used.
pub const REGION_FREE: u32 = 0;
/// Uploaded, not applied: nothing may run in its text outside an action.
pub const REGION_LOADED: u32 = 1;
/// An action on it is in progress (its hooks may run).
pub const REGION_BUSY: u32 = 2;
/// Applied: its text is reachable.
pub const REGION_APPLIED: u32 = 3;
/// Unloaded: its memory was freed.
pub const REGION_FREED: u32 = 4;
/// `LIVEPATCH_MAX_REGIONS`.
pub const MAX_REGIONS: usize = 32;
/// `LIVEPATCH_REGION_NAME`.
pub const REGION_NAME: usize = 48;

/// `struct livepatch_region_symbol`: one of a payload's symbols.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivepatchRegionSymbol {
    /// Address of the NUL-terminated name.
    pub name: u64,
    pub value: u64,
    /// 0: up to the next symbol.
    pub size: u64,
    /// Bit 0: exported.
    pub flags: u64,
}

impl LivepatchRegionSymbol {
    /// Decodes one entry from its little-endian bytes.
    pub fn from_bytes(b: &[u8]) -> LivepatchRegionSymbol {
        use crate::hypercall::le_u64;
        use std::mem::offset_of;
        LivepatchRegionSymbol {
            name: le_u64(b, offset_of!(Self, name)),
            value: le_u64(b, offset_of!(Self, value)),
            size: le_u64(b, offset_of!(Self, size)),
            flags: le_u64(b, offset_of!(Self, flags)),
        }
    }
}

/// `struct livepatch_region`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivepatchRegion {
    pub text_start: u64,
    pub text_end: u64,
    pub mem_start: u64,
    pub mem_end: u64,
    pub state: u32,
    pub nsyms: u32,
    /// Address of `nsyms` [`LivepatchRegionSymbol`]s (0 when FREED).
    pub symtab: u64,
    pub name: [u8; REGION_NAME],
}

/// `struct livepatch_regions`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivepatchRegions {
    pub gen: u64,
    pub slot: [LivepatchRegion; MAX_REGIONS],
}

impl LivepatchRegion {
    /// Decodes one slot from its little-endian bytes (`size_of::<Self>()`).
    pub fn from_bytes(b: &[u8]) -> LivepatchRegion {
        use crate::hypercall::{le_u32, le_u64};
        use std::mem::offset_of;
        let mut name = [0u8; REGION_NAME];
        if let Some(n) = b.get(offset_of!(Self, name)..offset_of!(Self, name) + REGION_NAME) {
            name.copy_from_slice(n);
        }
        LivepatchRegion {
            text_start: le_u64(b, offset_of!(Self, text_start)),
            text_end: le_u64(b, offset_of!(Self, text_end)),
            mem_start: le_u64(b, offset_of!(Self, mem_start)),
            mem_end: le_u64(b, offset_of!(Self, mem_end)),
            state: le_u32(b, offset_of!(Self, state)),
            nsyms: le_u32(b, offset_of!(Self, nsyms)),
            symtab: le_u64(b, offset_of!(Self, symtab)),
            name,
        }
    }

    /// The payload's name.
    pub fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(REGION_NAME);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// Offset of `slot[0]` in [`LivepatchRegions`].
pub const REGIONS_SLOT_OFFSET: usize = std::mem::offset_of!(LivepatchRegions, slot);

#[cfg(test)]
mod tests {
    use super::*;

    fn define(h: &std::collections::HashMap<String, u64>, name: &str) -> u64 {
        *h.get(name).unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn constants_match_the_header() {
        let h = crate::cheader::defines("livepatch.h");
        assert_eq!(
            define(&h, "XEN_SYSCTL_livepatch_op"),
            u64::from(XEN_SYSCTL_LIVEPATCH_OP)
        );
        assert_eq!(define(&h, "XEN_LIVEPATCH_NAME_SIZE"), NAME_SIZE as u64);
        assert_eq!(
            define(&h, "XEN_SYSCTL_LIVEPATCH_UPLOAD"),
            u64::from(OP_UPLOAD)
        );
        assert_eq!(define(&h, "XEN_SYSCTL_LIVEPATCH_GET"), u64::from(OP_GET));
        assert_eq!(define(&h, "XEN_SYSCTL_LIVEPATCH_LIST"), u64::from(OP_LIST));
        assert_eq!(
            define(&h, "XEN_SYSCTL_LIVEPATCH_ACTION"),
            u64::from(OP_ACTION)
        );
        assert_eq!(
            define(&h, "LIVEPATCH_STATE_CHECKED"),
            u64::from(STATE_CHECKED)
        );
        assert_eq!(
            define(&h, "LIVEPATCH_STATE_APPLIED"),
            u64::from(STATE_APPLIED)
        );
        assert_eq!(define(&h, "LIVEPATCH_ACTION_UNLOAD"), Action::Unload as u64);
        assert_eq!(define(&h, "LIVEPATCH_ACTION_REVERT"), Action::Revert as u64);
        assert_eq!(define(&h, "LIVEPATCH_ACTION_APPLY"), Action::Apply as u64);
        assert_eq!(
            define(&h, "LIVEPATCH_ACTION_REPLACE"),
            Action::Replace as u64
        );
        assert_eq!(define(&h, "LIVEPATCH_LIST_MAX"), u64::from(LIST_MAX));
        assert_eq!(
            define(&h, "LIVEPATCH_PAYLOAD_VERSION"),
            u64::from(PAYLOAD_VERSION)
        );
        assert_eq!(define(&h, "LIVEPATCH_MAX_SECTIONS"), MAX_SECTIONS as u64);
        assert_eq!(define(&h, "LIVEPATCH_MAX_SIZE"), MAX_SIZE);
        assert_eq!(
            define(&h, "LIVEPATCH_ACTION_APPLY_NODEPS"),
            u64::from(ACTION_APPLY_NODEPS)
        );
        assert_eq!(
            define(&h, "XEN_SYSCTL_LIVEPATCH_SIGNATURE"),
            u64::from(OP_SIGNATURE)
        );
        for m in [
            SignatureMode::Off,
            SignatureMode::Warn,
            SignatureMode::Enforce,
        ] {
            let name = format!("LIVEPATCH_SIG_MODE_{}", m.name().to_uppercase());
            assert_eq!(define(&h, &name), m as u64);
            assert_eq!(SignatureMode::from_abi(m as u32), Some(m));
        }
        assert_eq!(SignatureMode::from_abi(3), None);
        assert_eq!(
            define(&h, "LIVEPATCH_SIG_NOTE_TYPE"),
            u64::from(SIG_NOTE_TYPE)
        );
        assert_eq!(define(&h, "LIVEPATCH_SIG_VERSION"), u64::from(SIG_VERSION));
        assert_eq!(
            define(&h, "LIVEPATCH_SIG_ALG_ED25519"),
            u64::from(SIG_ALG_ED25519)
        );
        assert_eq!(
            define(&h, "LIVEPATCH_SIG_HASH_SHA512"),
            u64::from(SIG_HASH_SHA512)
        );
        assert_eq!(
            define(&h, "LIVEPATCH_SIG_KEY_ID_SIZE"),
            SIG_KEY_ID_SIZE as u64
        );
        assert_eq!(define(&h, "LIVEPATCH_SIG_SIZE"), SIG_SIZE as u64);
        assert_eq!(define(&h, "LIVEPATCH_SIG_DESC_SIZE"), SIG_DESC_SIZE as u64);
        assert_eq!(define(&h, "LIVEPATCH_SIG_NOTE_SIZE"), SIG_NOTE_SIZE as u64);
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mini-xen/include/public/livepatch.h"
        ))
        .expect("livepatch.h");
        assert!(text.contains("#define LIVEPATCH_SIG_NOTE_NAME         \"Xen\""));
    }

    #[test]
    fn a_signature_note_round_trips_and_needs_its_whole_header() {
        let mut n = SignatureNote::ed25519([1, 2, 3, 4, 5, 6, 7, 8]);
        n.signature = [0xa5; SIG_SIZE];
        let mut file = b"ELF bytes".to_vec();
        file.extend_from_slice(&n.to_bytes());
        assert_eq!(SignatureNote::find(&file), Some(n));
        // namesz, descsz, type and name identify the note.
        for at in 0..16 {
            let mut bad = file.clone();
            let i = file.len() - SIG_NOTE_SIZE + at;
            bad[i] ^= 1;
            assert_eq!(SignatureNote::find(&bad), None, "byte {at}");
        }
        assert_eq!(SignatureNote::find(&file[..file.len() - 1]), None);
        assert_eq!(SignatureNote::find(&file[1..SIG_NOTE_SIZE]), None);
    }

    #[test]
    fn hook_section_names_match_the_header() {
        let h = crate::cheader::string_defines("livepatch.h");
        let header: Vec<&str> = [
            "LOAD",
            "UNLOAD",
            "PREAPPLY",
            "APPLY",
            "POSTAPPLY",
            "PREREVERT",
            "REVERT",
            "POSTREVERT",
        ]
        .iter()
        .map(|k| {
            h.get(&format!("LIVEPATCH_HOOKS_{k}"))
                .map(String::as_str)
                .unwrap_or_else(|| panic!("LIVEPATCH_HOOKS_{k} missing"))
        })
        .collect();
        let rust: Vec<&str> = HOOK_ARRAYS.iter().chain(&HOOK_SINGLES).copied().collect();
        assert_eq!(header, rust);
    }

    #[test]
    fn layouts_match_the_c_compiler() {
        use std::mem::{offset_of, size_of};
        let c = crate::cheader::c_layout(
            "livepatch.h",
            &[
                ("struct xen_livepatch_name", &["name", "size", "pad"]),
                (
                    "struct xen_sysctl_livepatch_upload",
                    &["name", "size", "payload"],
                ),
                ("struct xen_livepatch_status", &["state", "rc"]),
                ("struct xen_sysctl_livepatch_get", &["name", "status"]),
                (
                    "struct xen_sysctl_livepatch_list",
                    &[
                        "version",
                        "idx",
                        "nr",
                        "pad",
                        "name_total_size",
                        "metadata_total_size",
                        "status",
                        "name",
                        "len",
                        "metadata",
                        "metadata_len",
                    ],
                ),
                (
                    "struct xen_sysctl_livepatch_action",
                    &["name", "cmd", "timeout", "flags", "pad"],
                ),
                ("struct xen_sysctl_livepatch_op", &["cmd", "flags", "u"]),
                (
                    "struct livepatch_func",
                    &[
                        "name", "new_addr", "old_addr", "new_size", "old_size", "version", "expect",
                    ],
                ),
                (
                    "struct xen_sysctl_livepatch_signature",
                    &["mode", "algorithm", "pad", "key_id"],
                ),
                (
                    "struct livepatch_signature_note",
                    &[
                        "namesz",
                        "descsz",
                        "type",
                        "name",
                        "version",
                        "algorithm",
                        "hash",
                        "reserved",
                        "key_id",
                        "signature",
                    ],
                ),
            ],
        );
        let rust: Vec<(&str, usize)> = vec![
            ("struct xen_livepatch_name", size_of::<XenLivepatchName>()),
            (
                "struct xen_livepatch_name.name",
                offset_of!(XenLivepatchName, name),
            ),
            (
                "struct xen_livepatch_name.size",
                offset_of!(XenLivepatchName, size),
            ),
            (
                "struct xen_livepatch_name.pad",
                offset_of!(XenLivepatchName, pad),
            ),
            (
                "struct xen_sysctl_livepatch_upload",
                size_of::<XenSysctlLivepatchUpload>(),
            ),
            (
                "struct xen_sysctl_livepatch_upload.name",
                offset_of!(XenSysctlLivepatchUpload, name),
            ),
            (
                "struct xen_sysctl_livepatch_upload.size",
                offset_of!(XenSysctlLivepatchUpload, size),
            ),
            (
                "struct xen_sysctl_livepatch_upload.payload",
                offset_of!(XenSysctlLivepatchUpload, payload),
            ),
            (
                "struct xen_livepatch_status",
                size_of::<XenLivepatchStatus>(),
            ),
            (
                "struct xen_livepatch_status.state",
                offset_of!(XenLivepatchStatus, state),
            ),
            (
                "struct xen_livepatch_status.rc",
                offset_of!(XenLivepatchStatus, rc),
            ),
            (
                "struct xen_sysctl_livepatch_get",
                size_of::<XenSysctlLivepatchGet>(),
            ),
            (
                "struct xen_sysctl_livepatch_get.name",
                offset_of!(XenSysctlLivepatchGet, name),
            ),
            (
                "struct xen_sysctl_livepatch_get.status",
                offset_of!(XenSysctlLivepatchGet, status),
            ),
            (
                "struct xen_sysctl_livepatch_list",
                size_of::<XenSysctlLivepatchList>(),
            ),
            (
                "struct xen_sysctl_livepatch_list.version",
                offset_of!(XenSysctlLivepatchList, version),
            ),
            (
                "struct xen_sysctl_livepatch_list.idx",
                offset_of!(XenSysctlLivepatchList, idx),
            ),
            (
                "struct xen_sysctl_livepatch_list.nr",
                offset_of!(XenSysctlLivepatchList, nr),
            ),
            (
                "struct xen_sysctl_livepatch_list.pad",
                offset_of!(XenSysctlLivepatchList, pad),
            ),
            (
                "struct xen_sysctl_livepatch_list.name_total_size",
                offset_of!(XenSysctlLivepatchList, name_total_size),
            ),
            (
                "struct xen_sysctl_livepatch_list.metadata_total_size",
                offset_of!(XenSysctlLivepatchList, metadata_total_size),
            ),
            (
                "struct xen_sysctl_livepatch_list.status",
                offset_of!(XenSysctlLivepatchList, status),
            ),
            (
                "struct xen_sysctl_livepatch_list.name",
                offset_of!(XenSysctlLivepatchList, name),
            ),
            (
                "struct xen_sysctl_livepatch_list.len",
                offset_of!(XenSysctlLivepatchList, len),
            ),
            (
                "struct xen_sysctl_livepatch_list.metadata",
                offset_of!(XenSysctlLivepatchList, metadata),
            ),
            (
                "struct xen_sysctl_livepatch_list.metadata_len",
                offset_of!(XenSysctlLivepatchList, metadata_len),
            ),
            (
                "struct xen_sysctl_livepatch_action",
                size_of::<XenSysctlLivepatchAction>(),
            ),
            (
                "struct xen_sysctl_livepatch_action.name",
                offset_of!(XenSysctlLivepatchAction, name),
            ),
            (
                "struct xen_sysctl_livepatch_action.cmd",
                offset_of!(XenSysctlLivepatchAction, cmd),
            ),
            (
                "struct xen_sysctl_livepatch_action.timeout",
                offset_of!(XenSysctlLivepatchAction, timeout),
            ),
            (
                "struct xen_sysctl_livepatch_action.flags",
                offset_of!(XenSysctlLivepatchAction, flags),
            ),
            (
                "struct xen_sysctl_livepatch_action.pad",
                offset_of!(XenSysctlLivepatchAction, pad),
            ),
            (
                "struct xen_sysctl_livepatch_op",
                UNION_AT - OP_AT + OP_UNION_SIZE,
            ),
            (
                "struct xen_sysctl_livepatch_op.cmd",
                offset_of!(XenSysctlLivepatchOpHead, cmd),
            ),
            (
                "struct xen_sysctl_livepatch_op.flags",
                offset_of!(XenSysctlLivepatchOpHead, flags),
            ),
            ("struct xen_sysctl_livepatch_op.u", UNION_AT - OP_AT),
            ("struct livepatch_func", size_of::<LivepatchFunc>()),
            (
                "struct livepatch_func.name",
                offset_of!(LivepatchFunc, name),
            ),
            (
                "struct livepatch_func.new_addr",
                offset_of!(LivepatchFunc, new_addr),
            ),
            (
                "struct livepatch_func.old_addr",
                offset_of!(LivepatchFunc, old_addr),
            ),
            (
                "struct livepatch_func.new_size",
                offset_of!(LivepatchFunc, new_size),
            ),
            (
                "struct livepatch_func.old_size",
                offset_of!(LivepatchFunc, old_size),
            ),
            (
                "struct livepatch_func.version",
                offset_of!(LivepatchFunc, version),
            ),
            (
                "struct livepatch_func.expect",
                offset_of!(LivepatchFunc, expect),
            ),
        ];
        let note: Vec<(&str, usize)> = vec![
            (
                "struct xen_sysctl_livepatch_signature",
                size_of::<XenSysctlLivepatchSignature>(),
            ),
            (
                "struct xen_sysctl_livepatch_signature.mode",
                offset_of!(XenSysctlLivepatchSignature, mode),
            ),
            (
                "struct xen_sysctl_livepatch_signature.algorithm",
                offset_of!(XenSysctlLivepatchSignature, algorithm),
            ),
            (
                "struct xen_sysctl_livepatch_signature.pad",
                offset_of!(XenSysctlLivepatchSignature, pad),
            ),
            (
                "struct xen_sysctl_livepatch_signature.key_id",
                offset_of!(XenSysctlLivepatchSignature, key_id),
            ),
            (
                "struct livepatch_signature_note",
                size_of::<SignatureNote>(),
            ),
            (
                "struct livepatch_signature_note.namesz",
                offset_of!(SignatureNote, namesz),
            ),
            (
                "struct livepatch_signature_note.descsz",
                offset_of!(SignatureNote, descsz),
            ),
            (
                "struct livepatch_signature_note.type",
                offset_of!(SignatureNote, note_type),
            ),
            (
                "struct livepatch_signature_note.name",
                offset_of!(SignatureNote, name),
            ),
            (
                "struct livepatch_signature_note.version",
                offset_of!(SignatureNote, version),
            ),
            (
                "struct livepatch_signature_note.algorithm",
                offset_of!(SignatureNote, algorithm),
            ),
            (
                "struct livepatch_signature_note.hash",
                offset_of!(SignatureNote, hash),
            ),
            (
                "struct livepatch_signature_note.reserved",
                offset_of!(SignatureNote, reserved),
            ),
            (
                "struct livepatch_signature_note.key_id",
                offset_of!(SignatureNote, key_id),
            ),
            (
                "struct livepatch_signature_note.signature",
                offset_of!(SignatureNote, signature),
            ),
        ];
        for (key, value) in rust.into_iter().chain(note) {
            assert_eq!(c.get(key).copied(), Some(value as u64), "{key}");
        }
        assert_eq!(FUNC_SIZE, 104);
    }

    #[test]
    fn region_contract_matches_the_header() {
        use std::mem::{offset_of, size_of};
        let h = crate::cheader::defines("livepatch.h");
        for (name, v) in [
            ("LIVEPATCH_REGION_FREE", REGION_FREE),
            ("LIVEPATCH_REGION_LOADED", REGION_LOADED),
            ("LIVEPATCH_REGION_BUSY", REGION_BUSY),
            ("LIVEPATCH_REGION_APPLIED", REGION_APPLIED),
            ("LIVEPATCH_REGION_FREED", REGION_FREED),
        ] {
            assert_eq!(define(&h, name), u64::from(v), "{name}");
        }
        assert_eq!(define(&h, "LIVEPATCH_MAX_REGIONS"), MAX_REGIONS as u64);
        assert_eq!(define(&h, "LIVEPATCH_REGION_NAME"), REGION_NAME as u64);
        let text = crate::cheader::header_text("livepatch.h");
        assert!(
            text.contains(&format!(
                "#define LIVEPATCH_REGIONS_SYMBOL  \"{REGIONS_SYMBOL}\""
            )),
            "symbol name"
        );
        let c = crate::cheader::c_layout(
            "livepatch.h",
            &[
                (
                    "struct livepatch_region",
                    &[
                        "text_start",
                        "text_end",
                        "mem_start",
                        "mem_end",
                        "state",
                        "nsyms",
                        "symtab",
                        "name",
                    ],
                ),
                (
                    "struct livepatch_region_symbol",
                    &["name", "value", "size", "flags"],
                ),
                ("struct livepatch_regions", &["gen", "slot"]),
            ],
        );
        let rust: &[(&str, usize)] = &[
            ("struct livepatch_region", size_of::<LivepatchRegion>()),
            (
                "struct livepatch_region.text_start",
                offset_of!(LivepatchRegion, text_start),
            ),
            (
                "struct livepatch_region.text_end",
                offset_of!(LivepatchRegion, text_end),
            ),
            (
                "struct livepatch_region.mem_start",
                offset_of!(LivepatchRegion, mem_start),
            ),
            (
                "struct livepatch_region.mem_end",
                offset_of!(LivepatchRegion, mem_end),
            ),
            (
                "struct livepatch_region.state",
                offset_of!(LivepatchRegion, state),
            ),
            (
                "struct livepatch_region.nsyms",
                offset_of!(LivepatchRegion, nsyms),
            ),
            (
                "struct livepatch_region.symtab",
                offset_of!(LivepatchRegion, symtab),
            ),
            (
                "struct livepatch_region.name",
                offset_of!(LivepatchRegion, name),
            ),
            (
                "struct livepatch_region_symbol",
                size_of::<LivepatchRegionSymbol>(),
            ),
            (
                "struct livepatch_region_symbol.name",
                offset_of!(LivepatchRegionSymbol, name),
            ),
            (
                "struct livepatch_region_symbol.value",
                offset_of!(LivepatchRegionSymbol, value),
            ),
            (
                "struct livepatch_region_symbol.size",
                offset_of!(LivepatchRegionSymbol, size),
            ),
            (
                "struct livepatch_region_symbol.flags",
                offset_of!(LivepatchRegionSymbol, flags),
            ),
            ("struct livepatch_regions", size_of::<LivepatchRegions>()),
            (
                "struct livepatch_regions.gen",
                offset_of!(LivepatchRegions, gen),
            ),
            ("struct livepatch_regions.slot", REGIONS_SLOT_OFFSET),
        ];
        for (key, value) in rust {
            assert_eq!(c.get(*key).copied(), Some(*value as u64), "{key}");
        }
    }
}
