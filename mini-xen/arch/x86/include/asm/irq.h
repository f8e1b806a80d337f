/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_IRQ_H__
#define __ASM_X86_IRQ_H__

#include <xen/types.h>
#include <xen/percpu.h>

struct cpu_user_regs;

DECLARE_PER_CPU(struct cpu_user_regs *, irq_regs);

static inline struct cpu_user_regs *get_irq_regs(void)
{
    return this_cpu(irq_regs);
}

static inline bool in_irq(void)
{
    return get_cpu_info()->irq_nesting != 0;
}

void do_IRQ(struct cpu_user_regs *regs);

#endif /* __ASM_X86_IRQ_H__ */
