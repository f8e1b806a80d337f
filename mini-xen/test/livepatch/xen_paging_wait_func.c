/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_paging_wait: the replacement of mem_paging_wait().  It waits as
 * the original does, inside this payload's text, and returns dom0's
 * answer plus one, so that the requester can tell which one it slept
 * in.  xen_paging_banner is exported for xen_paging_link.
 */
#include <xen/lib.h>
#include <xen/mem_paging.h>
#include <xen/sched.h>
#include <xen/wait.h>

const char xen_paging_banner[] = "Paging World";

long xen_paging_wait_new(struct domain *d, unsigned long gfn)
{
    struct mem_paging *p = &mem_paging[d->domain_id];
    unsigned long flags, ticket;

    spin_lock_irqsave(&p->wq.lock, flags);
    ticket = ++p->requested;
    spin_unlock_irqrestore(&p->wq.lock, flags);

    wait_event(&p->wq, ACCESS_ONCE(p->answered) >= ticket);

    return (long)ACCESS_ONCE(p->value) + 1;
}
