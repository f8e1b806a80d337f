/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_ATOMIC_H__
#define __ASM_X86_ATOMIC_H__

#include <xen/types.h>

typedef struct {
    int counter;
} atomic_t;

#define ATOMIC_INIT(i)          { (i) }

static inline int atomic_read(const atomic_t *v)
{
    return ACCESS_ONCE(v->counter);
}

static inline void atomic_set(atomic_t *v, int i)
{
    ACCESS_ONCE(v->counter) = i;
}

static inline void atomic_inc(atomic_t *v)
{
    asm volatile ( "lock incl %0" : "+m" (v->counter) : : "memory" );
}

static inline void atomic_dec(atomic_t *v)
{
    asm volatile ( "lock decl %0" : "+m" (v->counter) : : "memory" );
}

static inline int atomic_add_return(int i, atomic_t *v)
{
    int r = i;

    asm volatile ( "lock xaddl %0, %1"
                   : "+r" (r), "+m" (v->counter) : : "memory" );
    return r + i;
}

static inline bool atomic_inc_and_test(atomic_t *v)
{
    return atomic_add_return(1, v) == 0;
}

static inline bool atomic_dec_and_test(atomic_t *v)
{
    return atomic_add_return(-1, v) == 0;
}

static inline int atomic_cmpxchg(atomic_t *v, int old, int new)
{
    int prev;

    asm volatile ( "lock cmpxchgl %2, %1"
                   : "=a" (prev), "+m" (v->counter)
                   : "r" (new), "0" (old) : "memory" );
    return prev;
}

/* Atomic add on an unsigned long (statistics counters). */
static inline void atomic_add_ulong(unsigned long *p, unsigned long i)
{
    asm volatile ( "lock addq %1, %0" : "+m" (*p) : "er" (i) : "memory" );
}

#endif /* __ASM_X86_ATOMIC_H__ */
