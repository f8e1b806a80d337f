/* SPDX-License-Identifier: GPL-2.0 */
/*
 * platform.h
 *
 * The machine contract between mini-xen and the testbed emulator: memory
 * map, I/O ports, interrupt vectors, the boot protocol and the structures
 * that the emulator reads or writes in guest memory.  The Rust side mirrors
 * every value here (emulator/src/platform.rs) and tests check that the two
 * agree, so change both together.
 *
 * Addresses are physical; mini-xen identity-maps all of RAM, so they are
 * also the virtual addresses used by the hypervisor and the guests.
 */
#ifndef __XEN_PUBLIC_PLATFORM_H__
#define __XEN_PUBLIC_PLATFORM_H__

/* ---- Memory map ------------------------------------------------------ */
#define PLAT_RAM_SIZE           0x04000000UL /* 64 MiB of RAM at physical 0 */
#define PLAT_BOOT_INFO          0x00007000UL /* struct boot_info, by the emulator */
#define PLAT_BOOT_CMDLINE       0x00007100UL /* hypervisor command line, NUL-terminated */
#define PLAT_IMAGE_BASE         0x00100000UL /* flat image loaded here */
#define PLAT_IMAGE_LIMIT        0x01000000UL /* image (incl. bss) ends below this */
#define PLAT_LIVEPATCH_BASE     0x01000000UL /* payload allocations (vmap-like) */
#define PLAT_LIVEPATCH_SIZE     0x00800000UL
#define PLAT_HEAP_BASE          0x01800000UL /* xmalloc heap */
#define PLAT_HEAP_SIZE          0x00800000UL
#define PLAT_DOMAIN_BASE        0x02000000UL /* guest memory windows */
#define PLAT_DOMAIN_SIZE        0x00200000UL /* per domain; last 4 KiB unmapped */
#define PLAT_MAX_DOMAINS        8
#define PLAT_NR_DOMAINS         3            /* dom0, dom1, dom2 */
#define PLAT_MAX_CPUS           64

/* Guest memory window of domain d. Its first page is the mailbox. */
#define PLAT_DOMAIN_WINDOW(d)   (PLAT_DOMAIN_BASE + (unsigned long)(d) * PLAT_DOMAIN_SIZE)

/* ---- I/O ports (in/out instructions, 8- or 32-bit) ------------------- */
#define PORT_COM1_DATA          0x3f8 /* out8: console byte; in8: next input byte */
#define PORT_COM1_LSR           0x3fd /* in8: bit 0 input ready, bit 5 always 1 */
#define PORT_TIME_LO            0x510 /* in32: virtual time in ns, low half */
#define PORT_TIME_HI            0x514 /* in32: high half, latched by reading LO */
#define PORT_TIMER              0x518 /* out32: this vCPU's one-shot timer, fire in N ns; 0 cancels */
#define PORT_IPI                0x51c /* out32: IPI_VECTOR(v) | IPI_DEST(cpu) [| IPI_ALL_BUT_SELF] */
#define PORT_CPU_START          0x520 /* out32: start AP n at PLAT_IMAGE_BASE (INIT/SIPI) */
#define PORT_PANIC              0x524 /* out32: address of a struct cpu_user_regs, or 0; stops the machine */
#define PORT_MCA_INDEX          0x528 /* out32: select an MCA register of this vCPU by MSR number */
#define PORT_MCA_LO             0x52c /* in32: low half (latches HI); out32: write HI:value */
#define PORT_MCA_HI             0x530 /* in32: high half; out32: high half of the next LO write */

#define IPI_VECTOR(v)           ((unsigned int)(v) & 0xff)
#define IPI_DEST(cpu)           (((unsigned int)(cpu) & 0xff) << 8)
#define IPI_ALL_BUT_SELF        (1u << 16)

/* ---- Interrupt vectors ----------------------------------------------- */
#define TRAP_divide_error       0
#define TRAP_nmi                2
#define TRAP_invalid_op         6
#define TRAP_double_fault       8
#define TRAP_gp_fault           13
#define TRAP_page_fault         14
#define TRAP_machine_check      18
#define HYPERCALL_VECTOR        0x82 /* int $0x82 from ring 3, DPL 3 gate */
#define TIMER_VECTOR            0xf0
#define EVENT_CHECK_VECTOR      0xf1
#define CALL_FUNCTION_VECTOR    0xf2
#define SERIAL_VECTOR           0xf3 /* raised on CPU 0 when console input arrives */

/*
 * ---- Boot protocol -----------------------------------------------------
 * Every vCPU enters at PLAT_IMAGE_BASE in 64-bit mode with paging off
 * (identity), interrupts off, RDI = its CPU number and RSP undefined.
 * Only CPU 0 runs at first; it starts each AP with an out32 of the AP's
 * number to PORT_CPU_START.  The emulator fills struct boot_info first,
 * and writes the hypervisor command line (Xen's "key=value" words,
 * cmdline_len bytes, then a NUL) at PLAT_BOOT_CMDLINE.
 */
#define BOOT_INFO_MAGIC         0x4942584dU /* "MXBI" */
#define BOOT_BUSY_GUESTS        (1u << 0)   /* guests never block: CPU-bound load */
#define BOOT_CMDLINE_MAX        1024        /* bytes at PLAT_BOOT_CMDLINE, NUL included */

/*
 * ---- NMI and #MC accounting ---------------------------------------------
 * The hypervisor exports two arrays of uint64_t, one entry per CPU, by
 * these symbol names: how many NMIs and machine checks each CPU has
 * handled (incremented once per event, when the handler has dealt with
 * it).  The emulator counts what it injected and delivered; any
 * difference once the handlers have returned is an event that was lost.
 */
#define PLAT_NMI_HANDLED_SYMBOL "nmi_count"
#define PLAT_MCE_HANDLED_SYMBOL "mce_count"

/*
 * Events taken and owed: an NMI or #MC that arrived while its CPU was in
 * the live-patch window (livepatch-nmi=safe) is counted here until its
 * handler has run, right after the window.  Same layout as above.  Lost
 * means delivered > handled + deferred.
 */
#define PLAT_NMI_DEFERRED_SYMBOL "nmi_deferred"
#define PLAT_MCE_DEFERRED_SYMBOL "mce_deferred"

/*
 * ---- Machine-check architecture ------------------------------------------
 * Each vCPU has MCG_CAP (0x179, read-only: PLAT_MCA_BANKS banks),
 * MCG_STATUS (0x17a) and per bank MCi_CTL/STATUS/ADDR/MISC (0x400 + 4i
 * + 0..3), reached through PORT_MCA_INDEX/LO/HI by MSR number: select,
 * then read LO (which latches HI) and HI, or write HI then LO.  The host
 * sets the values an injected machine check carries; they are loaded at
 * its delivery (MCG_STATUS gets MCIP).  An unknown register reads 0.
 */
#define PLAT_MCA_BANKS          4

#ifndef __ASSEMBLY__
#include <stdint.h>

struct boot_info {
    uint32_t magic;
    uint32_t nr_cpus;       /* 1 .. PLAT_MAX_CPUS */
    uint32_t flags;         /* BOOT_* */
    uint32_t nr_domains;    /* PLAT_NR_DOMAINS */
    uint32_t cmdline_len;   /* < BOOT_CMDLINE_MAX; 0: empty command line */
};

/*
 * Register frame saved on every entry to the hypervisor (exceptions,
 * interrupts, hypercalls), in Xen's order.  The hardware part starts at
 * rip.  PORT_PANIC takes a pointer to one.
 */
struct cpu_user_regs {
    uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
    uint64_t rax, rcx, rdx, rsi, rdi;
    uint32_t error_code, entry_vector;
    uint64_t rip, cs, rflags, rsp, ss;
};

/*
 * Per-domain request mailbox, at PLAT_DOMAIN_WINDOW(domid).  The host
 * writes op/args (and data into buf), then sets state to MBOX_REQUEST.  The
 * domain's vCPU 0 notices it in its guest loop, issues the hypercall with
 * int $0x82 (rax = op, rdi, rsi, rdx, r10, r8 = args), stores the result
 * in ret and sets state to MBOX_DONE.  Pointers in args are guest
 * addresses, normally into buf.
 */
#define MBOX_IDLE               0
#define MBOX_REQUEST            1
#define MBOX_DONE               2
#define MBOX_BUF_SIZE           3072

/*
 * Two ops the guest program performs itself, in ring 3, instead of a
 * hypercall (whose numbers are small): MBOX_OP_LOAD stores the 64-bit
 * word at args[0] in ret; MBOX_OP_STORE writes args[1] to args[0] and
 * stores 0.  A fault crashes the domain (ret is never written).  For
 * tests of what a domain's own code can reach.
 */
#define MBOX_OP_LOAD            0x10000
#define MBOX_OP_STORE           0x10001

/*
 * MBOX_OP_REPEAT: the guest issues hypercall args[1] (rdi, rsi, rdx =
 * args[2], args[3], args[4]; r10 = r8 = 0) args[0] times in a loop and
 * stores the last result: many calls from ring 3 for one request
 * (testbed callpath).  args[0] must be at least 1.
 */
#define MBOX_OP_REPEAT          0x10002

struct mailbox {
    uint32_t state;
    uint32_t seq;
    uint64_t op;
    uint64_t args[5];
    int64_t  ret;
    uint8_t  _pad[1024 - 64];
    uint8_t  buf[MBOX_BUF_SIZE];
};
#endif /* __ASSEMBLY__ */

#endif /* __XEN_PUBLIC_PLATFORM_H__ */
