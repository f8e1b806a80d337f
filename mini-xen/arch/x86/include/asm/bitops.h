/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_BITOPS_H__
#define __ASM_X86_BITOPS_H__

#include <xen/types.h>

#define BITS_PER_LONG           64

static inline void set_bit(unsigned int nr, volatile void *addr)
{
    asm volatile ( "lock btsq %1, %0"
                   : "+m" (*(volatile long *)addr) : "Ir" ((long)nr) : "memory" );
}

static inline void clear_bit(unsigned int nr, volatile void *addr)
{
    asm volatile ( "lock btrq %1, %0"
                   : "+m" (*(volatile long *)addr) : "Ir" ((long)nr) : "memory" );
}

static inline bool test_and_set_bit(unsigned int nr, volatile void *addr)
{
    bool old;

    asm volatile ( "lock btsq %2, %1"
                   : "=@ccc" (old), "+m" (*(volatile long *)addr)
                   : "Ir" ((long)nr) : "memory" );
    return old;
}

static inline bool test_and_clear_bit(unsigned int nr, volatile void *addr)
{
    bool old;

    asm volatile ( "lock btrq %2, %1"
                   : "=@ccc" (old), "+m" (*(volatile long *)addr)
                   : "Ir" ((long)nr) : "memory" );
    return old;
}

static inline bool test_bit(unsigned int nr, const volatile void *addr)
{
    const volatile unsigned long *p = addr;

    return (p[nr / BITS_PER_LONG] >> (nr % BITS_PER_LONG)) & 1;
}

/* Index of the lowest set bit; x must not be 0. */
static inline unsigned int find_first_set_bit(unsigned long x)
{
    return __builtin_ctzl(x);
}

/* Number of set bits (no popcnt instruction, no libgcc). */
static inline unsigned int hweight_long(unsigned long x)
{
    x = x - ((x >> 1) & 0x5555555555555555UL);
    x = (x & 0x3333333333333333UL) + ((x >> 2) & 0x3333333333333333UL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fUL;

    return (x * 0x0101010101010101UL) >> 56;
}

#endif /* __ASM_X86_BITOPS_H__ */
