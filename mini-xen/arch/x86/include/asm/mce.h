/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mce.h
 *
 * Machine-check architecture (arch/x86/mce.c).  The machine exposes the
 * MCA registers through PORT_MCA_* (public/platform.h) under their MSR
 * numbers.
 */
#ifndef __ASM_X86_MCE_H__
#define __ASM_X86_MCE_H__

#include <xen/types.h>
#include <public/platform.h>

#define MSR_IA32_MCG_CAP        0x179
#define MSR_IA32_MCG_STATUS     0x17a
#define MSR_IA32_MCx_STATUS(b)  (0x401 + 4 * (b))
#define MSR_IA32_MCx_ADDR(b)    (0x402 + 4 * (b))
#define MSR_IA32_MCx_MISC(b)    (0x403 + 4 * (b))

#define MCG_STATUS_RIPV         (1UL << 0)
#define MCG_STATUS_EIPV         (1UL << 1)
#define MCG_STATUS_MCIP         (1UL << 2)
#define MCG_CAP_COUNT           0xffUL

#define MCi_STATUS_VAL          (1UL << 63)
#define MCi_STATUS_OVER         (1UL << 62)
#define MCi_STATUS_UC           (1UL << 61)
#define MCi_STATUS_EN           (1UL << 60)
#define MCi_STATUS_MISCV        (1UL << 59)
#define MCi_STATUS_ADDRV        (1UL << 58)
#define MCi_STATUS_PCC          (1UL << 57)

void do_machine_check(struct cpu_user_regs *regs);
void mcheck_log_bank(unsigned int cpu, unsigned int bank, uint64_t status,
                     uint64_t addr, uint64_t misc);

#endif /* __ASM_X86_MCE_H__ */
