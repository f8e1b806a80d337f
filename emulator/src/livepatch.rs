//! dom0's live-patch client: drives `XEN_SYSCTL_livepatch_op` through a
//! real sysctl hypercall, as libxc does for xen-livepatch.

pub use abi::livepatch::*;

use crate::hypercall::{le_u32, nr, Guest, XEN_SYSCTL_INTERFACE_VERSION};
use crate::machine::{Machine, MachineError};
use crate::platform::{domain_window, DOMAIN_SIZE};
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
        crate::hypercall::mailbox_buf(0)
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
        self.guest.machine().host_write(area, &payload[..fit])?;
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
