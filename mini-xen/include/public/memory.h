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

/*
 * Paging-style requests answered by dom0, after Xen's mem_paging: the
 * calling vCPU asks for a page (arg = gfn, unused) and sleeps inside the
 * hypervisor, its stack kept (a waitqueue), until dom0 answers; the
 * result is the value dom0 gave.  XENMEM_paging_resume, dom0 only:
 * arg = domid, a3 = value; answers that domain's oldest request and
 * wakes its waiters; -ENOENT if it has none, -EPERM from another domain.
 * (mini-xen specific; not Xen sub-ops.)
 */
#define XENMEM_paging_request           65
#define XENMEM_paging_resume            66

#ifndef __ASSEMBLY__
#include <stdint.h>

struct xen_memory_write_word {
    uint64_t offset;
    uint64_t value;
};
#endif

#endif /* __XEN_PUBLIC_MEMORY_H__ */
