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
/// `LIVEPATCH_ACTION_APPLY_NODEPS`.
pub const ACTION_APPLY_NODEPS: u32 = 1;
/// `LIVEPATCH_LIST_MAX`.
pub const LIST_MAX: u32 = 1024;
/// Size of `struct livepatch_func` (payload version 2).
pub const FUNC_SIZE: usize = 104;

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
const OP_OFF: u64 = 0; // struct xen_sysctl, in the mailbox buffer
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

    /// Issues the sysctl with `body` (the union) and returns rc and the
    /// mailbox buffer afterwards; names go at NAME_OFF.
    fn sysctl(
        &mut self,
        cmd: u32,
        body: &[u8],
        name: Option<&str>,
    ) -> Result<(i64, Vec<u8>), LivepatchError> {
        let mut data = vec![0u8; LIST_MD_OFF as usize + LIST_MD_SIZE as usize];
        data[0..4].copy_from_slice(&XEN_SYSCTL_LIVEPATCH_OP.to_le_bytes());
        data[4..8].copy_from_slice(&XEN_SYSCTL_INTERFACE_VERSION.to_le_bytes());
        data[8..12].copy_from_slice(&cmd.to_le_bytes());
        // flags at 12..16 stay zero; the union starts at 16.
        data[16..16 + body.len()].copy_from_slice(body);
        if let Some(n) = name {
            let at = NAME_OFF as usize;
            data[at..at + n.len()].copy_from_slice(n.as_bytes());
        }
        let (rc, out) = self
            .guest
            .call(nr::SYSCTL, [Self::buf() + OP_OFF, 0, 0, 0, 0], &data)?;
        Ok((rc, out))
    }

    fn name_handle(name: &str) -> Result<[u8; 16], LivepatchError> {
        if name.is_empty() || name.len() >= NAME_SIZE || name.contains('\0') {
            return Err(LivepatchError::Name(name.to_string()));
        }
        let mut h = [0u8; 16];
        h[0..8].copy_from_slice(&(Self::buf() + NAME_OFF).to_le_bytes());
        h[8..10].copy_from_slice(&(name.len() as u16 + 1).to_le_bytes());
        Ok(h)
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
        let mut body = Self::name_handle(name)?.to_vec();
        body.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        body.extend_from_slice(&area.to_le_bytes());
        Ok(self.sysctl(OP_UPLOAD, &body, Some(name))?.0)
    }

    /// GET: the status of `name`, or the error.
    pub fn get(&mut self, name: &str) -> Result<Result<Status, i64>, LivepatchError> {
        let mut body = Self::name_handle(name)?.to_vec();
        body.extend_from_slice(&[0u8; 8]);
        let (rc, out) = self.sysctl(OP_GET, &body, Some(name))?;
        if rc < 0 {
            return Ok(Err(rc));
        }
        let at = (OP_OFF + 16 + 16) as usize;
        Ok(Ok(Status {
            state: le_u32(&out, at),
            rc: le_u32(&out, at + 4) as i32,
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
        let mut body = Self::name_handle(name)?.to_vec();
        for v in [cmd as u32, timeout, flags, 0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        Ok(self.sysctl(OP_ACTION, &body, Some(name))?.0)
    }

    /// One LIST page starting at `idx`; `Err(rc)` when the hypercall fails.
    pub fn list_page(&mut self, idx: u32) -> Result<Result<ListPage, i64>, LivepatchError> {
        let b = Self::buf();
        let mut body = Vec::with_capacity(64);
        for v in [0, idx, LIST_PAGE, 0, LIST_NAMES_SIZE, LIST_MD_SIZE] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        for off in [
            LIST_STATUS_OFF,
            LIST_NAMES_OFF,
            LIST_LEN_OFF,
            LIST_MD_OFF,
            LIST_MDLEN_OFF,
        ] {
            body.extend_from_slice(&(b + off).to_le_bytes());
        }
        let (rc, out) = self.sysctl(OP_LIST, &body, None)?;
        if rc < 0 {
            return Ok(Err(rc));
        }
        let u = (OP_OFF + 16) as usize;
        let version = le_u32(&out, u);
        let remaining = le_u32(&out, u + 8);
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

/// Size of the sysctl envelope the client sends (fits `struct xen_sysctl`).
pub const OP_SIZE: usize = 8 + 64;
const _: () = assert!(8 + OP_SIZE <= XEN_SYSCTL_SIZE);

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
    fn layouts_are_as_the_header_declares() {
        // name handle 16; upload 32; get 24; list 64; action 32; op 8 + 64.
        assert_eq!(Client::name_handle("x").map(|h| h.len()).ok(), Some(16));
        assert_eq!(OP_SIZE, 72);
        assert_eq!(FUNC_SIZE, 8 * 3 + 4 * 2 + 1 + 39 + 32);
    }
}
