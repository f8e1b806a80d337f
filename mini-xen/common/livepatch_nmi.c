/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_nmi.c
 *
 * NMI and #MC while live patches are written (livepatch-nmi=), and the
 * console lines of the patch window.
 *
 * The window of a CPU runs from the moment it may see text being
 * written (a slave: before it counts itself in with interrupts off; the
 * master: before its first write) until it has serialised after the last
 * write.  Policies:
 *
 *   none     as Xen 4.7: NMI and #MC handlers run whenever they arrive,
 *            also on code being written.
 *   swallow  as Xen today: the master installs an NMI callback that
 *            claims every NMI from before the kick until the release,
 *            so those NMIs are lost; #MC is not masked at all.
 *   safe     (default) the NMI and #MC entry stubs, which are
 *            unpatchable, look at this CPU's window flag first: inside
 *            the window the event is latched (counted in nmi_deferred /
 *            mce_deferred with its frame) and the stub returns at once;
 *            when the CPU leaves the window it runs the handler once per
 *            latched event, still with interrupts off, and an event
 *            arriving meanwhile is latched again rather than nested.
 *            Nothing is lost, nothing in the window runs patchable code
 *            in NMI/#MC context, and the delay is bounded by the window.
 *
 * Everything here that the stubs or the rendezvous call is in
 * .text.unpatchable (checked at build time by tools/unpatchable.c); the
 * handlers are reached through exception_table, so they stay patchable.
 *
 * Unpatchable code cannot call printk(): lines of the window are kept
 * (format and arguments) by livepatch_log() and printed by the
 * LIVEPATCH_SOFTIRQ handler on the same CPU once the action is over.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/param.h>
#include <xen/percpu.h>
#include <xen/smp.h>
#include <xen/softirq.h>
#include <xen/string.h>
#include <xen/time.h>
#include <asm/bitops.h>
#include <asm/nmi.h>
#include <asm/system.h>
#include <asm/traps.h>

enum livepatch_nmi_policy {
    LIVEPATCH_NMI_NONE,
    LIVEPATCH_NMI_SWALLOW,
    LIVEPATCH_NMI_SAFE,
};

static unsigned int nmi_policy = LIVEPATCH_NMI_SAFE;

static const char *const policy_names[] = {
    [LIVEPATCH_NMI_NONE] = "none",
    [LIVEPATCH_NMI_SWALLOW] = "swallow",
    [LIVEPATCH_NMI_SAFE] = "safe",
};

static int parse_livepatch_nmi(const char *s)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(policy_names); i++ )
        if ( !strcmp(s, policy_names[i]) )
        {
            nmi_policy = i;
            return 0;
        }

    return -EINVAL;
}
custom_param("livepatch-nmi", parse_livepatch_nmi);

const char *livepatch_nmi_policy(void)
{
    return policy_names[nmi_policy];
}

/* ---- The window and the latch (safe) --------------------------------- */

/* One kind of event: NMI or #MC. */
struct latch {
    bool in_handler;            /* running latched ones: latch new ones too */
    s_time_t first_at;          /* NOW() when the oldest latched one came */
    struct cpu_user_regs regs;  /* the frame of the first one latched */
};

static DEFINE_PER_CPU(bool, in_window);
static DEFINE_PER_CPU(struct latch, nmi_latch);
static DEFINE_PER_CPU(struct latch, mce_latch);

/* Owed events, one per CPU: public/platform.h. */
unsigned long nmi_deferred[NR_CPUS];
unsigned long mce_deferred[NR_CPUS];

/*
 * Statistics: events latched, and the longest time one waited (ns), per
 * CPU ('n' key; the testbed's tests read them by name).
 */
unsigned long livepatch_nmi_latched[NR_CPUS];
unsigned long livepatch_mce_latched[NR_CPUS];
s_time_t livepatch_nmi_max_delay[NR_CPUS];
s_time_t livepatch_mce_max_delay[NR_CPUS];

static __unpatchable void copy_regs(struct cpu_user_regs *dst,
                                    const struct cpu_user_regs *src)
{
    const volatile uint64_t *s = (const volatile uint64_t *)src;
    volatile uint64_t *d = (volatile uint64_t *)dst;
    unsigned int i;

    for ( i = 0; i < sizeof(*src) / sizeof(uint64_t); i++ )
        d[i] = s[i];
}

/* Entry stub, event blocked: latch it (1) or let the handler run (0). */
static __unpatchable int latch_event(struct latch *l, unsigned long *deferred,
                                     unsigned long *latched,
                                     const struct cpu_user_regs *regs)
{
    unsigned int cpu = smp_processor_id();

    if ( nmi_policy != LIVEPATCH_NMI_SAFE ||
         !(ACCESS_ONCE(per_cpu(in_window, cpu)) || l->in_handler) )
        return 0;

    if ( !deferred[cpu] )
    {
        l->first_at = NOW();
        copy_regs(&l->regs, regs);
    }
    latched[cpu]++;
    asm volatile ( "incq %0" : "+m" (deferred[cpu]) );

    return 1;
}

__unpatchable int livepatch_nmi_enter(const struct cpu_user_regs *regs)
{
    unsigned int cpu = smp_processor_id();

    return latch_event(&per_cpu(nmi_latch, cpu), nmi_deferred,
                       livepatch_nmi_latched, regs);
}

__unpatchable int livepatch_mce_enter(const struct cpu_user_regs *regs)
{
    unsigned int cpu = smp_processor_id();

    return latch_event(&per_cpu(mce_latch, cpu), mce_deferred,
                       livepatch_mce_latched, regs);
}

/* Run the handler once for every latched event; interrupts off. */
static __unpatchable void run_latched(struct latch *l, unsigned long *deferred,
                                      s_time_t *max_delay,
                                      unsigned int vector)
{
    unsigned int cpu = smp_processor_id();
    s_time_t delay;

    for ( ; ; )
    {
        l->in_handler = true;
        barrier();
        while ( ACCESS_ONCE(deferred[cpu]) )
        {
            delay = NOW() - l->first_at;
            if ( delay > max_delay[cpu] )
                max_delay[cpu] = delay;
            exception_table[vector](&l->regs);
            /* One instruction: an event may latch in between. */
            asm volatile ( "decq %0" : "+m" (deferred[cpu]) );
        }
        barrier();
        l->in_handler = false;
        barrier();
        /* One that came between the last check and the flag: run it too. */
        if ( !ACCESS_ONCE(deferred[cpu]) )
            break;
    }
}

/* This CPU may see text being written from now on. */
__unpatchable void livepatch_window_enter(void)
{
    this_cpu(in_window) = true;
    smp_mb();
}

/*
 * This CPU has serialised after the last write (or nothing was
 * written): handle what came meanwhile.
 */
__unpatchable void livepatch_window_exit(void)
{
    unsigned int cpu = smp_processor_id();

    smp_mb();
    this_cpu(in_window) = false;
    smp_mb();

    run_latched(&per_cpu(mce_latch, cpu), mce_deferred,
                livepatch_mce_max_delay, TRAP_machine_check);
    run_latched(&per_cpu(nmi_latch, cpu), nmi_deferred,
                livepatch_nmi_max_delay, TRAP_nmi);
}

/* ---- Xen's mask (swallow) --------------------------------------------- */

static nmi_callback_t *saved_nmi_callback;

/* "If we do receive 'real' NMIs we have lost them" (Xen). */
static __unpatchable int mask_nmi_callback(const struct cpu_user_regs *regs,
                                           int cpu)
{
    return 1;
}

/* Master, before it kicks the other CPUs. */
__unpatchable void livepatch_nmi_mask(void)
{
    if ( nmi_policy == LIVEPATCH_NMI_SWALLOW )
        saved_nmi_callback = set_nmi_callback(mask_nmi_callback);
}

/* Master, when it releases them (also after a timeout). */
__unpatchable void livepatch_nmi_unmask(void)
{
    if ( nmi_policy == LIVEPATCH_NMI_SWALLOW )
        set_nmi_callback(saved_nmi_callback);
}

/* ---- Console lines of the window -------------------------------------- */

#define LOG_LINES               32
#define LOG_ARGS                4

struct log_line {
    const char *fmt;
    unsigned long arg[LOG_ARGS];
};

static struct log_line log_lines[LOG_LINES];
static unsigned int log_count, log_dropped;

/*
 * Keep one printk() line (at most LOG_ARGS integer or pointer arguments,
 * which must stay valid until the action is over) for the softirq.
 * Called by the master only.
 */
__unpatchable void livepatch_log_args(const char *fmt, unsigned int nr, ...)
{
    struct log_line *l;
    unsigned int i;
    va_list args;

    if ( log_count == LOG_LINES )
    {
        log_dropped++;
        return;
    }

    l = &log_lines[log_count];
    l->fmt = fmt;
    va_start(args, nr);
    for ( i = 0; i < LOG_ARGS; i++ )
        l->arg[i] = i < nr ? va_arg(args, unsigned long) : 0;
    va_end(args);
    log_count++;

    set_bit(LIVEPATCH_SOFTIRQ, &this_cpu(softirq_pending));
}

/* Print the kept lines, in order. */
static void livepatch_log_flush(void)
{
    unsigned int i;

    for ( i = 0; i < log_count; i++ )
    {
        const struct log_line *l = &log_lines[i];

        printk(l->fmt, l->arg[0], l->arg[1], l->arg[2], l->arg[3]);
    }
    log_count = 0;

    if ( log_dropped )
    {
        printk(LIVEPATCH "%u console lines of the patch window dropped\n",
               log_dropped);
        log_dropped = 0;
    }
}

static void livepatch_softirq(void)
{
    livepatch_log_flush();
    livepatch_action_tail();
}

void livepatch_nmi_init(void)
{
    open_softirq(LIVEPATCH_SOFTIRQ, livepatch_softirq);
}

void livepatch_nmi_printall(void)
{
    unsigned int cpu;

    printk("livepatch-nmi=%s\n", livepatch_nmi_policy());
    printk("CPU\tNMI latched\tmax delay\tMCE latched\tmax delay (ns)\n");
    for_each_online_cpu ( cpu )
        printk("%3u\t%3lu\t%8ld\t%3lu\t%8ld\n", cpu,
               ACCESS_ONCE(livepatch_nmi_latched[cpu]),
               (long)ACCESS_ONCE(livepatch_nmi_max_delay[cpu]),
               ACCESS_ONCE(livepatch_mce_latched[cpu]),
               (long)ACCESS_ONCE(livepatch_mce_max_delay[cpu]));
}
