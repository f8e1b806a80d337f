/* SPDX-License-Identifier: GPL-2.0 */
/*
 * timer.c
 *
 * Per-CPU software timers, kept in a list sorted by expiry.  The
 * earliest one programs the CPU's one-shot timer (PORT_TIMER); its
 * interrupt raises TIMER_SOFTIRQ, which runs every expired timer.
 */
#include <xen/lib.h>
#include <xen/timer.h>
#include <xen/time.h>
#include <xen/softirq.h>
#include <xen/spinlock.h>
#include <xen/smp.h>

struct timers {
    spinlock_t lock;
    struct list_head list;
};

static DEFINE_PER_CPU(struct timers, timers);

static s_time_t first_expiry(const struct timers *ts)
{
    if ( list_empty(&ts->list) )
        return 0;

    return list_first_entry(&ts->list, struct timer, list)->expires;
}

static void add_entry(struct timers *ts, struct timer *t)
{
    struct timer *pos;

    list_for_each_entry ( pos, &ts->list, list )
        if ( pos->expires > t->expires )
            break;

    /* Insert before pos (or at the tail if none expires later). */
    list_add_tail(&t->list, &pos->list);
    t->active = true;
}

static void remove_entry(struct timer *t)
{
    list_del_init(&t->list);
    t->active = false;
}

void init_timer(struct timer *t, void (*function)(void *data), void *data,
                unsigned int cpu)
{
    memset(t, 0, sizeof(*t));
    INIT_LIST_HEAD(&t->list);
    t->function = function;
    t->data = data;
    t->cpu = cpu;
}

void set_timer(struct timer *t, s_time_t expires)
{
    struct timers *ts = &per_cpu(timers, t->cpu);
    unsigned long flags;
    bool first;

    spin_lock_irqsave(&ts->lock, flags);

    if ( t->active )
        remove_entry(t);
    t->expires = expires;
    add_entry(ts, t);
    first = list_first_entry(&ts->list, struct timer, list) == t;

    spin_unlock_irqrestore(&ts->lock, flags);

    /* The CPU owning the timer reprograms its hardware timer. */
    if ( first )
    {
        if ( t->cpu == smp_processor_id() )
            reprogram_timer(expires);
        else
            cpu_raise_softirq(t->cpu, TIMER_SOFTIRQ);
    }
}

void stop_timer(struct timer *t)
{
    struct timers *ts = &per_cpu(timers, t->cpu);
    unsigned long flags;

    spin_lock_irqsave(&ts->lock, flags);
    if ( t->active )
        remove_entry(t);
    spin_unlock_irqrestore(&ts->lock, flags);
}

bool timer_is_active(const struct timer *t)
{
    return t->active;
}

static void timer_softirq_action(void)
{
    struct timers *ts = &this_cpu(timers);
    struct timer *t;
    s_time_t now;

    spin_lock_irq(&ts->lock);

    now = NOW();
    while ( !list_empty(&ts->list) )
    {
        t = list_first_entry(&ts->list, struct timer, list);
        if ( t->expires > now )
            break;

        remove_entry(t);

        spin_unlock_irq(&ts->lock);
        t->function(t->data);
        spin_lock_irq(&ts->lock);

        now = NOW();
    }

    reprogram_timer(first_expiry(ts));

    spin_unlock_irq(&ts->lock);
}

void dump_timers(void)
{
    unsigned int cpu;
    struct timer *t;
    s_time_t now = NOW();

    for_each_online_cpu ( cpu )
    {
        struct timers *ts = &per_cpu(timers, cpu);
        unsigned long flags;

        spin_lock_irqsave(&ts->lock, flags);
        printk("CPU%02u:\n", cpu);
        list_for_each_entry ( t, &ts->list, list )
            printk("  ex=%12ldus timer=%p cb=%ps(%p)\n",
                   (t->expires - now) / 1000, t, t->function, t->data);
        spin_unlock_irqrestore(&ts->lock, flags);
    }
}

void timer_init(void)
{
    unsigned int cpu;

    for ( cpu = 0; cpu < NR_CPUS; cpu++ )
    {
        spin_lock_init(&per_cpu(timers, cpu).lock);
        INIT_LIST_HEAD(&per_cpu(timers, cpu).list);
    }

    open_softirq(TIMER_SOFTIRQ, timer_softirq_action);
}
