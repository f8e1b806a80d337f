/* SPDX-License-Identifier: GPL-2.0 */
/*
 * schedule.c
 *
 * Per-CPU round-robin scheduler.  Every guest vCPU is pinned; each CPU
 * walks its own list of vCPUs on every tick (SCHED_TICK_NS) and when the
 * running vCPU blocks or yields.  A blocked vCPU becomes runnable again
 * at its CPU's next tick.  With nothing runnable the CPU runs its idle
 * vCPU.
 *
 * A context switch copies the guest frame at the top of the stack
 * (guest_cpu_user_regs()) to the outgoing vCPU and the incoming vCPU's
 * saved frame into it, then discards the stack: reset_stack_and_jump()
 * to the return-to-guest path, or to the idle loop.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/hypercall.h>
#include <xen/livepatch.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/softirq.h>
#include <xen/time.h>
#include <xen/timer.h>
#include <xen/wait.h>
#include <asm/bitops.h>
#include <asm/page.h>
#include <asm/current.h>
#include <asm/smp.h>
#include <asm/system.h>
#include <public/sched.h>

struct sched_percpu {
    spinlock_t lock;
    struct list_head runq;      /* every vCPU pinned to this CPU */
    struct vcpu *last;          /* round-robin position */
    struct timer tick;
    unsigned long nr_ticks;
};

static DEFINE_PER_CPU(struct sched_percpu, sched);

static bool vcpu_runnable(const struct vcpu *v)
{
    return !(ACCESS_ONCE(v->pause_flags) & (VPF_blocked | VPF_waiting)) &&
           !ACCESS_ONCE(v->domain->is_dying);
}

/* The next runnable vCPU after the last one run, wrapping; or NULL. */
static struct vcpu *pick_next(struct sched_percpu *sd)
{
    struct list_head *start = sd->last ? &sd->last->runq_elem : &sd->runq;
    struct list_head *pos = start;

    do {
        pos = pos->next;
        if ( pos != &sd->runq )
        {
            struct vcpu *v = list_entry(pos, struct vcpu, runq_elem);

            if ( vcpu_runnable(v) )
                return v;
        }
    } while ( pos != start );

    return NULL;
}

/* SCHEDULE_SOFTIRQ.  Never returns. */
static void schedule(void)
{
    unsigned int cpu = smp_processor_id();
    struct sched_percpu *sd = &per_cpu(sched, cpu);
    struct cpu_info *ci = get_cpu_info();
    struct vcpu *prev = current, *next;

    local_irq_disable();

    spin_lock(&sd->lock);
    next = pick_next(sd);
    if ( next )
        sd->last = next;
    else
        next = idle_vcpu[cpu];
    spin_unlock(&sd->lock);

    if ( prev != next )
    {
        if ( !is_idle_vcpu(prev) )
        {
            prev->user_regs = ci->guest_cpu_user_regs;
            prev->is_running = false;
        }
        if ( !is_idle_vcpu(next) )
        {
            ci->guest_cpu_user_regs = next->user_regs;
            next->is_running = true;
        }
        next->nr_switches++;
        set_current(next);
        switch_address_space(next);
    }

    if ( is_idle_vcpu(next) )
        reset_stack_and_jump(idle_loop);

    /* A vCPU woken from a waitqueue continues inside its hypercall. */
    waitqueue_resume();

    reset_stack_and_return_to_guest();
}

static void sched_tick(void *data)
{
    struct sched_percpu *sd = data;
    struct vcpu *v;
    s_time_t now, next;

    sd->nr_ticks++;

    spin_lock_irq(&sd->lock);
    list_for_each_entry ( v, &sd->runq, runq_elem )
        clear_bit(_VPF_blocked, &v->pause_flags);
    spin_unlock_irq(&sd->lock);

    raise_softirq(SCHEDULE_SOFTIRQ);

    now = NOW();
    next = sd->tick.expires + SCHED_TICK_NS;
    if ( next <= now )
        next = now + SCHED_TICK_NS;
    set_timer(&sd->tick, next);
}

void vcpu_block(void)
{
    struct vcpu *v = current;

    set_bit(_VPF_blocked, &v->pause_flags);
    raise_softirq(SCHEDULE_SOFTIRQ);
}

void vcpu_yield(void)
{
    raise_softirq(SCHEDULE_SOFTIRQ);
}

void vcpu_wake(struct vcpu *v)
{
    if ( test_and_clear_bit(_VPF_blocked, &v->pause_flags) )
        cpu_raise_softirq(v->processor, SCHEDULE_SOFTIRQ);
}

/* Add a guest vCPU to its CPU's list and let that CPU reschedule. */
void sched_add_vcpu(struct vcpu *v)
{
    struct sched_percpu *sd = &per_cpu(sched, v->processor);
    unsigned long flags;

    spin_lock_irqsave(&sd->lock, flags);
    list_add_tail(&v->runq_elem, &sd->runq);
    spin_unlock_irqrestore(&sd->lock, flags);

    cpu_raise_softirq(v->processor, SCHEDULE_SOFTIRQ);
}

long do_sched_op(unsigned long cmd, unsigned long arg, unsigned long a3,
                 unsigned long a4, unsigned long a5)
{
    switch ( cmd )
    {
    case SCHEDOP_yield:
        vcpu_yield();
        return 0;

    case SCHEDOP_block:
        vcpu_block();
        return 0;
    }

    return -ENOSYS;
}

noreturn __unpatchable void idle_loop(void)
{
    unsigned int cpu = smp_processor_id();

    for ( ; ; )
    {
        local_irq_disable();
        if ( !softirq_pending(cpu) )
            safe_halt();
        else
            local_irq_enable();

        do_softirq();
        check_for_livepatch_work();
    }
}

noreturn void startup_cpu_idle_loop(void)
{
    set_current(idle_vcpu[smp_processor_id()]);
    raise_softirq(SCHEDULE_SOFTIRQ);
    reset_stack_and_jump(idle_loop);
}

/* Start this CPU's scheduler tick; called on the CPU itself. */
void scheduler_start_cpu(unsigned int cpu)
{
    struct sched_percpu *sd = &per_cpu(sched, cpu);

    ASSERT(cpu == smp_processor_id());
    init_timer(&sd->tick, sched_tick, sd, cpu);
    set_timer(&sd->tick, NOW() + SCHED_TICK_NS);
}

void dump_runq(unsigned char key)
{
    unsigned int cpu;

    printk("'%c' pressed -> dumping run queues\n", key);

    for_each_online_cpu ( cpu )
    {
        struct sched_percpu *sd = &per_cpu(sched, cpu);
        const struct vcpu *curr = ACCESS_ONCE(cpu_info_of(cpu)->current_vcpu);
        struct vcpu *v;
        unsigned long flags;

        spin_lock_irqsave(&sd->lock, flags);
        if ( curr && !is_idle_vcpu(curr) )
            printk("CPU%u: ticks %lu, current d%uv%u\n", cpu, sd->nr_ticks,
                   curr->domain->domain_id, curr->vcpu_id);
        else
            printk("CPU%u: ticks %lu, current idle\n", cpu, sd->nr_ticks);
        list_for_each_entry ( v, &sd->runq, runq_elem )
            printk("  d%uv%u: %s%s%s%s hypercalls %lu switches %lu\n",
                   v->domain->domain_id, v->vcpu_id,
                   v->is_running ? "running" : "runnable",
                   (v->pause_flags & VPF_blocked) ? " blocked" : "",
                   (v->pause_flags & VPF_waiting) ? " waiting" : "",
                   v->domain->is_dying ? " dying" : "",
                   v->nr_hypercalls, v->nr_switches);
        spin_unlock_irqrestore(&sd->lock, flags);
    }
}

void scheduler_init(void)
{
    unsigned int cpu;

    for ( cpu = 0; cpu < NR_CPUS; cpu++ )
    {
        struct sched_percpu *sd = &per_cpu(sched, cpu);

        spin_lock_init(&sd->lock);
        INIT_LIST_HEAD(&sd->runq);
        sd->last = NULL;
    }

    open_softirq(SCHEDULE_SOFTIRQ, schedule);
    idle_domain_init();
}
