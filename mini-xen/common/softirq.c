/* SPDX-License-Identifier: GPL-2.0 */
/*
 * softirq.c
 */
#include <xen/lib.h>
#include <xen/softirq.h>
#include <xen/smp.h>
#include <asm/bitops.h>
#include <asm/system.h>

DEFINE_PER_CPU(unsigned long, softirq_pending);

static softirq_handler softirq_handlers[NR_SOFTIRQS];

void open_softirq(unsigned int nr, softirq_handler handler)
{
    ASSERT(nr < NR_SOFTIRQS);
    softirq_handlers[nr] = handler;
}

/*
 * Run pending softirqs of this CPU, lowest number first, until none is
 * left.  Called with interrupts enabled, from the idle loop and the
 * return-to-guest path only.
 */
/* Unpatchable: the idle loop, where CPUs wait for the rendezvous, runs it. */
__unpatchable void do_softirq(void)
{
    unsigned int cpu = smp_processor_id();
    unsigned long pending;
    unsigned int nr;

    ASSERT(local_irq_is_enabled());

    while ( (pending = softirq_pending(cpu)) != 0 )
    {
        nr = find_first_set_bit(pending);
        clear_bit(nr, &per_cpu(softirq_pending, cpu));
        if ( softirq_handlers[nr] )
            softirq_handlers[nr]();
    }
}

void raise_softirq(unsigned int nr)
{
    set_bit(nr, &this_cpu(softirq_pending));
}

void cpu_raise_softirq(unsigned int cpu, unsigned int nr)
{
    if ( test_and_set_bit(nr, &per_cpu(softirq_pending, cpu)) )
        return;

    if ( cpu != smp_processor_id() )
        smp_send_event_check_cpu(cpu);
}

void cpumask_raise_softirq(const cpumask_t *mask, unsigned int nr)
{
    unsigned int cpu;

    for_each_cpu ( cpu, mask )
        cpu_raise_softirq(cpu, nr);
}
