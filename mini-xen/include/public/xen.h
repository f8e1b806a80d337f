/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen.h
 *
 * Guest-visible hypercall ABI of mini-xen.  Hypercalls are issued with
 * "int $0x82" from ring 3: rax = hypercall number, arguments in rdi, rsi,
 * rdx, r10, r8; the result comes back in rax (negative XEN_E* on error).
 * All other registers are preserved.  The numbers are Xen's.
 */
#ifndef __XEN_PUBLIC_XEN_H__
#define __XEN_PUBLIC_XEN_H__

#define __HYPERVISOR_memory_op          12
#define __HYPERVISOR_xen_version        17
#define __HYPERVISOR_console_io         18
#define __HYPERVISOR_sched_op           29
#define __HYPERVISOR_event_channel_op   32
#define __HYPERVISOR_sysctl             35
#define NR_hypercalls                   64

/* console_io(cmd, count, buffer) */
#define CONSOLEIO_write                 0

#define DOMID_FIRST_RESERVED            0x7ff0U
#define DOMID_SELF                      0x7ff0U
#define DOMID_IDLE                      0x7fffU

#ifndef __ASSEMBLY__
#include <stdint.h>

typedef uint16_t domid_t;
#endif

#endif /* __XEN_PUBLIC_XEN_H__ */
