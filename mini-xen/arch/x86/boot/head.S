/* SPDX-License-Identifier: GPL-2.0 */
/*
 * head.S
 *
 * First bytes of the image.  Every CPU enters here in 64-bit mode with
 * paging off, no GDT/IDT, interrupts off, %rdi = CPU number and %rsp
 * undefined.  CPU 0 clears .bss; each CPU then switches to its own stack
 * block and calls __start_xen (CPU 0) or start_secondary(cpu).
 */
        .file "head.S"

#include <asm/asm_defns.h>
#include <asm/asm-offsets.h>

        .section .text.head, "ax", @progbits
        .code64

ENTRY(start)
        cli
        cld
        mov     %rdi, %r12              /* CPU number */
        test    %r12, %r12
        jnz     1f

        /* CPU 0: zero .bss (the stacks included). */
        lea     __bss_start(%rip), %rdi
        lea     __bss_end(%rip), %rcx
        sub     %rdi, %rcx
        shr     $3, %rcx
        xor     %eax, %eax
        rep stosq

1:      /* %rsp = top of this CPU's stack block, minus struct cpu_info */
        lea     cpu_stacks(%rip), %rsp
        lea     1(%r12), %rax
        shl     $STACK_SHIFT, %rax
        add     %rax, %rsp
        sub     $CPUINFO_sizeof, %rsp
        movl    %r12d, CPUINFO_processor_id(%rsp)

        xor     %ebp, %ebp              /* end of call traces */
        push    $0                      /* keep %rsp 16-byte aligned */
        mov     %r12, %rdi
        test    %r12, %r12
        jnz     2f
        call    __start_xen
        ud2
2:      call    start_secondary
        ud2
ENDPROC(start)
