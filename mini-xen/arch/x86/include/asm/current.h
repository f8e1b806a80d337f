/* SPDX-License-Identifier: GPL-2.0 */
/*
 * current.h
 *
 * struct cpu_info sits at the top of each CPU's primary stack.  Its
 * first member is the guest register frame: TSS.rsp0 points just past
 * it, so an interrupt or hypercall from ring 3 saves the guest state
 * exactly there, and a context switch swaps that frame.
 */
#ifndef __ASM_X86_CURRENT_H__
#define __ASM_X86_CURRENT_H__

#ifndef __ASSEMBLY__

#include <xen/types.h>
#include <public/platform.h>

struct vcpu;

struct cpu_info {
    struct cpu_user_regs guest_cpu_user_regs;
    unsigned int processor_id;
    unsigned int irq_nesting;
    struct vcpu *current_vcpu;
};

static inline struct cpu_info *get_cpu_info(void)
{
    unsigned long sp;

    asm ( "mov %%rsp, %0" : "=r" (sp) );
    return (struct cpu_info *)((sp | (STACK_SIZE - 1)) + 1) - 1;
}

#define current                 (get_cpu_info()->current_vcpu)
#define set_current(v)          (get_cpu_info()->current_vcpu = (v))
#define guest_cpu_user_regs()   (&get_cpu_info()->guest_cpu_user_regs)

/* Bottom of the stack block of the CPU whose stack holds sp. */
static inline unsigned long stack_block_base(unsigned long sp)
{
    return sp & ~(STACK_SIZE - 1);
}

/*
 * Discard the current stack and continue in the C function fn, just
 * below the guest frame, with a null return address and frame pointer
 * (the end of call traces).  Nothing on the stack survives.
 */
#define reset_stack_and_jump(fn) do {                                   \
    asm volatile ( "lea -16(%0), %%rsp\n\t"                             \
                   "movq $0, (%%rsp)\n\t"                               \
                   "xor %%ebp, %%ebp\n\t"                               \
                   "jmp %c1"                                            \
                   : : "r" (guest_cpu_user_regs()), "i" (fn)            \
                   : "memory" );                                        \
    unreachable();                                                      \
} while ( 0 )

/*
 * Discard the current stack and return to the guest whose state is in
 * guest_cpu_user_regs(), through test_all_events (entry.S).
 */
#define reset_stack_and_return_to_guest() do {                          \
    asm volatile ( "mov %0, %%rsp\n\t"                                  \
                   "jmp test_all_events"                                \
                   : : "r" (guest_cpu_user_regs()) : "memory" );        \
    unreachable();                                                      \
} while ( 0 )

#endif /* !__ASSEMBLY__ */

#endif /* __ASM_X86_CURRENT_H__ */
