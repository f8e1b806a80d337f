/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mem_paging.c
 *
 * A paging-style request answered by dom0, the hypervisor's model of
 * Xen's mem_paging/vm_event: the requesting vCPU sleeps on its domain's
 * waitqueue, in the middle of its hypercall and with its stack kept,
 * until the pager in dom0 answers.  Requests of a domain are answered in
 * order (tickets).
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/mem_paging.h>
#include <xen/sched.h>
#include <xen/spinlock.h>

struct mem_paging mem_paging[PLAT_MAX_DOMAINS];

void mem_paging_init(void)
{
    unsigned int i;

    for ( i = 0; i < PLAT_MAX_DOMAINS; i++ )
        init_waitqueue_head(&mem_paging[i].wq);
}

/* Wait for dom0's answer to a request for gfn; returns the answer. */
noinline long mem_paging_wait(struct domain *d, unsigned long gfn)
{
    struct mem_paging *p = &mem_paging[d->domain_id];
    unsigned long flags, ticket;

    spin_lock_irqsave(&p->wq.lock, flags);
    ticket = ++p->requested;
    spin_unlock_irqrestore(&p->wq.lock, flags);

    wait_event(&p->wq, ACCESS_ONCE(p->answered) >= ticket);

    return (long)ACCESS_ONCE(p->value);
}

long mem_paging_resume(struct domain *d, unsigned long domid, uint64_t value)
{
    struct mem_paging *p;
    unsigned long flags;
    long rc = 0;

    if ( !is_hardware_domain(d) )
        return -EPERM;
    if ( domid >= nr_domains )
        return -EINVAL;

    p = &mem_paging[domid];
    spin_lock_irqsave(&p->wq.lock, flags);
    if ( p->answered < p->requested )
    {
        p->value = value;
        p->answered++;
    }
    else
        rc = -ENOENT;
    spin_unlock_irqrestore(&p->wq.lock, flags);

    if ( !rc )
        wake_up_all(&p->wq);

    return rc;
}
