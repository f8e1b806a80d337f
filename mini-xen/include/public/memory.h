/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memory.h
 *
 * memory_op(cmd, arg) hypercall (__HYPERVISOR_memory_op).
 */
#ifndef __XEN_PUBLIC_MEMORY_H__
#define __XEN_PUBLIC_MEMORY_H__

/*
 * Store one 64-bit value into the caller's own memory window.
 * arg == struct xen_memory_write_word.  offset is relative to the end of
 * the mailbox page: the word written is at
 * PLAT_DOMAIN_WINDOW(domid) + XEN_MEMORY_WINDOW_DATA + offset, and
 * offset + 8 must not exceed PLAT_DOMAIN_SIZE - XEN_MEMORY_WINDOW_DATA
 * (-EINVAL otherwise).  -EFAULT if the word is not mapped.
 * (mini-xen specific; not a Xen sub-op.)
 */
#define XENMEM_write_word               64
#define XEN_MEMORY_WINDOW_DATA          0x1000

#ifndef __ASSEMBLY__
#include <stdint.h>

struct xen_memory_write_word {
    uint64_t offset;
    uint64_t value;
};
#endif

#endif /* __XEN_PUBLIC_MEMORY_H__ */
