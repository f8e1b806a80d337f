/* SPDX-License-Identifier: GPL-2.0 */
/*
 * counters.h
 *
 * Resource counters the hypervisor keeps in one struct at the symbol
 * xen_counters, for the host to read from RAM (the loader fuzzer checks
 * that a refused or unloaded payload leaves every one of them where it
 * was).  Mirrored by abi::counters; each field is a u64 updated under the
 * lock of what it counts.
 */
#ifndef __XEN_PUBLIC_COUNTERS_H__
#define __XEN_PUBLIC_COUNTERS_H__

#ifndef __ASSEMBLY__
#include <stdint.h>

struct xen_counters {
    uint64_t heap_blocks;       /* xmalloc()ed blocks not yet freed */
    uint64_t heap_bytes;        /* their size, block headers included */
    uint64_t lp_payloads;       /* live-patch payloads loaded */
    uint64_t lp_pages;          /* pages of the live-patch area in use */
};

extern struct xen_counters xen_counters;
#endif /* __ASSEMBLY__ */

#endif /* __XEN_PUBLIC_COUNTERS_H__ */
