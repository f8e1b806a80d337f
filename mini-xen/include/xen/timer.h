/* SPDX-License-Identifier: GPL-2.0 */
/*
 * timer.h
 *
 * Per-CPU software timers.  A timer is bound to a CPU and its function
 * runs there, in TIMER_SOFTIRQ context.
 */
#ifndef __XEN_TIMER_H__
#define __XEN_TIMER_H__

#include <xen/types.h>
#include <xen/list.h>

struct timer {
    s_time_t expires;
    struct list_head list;
    void (*function)(void *data);
    void *data;
    unsigned int cpu;
    bool active;
};

void init_timer(struct timer *t, void (*function)(void *data), void *data,
                unsigned int cpu);
void set_timer(struct timer *t, s_time_t expires);
void stop_timer(struct timer *t);
bool timer_is_active(const struct timer *t);
void timer_init(void);
void dump_timers(void);

#endif /* __XEN_TIMER_H__ */
