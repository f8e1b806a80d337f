/* SPDX-License-Identifier: GPL-2.0 */
/*
 * softirq.h
 *
 * Per-CPU deferred work, run only from the idle loop and from the
 * return-to-guest path (where the stack is nearly empty).  Lower numbers
 * run first.  SCHEDULE_SOFTIRQ never returns: it resets the stack.
 */
#ifndef __XEN_SOFTIRQ_H__
#define __XEN_SOFTIRQ_H__

#define TIMER_SOFTIRQ           0
#define TASKLET_SOFTIRQ         1
#define LIVEPATCH_SOFTIRQ       2   /* the master's end of an action */
#define SCHEDULE_SOFTIRQ        3   /* last: it does not return */
#define NR_COMMON_SOFTIRQS      4
#define NR_SOFTIRQS             8

#ifndef __ASSEMBLY__

#include <xen/types.h>
#include <xen/percpu.h>
#include <xen/cpumask.h>

typedef void (*softirq_handler)(void);

DECLARE_PER_CPU(unsigned long, softirq_pending);

#define softirq_pending(cpu)    ACCESS_ONCE(per_cpu(softirq_pending, cpu))

void open_softirq(unsigned int nr, softirq_handler handler);
void do_softirq(void);
void raise_softirq(unsigned int nr);
void cpu_raise_softirq(unsigned int cpu, unsigned int nr);
void cpumask_raise_softirq(const cpumask_t *mask, unsigned int nr);

#endif /* !__ASSEMBLY__ */

#endif /* __XEN_SOFTIRQ_H__ */
