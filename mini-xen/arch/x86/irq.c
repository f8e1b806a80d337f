/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irq.c
 *
 * External interrupts.  There is no interrupt controller to acknowledge:
 * vectors are latched per CPU and delivered while IF is set.
 */
#include <xen/lib.h>
#include <xen/console.h>
#include <xen/smp.h>
#include <xen/softirq.h>
#include <asm/irq.h>
#include <public/platform.h>

DEFINE_PER_CPU(struct cpu_user_regs *, irq_regs);
DEFINE_PER_CPU(unsigned long, irq_count);

void do_IRQ(struct cpu_user_regs *regs)
{
    struct cpu_info *ci = get_cpu_info();
    unsigned int cpu = ci->processor_id;
    struct cpu_user_regs *old_regs = per_cpu(irq_regs, cpu);
    unsigned int vector = regs->entry_vector;

    per_cpu(irq_regs, cpu) = regs;
    ci->irq_nesting++;
    per_cpu(irq_count, cpu)++;

    switch ( vector )
    {
    case TIMER_VECTOR:
        raise_softirq(TIMER_SOFTIRQ);
        break;

    case EVENT_CHECK_VECTOR:
        /* Only wakes the CPU: pending softirqs are checked on exit. */
        break;

    case CALL_FUNCTION_VECTOR:
        smp_call_function_interrupt();
        break;

    case SERIAL_VECTOR:
        serial_rx_interrupt();
        break;

    default:
        printk("CPU%u: unexpected interrupt vector %#x\n", cpu, vector);
        break;
    }

    ci->irq_nesting--;
    per_cpu(irq_regs, cpu) = old_regs;
}
