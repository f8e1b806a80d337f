/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched.h
 *
 * sched_op(cmd, arg) hypercall (__HYPERVISOR_sched_op).
 */
#ifndef __XEN_PUBLIC_SCHED_H__
#define __XEN_PUBLIC_SCHED_H__

/* Give up the CPU to another runnable vCPU of this CPU; arg unused. */
#define SCHEDOP_yield                   0

/* Block until the next scheduler tick; arg unused. */
#define SCHEDOP_block                   1

#endif /* __XEN_PUBLIC_SCHED_H__ */
