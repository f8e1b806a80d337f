/* SPDX-License-Identifier: GPL-2.0 */
/*
 * memory.c
 *
 * The memory_op hypercall.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/guest_access.h>
#include <xen/hypercall.h>
#include <xen/mem_paging.h>
#include <xen/sched.h>
#include <asm/uaccess.h>
#include <public/memory.h>
#include <public/platform.h>

/*
 * Store a word into the caller's own window, after the mailbox page.
 * The last page of the window is unmapped: a store there faults and is
 * turned into -EFAULT by the exception table.
 */
static long write_word(struct domain *d,
                       const struct xen_memory_write_word *ww)
{
    uint64_t *p;

    if ( ww->offset > PLAT_DOMAIN_SIZE - XEN_MEMORY_WINDOW_DATA -
                      sizeof(uint64_t) )
        return -EINVAL;

    p = (uint64_t *)(d->window + XEN_MEMORY_WINDOW_DATA + ww->offset);

    return put_guest_u64(p, ww->value);
}

long do_memory_op(unsigned long cmd, unsigned long arg, unsigned long a3,
                  unsigned long a4, unsigned long a5)
{
    struct domain *d = current->domain;

    switch ( cmd )
    {
    case XENMEM_write_word:
    {
        struct xen_memory_write_word ww;

        if ( copy_from_guest(&ww, arg, sizeof(ww)) )
            return -EFAULT;

        return write_word(d, &ww);
    }

    case XENMEM_paging_request:
        return mem_paging_wait(d, arg);

    case XENMEM_paging_resume:
        return mem_paging_resume(d, arg, a3);

    default:
    {
        /* Report the first unknown sub-ops a guest tries, not every one. */
        static unsigned int reported;

        if ( reported < 2 )
        {
            reported++;
            printk("memory_op %lu is not implemented\n", cmd);
        }
        break;
    }
    }

    return -ENOSYS;
}
