/* SPDX-License-Identifier: GPL-2.0 */
/* CPU masks: NR_CPUS is 64, so a mask is one unsigned long. */
#ifndef __XEN_CPUMASK_H__
#define __XEN_CPUMASK_H__

#include <xen/types.h>
#include <asm/bitops.h>

typedef struct cpumask {
    unsigned long bits;
} cpumask_t;

static inline void cpumask_set_cpu(unsigned int cpu, cpumask_t *m)
{
    set_bit(cpu, &m->bits);
}

static inline void cpumask_clear_cpu(unsigned int cpu, cpumask_t *m)
{
    clear_bit(cpu, &m->bits);
}

static inline bool cpumask_test_cpu(unsigned int cpu, const cpumask_t *m)
{
    return test_bit(cpu, &m->bits);
}

static inline bool cpumask_empty(const cpumask_t *m)
{
    return ACCESS_ONCE(m->bits) == 0;
}

static inline unsigned int cpumask_weight(const cpumask_t *m)
{
    return hweight_long(ACCESS_ONCE(m->bits));
}

static inline void cpumask_clear(cpumask_t *m)
{
    m->bits = 0;
}

static inline void cpumask_copy(cpumask_t *dst, const cpumask_t *src)
{
    dst->bits = ACCESS_ONCE(src->bits);
}

static inline void cpumask_and(cpumask_t *dst, const cpumask_t *a,
                               const cpumask_t *b)
{
    dst->bits = a->bits & b->bits;
}

/* First CPU >= n in m, or NR_CPUS. */
static inline unsigned int cpumask_next_from(unsigned int n, const cpumask_t *m)
{
    unsigned long b;

    if ( n >= NR_CPUS )
        return NR_CPUS;
    b = ACCESS_ONCE(m->bits) >> n;
    return b ? n + find_first_set_bit(b) : NR_CPUS;
}

#define for_each_cpu(cpu, mask)                                 \
    for ( (cpu) = cpumask_next_from(0, mask);                   \
          (cpu) < NR_CPUS;                                      \
          (cpu) = cpumask_next_from((cpu) + 1, mask) )

extern cpumask_t cpu_online_map;

#define for_each_online_cpu(cpu) for_each_cpu(cpu, &cpu_online_map)
#define cpu_online(cpu)         cpumask_test_cpu(cpu, &cpu_online_map)
#define num_online_cpus()       cpumask_weight(&cpu_online_map)

/* A mask with only cpu set (points into a constant table). */
const cpumask_t *cpumask_of(unsigned int cpu);

#endif /* __XEN_CPUMASK_H__ */
