/* SPDX-License-Identifier: GPL-2.0 */
/*
 * waitqueue.S
 *
 * Keeping and restoring the stack of a vCPU that sleeps inside the
 * hypervisor (common/waitqueue.c).
 *
 * int arch_wait_save(unsigned long *sp, void *buf, unsigned long top,
 *                    unsigned long max)
 *   Pushes a frame (%rbp, so that the kept stack is walkable, and the
 *   callee-saved registers), stores %rsp in *sp and copies [%rsp, top)
 *   into buf.  Returns 0; or -1, keeping nothing, if that is more than
 *   max bytes.  Returns a second time, with 1, when arch_wait_resume()
 *   puts the copy back.
 *
 * noreturn void arch_wait_resume(unsigned long sp, const void *buf,
 *                                unsigned long len)
 *   Moves %rsp to sp, copies buf back over [sp, sp + len) and returns
 *   from the arch_wait_save() that kept it.  Interrupts must be off: the
 *   copy overwrites the frames of the caller.
 */
        .file "waitqueue.S"

#include <asm/asm_defns.h>

        .text

ENTRY(arch_wait_save)
        push    %rbp
        mov     %rsp, %rbp
        push    %rbx
        push    %r12
        push    %r13
        push    %r14
        push    %r15

        mov     %rdx, %rax
        sub     %rsp, %rax              /* bytes to keep */
        cmp     %rcx, %rax
        ja      2f
        mov     %rsp, (%rdi)
        mov     %rax, %rcx
        mov     %rsi, %rdi
        mov     %rsp, %rsi
        cld
        rep movsb
        xor     %eax, %eax

1:      pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbx
        pop     %rbp
        ret

2:      mov     $-1, %eax
        jmp     1b

.Lwait_resumed:
        mov     $1, %eax
        jmp     1b
ENDPROC(arch_wait_save)

ENTRY(arch_wait_resume)
        mov     %rdi, %rsp
        mov     %rdx, %rcx
        cld
        rep movsb                       /* buf -> [sp, sp + len) */
        jmp     .Lwait_resumed
ENDPROC(arch_wait_resume)
