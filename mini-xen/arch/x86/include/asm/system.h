/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_SYSTEM_H__
#define __ASM_X86_SYSTEM_H__

#include <xen/types.h>

#define X86_EFLAGS_IF           0x00000200UL

#define smp_mb()                asm volatile ( "mfence" : : : "memory" )
#define smp_rmb()               barrier()
#define smp_wmb()               barrier()

static inline void local_irq_disable(void)
{
    asm volatile ( "cli" : : : "memory" );
}

static inline void local_irq_enable(void)
{
    asm volatile ( "sti" : : : "memory" );
}

static inline unsigned long read_rflags(void)
{
    unsigned long flags;

    asm volatile ( "pushf; pop %0" : "=r" (flags) : : "memory" );
    return flags;
}

static inline bool local_irq_is_enabled(void)
{
    return read_rflags() & X86_EFLAGS_IF;
}

#define local_irq_save(x) do {                                  \
    (x) = read_rflags();                                        \
    local_irq_disable();                                        \
} while ( 0 )

#define local_irq_restore(x) do {                               \
    if ( (x) & X86_EFLAGS_IF )                                  \
        local_irq_enable();                                     \
} while ( 0 )

static inline void cpu_relax(void)
{
    asm volatile ( "pause" : : : "memory" );
}

/* sti must be immediately followed by hlt (interrupt shadow). */
static inline void safe_halt(void)
{
    asm volatile ( "sti; hlt" : : : "memory" );
}

static inline void halt(void)
{
    asm volatile ( "hlt" : : : "memory" );
}

#define xchg(ptr, v) ({                                         \
    __typeof__(*(ptr)) x__ = (v);                               \
    asm volatile ( "xchg %0, %1"                                \
                   : "+r" (x__), "+m" (*(ptr)) : : "memory" );  \
    x__; })

#define cmpxchg(ptr, o, n) ({                                   \
    __typeof__(*(ptr)) prev__;                                  \
    asm volatile ( "lock cmpxchg %2, %1"                        \
                   : "=a" (prev__), "+m" (*(ptr))               \
                   : "r" ((__typeof__(*(ptr)))(n)), "0" (o)     \
                   : "memory" );                                \
    prev__; })

#endif /* __ASM_X86_SYSTEM_H__ */
