/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_MSR_H__
#define __ASM_X86_MSR_H__

#include <xen/types.h>

#define MSR_EFER                0xc0000080U
#define EFER_SCE                (1UL << 0)
#define EFER_LME                (1UL << 8)
#define EFER_LMA                (1UL << 10)
#define EFER_NXE                (1UL << 11)

static inline uint64_t rdmsrl(uint32_t msr)
{
    uint32_t lo, hi;

    asm volatile ( "rdmsr" : "=a" (lo), "=d" (hi) : "c" (msr) );
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsrl(uint32_t msr, uint64_t val)
{
    asm volatile ( "wrmsr"
                   : : "c" (msr), "a" ((uint32_t)val), "d" ((uint32_t)(val >> 32))
                   : "memory" );
}

#endif /* __ASM_X86_MSR_H__ */
