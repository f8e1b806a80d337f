/* SPDX-License-Identifier: GPL-2.0 */
/*
 * smp.c
 *
 * Inter-processor interrupts (PORT_IPI) and cross-CPU function calls.
 */
#include <xen/lib.h>
#include <xen/smp.h>
#include <xen/spinlock.h>
#include <asm/io.h>
#include <asm/system.h>
#include <public/platform.h>

cpumask_t cpu_online_map;

#define M1(n)   { 1UL << (n) }
#define M4(n)   M1(n), M1((n) + 1), M1((n) + 2), M1((n) + 3)
#define M16(n)  M4(n), M4((n) + 4), M4((n) + 8), M4((n) + 12)

static const cpumask_t cpu_single_masks[NR_CPUS] = {
    M16(0), M16(16), M16(32), M16(48)
};

const cpumask_t *cpumask_of(unsigned int cpu)
{
    return &cpu_single_masks[cpu];
}

static __unpatchable void send_IPI(unsigned int cpu, unsigned int vector)
{
    outl(IPI_VECTOR(vector) | IPI_DEST(cpu), PORT_IPI);
}

__unpatchable void send_IPI_mask(const cpumask_t *mask, unsigned int vector)
{
    unsigned int cpu;

    for_each_cpu ( cpu, mask )
        send_IPI(cpu, vector);
}

void send_IPI_self(unsigned int vector)
{
    send_IPI(smp_processor_id(), vector);
}

void smp_send_event_check_cpu(unsigned int cpu)
{
    send_IPI(cpu, EVENT_CHECK_VECTOR);
}

/* The live-patch master kicks the other CPUs with it: unpatchable. */
__unpatchable void smp_send_event_check_mask(const cpumask_t *mask)
{
    send_IPI_mask(mask, EVENT_CHECK_VECTOR);
}

static DEFINE_SPINLOCK(call_lock);

static struct call_data {
    void (*func)(void *info);
    void *info;
    bool wait;
    cpumask_t selected;
} call_data;

void smp_call_function_interrupt(void)
{
    unsigned int cpu = smp_processor_id();
    void (*func)(void *info);
    void *info;

    if ( !cpumask_test_cpu(cpu, &call_data.selected) )
        return;

    smp_rmb();
    func = ACCESS_ONCE(call_data.func);
    info = ACCESS_ONCE(call_data.info);

    if ( call_data.wait )
    {
        func(info);
        smp_mb();
        cpumask_clear_cpu(cpu, &call_data.selected);
    }
    else
    {
        smp_mb();
        cpumask_clear_cpu(cpu, &call_data.selected);
        func(info);
    }
}

void on_selected_cpus(const cpumask_t *mask, void (*func)(void *info),
                      void *info, bool wait)
{
    unsigned int cpu = smp_processor_id();
    cpumask_t others;

    ASSERT(local_irq_is_enabled());

    spin_lock(&call_lock);

    call_data.func = func;
    call_data.info = info;
    call_data.wait = wait;
    smp_mb();

    cpumask_and(&call_data.selected, mask, &cpu_online_map);
    if ( cpumask_empty(&call_data.selected) )
        goto out;

    cpumask_copy(&others, &call_data.selected);
    cpumask_clear_cpu(cpu, &others);
    send_IPI_mask(&others, CALL_FUNCTION_VECTOR);

    if ( cpumask_test_cpu(cpu, &call_data.selected) )
    {
        local_irq_disable();
        smp_call_function_interrupt();
        local_irq_enable();
    }

    while ( !cpumask_empty(&call_data.selected) )
        cpu_relax();

 out:
    spin_unlock(&call_lock);
}

void smp_call_function(void (*func)(void *info), void *info, bool wait)
{
    cpumask_t allbutself;

    cpumask_copy(&allbutself, &cpu_online_map);
    cpumask_clear_cpu(smp_processor_id(), &allbutself);
    on_selected_cpus(&allbutself, func, info, wait);
}
