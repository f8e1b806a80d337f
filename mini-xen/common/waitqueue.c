/* SPDX-License-Identifier: GPL-2.0 */
/*
 * waitqueue.c
 *
 * A guest vCPU sleeping inside the hypervisor with its stack kept (see
 * xen/wait.h).  The protocol: prepare_to_wait() puts the vCPU on the
 * queue and marks it VPF_waiting (the scheduler does not run it, and its
 * tick does not clear the flag as it clears VPF_blocked); the caller
 * tests its condition; wait_sleep() keeps the stack from its own frame
 * up to the guest frame, discards the stack and lets the scheduler run
 * something else.  wake_up_all() takes every vCPU off the queue, clears
 * VPF_waiting and kicks its CPU; the scheduler, about to return to that
 * vCPU's guest, calls waitqueue_resume(), which puts the stack back and
 * returns from wait_sleep().  The condition is tested again under the
 * next prepare_to_wait(), so a wake-up between the test and the sleep is
 * never lost (the vCPU is then runnable and resumes at once).
 */
#include <xen/lib.h>
#include <xen/sched.h>
#include <xen/softirq.h>
#include <xen/wait.h>
#include <asm/bitops.h>
#include <asm/current.h>
#include <asm/system.h>

static struct waitqueue_vcpu wait_vcpus[NR_CPUS];

static struct waitqueue_vcpu *wqv_of(const struct vcpu *v)
{
    ASSERT(!is_idle_vcpu(v) && v->idx < NR_CPUS);

    return &wait_vcpus[v->idx];
}

/* Also read by the stack check in the rendezvous: unpatchable. */
const struct waitqueue_vcpu *__unpatchable
waitqueue_vcpu_of(const struct vcpu *v)
{
    const struct waitqueue_vcpu *w = &wait_vcpus[v->idx];

    return ACCESS_ONCE(w->sp) ? w : NULL;
}

void init_waitqueue_head(struct waitqueue_head *wq)
{
    spin_lock_init(&wq->lock);
    INIT_LIST_HEAD(&wq->list);
}

void prepare_to_wait(struct waitqueue_head *wq)
{
    struct vcpu *v = current;
    struct waitqueue_vcpu *w = wqv_of(v);
    unsigned long flags;

    spin_lock_irqsave(&wq->lock, flags);
    if ( !w->wq )
    {
        if ( !w->list.next )
            INIT_LIST_HEAD(&w->list);
        list_add_tail(&w->list, &wq->list);
        w->wq = wq;
        w->vcpu = v;
        set_bit(_VPF_waiting, &v->pause_flags);
    }
    spin_unlock_irqrestore(&wq->lock, flags);
}

void finish_wait(struct waitqueue_head *wq)
{
    struct vcpu *v = current;
    struct waitqueue_vcpu *w = wqv_of(v);
    unsigned long flags;

    spin_lock_irqsave(&wq->lock, flags);
    if ( w->wq == wq )
    {
        list_del_init(&w->list);
        w->wq = NULL;
    }
    clear_bit(_VPF_waiting, &v->pause_flags);
    spin_unlock_irqrestore(&wq->lock, flags);
}

void wake_up_all(struct waitqueue_head *wq)
{
    unsigned long flags;

    spin_lock_irqsave(&wq->lock, flags);
    while ( !list_empty(&wq->list) )
    {
        struct waitqueue_vcpu *w = list_entry(wq->list.next,
                                              struct waitqueue_vcpu, list);
        struct vcpu *v = w->vcpu;

        list_del_init(&w->list);
        w->wq = NULL;
        clear_bit(_VPF_waiting, &v->pause_flags);
        cpu_raise_softirq(v->processor, SCHEDULE_SOFTIRQ);
    }
    spin_unlock_irqrestore(&wq->lock, flags);
}

/* On a fresh stack: the scheduler runs something else (never returns). */
static noreturn void wait_deschedule(void)
{
    do_softirq();
    panic("waitqueue: CPU%u: schedule() returned\n", smp_processor_id());
}

void wait_sleep(void)
{
    struct vcpu *v = current;
    struct waitqueue_vcpu *w = wqv_of(v);
    int rc;

    ASSERT(local_irq_is_enabled());

    rc = arch_wait_save(&w->sp, w->stack,
                        (unsigned long)guest_cpu_user_regs(), WAIT_STACK_SIZE);
    if ( rc > 0 )
    {
        /* Resumed by waitqueue_resume(), interrupts off. */
        w->sp = 0;
        w->len = 0;
        local_irq_enable();
        return;
    }

    if ( rc < 0 )
    {
        printk("waitqueue: d%uv%u: more than %u bytes of stack to keep\n",
               v->domain->domain_id, v->vcpu_id, WAIT_STACK_SIZE);
        domain_crash(v->domain);
    }
    else
    {
        w->len = (unsigned long)guest_cpu_user_regs() - w->sp;
        w->sleeps++;
    }

    raise_softirq(SCHEDULE_SOFTIRQ);
    reset_stack_and_jump(wait_deschedule);
}

void waitqueue_resume(void)
{
    struct vcpu *v = current;
    struct waitqueue_vcpu *w = wqv_of(v);

    if ( likely(!w->sp) )
        return;

    ASSERT(!local_irq_is_enabled());
    ASSERT(!test_bit(_VPF_waiting, &v->pause_flags));

    arch_wait_resume(w->sp, w->stack, w->len);
}
