/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_PROCESSOR_H__
#define __ASM_X86_PROCESSOR_H__

#define X86_CR0_PE              0x00000001UL
#define X86_CR0_WP              0x00010000UL
#define X86_CR0_PG              0x80000000UL
#define X86_CR4_PAE             0x00000020UL
#define X86_CR4_PGE             0x00000080UL

#define X86_EFLAGS_MBS          0x00000002UL
#define X86_EFLAGS_TF           0x00000100UL
#define X86_EFLAGS_DF           0x00000400UL
#define X86_EFLAGS_NT           0x00004000UL
#define X86_EFLAGS_RF           0x00010000UL
#define X86_EFLAGS_AC           0x00040000UL

/* Exception vectors not named in public/platform.h */
#define TRAP_debug              1
#define TRAP_int3               3
#define TRAP_overflow           4
#define TRAP_bounds             5
#define TRAP_no_device          7
#define TRAP_copro_seg          9
#define TRAP_invalid_tss        10
#define TRAP_no_segment         11
#define TRAP_stack_error        12
#define TRAP_spurious_int       15
#define TRAP_copro_error        16
#define TRAP_alignment_check    17
#define TRAP_simd_error         19
#define TRAP_virtualisation     20
#define TRAP_nr                 32

/* Page fault error code bits */
#define PFEC_page_present       (1U << 0)
#define PFEC_write_access       (1U << 1)
#define PFEC_user_mode          (1U << 2)
#define PFEC_reserved_bit       (1U << 3)
#define PFEC_insn_fetch         (1U << 4)

#ifndef __ASSEMBLY__

#include <xen/types.h>
#include <public/platform.h>

static inline bool guest_mode(const struct cpu_user_regs *regs)
{
    return (regs->cs & 3) != 0;
}

#define DEFINE_CR_ACCESSORS(n)                                          \
static inline unsigned long read_cr##n(void)                            \
{                                                                       \
    unsigned long v;                                                    \
                                                                        \
    asm volatile ( "mov %%cr" #n ", %0" : "=r" (v) );                   \
    return v;                                                           \
}                                                                       \
static inline void write_cr##n(unsigned long v)                         \
{                                                                       \
    asm volatile ( "mov %0, %%cr" #n : : "r" (v) : "memory" );          \
}

DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)

#undef DEFINE_CR_ACCESSORS

const char *trap_name(unsigned int trapnr);

#endif /* !__ASSEMBLY__ */

#endif /* __ASM_X86_PROCESSOR_H__ */
