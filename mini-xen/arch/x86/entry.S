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

/*
 * NMI, #MC and #DF entry run at any time, also while patches are
 * written: unpatchable, and so is everything they call directly.  The
 * C handlers (arch/x86/nmi.c, mce.c, traps.c) are reached through
 * exception_table, and livepatch_{nmi,mce}_enter() first decide whether
 * the event must wait for the end of the live-patch window
 * (common/livepatch_nmi.c).
 */
        .section .text.unpatchable, "ax", @progbits

.macro IST_ENTRY vector, enter
        cld
        SAVE_ALL
        testb   $3, UREGS_cs(%rsp)
        jz      1f
        xor     %ebp, %ebp              /* guest %rbp ends Xen call traces */
1:      mov     %rsp, %rdi
        CALL_C  \enter
        test    %eax, %eax
        jnz     2f                      /* latched: handled after the window */
        mov     %rsp, %rdi
        lea     exception_table(%rip), %rdx
        sub     $8, %rsp
        call    *(\vector * 8)(%rdx)
        add     $8, %rsp
2:      RESTORE_ALL
        iretq
.endm

/* NMI (IST2): do_nmi(), unless latched. */
ENTRY(handle_nmi)
        IST_ENTRY TRAP_nmi, livepatch_nmi_enter
ENDPROC(handle_nmi)

/* Machine check (IST3): do_machine_check(), unless latched. */
ENTRY(handle_mce)
        IST_ENTRY TRAP_machine_check, livepatch_mce_enter
ENDPROC(handle_mce)

/* Double fault (IST1): report and panic. */
ENTRY(handle_double_fault)
        cld
        SAVE_ALL
        mov     %rsp, %rdi
        lea     exception_table(%rip), %rdx
        sub     $8, %rsp
        call    *(TRAP_double_fault * 8)(%rdx)
        ud2
ENDPROC(handle_double_fault)
        .text
