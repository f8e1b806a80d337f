/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_nmi_mce: the replacements.  The watchdog tick counts in its own
 * per-CPU array (xen_nmi_mce_ticks, exported), the bank log says it is
 * the patched one; both still do the handler's work.  .bss: once
 * reverted, the payload may not be applied again.
 */
#include <xen/lib.h>
#include <xen/console.h>
#include <xen/livepatch_payload.h>

unsigned long xen_nmi_mce_ticks[NR_CPUS];

void xen_nmi_mce_watchdog_tick(const struct cpu_user_regs *regs,
                               unsigned int cpu)
{
    xen_nmi_mce_ticks[cpu]++;
}

void xen_nmi_mce_log_bank(unsigned int cpu, unsigned int bank,
                          uint64_t status, uint64_t addr, uint64_t misc)
{
    char buf[160];

    snprintf(buf, sizeof(buf), "(XEN) MCE: CPU%u bank %u: status %016lx "
             "addr %016lx misc %016lx (patched log)\n", cpu, bank, status,
             addr, misc);
    console_raw_write(buf);
}

const char *xen_nmi_mce_extra_version(void)
{
    return "NMI World";
}
