/* SPDX-License-Identifier: GPL-2.0 */
/*
 * asm-offsets.c
 *
 * Compiled to assembly only; the Makefile turns the "==>...<==" markers
 * into include/asm/asm-offsets.h for the .S files.
 */
#include <xen/types.h>
#include <xen/kernel.h>
#include <asm/current.h>
#include <public/platform.h>

#define DEFINE(sym, val)                                                \
    asm volatile ( "\n.ascii \"==>#define " #sym " %c0<==\"" : : "i" (val) )
#define OFFSET(sym, str, mem)   DEFINE(sym, offsetof(struct str, mem))

void asm_offsets(void);

void asm_offsets(void)
{
    OFFSET(UREGS_r15, cpu_user_regs, r15);
    OFFSET(UREGS_r14, cpu_user_regs, r14);
    OFFSET(UREGS_r13, cpu_user_regs, r13);
    OFFSET(UREGS_r12, cpu_user_regs, r12);
    OFFSET(UREGS_rbp, cpu_user_regs, rbp);
    OFFSET(UREGS_rbx, cpu_user_regs, rbx);
    OFFSET(UREGS_r11, cpu_user_regs, r11);
    OFFSET(UREGS_r10, cpu_user_regs, r10);
    OFFSET(UREGS_r9, cpu_user_regs, r9);
    OFFSET(UREGS_r8, cpu_user_regs, r8);
    OFFSET(UREGS_rax, cpu_user_regs, rax);
    OFFSET(UREGS_rcx, cpu_user_regs, rcx);
    OFFSET(UREGS_rdx, cpu_user_regs, rdx);
    OFFSET(UREGS_rsi, cpu_user_regs, rsi);
    OFFSET(UREGS_rdi, cpu_user_regs, rdi);
    OFFSET(UREGS_error_code, cpu_user_regs, error_code);
    OFFSET(UREGS_entry_vector, cpu_user_regs, entry_vector);
    OFFSET(UREGS_rip, cpu_user_regs, rip);
    OFFSET(UREGS_cs, cpu_user_regs, cs);
    OFFSET(UREGS_rflags, cpu_user_regs, rflags);
    OFFSET(UREGS_rsp, cpu_user_regs, rsp);
    OFFSET(UREGS_ss, cpu_user_regs, ss);
    DEFINE(UREGS_sizeof, sizeof(struct cpu_user_regs));

    OFFSET(CPUINFO_guest_cpu_user_regs, cpu_info, guest_cpu_user_regs);
    OFFSET(CPUINFO_processor_id, cpu_info, processor_id);
    OFFSET(CPUINFO_irq_nesting, cpu_info, irq_nesting);
    OFFSET(CPUINFO_current_vcpu, cpu_info, current_vcpu);
    DEFINE(CPUINFO_sizeof, sizeof(struct cpu_info));

    OFFSET(MBOX_state, mailbox, state);
    OFFSET(MBOX_seq, mailbox, seq);
    OFFSET(MBOX_op, mailbox, op);
    OFFSET(MBOX_args, mailbox, args);
    OFFSET(MBOX_ret, mailbox, ret);
    OFFSET(MBOX_buf, mailbox, buf);
    DEFINE(MBOX_sizeof, sizeof(struct mailbox));

    /* platform.h values that GNU as cannot read from there */
    DEFINE(ASM_MBOX_REQUEST, MBOX_REQUEST);
    DEFINE(ASM_MBOX_DONE, MBOX_DONE);
    DEFINE(ASM_MBOX_OP_LOAD, MBOX_OP_LOAD);
    DEFINE(ASM_MBOX_OP_STORE, MBOX_OP_STORE);
    DEFINE(ASM_MBOX_OP_REPEAT, MBOX_OP_REPEAT);
    DEFINE(ASM_BOOT_BUSY_GUESTS, BOOT_BUSY_GUESTS);

    /*
     * TSS.rsp0 (the end of guest_cpu_user_regs) must be 16-byte aligned,
     * so that the CPU's own alignment of %rsp on a ring 3 -> ring 0
     * transition does not move the frame.
     */
    BUILD_BUG_ON(sizeof(struct cpu_user_regs) != 168);
    BUILD_BUG_ON(offsetof(struct cpu_info, guest_cpu_user_regs) != 0);
    BUILD_BUG_ON((sizeof(struct cpu_info) - sizeof(struct cpu_user_regs)) % 16);
}
