/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_nmi_mce: patches what the NMI and #MC handlers call,
 * nmi_watchdog_tick() and mcheck_log_bank(), and xen_extra_version()
 * ("NMI World"), so that a handler running in the patch window meets a
 * site being written (tests of livepatch-nmi=).
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <asm/mce.h>
#include <asm/nmi.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_nmi_mce_func.h"

const char *xen_nmi_mce_extra_version(void);
void xen_nmi_mce_watchdog_tick(const struct cpu_user_regs *regs,
                               unsigned int cpu);
void xen_nmi_mce_log_bank(unsigned int cpu, unsigned int bank,
                          uint64_t status, uint64_t addr, uint64_t misc);

static const char nmi_mce_tick_name[] = "nmi_watchdog_tick";
static const char nmi_mce_bank_name[] = "mcheck_log_bank";
static const char nmi_mce_extra_name[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_nmi_mce[] = {
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = (uint64_t)nmi_mce_tick_name,
        .new_addr = (uint64_t)xen_nmi_mce_watchdog_tick,
        .old_addr = (uint64_t)nmi_watchdog_tick,
        .new_size = SZ_xen_nmi_mce_watchdog_tick,
        .old_size = NMI_WATCHDOG_TICK_SZ,
    },
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = (uint64_t)nmi_mce_bank_name,
        .new_addr = (uint64_t)xen_nmi_mce_log_bank,
        .old_addr = (uint64_t)mcheck_log_bank,
        .new_size = SZ_xen_nmi_mce_log_bank,
        .old_size = MCHECK_LOG_BANK_SZ,
    },
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = (uint64_t)nmi_mce_extra_name,
        .new_addr = (uint64_t)xen_nmi_mce_extra_version,
        .old_addr = (uint64_t)xen_extra_version,
        .new_size = SZ_xen_nmi_mce_extra_version,
        .old_size = XEN_EXTRA_VERSION_SZ,
    },
};

static const char nmi_mce_modinfo[] __section(".modinfo") __used =
    "version=1\0test=nmi and mce handlers";
