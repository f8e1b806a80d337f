//! The guest-visible hypercall ABI of mini-xen, mirrored from
//! `mini-xen/include/public/`: numbers, errno values, sysctl structs.

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
/// `XENVER_callpath` (mini-xen only): returns `callpath_leaf(arg)`.
pub const XENVER_CALLPATH: u64 = 0x100;
/// `XEN_EXTRAVERSION_LEN`.
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// `CONSOLEIO_write`.
pub const CONSOLEIO_WRITE: u64 = 0;
/// `EVTCHNOP_send`.
pub const EVTCHNOP_SEND: u64 = 4;
/// `XENMEM_write_word`.
pub const XENMEM_WRITE_WORD: u64 = 64;
/// `XENMEM_paging_request`: the caller sleeps in the hypervisor until dom0
/// answers (mini-xen's waitqueue model of Xen's mem_paging).
pub const XENMEM_PAGING_REQUEST: u64 = 65;
/// `XENMEM_paging_resume`: dom0 answers a domain's oldest request.
pub const XENMEM_PAGING_RESUME: u64 = 66;
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
pub fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

/// Little-endian u64 at `off` (0 past the end).
pub fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
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
        assert_eq!(ver["XENVER_callpath"], XENVER_CALLPATH);
        assert_eq!(ver["XEN_EXTRAVERSION_LEN"], XEN_EXTRAVERSION_LEN as u64);
        let ev = defines("event_channel.h");
        assert_eq!(ev["EVTCHNOP_send"], EVTCHNOP_SEND);
        let mem = defines("memory.h");
        assert_eq!(mem["XENMEM_write_word"], XENMEM_WRITE_WORD);
        assert_eq!(mem["XEN_MEMORY_WINDOW_DATA"], XEN_MEMORY_WINDOW_DATA);
        assert_eq!(mem["XENMEM_paging_request"], XENMEM_PAGING_REQUEST);
        assert_eq!(mem["XENMEM_paging_resume"], XENMEM_PAGING_RESUME);
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
