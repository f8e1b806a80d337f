//! `XEN_SYSCTL_livepatch_op`, mirrored from
//! `mini-xen/include/public/livepatch.h`, and a client that drives it from
//! dom0 through a real sysctl hypercall, as libxc does for xen-livepatch.

use crate::hypercall::{le_u32, nr, Guest, XEN_SYSCTL_INTERFACE_VERSION, XEN_SYSCTL_SIZE};
use crate::machine::{Machine, MachineError};
use crate::platform::{domain_window, DOMAIN_SIZE};

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

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
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

/// `struct xen_livepatch_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// `LIVEPATCH_STATE_*`.
    pub state: u32,
    /// Result of the last action; -EAGAIN while one is pending.
    pub rc: i32,
}

/// One row of LIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Payload name.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// `.modinfo` contents, NUL-separated.
    pub metadata: Vec<u8>,
}

/// A page of LIST results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    /// Payload-list version (bumped on upload/unload).
    pub version: u32,
    /// Entries not returned yet.
    pub remaining: u32,
    /// The entries.
    pub entries: Vec<Entry>,
}

// Layout of dom0's scratch memory used by the client.
/// `struct xen_sysctl` sits at the start of the mailbox buffer; its
/// livepatch op at 8 (after cmd and interface_version), the op's union at
/// 16 (after the op's cmd and flags).
const OP_AT: usize = 8;
const UNION_AT: usize = OP_AT + std::mem::size_of::<XenSysctlLivepatchOpHead>();
const NAME_OFF: u64 = 256;
const LIST_STATUS_OFF: u64 = 512;
const LIST_LEN_OFF: u64 = 768;
const LIST_MDLEN_OFF: u64 = 1024;
const LIST_NAMES_OFF: u64 = 1280;
const LIST_NAMES_SIZE: u32 = 1024;
const LIST_MD_OFF: u64 = 2304;
const LIST_MD_SIZE: u32 = 768;
/// Entries per LIST page that fit the scratch arrays.
const LIST_PAGE: u32 = 32;
/// Where dom0 keeps a payload it uploads.
pub const UPLOAD_AREA: u64 = 0x10000;
/// Largest payload dom0 can hold in its memory window.
pub const UPLOAD_AREA_SIZE: u64 = DOMAIN_SIZE - UPLOAD_AREA - 0x1000;

/// Errors of the client (not of the hypercall, whose rc is returned).
#[derive(Debug, thiserror::Error)]
pub enum LivepatchError {
    /// The name is empty or too long for the ABI.
    #[error("payload name '{0}' must be 1 to 127 bytes")]
    Name(String),
    /// The machine failed.
    #[error(transparent)]
    Machine(#[from] MachineError),
}

/// The live-patch client of dom0.
pub struct Client<'m> {
    guest: Guest<'m>,
}

impl<'m> Client<'m> {
    /// The client on `m`'s dom0.
    pub fn new(m: &'m mut Machine) -> Client<'m> {
        Client {
            guest: Guest::new(m, 0),
        }
    }

    fn buf() -> u64 {
        Machine::mailbox_buf(0)
    }

    /// Issues the sysctl with `body` as the op's union and returns rc and
    /// the mailbox buffer afterwards; names go at NAME_OFF.
    fn sysctl(
        &mut self,
        cmd: u32,
        body: &dyn Wire,
        name: Option<&str>,
    ) -> Result<(i64, Vec<u8>), LivepatchError> {
        let mut data = vec![0u8; LIST_MD_OFF as usize + LIST_MD_SIZE as usize];
        // struct xen_sysctl: cmd, interface_version, then the op.
        put(&mut data, 0, &XEN_SYSCTL_LIVEPATCH_OP.to_le_bytes());
        put(&mut data, 4, &XEN_SYSCTL_INTERFACE_VERSION.to_le_bytes());
        put(&mut data, OP_AT, &cmd.to_le_bytes());
        body.put(&mut data, UNION_AT);
        if let Some(n) = name {
            let at = NAME_OFF as usize;
            data[at..at + n.len()].copy_from_slice(n.as_bytes());
        }
        let (rc, out) = self
            .guest
            .call(nr::SYSCTL, [Self::buf(), 0, 0, 0, 0], &data)?;
        Ok((rc, out))
    }

    fn name_handle(name: &str) -> Result<XenLivepatchName, LivepatchError> {
        if name.is_empty() || name.len() >= NAME_SIZE || name.contains('\0') {
            return Err(LivepatchError::Name(name.to_string()));
        }
        Ok(XenLivepatchName {
            name: Self::buf() + NAME_OFF,
            size: name.len() as u16 + 1,
            pad: [0; 3],
        })
    }

    /// UPLOAD: places `payload` in dom0's memory and uploads it. A payload
    /// larger than dom0's area is passed with its true size (the
    /// hypervisor refuses it before reading).
    pub fn upload(&mut self, name: &str, payload: &[u8]) -> Result<i64, LivepatchError> {
        let area = domain_window(0) + UPLOAD_AREA;
        let fit = payload.len().min(UPLOAD_AREA_SIZE as usize);
        self.guest
            .machine()
            .ram()
            .write(area, &payload[..fit])
            .map_err(MachineError::from)?;
        let body = XenSysctlLivepatchUpload {
            name: Self::name_handle(name)?,
            size: payload.len() as u64,
            payload: area,
        };
        Ok(self.sysctl(OP_UPLOAD, &body, Some(name))?.0)
    }

    /// GET: the status of `name`, or the error.
    pub fn get(&mut self, name: &str) -> Result<Result<Status, i64>, LivepatchError> {
        let body = XenSysctlLivepatchGet {
            name: Self::name_handle(name)?,
            status: XenLivepatchStatus::default(),
        };
        let (rc, out) = self.sysctl(OP_GET, &body, Some(name))?;
        if rc < 0 {
            return Ok(Err(rc));
        }
        let at = UNION_AT + std::mem::offset_of!(XenSysctlLivepatchGet, status);
        Ok(Ok(Status {
            state: le_u32(&out, at + std::mem::offset_of!(XenLivepatchStatus, state)),
            rc: le_u32(&out, at + std::mem::offset_of!(XenLivepatchStatus, rc)) as i32,
        }))
    }

    /// ACTION `cmd` on `name` with `timeout` ns (0: the default).
    pub fn action(
        &mut self,
        name: &str,
        cmd: Action,
        timeout: u32,
        flags: u32,
    ) -> Result<i64, LivepatchError> {
        let body = XenSysctlLivepatchAction {
            name: Self::name_handle(name)?,
            cmd: cmd as u32,
            timeout,
            flags,
            pad: 0,
        };
        Ok(self.sysctl(OP_ACTION, &body, Some(name))?.0)
    }

    /// ACTION, and when the hypervisor accepts it, lets the rendezvous run
    /// for twice the timeout (as `xen-livepatch` sleeps), then GETs the
    /// result. Returns the ACTION's rc and, when that was 0, the GET.
    pub fn action_and_settle(
        &mut self,
        name: &str,
        cmd: Action,
        timeout: u32,
        flags: u32,
    ) -> Result<(i64, Option<Result<Status, i64>>), LivepatchError> {
        let rc = self.action(name, cmd, timeout, flags)?;
        if rc != 0 {
            return Ok((rc, None));
        }
        let timeout = if timeout == 0 {
            DEFAULT_TIMEOUT_NS
        } else {
            timeout
        };
        self.machine().run_for(2 * u64::from(timeout))?;
        Ok((0, Some(self.get(name)?)))
    }

    /// One LIST page starting at `idx`; `Err(rc)` when the hypercall fails.
    pub fn list_page(&mut self, idx: u32) -> Result<Result<ListPage, i64>, LivepatchError> {
        use std::mem::offset_of;
        let b = Self::buf();
        let body = XenSysctlLivepatchList {
            idx,
            nr: LIST_PAGE,
            name_total_size: LIST_NAMES_SIZE,
            metadata_total_size: LIST_MD_SIZE,
            status: b + LIST_STATUS_OFF,
            name: b + LIST_NAMES_OFF,
            len: b + LIST_LEN_OFF,
            metadata: b + LIST_MD_OFF,
            metadata_len: b + LIST_MDLEN_OFF,
            ..XenSysctlLivepatchList::default()
        };
        let (rc, out) = self.sysctl(OP_LIST, &body, None)?;
        if rc < 0 {
            return Ok(Err(rc));
        }
        let version = le_u32(&out, UNION_AT + offset_of!(XenSysctlLivepatchList, version));
        let remaining = le_u32(&out, UNION_AT + offset_of!(XenSysctlLivepatchList, nr));
        let mut entries = Vec::new();
        let (mut name_at, mut md_at) = (LIST_NAMES_OFF as usize, LIST_MD_OFF as usize);
        for i in 0..usize::try_from(rc).unwrap_or(0) {
            let st = LIST_STATUS_OFF as usize + 8 * i;
            let len = le_u32(&out, LIST_LEN_OFF as usize + 4 * i) as usize;
            let md_len = le_u32(&out, LIST_MDLEN_OFF as usize + 4 * i) as usize;
            let raw = out.get(name_at..name_at + len).unwrap_or_default();
            let name = String::from_utf8_lossy(raw.split(|&c| c == 0).next().unwrap_or_default());
            entries.push(Entry {
                name: name.into_owned(),
                status: Status {
                    state: le_u32(&out, st),
                    rc: le_u32(&out, st + 4) as i32,
                },
                metadata: out.get(md_at..md_at + md_len).unwrap_or_default().to_vec(),
            });
            name_at += len;
            md_at += md_len;
        }
        Ok(Ok(ListPage {
            version,
            remaining,
            entries,
        }))
    }

    /// LIST: every payload, paging as needed.
    pub fn list(&mut self) -> Result<Result<Vec<Entry>, i64>, LivepatchError> {
        let mut all = Vec::new();
        loop {
            let page = match self.list_page(all.len() as u32)? {
                Ok(p) => p,
                // idx past the end once everything was read.
                Err(rc) if !all.is_empty() => return Ok(Err(rc)),
                Err(rc) => return Ok(Err(rc)),
            };
            let got = page.entries.len();
            all.extend(page.entries);
            if page.remaining == 0 || got == 0 {
                return Ok(Ok(all));
            }
        }
    }

    /// The machine, to run it between calls.
    pub fn machine(&mut self) -> &mut Machine {
        self.guest.machine()
    }
}

// The op must fit the 128-byte union of `struct xen_sysctl`.
const _: () = assert!(UNION_AT + OP_UNION_SIZE <= XEN_SYSCTL_SIZE);

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
        assert_eq!(define(&h, "LIVEPATCH_PAYLOAD_VERSION"), 2);
        assert_eq!(define(&h, "LIVEPATCH_MAX_SIZE"), MAX_SIZE);
        assert_eq!(
            define(&h, "LIVEPATCH_ACTION_APPLY_NODEPS"),
            u64::from(ACTION_APPLY_NODEPS)
        );
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
