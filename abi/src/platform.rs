//! The machine contract shared with mini-xen, mirrored from
//! `mini-xen/include/public/platform.h`. A test parses the header and checks
//! that every value here matches it.

/// Size of guest RAM, mapped at physical address 0.
pub const RAM_SIZE: u64 = 0x0400_0000;
/// Where the emulator writes [`BootInfo`] before the first instruction.
pub const BOOT_INFO: u64 = 0x0000_7000;
/// Where the emulator writes the hypervisor command line (NUL-terminated).
pub const BOOT_CMDLINE: u64 = 0x0000_7100;
/// Bytes available at [`BOOT_CMDLINE`], NUL included.
pub const BOOT_CMDLINE_MAX: usize = 1024;
/// Load address and entry point of the flat image.
pub const IMAGE_BASE: u64 = 0x0010_0000;
/// The image, including its bss, ends below this address.
pub const IMAGE_LIMIT: u64 = 0x0100_0000;
/// Area where mini-xen places live-patch payloads.
pub const LIVEPATCH_BASE: u64 = 0x0100_0000;
/// Size of the payload area.
pub const LIVEPATCH_SIZE: u64 = 0x0080_0000;
/// Start of the guest memory windows.
pub const DOMAIN_BASE: u64 = 0x0200_0000;
/// Size of one domain's window.
pub const DOMAIN_SIZE: u64 = 0x0020_0000;
/// Number of simulated domains booted by default.
pub const NR_DOMAINS: u32 = 3;
/// Symbol of the per-CPU `uint64_t` array of NMIs handled.
pub const NMI_HANDLED_SYMBOL: &str = "nmi_count";
/// Symbol of the per-CPU `uint64_t` array of machine checks handled.
pub const MCE_HANDLED_SYMBOL: &str = "mce_count";
/// Symbol of the per-CPU `uint64_t` array of NMIs taken in the live-patch
/// window and not handled yet (owed, not lost).
pub const NMI_DEFERRED_SYMBOL: &str = "nmi_deferred";
/// Symbol of the per-CPU `uint64_t` array of machine checks owed.
pub const MCE_DEFERRED_SYMBOL: &str = "mce_deferred";
/// Machine-check banks of each vCPU.
pub const MCA_BANKS: usize = 4;
/// Most vCPUs a machine can have.
pub const MAX_CPUS: usize = 64;

/// Console data port (COM1).
pub const PORT_COM1_DATA: u16 = 0x3f8;
/// Console line-status port.
pub const PORT_COM1_LSR: u16 = 0x3fd;
/// Virtual time in ns, low half; reading it latches the high half.
pub const PORT_TIME_LO: u16 = 0x510;
/// Virtual time, high half.
pub const PORT_TIME_HI: u16 = 0x514;
/// One-shot timer of the writing vCPU, relative ns (0 cancels).
pub const PORT_TIMER: u16 = 0x518;
/// Inter-processor interrupt: vector | dest << 8 | ALL_BUT_SELF.
pub const PORT_IPI: u16 = 0x51c;
/// Starts the AP whose number is written.
pub const PORT_CPU_START: u16 = 0x520;
/// Hypervisor panic: address of a `struct cpu_user_regs`, or 0.
pub const PORT_PANIC: u16 = 0x524;
/// Selects an MCA register of the vCPU by MSR number.
pub const PORT_MCA_INDEX: u16 = 0x528;
/// MCA register, low half (reading latches the high half; writing stores
/// the pending high half and this value).
pub const PORT_MCA_LO: u16 = 0x52c;
/// MCA register, high half.
pub const PORT_MCA_HI: u16 = 0x530;
/// Flag in a [`PORT_IPI`] value: every vCPU but the sender.
pub const IPI_ALL_BUT_SELF: u32 = 1 << 16;

/// Non-maskable interrupt vector.
pub const TRAP_NMI: u8 = 2;
/// Invalid opcode (#UD), used by BUG/WARN.
pub const TRAP_INVALID_OP: u8 = 6;
/// Double fault.
pub const TRAP_DOUBLE_FAULT: u8 = 8;
/// General protection fault.
pub const TRAP_GP_FAULT: u8 = 13;
/// Page fault.
pub const TRAP_PAGE_FAULT: u8 = 14;
/// Machine check.
pub const TRAP_MACHINE_CHECK: u8 = 18;
/// `int $0x82`: the hypercall gate.
pub const HYPERCALL_VECTOR: u8 = 0x82;
/// Per-vCPU timer interrupt.
pub const TIMER_VECTOR: u8 = 0xf0;
/// The IPI that kicks a CPU out of idle or guest mode (`smp_send_event_check`).
pub const EVENT_CHECK_VECTOR: u8 = 0xf1;
/// Raised on CPU 0 when console input arrives.
pub const SERIAL_VECTOR: u8 = 0xf3;

/// `struct boot_info` magic ("MXBI").
pub const BOOT_INFO_MAGIC: u32 = 0x4942_584d;
/// Boot flag: guests never block.
pub const BOOT_BUSY_GUESTS: u32 = 1;

/// Mailbox states.
pub const MBOX_IDLE: u32 = 0;
/// The host has posted a request.
pub const MBOX_REQUEST: u32 = 1;
/// The guest has stored the result.
pub const MBOX_DONE: u32 = 2;
/// Offset of `state` inside `struct mailbox`.
pub const MBOX_STATE: u64 = 0;
/// Offset of `seq`.
pub const MBOX_SEQ: u64 = 4;
/// Offset of `op`.
pub const MBOX_OP: u64 = 8;
/// Offset of `args[5]`.
pub const MBOX_ARGS: u64 = 16;
/// Offset of `ret`.
pub const MBOX_RET: u64 = 56;
/// Offset of `buf` inside `struct mailbox`.
pub const MBOX_BUF_OFFSET: u64 = 1024;
/// Size of `buf`.
pub const MBOX_BUF_SIZE: usize = 3072;
/// Mailbox op the guest does itself in ring 3: `ret = *(u64 *)args[0]`.
pub const MBOX_OP_LOAD: u64 = 0x10000;
/// Mailbox op the guest does itself in ring 3: `*(u64 *)args[0] = args[1]`.
pub const MBOX_OP_STORE: u64 = 0x10001;
/// Mailbox op the guest does itself in ring 3: hypercall `args[1]` with
/// `rdi, rsi, rdx = args[2..5]`, `args[0]` times in a loop.
pub const MBOX_OP_REPEAT: u64 = 0x10002;

/// Guest memory window of domain `domid`; its first page is the mailbox.
pub const fn domain_window(domid: u32) -> u64 {
    DOMAIN_BASE + domid as u64 * DOMAIN_SIZE
}

/// `struct boot_info`, written at [`BOOT_INFO`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u32,
    /// Number of vCPUs.
    pub nr_cpus: u32,
    /// `BOOT_*` flags.
    pub flags: u32,
    /// Number of domains to create.
    pub nr_domains: u32,
    /// Length of the command line at [`BOOT_CMDLINE`], without its NUL.
    pub cmdline_len: u32,
}

impl BootInfo {
    /// Little-endian bytes as laid out in guest memory.
    pub fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        for (i, v) in [
            self.magic,
            self.nr_cpus,
            self.flags,
            self.nr_domains,
            self.cmdline_len,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

/// `struct cpu_user_regs`: the frame saved on every hypervisor entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuUserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub error_code: u32,
    pub entry_vector: u32,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl CpuUserRegs {
    /// Size of the structure in guest memory.
    pub const SIZE: usize = std::mem::size_of::<CpuUserRegs>();

    /// Decodes the structure from guest memory bytes.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> CpuUserRegs {
        let q = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let codes = q(15);
        CpuUserRegs {
            r15: q(0),
            r14: q(1),
            r13: q(2),
            r12: q(3),
            rbp: q(4),
            rbx: q(5),
            r11: q(6),
            r10: q(7),
            r9: q(8),
            r8: q(9),
            rax: q(10),
            rcx: q(11),
            rdx: q(12),
            rsi: q(13),
            rdi: q(14),
            error_code: codes as u32,
            entry_vector: (codes >> 32) as u32,
            rip: q(16),
            cs: q(17),
            rflags: q(18),
            rsp: q(19),
            ss: q(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cheader::defines;

    #[test]
    fn constants_match_the_c_header() {
        let d = defines("platform.h");
        let pairs: &[(&str, u64)] = &[
            ("PLAT_RAM_SIZE", RAM_SIZE),
            ("PLAT_BOOT_INFO", BOOT_INFO),
            ("PLAT_BOOT_CMDLINE", BOOT_CMDLINE),
            ("BOOT_CMDLINE_MAX", BOOT_CMDLINE_MAX as u64),
            ("PLAT_IMAGE_BASE", IMAGE_BASE),
            ("PLAT_IMAGE_LIMIT", IMAGE_LIMIT),
            ("PLAT_LIVEPATCH_BASE", LIVEPATCH_BASE),
            ("PLAT_LIVEPATCH_SIZE", LIVEPATCH_SIZE),
            ("PLAT_DOMAIN_BASE", DOMAIN_BASE),
            ("PLAT_DOMAIN_SIZE", DOMAIN_SIZE),
            ("PLAT_NR_DOMAINS", NR_DOMAINS as u64),
            ("PLAT_MAX_CPUS", MAX_CPUS as u64),
            ("PORT_COM1_DATA", PORT_COM1_DATA as u64),
            ("PORT_COM1_LSR", PORT_COM1_LSR as u64),
            ("PORT_TIME_LO", PORT_TIME_LO as u64),
            ("PORT_TIME_HI", PORT_TIME_HI as u64),
            ("PORT_TIMER", PORT_TIMER as u64),
            ("PORT_IPI", PORT_IPI as u64),
            ("PORT_CPU_START", PORT_CPU_START as u64),
            ("PORT_PANIC", PORT_PANIC as u64),
            ("PORT_MCA_INDEX", PORT_MCA_INDEX as u64),
            ("PORT_MCA_LO", PORT_MCA_LO as u64),
            ("PORT_MCA_HI", PORT_MCA_HI as u64),
            ("PLAT_MCA_BANKS", MCA_BANKS as u64),
            ("TRAP_nmi", TRAP_NMI as u64),
            ("TRAP_invalid_op", TRAP_INVALID_OP as u64),
            ("TRAP_double_fault", TRAP_DOUBLE_FAULT as u64),
            ("TRAP_gp_fault", TRAP_GP_FAULT as u64),
            ("TRAP_page_fault", TRAP_PAGE_FAULT as u64),
            ("TRAP_machine_check", TRAP_MACHINE_CHECK as u64),
            ("HYPERCALL_VECTOR", HYPERCALL_VECTOR as u64),
            ("TIMER_VECTOR", TIMER_VECTOR as u64),
            ("EVENT_CHECK_VECTOR", EVENT_CHECK_VECTOR as u64),
            ("SERIAL_VECTOR", SERIAL_VECTOR as u64),
            ("BOOT_INFO_MAGIC", BOOT_INFO_MAGIC as u64),
            ("MBOX_IDLE", MBOX_IDLE as u64),
            ("MBOX_REQUEST", MBOX_REQUEST as u64),
            ("MBOX_DONE", MBOX_DONE as u64),
            ("MBOX_BUF_SIZE", MBOX_BUF_SIZE as u64),
            ("MBOX_OP_LOAD", MBOX_OP_LOAD),
            ("MBOX_OP_STORE", MBOX_OP_STORE),
            ("MBOX_OP_REPEAT", MBOX_OP_REPEAT),
        ];
        for (name, value) in pairs {
            assert_eq!(d.get(*name), Some(value), "{name}");
        }
        assert_eq!(
            d.get("BOOT_BUSY_GUESTS"),
            Some(&u64::from(BOOT_BUSY_GUESTS))
        );
    }

    #[test]
    fn struct_layouts_match_the_c_compiler() {
        use std::mem::{offset_of, size_of};
        let c = crate::cheader::c_layout(
            "platform.h",
            &[
                (
                    "struct boot_info",
                    &["magic", "nr_cpus", "flags", "nr_domains", "cmdline_len"],
                ),
                (
                    "struct cpu_user_regs",
                    &[
                        "r15",
                        "rbp",
                        "rdi",
                        "error_code",
                        "entry_vector",
                        "rip",
                        "ss",
                    ],
                ),
                (
                    "struct mailbox",
                    &["state", "seq", "op", "args", "ret", "buf"],
                ),
            ],
        );
        let rust: &[(&str, usize)] = &[
            ("struct boot_info", size_of::<BootInfo>()),
            ("struct boot_info.magic", offset_of!(BootInfo, magic)),
            ("struct boot_info.nr_cpus", offset_of!(BootInfo, nr_cpus)),
            ("struct boot_info.flags", offset_of!(BootInfo, flags)),
            (
                "struct boot_info.nr_domains",
                offset_of!(BootInfo, nr_domains),
            ),
            (
                "struct boot_info.cmdline_len",
                offset_of!(BootInfo, cmdline_len),
            ),
            ("struct cpu_user_regs", CpuUserRegs::SIZE),
            ("struct cpu_user_regs.r15", offset_of!(CpuUserRegs, r15)),
            ("struct cpu_user_regs.rbp", offset_of!(CpuUserRegs, rbp)),
            ("struct cpu_user_regs.rdi", offset_of!(CpuUserRegs, rdi)),
            (
                "struct cpu_user_regs.error_code",
                offset_of!(CpuUserRegs, error_code),
            ),
            (
                "struct cpu_user_regs.entry_vector",
                offset_of!(CpuUserRegs, entry_vector),
            ),
            ("struct cpu_user_regs.rip", offset_of!(CpuUserRegs, rip)),
            ("struct cpu_user_regs.ss", offset_of!(CpuUserRegs, ss)),
            ("struct mailbox", 4096),
            ("struct mailbox.state", MBOX_STATE as usize),
            ("struct mailbox.seq", MBOX_SEQ as usize),
            ("struct mailbox.op", MBOX_OP as usize),
            ("struct mailbox.args", MBOX_ARGS as usize),
            ("struct mailbox.ret", MBOX_RET as usize),
            ("struct mailbox.buf", MBOX_BUF_OFFSET as usize),
        ];
        for (key, value) in rust {
            assert_eq!(c.get(*key).copied(), Some(*value as u64), "{key}");
        }
    }

    #[test]
    fn accounting_symbols_match_the_header() {
        let text = crate::cheader::header_text("platform.h");
        assert!(text.contains(&format!(
            "#define PLAT_NMI_HANDLED_SYMBOL \"{NMI_HANDLED_SYMBOL}\""
        )));
        assert!(text.contains(&format!(
            "#define PLAT_MCE_HANDLED_SYMBOL \"{MCE_HANDLED_SYMBOL}\""
        )));
        assert!(text.contains(&format!(
            "#define PLAT_NMI_DEFERRED_SYMBOL \"{NMI_DEFERRED_SYMBOL}\""
        )));
        assert!(text.contains(&format!(
            "#define PLAT_MCE_DEFERRED_SYMBOL \"{MCE_DEFERRED_SYMBOL}\""
        )));
    }
}
