//! A typed client that has a domain issue hypercalls through its mailbox
//! (a real `int $0x82` from ring 3). The ABI itself is `abi::hypercall`.

pub use abi::hypercall::*;

use crate::machine::{Machine, MachineError};
use crate::platform::*;
use crate::report::{Budget, CrashReason};

/// Guest address of domain `domid`'s mailbox buffer.
pub fn mailbox_buf(domid: u32) -> u64 {
    domain_window(domid) + MBOX_BUF_OFFSET
}

/// Virtual time a hypercall may take before it counts as run away.
const HYPERCALL_BUDGET_NS: u64 = 1_000_000_000;

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
        mailbox_buf(self.domid)
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
        self.call_observed(op, args, data, |_| {})
    }

    /// [`Guest::call`], with `observe` shown the machine before every
    /// round until the request is done (with single steps on: after every
    /// instruction).
    pub fn call_observed(
        &mut self,
        op: u64,
        args: [u64; 5],
        data: &[u8],
        mut observe: impl FnMut(&Machine),
    ) -> Result<(i64, Vec<u8>), MachineError> {
        let domid = self.domid;
        if domid >= NR_DOMAINS {
            return Err(MachineError::NoDomain(domid));
        }
        if data.len() > MBOX_BUF_SIZE {
            return Err(MachineError::MailboxTooSmall(data.len()));
        }
        // The mailbox protocol: buffer, op and args, then a new sequence
        // number and REQUEST; the guest stores the result and DONE.
        let mbox = domain_window(domid);
        let mut req = [0u8; MBOX_RET as usize];
        let seq = self.m.ram().read_u32(mbox + MBOX_SEQ)?.wrapping_add(1);
        req[MBOX_STATE as usize..][..4].copy_from_slice(&MBOX_REQUEST.to_le_bytes());
        req[MBOX_SEQ as usize..][..4].copy_from_slice(&seq.to_le_bytes());
        req[MBOX_OP as usize..][..8].copy_from_slice(&op.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            req[MBOX_ARGS as usize + 8 * i..][..8].copy_from_slice(&a.to_le_bytes());
        }
        self.m.host_write(self.buf(), data)?;
        self.m.host_write(mbox, &req)?;
        let done = self.m.run_until(HYPERCALL_BUDGET_NS, |m| {
            observe(m);
            m.ram()
                .read_u32(mbox + MBOX_STATE)
                .is_ok_and(|s| s == MBOX_DONE)
        })?;
        if !done {
            return Err(self.m.fail(CrashReason::Budget(Budget::Hypercall {
                domid,
                op,
                ms: HYPERCALL_BUDGET_NS / 1_000_000,
            })));
        }
        let ret = self.m.ram().read_u64(mbox + MBOX_RET)? as i64;
        let mut buf = vec![0u8; MBOX_BUF_SIZE];
        self.m.ram().read(self.buf(), &mut buf)?;
        self.m
            .host_write(mbox + MBOX_STATE, &MBOX_IDLE.to_le_bytes())?;
        Ok((ret, buf))
    }

    /// Posts hypercall `op` with `args` and returns at once: the domain
    /// issues it when it next looks at its mailbox, and it may sleep in
    /// the hypervisor (`XENMEM_paging_request`). [`Guest::result`] says
    /// whether it has returned.
    pub fn post(&mut self, op: u64, args: [u64; 5]) -> Result<(), MachineError> {
        let domid = self.domid;
        if domid >= NR_DOMAINS {
            return Err(MachineError::NoDomain(domid));
        }
        let mbox = domain_window(domid);
        let mut req = [0u8; MBOX_RET as usize];
        let seq = self.m.ram().read_u32(mbox + MBOX_SEQ)?.wrapping_add(1);
        req[MBOX_STATE as usize..][..4].copy_from_slice(&MBOX_REQUEST.to_le_bytes());
        req[MBOX_SEQ as usize..][..4].copy_from_slice(&seq.to_le_bytes());
        req[MBOX_OP as usize..][..8].copy_from_slice(&op.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            req[MBOX_ARGS as usize + 8 * i..][..8].copy_from_slice(&a.to_le_bytes());
        }
        self.m.host_write(mbox, &req)
    }

    /// The result of a [`Guest::post`]ed hypercall once it returned (the
    /// mailbox is then free again), or `None` while it has not.
    pub fn result(&mut self) -> Result<Option<i64>, MachineError> {
        let mbox = domain_window(self.domid);
        if self.m.ram().read_u32(mbox + MBOX_STATE)? != MBOX_DONE {
            return Ok(None);
        }
        let ret = self.m.ram().read_u64(mbox + MBOX_RET)? as i64;
        self.m
            .host_write(mbox + MBOX_STATE, &MBOX_IDLE.to_le_bytes())?;
        Ok(Some(ret))
    }

    /// dom0's `memory_op(XENMEM_paging_resume)`: answers `domid`'s oldest
    /// paging request with `value` (0, or -ENOENT if it has none).
    pub fn paging_resume(&mut self, domid: u32, value: u64) -> Result<i64, MachineError> {
        Ok(self
            .call(
                nr::MEMORY_OP,
                [XENMEM_PAGING_RESUME, u64::from(domid), value, 0, 0],
                &[],
            )?
            .0)
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
