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
        for (key, value) in rust {
            assert_eq!(c.get(key).copied(), Some(value as u64), "{key}");
        }
        assert_eq!(FUNC_SIZE, 104);
    }
}
