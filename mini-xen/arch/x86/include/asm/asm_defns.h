/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_ASM_DEFNS_H__
#define __ASM_X86_ASM_DEFNS_H__

#ifdef __ASSEMBLY__

#include <asm/asm-offsets.h>

#define ALIGN                   .p2align 4, 0x90
#define ENTRY(name)             .globl name; ALIGN; name:
#define GLOBAL(name)            .globl name; name:
#define ENDPROC(name)           .type name, @function; .size name, . - name

/*
 * Build a struct cpu_user_regs below the hardware frame and the
 * error_code/entry_vector slot already on the stack.
 */
.macro SAVE_ALL
    push    %rdi
    push    %rsi
    push    %rdx
    push    %rcx
    push    %rax
    push    %r8
    push    %r9
    push    %r10
    push    %r11
    push    %rbx
    push    %rbp
    push    %r12
    push    %r13
    push    %r14
    push    %r15
.endm

/* Reload all GPRs from the frame and drop the error_code/vector slot. */
.macro RESTORE_ALL
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbp
    pop     %rbx
    pop     %r11
    pop     %r10
    pop     %r9
    pop     %r8
    pop     %rax
    pop     %rcx
    pop     %rdx
    pop     %rsi
    pop     %rdi
    add     $8, %rsp
.endm

/* Pointer to this CPU's struct cpu_info, from %rsp. */
.macro GET_CPUINFO reg
    mov     %rsp, \reg
    or      $(STACK_SIZE - 1), \reg
    sub     $(CPUINFO_sizeof - 1), \reg
.endm

.macro _ASM_EXTABLE from, to
    .pushsection .ex_table, "a", @progbits
    .balign 4
    .long   (\from) - .
    .long   (\to) - .
    .popsection
.endm

#else /* !__ASSEMBLY__ */

#define _ASM_EXTABLE(from, to)                                  \
    ".pushsection .ex_table, \"a\", @progbits\n\t"              \
    ".balign 4\n\t"                                             \
    ".long (" #from ") - .\n\t"                                 \
    ".long (" #to ") - .\n\t"                                   \
    ".popsection\n\t"

#endif /* __ASSEMBLY__ */

#endif /* __ASM_X86_ASM_DEFNS_H__ */
