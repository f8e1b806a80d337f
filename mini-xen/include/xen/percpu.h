/* SPDX-License-Identifier: GPL-2.0 */
/*
 * percpu.h
 *
 * Per-CPU variables are plain arrays indexed by CPU number.
 */
#ifndef __XEN_PERCPU_H__
#define __XEN_PERCPU_H__

#include <xen/types.h>
#include <asm/current.h>

#define DEFINE_PER_CPU(type, name)  __typeof__(type) per_cpu__##name[NR_CPUS]
#define DECLARE_PER_CPU(type, name) extern __typeof__(type) per_cpu__##name[NR_CPUS]

#define per_cpu(name, cpu)      (per_cpu__##name[(cpu)])
#define this_cpu(name)          per_cpu(name, smp_processor_id())

static inline unsigned int smp_processor_id(void)
{
    return get_cpu_info()->processor_id;
}

#endif /* __XEN_PERCPU_H__ */
