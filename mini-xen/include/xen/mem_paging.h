/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mem_paging.h
 *
 * Paging-style requests: a domain's vCPU waits in the hypervisor until
 * dom0 answers (XENMEM_paging_request / XENMEM_paging_resume,
 * public/memory.h).  The state is public so that a live patch of
 * mem_paging_wait() can use it.
 */
#ifndef __XEN_MEM_PAGING_H__
#define __XEN_MEM_PAGING_H__

#include <xen/types.h>
#include <xen/wait.h>
#include <public/platform.h>

struct domain;

struct mem_paging {
    struct waitqueue_head wq;
    unsigned long requested;    /* tickets handed out */
    unsigned long answered;     /* tickets answered, in order */
    uint64_t value;             /* dom0's last answer */
};

extern struct mem_paging mem_paging[PLAT_MAX_DOMAINS];

void mem_paging_init(void);
long mem_paging_wait(struct domain *d, unsigned long gfn);
long mem_paging_resume(struct domain *d, unsigned long domid, uint64_t value);

#endif /* __XEN_MEM_PAGING_H__ */
