/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_paging_tail: the replacement of mem_paging_wait() is one jump to
 * xen_paging_tail_sleep() (a sibling call, as gcc emits them; written
 * out so that no compiler decides otherwise), which waits as the
 * original does and returns dom0's answer plus two.
 */
#include <xen/lib.h>
#include <xen/mem_paging.h>
#include <xen/sched.h>
#include <xen/wait.h>

long xen_paging_tail_sleep(struct domain *d, unsigned long gfn);

asm ( ".pushsection .text.xen_paging_tail_new, \"ax\", @progbits\n\t"
      ".globl xen_paging_tail_new\n\t"
      ".hidden xen_paging_tail_new\n\t"
      ".type xen_paging_tail_new, @function\n"
      "xen_paging_tail_new:\n\t"
      "jmp xen_paging_tail_sleep\n\t"
      ".size xen_paging_tail_new, . - xen_paging_tail_new\n\t"
      ".popsection" );

noinline long xen_paging_tail_sleep(struct domain *d, unsigned long gfn)
{
    struct mem_paging *p = &mem_paging[d->domain_id];
    unsigned long flags, ticket;

    spin_lock_irqsave(&p->wq.lock, flags);
    ticket = ++p->requested;
    spin_unlock_irqrestore(&p->wq.lock, flags);

    wait_event(&p->wq, ACCESS_ONCE(p->answered) >= ticket);

    return (long)ACCESS_ONCE(p->value) + 2;
}
