/* SPDX-License-Identifier: GPL-2.0 */
/*
 * entry.S
 *
 * Interrupt, exception and hypercall entry, and the return paths.
 *
 * Every IDT vector has a 16-byte stub at entry_stubs + 16 * vector that
 * completes the error_code/entry_vector slot of struct cpu_user_regs and
 * jumps to common_interrupt, or to the IST handlers of NMI (IST2),
 * #MC (IST3) and #DF (IST1).
 *
 * All exits to ring 3 go through test_all_events: softirqs, then
 * check_for_livepatch_work(), then restore_all_guest.
 */
        .file "entry.S"

#include <asm/asm_defns.h>
#include <asm/asm-offsets.h>
#include <asm/processor.h>
#include <xen/softirq.h>
#include <public/platform.h>

/* Call a C function with %rsp 16-byte aligned (the frame is 8 mod 16). */
.macro CALL_C fn
        sub     $8, %rsp
        call    \fn
        add     $8, %rsp
.endm

        .text

        .p2align 4
ENTRY(entry_stubs)
        .set    vec, 0
        .rept   256
        .p2align 4, 0xcc
        .if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
        /* the CPU pushed an error code */
        .else
        push    $0
        .endif
        movl    $vec, 4(%rsp)
        .if vec == TRAP_nmi
        jmp     handle_nmi
        .elseif vec == TRAP_machine_check
        jmp     handle_mce
        .elseif vec == TRAP_double_fault
        jmp     handle_double_fault
        .else
        jmp     common_interrupt
        .endif
        .set    vec, vec + 1
        .endr
        .p2align 4, 0xcc
ENDPROC(entry_stubs)

ENTRY(common_interrupt)
        cld
        SAVE_ALL
        testb   $3, UREGS_cs(%rsp)
        jz      1f
        xor     %ebp, %ebp              /* guest %rbp ends Xen call traces */
1:      mov     %rsp, %rdi
        movl    UREGS_entry_vector(%rsp), %eax
        cmp     $TRAP_nr, %eax
        jb      handle_exception
        cmp     $HYPERCALL_VECTOR, %eax
        je      handle_hypercall

        CALL_C  do_IRQ
        jmp     ret_from_intr

handle_exception:
        lea     exception_table(%rip), %rdx
        sub     $8, %rsp
        call    *(%rdx, %rax, 8)
        add     $8, %rsp
        jmp     ret_from_intr

handle_hypercall:
        testb   $3, UREGS_cs(%rsp)
        jz      1f
        sti
        CALL_C  do_hypercall
        jmp     test_all_events
1:      CALL_C  fatal_trap              /* int $0x82 from Xen itself */
ENDPROC(common_interrupt)

/* Return from an interrupt or exception, to Xen or to the guest. */
ENTRY(ret_from_intr)
        testb   $3, UREGS_cs(%rsp)
        jnz     test_all_events
GLOBAL(restore_all_xen)
        RESTORE_ALL
        iretq
ENDPROC(ret_from_intr)

/*
 * The only way back to ring 3.  %rsp points at the guest frame,
 * guest_cpu_user_regs() at the top of this CPU's stack.
 */
ENTRY(test_all_events)
        cli
        GET_CPUINFO %rbx
        movl    CPUINFO_processor_id(%rbx), %eax
        lea     per_cpu__softirq_pending(%rip), %rcx
        cmpq    $0, (%rcx, %rax, 8)
        jne     process_softirqs

        sti
        CALL_C  check_for_livepatch_work
        cli
        movl    CPUINFO_processor_id(%rbx), %eax
        lea     per_cpu__softirq_pending(%rip), %rcx
        cmpq    $0, (%rcx, %rax, 8)
        jne     process_softirqs

GLOBAL(restore_all_guest)
        RESTORE_ALL
        iretq

process_softirqs:
        sti
        CALL_C  do_softirq
        jmp     test_all_events
ENDPROC(test_all_events)

/* NMI, #MC and #DF entry run at any time, also while patches are written. */
        .section .text.unpatchable, "ax", @progbits

/*
 * NMI (IST2).  Count it and return.  Deliberately self-contained: no
 * call into C, no lock, nothing that live patching may rewrite.
 */
ENTRY(handle_nmi)
        push    %rax
        push    %rcx
        GET_CPUINFO %rax
        movl    CPUINFO_processor_id(%rax), %eax
        lea     nmi_count(%rip), %rcx
        lock incq (%rcx, %rax, 8)
        pop     %rcx
        pop     %rax
        add     $8, %rsp                /* error_code/entry_vector */
        iretq
ENDPROC(handle_nmi)

/*
 * Machine check (IST3).  Count it, log one line straight to the serial
 * port (no lock: this may interrupt a CPU holding the console lock) and
 * return.  Self-contained like handle_nmi.
 */
ENTRY(handle_mce)
        cld
        push    %rax
        push    %rcx
        push    %rdx
        push    %rsi
        GET_CPUINFO %rax
        movl    CPUINFO_processor_id(%rax), %ecx
        lea     mce_count(%rip), %rax
        lock incq (%rax, %rcx, 8)

        mov     $PORT_COM1_DATA, %edx
        lea     mce_msg(%rip), %rsi
1:      lodsb
        test    %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:      mov     %ecx, %eax              /* CPU number, 0..99 */
        mov     $10, %cl
        div     %cl                     /* al = tens, ah = units */
        test    %al, %al
        jz      3f
        add     $'0', %al
        outb    %al, %dx
3:      mov     %ah, %al
        add     $'0', %al
        outb    %al, %dx
        mov     $'\n', %al
        outb    %al, %dx

        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rax
        add     $8, %rsp
        iretq
ENDPROC(handle_mce)

/* Double fault (IST1): report and panic. */
ENTRY(handle_double_fault)
        cld
        SAVE_ALL
        mov     %rsp, %rdi
        CALL_C  do_double_fault
        ud2
ENDPROC(handle_double_fault)
        .text

        .section .rodata.mce_msg, "a", @progbits
mce_msg:
        .asciz  "(XEN) MCE: machine check on CPU"
        .size   mce_msg, . - mce_msg
        .type   mce_msg, @object
