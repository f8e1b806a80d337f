/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mce.c
 *
 * Machine checks, as Xen's do_machine_check() in outline: read
 * MCG_STATUS, scan every bank for a valid error, log it, clear it, and
 * decide.  A bank with PCC (processor context corrupt), or an
 * uncorrected error when MCG_STATUS.RIPV says the interrupted context
 * cannot be restarted, is fatal: panic.  Anything else is logged and
 * execution goes on.  Reached from handle_mce (entry.S) through
 * exception_table[TRAP_machine_check] on the #MC stack, or right after
 * the live-patch window for one that arrived inside it
 * (common/livepatch_nmi.c).  Ordinary, patchable code.
 *
 * The log is written straight to the serial port, as the old entry stub
 * did: a machine check may interrupt a CPU that holds the console lock.
 */
#include <xen/lib.h>
#include <xen/console.h>
#include <xen/percpu.h>
#include <xen/smp.h>
#include <asm/io.h>
#include <asm/mce.h>
#include <asm/nmi.h>

/* Handled events, one per CPU: public/platform.h. */
unsigned long mce_count[NR_CPUS];

/* Errors logged, per CPU: corrected and uncorrected. */
static unsigned long mce_corrected[NR_CPUS];
static unsigned long mce_uncorrected[NR_CPUS];

static uint64_t mca_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    outl(msr, PORT_MCA_INDEX);
    lo = inl(PORT_MCA_LO);
    hi = inl(PORT_MCA_HI);

    return ((uint64_t)hi << 32) | lo;
}

static void mca_wrmsr(uint32_t msr, uint64_t val)
{
    outl(msr, PORT_MCA_INDEX);
    outl((uint32_t)(val >> 32), PORT_MCA_HI);
    outl((uint32_t)val, PORT_MCA_LO);
}

static void mce_printk(const char *fmt, ...)
{
    char buf[160];
    va_list args;

    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    console_raw_write(buf);
}

/* Log one valid bank.  noinline: patchable on its own. */
noinline void mcheck_log_bank(unsigned int cpu, unsigned int bank, uint64_t status,
                     uint64_t addr, uint64_t misc)
{
    bool uc = status & MCi_STATUS_UC;

    if ( uc )
        mce_uncorrected[cpu]++;
    else
        mce_corrected[cpu]++;

    mce_printk("(XEN) MCE: CPU%u bank %u: %s error, status %016lx "
               "addr %016lx misc %016lx\n", cpu, bank,
               uc ? "uncorrected" : "corrected", status, addr, misc);
}

void do_machine_check(struct cpu_user_regs *regs)
{
    unsigned int cpu = smp_processor_id(), bank, banks;
    uint64_t mcg = mca_rdmsr(MSR_IA32_MCG_STATUS), status, addr, misc;
    bool fatal = false;

    mce_printk("(XEN) MCE: machine check on CPU%u\n", cpu);

    banks = mca_rdmsr(MSR_IA32_MCG_CAP) & MCG_CAP_COUNT;
    for ( bank = 0; bank < banks; bank++ )
    {
        status = mca_rdmsr(MSR_IA32_MCx_STATUS(bank));
        if ( !(status & MCi_STATUS_VAL) )
            continue;

        addr = status & MCi_STATUS_ADDRV ? mca_rdmsr(MSR_IA32_MCx_ADDR(bank))
                                         : 0;
        misc = status & MCi_STATUS_MISCV ? mca_rdmsr(MSR_IA32_MCx_MISC(bank))
                                         : 0;
        mcheck_log_bank(cpu, bank, status, addr, misc);

        if ( (status & MCi_STATUS_PCC) ||
             ((status & MCi_STATUS_UC) && !(mcg & MCG_STATUS_RIPV)) )
            fatal = true;

        mca_wrmsr(MSR_IA32_MCx_STATUS(bank), 0);
    }

    /* Handled: the count the testbed's lost-event detector reads. */
    mce_count[cpu]++;

    if ( fatal )
        panic("MCE: fatal machine check on CPU%u (MCG_STATUS %016lx)\n",
              cpu, mcg);

    mca_wrmsr(MSR_IA32_MCG_STATUS, 0);
}

void dump_mce_stats(void)
{
    unsigned int cpu;

    printk("CPU\tcorrected\tuncorrected\n");
    for_each_online_cpu ( cpu )
        printk("%3u\t%3lu\t%3lu\n", cpu, ACCESS_ONCE(mce_corrected[cpu]),
               ACCESS_ONCE(mce_uncorrected[cpu]));
}
