/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nmi.c
 *
 * NMI handling, as Xen's do_nmi(): the NMI callback first (it may claim
 * the NMI, as the live-patch mask does under livepatch-nmi=swallow), then
 * the watchdog tick and the statistics.  Reached from handle_nmi
 * (entry.S) through exception_table[TRAP_nmi], on the NMI stack with
 * NMIs blocked, or right after the live-patch window for an NMI that
 * arrived inside it (common/livepatch_nmi.c).  Ordinary, patchable code.
 */
#include <xen/lib.h>
#include <xen/percpu.h>
#include <xen/smp.h>
#include <xen/time.h>
#include <asm/nmi.h>

/* Handled events, one per CPU: public/platform.h. */
unsigned long nmi_count[NR_CPUS];

/* The watchdog: ticks and the time of the last one, per CPU. */
static unsigned long nmi_watchdog_ticks[NR_CPUS];
static s_time_t nmi_watchdog_last[NR_CPUS];

static int dummy_nmi_callback(const struct cpu_user_regs *regs, int cpu)
{
    return 0;
}

nmi_callback_t *nmi_callback = dummy_nmi_callback;

void unset_nmi_callback(void)
{
    set_nmi_callback(dummy_nmi_callback);
}

/* One tick of the NMI watchdog on cpu.  noinline: patchable on its own. */
noinline void nmi_watchdog_tick(const struct cpu_user_regs *regs, unsigned int cpu)
{
    nmi_watchdog_ticks[cpu]++;
    nmi_watchdog_last[cpu] = NOW();
}

void do_nmi(struct cpu_user_regs *regs)
{
    unsigned int cpu = smp_processor_id();

    if ( ACCESS_ONCE(nmi_callback)(regs, cpu) )
        return;

    nmi_watchdog_tick(regs, cpu);

    /* Handled: the count the testbed's lost-event detector reads. */
    nmi_count[cpu]++;
}

void dump_nmi_stats(void)
{
    unsigned int cpu;

    printk("CPU\tNMI\tMCE\n");
    for_each_online_cpu ( cpu )
        printk("%3u\t%3lu\t%3lu\n", cpu, ACCESS_ONCE(nmi_count[cpu]),
               ACCESS_ONCE(mce_count[cpu]));
}

void dump_nmi_watchdog(void)
{
    unsigned int cpu;

    printk("CPU\twatchdog ticks\n");
    for_each_online_cpu ( cpu )
        printk("%3u\t%8lu\n", cpu, ACCESS_ONCE(nmi_watchdog_ticks[cpu]));
}
