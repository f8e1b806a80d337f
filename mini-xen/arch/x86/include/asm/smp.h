/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_SMP_H__
#define __ASM_X86_SMP_H__

#include <xen/types.h>
#include <asm/current.h>

struct boot_info;

extern const struct boot_info *boot_info;

void smp_boot_cpus(unsigned int nr);
noreturn void start_secondary(unsigned int cpu);
noreturn void __start_xen(void);

/* Per-CPU stack blocks (STACK_SIZE each, aligned). */
extern char cpu_stacks[];

static inline unsigned long cpu_stack_block(unsigned int cpu)
{
    return (unsigned long)cpu_stacks + (unsigned long)cpu * STACK_SIZE;
}

/* struct cpu_info of any CPU (at the top of its stack block). */
static inline struct cpu_info *cpu_info_of(unsigned int cpu)
{
    return (struct cpu_info *)(cpu_stack_block(cpu) + STACK_SIZE) - 1;
}

#endif /* __ASM_X86_SMP_H__ */
