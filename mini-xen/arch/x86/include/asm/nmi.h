/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nmi.h
 *
 * NMI handling (arch/x86/nmi.c), as Xen's: do_nmi() runs the NMI
 * callback first and skips everything else when it returns non-zero.
 */
#ifndef __ASM_X86_NMI_H__
#define __ASM_X86_NMI_H__

#include <xen/types.h>
#include <asm/system.h>
#include <asm/traps.h>
#include <public/platform.h>

typedef int nmi_callback_t(const struct cpu_user_regs *regs, int cpu);

extern nmi_callback_t *nmi_callback;


/*
 * Install cb as the NMI callback and return the previous one.  Inline:
 * the live-patch rendezvous installs one (livepatch-nmi=swallow).
 */
static inline nmi_callback_t *set_nmi_callback(nmi_callback_t *cb)
{
    return xchg(&nmi_callback, cb);
}

void unset_nmi_callback(void);

void do_nmi(struct cpu_user_regs *regs);
void nmi_watchdog_tick(const struct cpu_user_regs *regs, unsigned int cpu);
void dump_nmi_stats(void);
void dump_nmi_watchdog(void);
void dump_mce_stats(void);

#endif /* __ASM_X86_NMI_H__ */
