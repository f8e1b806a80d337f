//! The guest-visible hypercall ABI of mini-xen, mirrored from
//! `mini-xen/include/public/`, and a typed client that has a domain issue
//! hypercalls through its mailbox (a real `int $0x82` from ring 3).

use crate::machine::{Machine, MachineError};

/// Hypercall numbers (`public/xen.h`).
pub mod nr {
    /// `__HYPERVISOR_memory_op`.
    pub const MEMORY_OP: u64 = 12;
    /// `__HYPERVISOR_xen_version`.
    pub const XEN_VERSION: u64 = 17;
    /// `__HYPERVISOR_console_io`.
    pub const CONSOLE_IO: u64 = 18;
    /// `__HYPERVISOR_sched_op`.
    pub const SCHED_OP: u64 = 29;
    /// `__HYPERVISOR_event_channel_op`.
    pub const EVENT_CHANNEL_OP: u64 = 32;
    /// `__HYPERVISOR_sysctl`.
    pub const SYSCTL: u64 = 35;
}

/// `XENVER_version`.
pub const XENVER_VERSION: u64 = 0;
/// `XENVER_extraversion`.
pub const XENVER_EXTRAVERSION: u64 = 1;
/// `XENVER_build_id`.
pub const XENVER_BUILD_ID: u64 = 10;
/// `XEN_EXTRAVERSION_LEN`.
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// `CONSOLEIO_write`.
pub const CONSOLEIO_WRITE: u64 = 0;
/// `EVTCHNOP_send`.
pub const EVTCHNOP_SEND: u64 = 4;
/// `XENMEM_write_word`.
pub const XENMEM_WRITE_WORD: u64 = 64;
/// `XEN_MEMORY_WINDOW_DATA`: offsets of `XENMEM_write_word` start here.
pub const XEN_MEMORY_WINDOW_DATA: u64 = 0x1000;
/// `XEN_SYSCTL_INTERFACE_VERSION`.
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x15;
/// `XEN_SYSCTL_physinfo`.
pub const XEN_SYSCTL_PHYSINFO: u32 = 3;

/// Xen's errno values (`public/errno.h`), as hypercalls return them
/// negated.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i64 = 1;
    /// No such entry.
    pub const ENOENT: i64 = 2;
    /// Try again.
    pub const EAGAIN: i64 = 11;
    /// Permission denied.
    pub const EACCES: i64 = 13;
    /// Bad address.
    pub const EFAULT: i64 = 14;
    /// Busy.
    pub const EBUSY: i64 = 16;
    /// Exists.
    pub const EEXIST: i64 = 17;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
    /// No such hypercall.
    pub const ENOSYS: i64 = 38;
}

/// `struct xen_sysctl_physinfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenSysctlPhysinfo {
    pub threads_per_core: u32,
    pub cores_per_socket: u32,
    pub nr_cpus: u32,
    pub max_cpu_id: u32,
    pub nr_nodes: u32,
    pub max_node_id: u32,
    pub cpu_khz: u32,
    pub capabilities: u32,
    pub total_pages: u64,
    pub free_pages: u64,
    pub scrub_pages: u64,
    pub nr_domains: u32,
    pub nr_vcpus: u32,
}

/// Size of `struct xen_sysctl` (cmd, interface_version, 128-byte union).
pub const XEN_SYSCTL_SIZE: usize = 136;

/// Little-endian u32 at `off` of a buffer read back from the guest (0 past
/// its end).
pub(crate) fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

/// Little-endian u64 at `off` (0 past the end).
pub(crate) fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// A domain of a running machine, issuing hypercalls.
pub struct Guest<'m> {
    m: &'m mut Machine,
    domid: u32,
}

impl<'m> Guest<'m> {
    /// Domain `domid` of `m`.
    pub fn new(m: &'m mut Machine, domid: u32) -> Guest<'m> {
        Guest { m, domid }
    }

    fn buf(&self) -> u64 {
        Machine::mailbox_buf(self.domid)
    }

    /// The machine, to run it between hypercalls.
    pub fn machine(&mut self) -> &mut Machine {
        self.m
    }

    /// Issues hypercall `op` with `args`; `data` starts the mailbox buffer.
    pub fn call(
        &mut self,
        op: u64,
        args: [u64; 5],
        data: &[u8],
    ) -> Result<(i64, Vec<u8>), MachineError> {
        self.m.hypercall(self.domid, op, args, data)
    }

    /// `xen_version(XENVER_version)`: (major, minor).
    pub fn version(&mut self) -> Result<(u32, u32), MachineError> {
        let (r, _) = self.call(nr::XEN_VERSION, [XENVER_VERSION, 0, 0, 0, 0], &[])?;
        Ok(((r >> 16) as u32, (r & 0xffff) as u32))
    }

    /// `xen_version(XENVER_extraversion)`: the string of
    /// `xen_extra_version()`, or the error.
    pub fn extraversion(&mut self) -> Result<Result<String, i64>, MachineError> {
        let buf = self.buf();
        let (r, out) = self.call(
            nr::XEN_VERSION,
            [XENVER_EXTRAVERSION, buf, 0, 0, 0],
            &[0u8; XEN_EXTRAVERSION_LEN],
        )?;
        if r < 0 {
            return Ok(Err(r));
        }
        let s = &out[..XEN_EXTRAVERSION_LEN];
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        Ok(Ok(String::from_utf8_lossy(&s[..end]).into_owned()))
    }

    /// `xen_version(XENVER_build_id)`: the build-id bytes, or the error.
    pub fn build_id(&mut self) -> Result<Result<Vec<u8>, i64>, MachineError> {
        let buf = self.buf();
        let mut arg = vec![0u8; 4 + 64];
        arg[..4].copy_from_slice(&64u32.to_le_bytes());
        let (r, out) = self.call(nr::XEN_VERSION, [XENVER_BUILD_ID, buf, 0, 0, 0], &arg)?;
        if r < 0 {
            return Ok(Err(r));
        }
        let len = usize::try_from(r).unwrap_or(0).min(64);
        Ok(Ok(out[4..4 + len].to_vec()))
    }

    /// `memory_op(XENMEM_write_word)` with the struct at `arg` (a guest
    /// address; `None` places it in the mailbox buffer).
    pub fn write_word(
        &mut self,
        offset: u64,
        value: u64,
        arg: Option<u64>,
    ) -> Result<i64, MachineError> {
        let mut data = offset.to_le_bytes().to_vec();
        data.extend_from_slice(&value.to_le_bytes());
        let at = arg.unwrap_or(self.buf());
        Ok(self
            .call(nr::MEMORY_OP, [XENMEM_WRITE_WORD, at, 0, 0, 0], &data)?
            .0)
    }

    /// `console_io(CONSOLEIO_write)`.
    pub fn console_write(&mut self, text: &str) -> Result<i64, MachineError> {
        let buf = self.buf();
        let len = text.len() as u64;
        Ok(self
            .call(
                nr::CONSOLE_IO,
                [CONSOLEIO_WRITE, len, buf, 0, 0],
                text.as_bytes(),
            )?
            .0)
    }

    /// `event_channel_op(EVTCHNOP_send)`.
    pub fn evtchn_send(&mut self, port: u32) -> Result<i64, MachineError> {
        let buf = self.buf();
        Ok(self
            .call(
                nr::EVENT_CHANNEL_OP,
                [EVTCHNOP_SEND, buf, 0, 0, 0],
                &port.to_le_bytes(),
            )?
            .0)
    }

    /// `sysctl(XEN_SYSCTL_physinfo)`.
    pub fn physinfo(&mut self) -> Result<Result<XenSysctlPhysinfo, i64>, MachineError> {
        self.physinfo_with_version(XEN_SYSCTL_INTERFACE_VERSION)
    }

    /// `sysctl(XEN_SYSCTL_physinfo)` claiming interface `version`.
    pub fn physinfo_with_version(
        &mut self,
        version: u32,
    ) -> Result<Result<XenSysctlPhysinfo, i64>, MachineError> {
        let buf = self.buf();
        let mut arg = vec![0u8; XEN_SYSCTL_SIZE];
        arg[..4].copy_from_slice(&XEN_SYSCTL_PHYSINFO.to_le_bytes());
        arg[4..8].copy_from_slice(&version.to_le_bytes());
        let (r, out) = self.call(nr::SYSCTL, [buf, 0, 0, 0, 0], &arg)?;
        if r < 0 {
            return Ok(Err(r));
        }
        // struct xen_sysctl: cmd, interface_version, then the union.
        let p = 8;
        macro_rules! field {
            ($f:ident, $read:ident) => {
                $read(&out, p + std::mem::offset_of!(XenSysctlPhysinfo, $f))
            };
        }
        Ok(Ok(XenSysctlPhysinfo {
            threads_per_core: field!(threads_per_core, le_u32),
            cores_per_socket: field!(cores_per_socket, le_u32),
            nr_cpus: field!(nr_cpus, le_u32),
            max_cpu_id: field!(max_cpu_id, le_u32),
            nr_nodes: field!(nr_nodes, le_u32),
            max_node_id: field!(max_node_id, le_u32),
            cpu_khz: field!(cpu_khz, le_u32),
            capabilities: field!(capabilities, le_u32),
            total_pages: field!(total_pages, le_u64),
            free_pages: field!(free_pages, le_u64),
            scrub_pages: field!(scrub_pages, le_u64),
            nr_domains: field!(nr_domains, le_u32),
            nr_vcpus: field!(nr_vcpus, le_u32),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cheader::defines;

    #[test]
    fn numbers_match_the_public_headers() {
        let xen = defines("xen.h");
        let checks: &[(&std::collections::HashMap<String, u64>, &str, u64)] = &[
            (&xen, "__HYPERVISOR_memory_op", nr::MEMORY_OP),
            (&xen, "__HYPERVISOR_xen_version", nr::XEN_VERSION),
            (&xen, "__HYPERVISOR_console_io", nr::CONSOLE_IO),
            (&xen, "__HYPERVISOR_sched_op", nr::SCHED_OP),
            (&xen, "__HYPERVISOR_event_channel_op", nr::EVENT_CHANNEL_OP),
            (&xen, "__HYPERVISOR_sysctl", nr::SYSCTL),
            (&xen, "CONSOLEIO_write", CONSOLEIO_WRITE),
        ];
        for (d, name, v) in checks {
            assert_eq!(d.get(*name), Some(v), "{name}");
        }
        let ver = defines("version.h");
        assert_eq!(ver["XENVER_version"], XENVER_VERSION);
        assert_eq!(ver["XENVER_extraversion"], XENVER_EXTRAVERSION);
        assert_eq!(ver["XENVER_build_id"], XENVER_BUILD_ID);
        assert_eq!(ver["XEN_EXTRAVERSION_LEN"], XEN_EXTRAVERSION_LEN as u64);
        let ev = defines("event_channel.h");
        assert_eq!(ev["EVTCHNOP_send"], EVTCHNOP_SEND);
        let mem = defines("memory.h");
        assert_eq!(mem["XENMEM_write_word"], XENMEM_WRITE_WORD);
        assert_eq!(mem["XEN_MEMORY_WINDOW_DATA"], XEN_MEMORY_WINDOW_DATA);
        let sys = defines("sysctl.h");
        assert_eq!(
            sys["XEN_SYSCTL_INTERFACE_VERSION"],
            u64::from(XEN_SYSCTL_INTERFACE_VERSION)
        );
        assert_eq!(sys["XEN_SYSCTL_physinfo"], u64::from(XEN_SYSCTL_PHYSINFO));
        let e = defines("errno.h");
        for (name, v) in [
            ("XEN_EPERM", errno::EPERM),
            ("XEN_ENOENT", errno::ENOENT),
            ("XEN_EAGAIN", errno::EAGAIN),
            ("XEN_EACCES", errno::EACCES),
            ("XEN_EFAULT", errno::EFAULT),
            ("XEN_EBUSY", errno::EBUSY),
            ("XEN_EEXIST", errno::EEXIST),
            ("XEN_EINVAL", errno::EINVAL),
            ("XEN_ENOSYS", errno::ENOSYS),
        ] {
            assert_eq!(e.get(name).map(|&x| x as i64), Some(v), "{name}");
        }
    }

    #[test]
    fn struct_layouts_match_the_c_compiler() {
        use std::mem::{offset_of, size_of};
        let c = crate::cheader::c_layout(
            "sysctl.h",
            &[
                (
                    "struct xen_sysctl_physinfo",
                    &["nr_cpus", "total_pages", "nr_domains", "nr_vcpus"],
                ),
                ("struct xen_sysctl", &["cmd", "interface_version", "u"]),
            ],
        );
        let rust: &[(&str, usize)] = &[
            ("struct xen_sysctl_physinfo", size_of::<XenSysctlPhysinfo>()),
            (
                "struct xen_sysctl_physinfo.nr_cpus",
                offset_of!(XenSysctlPhysinfo, nr_cpus),
            ),
            (
                "struct xen_sysctl_physinfo.total_pages",
                offset_of!(XenSysctlPhysinfo, total_pages),
            ),
            (
                "struct xen_sysctl_physinfo.nr_domains",
                offset_of!(XenSysctlPhysinfo, nr_domains),
            ),
            (
                "struct xen_sysctl_physinfo.nr_vcpus",
                offset_of!(XenSysctlPhysinfo, nr_vcpus),
            ),
            ("struct xen_sysctl", XEN_SYSCTL_SIZE),
            ("struct xen_sysctl.cmd", 0),
            ("struct xen_sysctl.interface_version", 4),
            ("struct xen_sysctl.u", 8),
        ];
        for (key, value) in rust {
            assert_eq!(c.get(*key).copied(), Some(*value as u64), "{key}");
        }
    }
}
