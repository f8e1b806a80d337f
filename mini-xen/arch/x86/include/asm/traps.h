/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_TRAPS_H__
#define __ASM_X86_TRAPS_H__

#include <xen/types.h>

struct cpu_user_regs;

extern unsigned long nmi_count[NR_CPUS];
extern unsigned long mce_count[NR_CPUS];

typedef void exception_fn_t(struct cpu_user_regs *regs);
extern exception_fn_t *const exception_table[32];

void show_registers(const struct cpu_user_regs *regs);
void show_execution_state(const struct cpu_user_regs *regs);
void show_stack_trace(const struct cpu_user_regs *regs);
noreturn void fatal_trap(const struct cpu_user_regs *regs);

/* IST handler, called from entry.S (NMI and #MC: asm/nmi.h, asm/mce.h) */
noreturn void do_double_fault(struct cpu_user_regs *regs);

void trap_init(void);
void percpu_traps_init(unsigned int cpu);

#endif /* __ASM_X86_TRAPS_H__ */
