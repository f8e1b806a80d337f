/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tasklet.c
 *
 * Tasklets run in TASKLET_SOFTIRQ context on the CPU they were
 * scheduled on, in the order they were scheduled.
 */
#include <xen/lib.h>
#include <xen/tasklet.h>
#include <xen/softirq.h>
#include <xen/spinlock.h>
#include <xen/smp.h>

static DEFINE_SPINLOCK(tasklet_lock);
static DEFINE_PER_CPU(struct list_head, tasklet_list);

void tasklet_init(struct tasklet *t, void (*func)(void *data), void *data)
{
    memset(t, 0, sizeof(*t));
    INIT_LIST_HEAD(&t->list);
    t->scheduled_on = -1;
    t->func = func;
    t->data = data;
}

void tasklet_schedule_on_cpu(struct tasklet *t, unsigned int cpu)
{
    unsigned long flags;

    spin_lock_irqsave(&tasklet_lock, flags);

    if ( t->scheduled_on < 0 )
    {
        t->scheduled_on = cpu;
        /* A running tasklet is queued again when it finishes. */
        if ( !t->is_running )
        {
            list_add_tail(&t->list, &per_cpu(tasklet_list, cpu));
            cpu_raise_softirq(cpu, TASKLET_SOFTIRQ);
        }
    }

    spin_unlock_irqrestore(&tasklet_lock, flags);
}

void tasklet_schedule(struct tasklet *t)
{
    tasklet_schedule_on_cpu(t, smp_processor_id());
}

static void tasklet_softirq_action(void)
{
    unsigned int cpu = smp_processor_id();
    struct list_head *list = &per_cpu(tasklet_list, cpu);
    struct tasklet *t;

    spin_lock_irq(&tasklet_lock);

    while ( !list_empty(list) )
    {
        t = list_first_entry(list, struct tasklet, list);
        list_del_init(&t->list);
        t->scheduled_on = -1;
        t->is_running = true;

        spin_unlock_irq(&tasklet_lock);
        t->func(t->data);
        spin_lock_irq(&tasklet_lock);

        t->is_running = false;
        if ( t->scheduled_on >= 0 )
        {
            list_add_tail(&t->list, &per_cpu(tasklet_list, t->scheduled_on));
            cpu_raise_softirq(t->scheduled_on, TASKLET_SOFTIRQ);
        }
    }

    spin_unlock_irq(&tasklet_lock);
}

void tasklet_subsys_init(void)
{
    unsigned int cpu;

    for ( cpu = 0; cpu < NR_CPUS; cpu++ )
        INIT_LIST_HEAD(&per_cpu(tasklet_list, cpu));

    open_softirq(TASKLET_SOFTIRQ, tasklet_softirq_action);
}
