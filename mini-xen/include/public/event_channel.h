/* SPDX-License-Identifier: GPL-2.0 */
/*
 * event_channel.h
 *
 * event_channel_op(cmd, arg) hypercall (__HYPERVISOR_event_channel_op).
 *
 * mini-xen has one static channel per domain: port p (1 <= p <=
 * nr_domains) notifies domain p - 1.  Port 0 is reserved.
 */
#ifndef __XEN_PUBLIC_EVENT_CHANNEL_H__
#define __XEN_PUBLIC_EVENT_CHANNEL_H__

#define EVTCHNOP_send                   4

#ifndef __ASSEMBLY__
#include <stdint.h>

typedef uint32_t evtchn_port_t;

struct evtchn_send {
    evtchn_port_t port;
};
#endif

#endif /* __XEN_PUBLIC_EVENT_CHANNEL_H__ */
