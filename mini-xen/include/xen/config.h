/* SPDX-License-Identifier: GPL-2.0 */
/*
 * config.h
 *
 * Build-wide constants, included first in every C and assembly file
 * (-include xen/config.h).  Everything here must be usable from C, from
 * GNU as and from the preprocessed linker script.
 */
#ifndef __XEN_CONFIG_H__
#define __XEN_CONFIG_H__

#ifndef __ASSEMBLY__
/* Everything is hidden: with -fpic, references are RIP-relative, no GOT. */
#pragma GCC visibility push(hidden)
#endif

#ifdef __ASSEMBLY__
#define _AC(x, y)               x
#else
#define __AC(x, y)              x ## y
#define _AC(x, y)               __AC(x, y)
#endif

#define NR_CPUS                 64
#define MAX_DOMAINS             8

#define PAGE_SHIFT              12
#define PAGE_SIZE               (_AC(1, UL) << PAGE_SHIFT)
#define PAGE_MASK               (~(PAGE_SIZE - 1))

/*
 * Per-CPU stack block (8 pages, aligned to its size so that masking %rsp
 * finds struct cpu_info at the top):
 *   page 0: #DF IST stack     page 1: NMI IST stack
 *   page 2: #MC IST stack     page 3: guard page (not present)
 *   pages 4-7: primary stack, struct cpu_info at the very top.
 */
#define STACK_ORDER             3
#define STACK_SIZE              (PAGE_SIZE << STACK_ORDER)
#define STACK_SHIFT             (PAGE_SHIFT + STACK_ORDER)
#define IST_DF_PAGE             0
#define IST_NMI_PAGE            1
#define IST_MCE_PAGE            2
#define STACK_GUARD_PAGE        3
#define PRIMARY_STACK_SIZE      (4 * PAGE_SIZE)

/* IST slots (1-based, as in the IDT gate) */
#define IST_NONE                0
#define IST_DF                  1
#define IST_NMI                 2
#define IST_MCE                 3

/* Image placement; must match PLAT_IMAGE_BASE in public/platform.h. */
#define XEN_VIRT_START          0x100000
#define XEN_IMAGE_LIMIT         0x1000000

/* Segment selectors */
#define __HYPERVISOR_CS         0x08
#define __HYPERVISOR_DS         0x10
#define __GUEST_CS_SEL          0x18
#define __GUEST_DS_SEL          0x20
#define FLAT_GUEST_CS           (__GUEST_CS_SEL | 3)
#define FLAT_GUEST_SS           (__GUEST_DS_SEL | 3)
#define TSS_SELECTOR(cpu)       (0x28 + (cpu) * 16)
#define GDT_ENTRIES             (5 + 2 * NR_CPUS)

/* Scheduler tick, in ns of virtual time */
#define SCHED_TICK_NS           100000

#define XEN_VERSION             4
#define XEN_SUBVERSION          21
#define XEN_EXTRAVERSION        "-mini"

#endif /* __XEN_CONFIG_H__ */
