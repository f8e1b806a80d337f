/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tasklet.h
 *
 * A tasklet runs func(data) once, in TASKLET_SOFTIRQ context on the CPU
 * it was scheduled on.  Scheduling it again while it is pending does
 * nothing; scheduling it while it runs makes it run once more.
 */
#ifndef __XEN_TASKLET_H__
#define __XEN_TASKLET_H__

#include <xen/types.h>
#include <xen/list.h>

struct tasklet {
    struct list_head list;
    int scheduled_on;           /* CPU, or -1 */
    bool is_running;
    void (*func)(void *data);
    void *data;
};

#define DECLARE_TASKLET(name, fn, d)                                    \
    struct tasklet name = {                                             \
        .list = LIST_HEAD_INIT(name.list), .scheduled_on = -1,          \
        .func = (fn), .data = (d) }

void tasklet_init(struct tasklet *t, void (*func)(void *data), void *data);
void tasklet_schedule_on_cpu(struct tasklet *t, unsigned int cpu);
void tasklet_schedule(struct tasklet *t);
void tasklet_subsys_init(void);

#endif /* __XEN_TASKLET_H__ */
