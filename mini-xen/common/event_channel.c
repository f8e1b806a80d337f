/* SPDX-License-Identifier: GPL-2.0 */
/*
 * event_channel.c
 *
 * A minimal event channel: port p (1 <= p <= nr_domains) notifies
 * domain p - 1.  Sending marks the sender's bit pending in the target.
 * Port 0 is reserved.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/event.h>
#include <xen/guest_access.h>
#include <xen/hypercall.h>
#include <xen/sched.h>
#include <asm/atomic.h>
#include <asm/bitops.h>
#include <public/event_channel.h>

void evtchn_send_to(struct domain *d, unsigned int sender)
{
    set_bit(sender, &d->evtchn_pending);
    atomic_add_ulong(&d->evtchn_count, 1);
}

static long evtchn_send(struct domain *ld, evtchn_port_t port)
{
    struct domain *rd;

    if ( WARN_ON(port == 0) )
        return -EINVAL;

    if ( port > nr_domains )
        return -EINVAL;

    rd = domain_list[port - 1];
    if ( !rd || rd->is_dying )
        return -EINVAL;

    evtchn_send_to(rd, ld->domain_id);

    return 0;
}

long do_event_channel_op(unsigned long cmd, unsigned long arg,
                         unsigned long a3, unsigned long a4,
                         unsigned long a5)
{
    switch ( cmd )
    {
    case EVTCHNOP_send:
    {
        struct evtchn_send send;

        if ( copy_from_guest(&send, arg, sizeof(send)) )
            return -EFAULT;

        return evtchn_send(current->domain, send.port);
    }
    }

    return -ENOSYS;
}
