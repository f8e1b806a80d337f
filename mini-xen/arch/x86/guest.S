/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest.S
 *
 * The program run by every guest vCPU, in ring 3, from .guest.text.
 * Deterministic: it reads no time.
 *
 * Entry (see common/domain.c): rdi = domid, rsi = vCPU id in the domain,
 * rdx = window base (struct mailbox), rcx = nr_domains, r8 = boot flags,
 * r9 = global vCPU index.
 *
 * 1. console_io: "hello from d<domid>v<vcpu>".
 * 2. Forever: vCPU 0 of the domain serves its mailbox (MBOX_REQUEST ->
 *    issue the hypercall, or do MBOX_OP_LOAD/STORE/REPEAT itself, store ret,
 *    MBOX_DONE); otherwise one round of
 *    work: xen_version, XENMEM_write_word of a per-vCPU counter to data
 *    offset 8 * vcpu_id, EVTCHNOP_send to the next domain; then
 *    SCHEDOP_block.  With BOOT_BUSY_GUESTS it never blocks: it spins on
 *    arithmetic and does a round of work every GUEST_BUSY_ROUNDS spins.
 */
        .file "guest.S"

#include <asm/asm_defns.h>
#include <asm/asm-offsets.h>
#include <public/platform.h>
#include <public/xen.h>
#include <public/version.h>
#include <public/memory.h>
#include <public/event_channel.h>
#include <public/sched.h>

#define GUEST_BUSY_SPIN         2000
#define GUEST_BUSY_ROUNDS       4

.macro HYPERCALL nr
        mov     $\nr, %eax
        int     $HYPERCALL_VECTOR
.endm

        .section .guest.text, "ax", @progbits

/* Register use: r12 domid, r13 vcpu, r14 mailbox, r15 nr_domains,
 * rbx flags, rbp round counter. */
ENTRY(guest_start)
        mov     %rdi, %r12
        mov     %rsi, %r13
        mov     %rdx, %r14
        mov     %rcx, %r15
        mov     %r8, %rbx
        xor     %ebp, %ebp
        lock incl guest_started(%rip)

        call    guest_hello

guest_loop:
        test    %r13, %r13
        jnz     1f
        cmpl    $ASM_MBOX_REQUEST, MBOX_state(%r14)
        jne     1f
        call    guest_serve_mailbox
        jmp     guest_loop

1:      test    $ASM_BOOT_BUSY_GUESTS, %ebx
        jnz     guest_busy

        call    guest_work
        mov     $SCHEDOP_block, %edi
        xor     %esi, %esi
        HYPERCALL __HYPERVISOR_sched_op
        jmp     guest_loop

guest_busy:
        mov     $GUEST_BUSY_SPIN, %ecx
        mov     %rbp, %rax
2:      imul    $1103515245, %eax, %eax
        add     $12345, %eax
        dec     %ecx
        jnz     2b
        inc     %rbp
        test    $(GUEST_BUSY_ROUNDS - 1), %ebp
        jnz     guest_loop
        call    guest_work
        jmp     guest_loop
ENDPROC(guest_start)

/*
 * One request from the mailbox: a hypercall (rax = op, rdi, rsi, rdx,
 * r10, r8), or MBOX_OP_LOAD / MBOX_OP_STORE done here in ring 3.
 */
ENTRY(guest_serve_mailbox)
        mov     MBOX_op(%r14), %rax
        mov     MBOX_args + 0(%r14), %rdi
        mov     MBOX_args + 8(%r14), %rsi
        cmp     $ASM_MBOX_OP_LOAD, %rax
        je      2f
        cmp     $ASM_MBOX_OP_STORE, %rax
        je      3f
        cmp     $ASM_MBOX_OP_REPEAT, %rax
        je      4f
        mov     MBOX_args + 16(%r14), %rdx
        mov     MBOX_args + 24(%r14), %r10
        mov     MBOX_args + 32(%r14), %r8
        int     $HYPERCALL_VECTOR
1:      mov     %rax, MBOX_ret(%r14)
        movl    $ASM_MBOX_DONE, MBOX_state(%r14)
        ret
2:      mov     (%rdi), %rax
        jmp     1b
3:      mov     %rsi, (%rdi)
        xor     %eax, %eax
        jmp     1b
4:      call    guest_repeat
        jmp     1b
ENDPROC(guest_serve_mailbox)

/*
 * MBOX_OP_REPEAT: args[0] (at least 1) times the hypercall args[1] with
 * rdi, rsi, rdx = args[2..4] (r10 = r8 = 0); rax = the last result.  The
 * loop around the int $0x82 is the same nine instructions on every
 * iteration (testbed callpath measures from the int to its return).
 */
ENTRY(guest_repeat)
        mov     MBOX_args + 0(%r14), %rcx
1:      mov     MBOX_args + 8(%r14), %rax
        mov     MBOX_args + 16(%r14), %rdi
        mov     MBOX_args + 24(%r14), %rsi
        mov     MBOX_args + 32(%r14), %rdx
        xor     %r10d, %r10d
        xor     %r8d, %r8d
        int     $HYPERCALL_VECTOR
        dec     %rcx
        jnz     1b
        ret
ENDPROC(guest_repeat)

/* One round of work. */
ENTRY(guest_work)
        inc     %rbp
        sub     $16, %rsp

        xor     %edi, %edi                      /* XENVER_version */
        xor     %esi, %esi
        HYPERCALL __HYPERVISOR_xen_version

        lea     (, %r13, 8), %rax               /* offset = 8 * vcpu_id */
        mov     %rax, 0(%rsp)
        mov     %rbp, 8(%rsp)                   /* value = round */
        mov     $XENMEM_write_word, %edi
        mov     %rsp, %rsi
        HYPERCALL __HYPERVISOR_memory_op

        lea     1(%r12), %rax                   /* next domain */
        xor     %edx, %edx
        div     %r15
        inc     %edx                            /* its port */
        movl    %edx, 0(%rsp)
        mov     $EVTCHNOP_send, %edi
        mov     %rsp, %rsi
        HYPERCALL __HYPERVISOR_event_channel_op

        add     $16, %rsp
        ret
ENDPROC(guest_work)

/* console_io(CONSOLEIO_write, len, "hello from d<domid>v<vcpu>\n") */
ENTRY(guest_hello)
        sub     $64, %rsp
        mov     %rsp, %rdi
        lea     guest_hello_str(%rip), %rsi
1:      movb    (%rsi), %al
        test    %al, %al
        jz      2f
        movb    %al, (%rdi)
        inc     %rsi
        inc     %rdi
        jmp     1b
2:      mov     %r12, %rax
        call    guest_put_dec
        movb    $'v', (%rdi)
        inc     %rdi
        mov     %r13, %rax
        call    guest_put_dec
        movb    $'\n', (%rdi)
        inc     %rdi

        mov     %rdi, %rsi
        sub     %rsp, %rsi                      /* count */
        mov     %rsp, %rdx                      /* buffer */
        mov     $CONSOLEIO_write, %edi
        HYPERCALL __HYPERVISOR_console_io

        add     $64, %rsp
        ret
ENDPROC(guest_hello)

/* Write rax in decimal at rdi, advance rdi.  Clobbers rax, rcx, rdx, r8. */
ENTRY(guest_put_dec)
        mov     $10, %ecx
        xor     %r8d, %r8d
1:      xor     %edx, %edx
        div     %rcx
        add     $'0', %dl
        push    %rdx
        inc     %r8
        test    %rax, %rax
        jnz     1b
2:      pop     %rax
        movb    %al, (%rdi)
        inc     %rdi
        dec     %r8
        jnz     2b
        ret
ENDPROC(guest_put_dec)

        .section .guest.data, "aw", @progbits
guest_hello_str:
        .asciz  "hello from d"
        .size   guest_hello_str, . - guest_hello_str
        .type   guest_hello_str, @object

        .p2align 3
GLOBAL(guest_started)
        .long   0                               /* vCPUs that started */
        .size   guest_started, . - guest_started
        .type   guest_started, @object
