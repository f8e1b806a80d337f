/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_SMP_H__
#define __XEN_SMP_H__

#include <xen/types.h>
#include <xen/percpu.h>
#include <xen/cpumask.h>

/*
 * Run func(info) on every CPU in mask (the calling CPU included if it is
 * in mask).  With wait, return once every CPU has finished func;
 * otherwise once every CPU has picked the call up.  Must be called with
 * interrupts enabled.
 */
void on_selected_cpus(const cpumask_t *mask, void (*func)(void *info),
                      void *info, bool wait);

/* Same, on every other online CPU. */
void smp_call_function(void (*func)(void *info), void *info, bool wait);

void smp_send_event_check_cpu(unsigned int cpu);
void smp_send_event_check_mask(const cpumask_t *mask);
void send_IPI_mask(const cpumask_t *mask, unsigned int vector);
void send_IPI_self(unsigned int vector);

void smp_call_function_interrupt(void);

#endif /* __XEN_SMP_H__ */
