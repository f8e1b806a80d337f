/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_EVENT_H__
#define __XEN_EVENT_H__

struct domain;

void evtchn_send_to(struct domain *d, unsigned int port);

#endif /* __XEN_EVENT_H__ */
