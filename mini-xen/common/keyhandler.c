/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keyhandler.c
 *
 * Debug keys.  The serial interrupt (CPU 0) queues input bytes; a
 * tasklet on CPU 0 runs the handler of each key in turn.
 */
#include <xen/lib.h>
#include <xen/keyhandler.h>
#include <xen/livepatch.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/tasklet.h>
#include <xen/timer.h>
#include <asm/current.h>
#include <asm/irq.h>
#include <asm/mce.h>
#include <asm/nmi.h>
#include <asm/processor.h>
#include <asm/system.h>
#include <asm/traps.h>

#define KEY_QUEUE_SIZE          64

static struct keyhandler {
    keyhandler_fn_t *fn;
    const char *desc;
} key_table[128];

static unsigned char key_queue[KEY_QUEUE_SIZE];
static unsigned int key_prod, key_cons;

void register_keyhandler(unsigned char key, keyhandler_fn_t *fn,
                         const char *desc)
{
    BUG_ON(key >= ARRAY_SIZE(key_table));

    key_table[key].fn = fn;
    key_table[key].desc = desc;
}

void handle_keypress(unsigned char key)
{
    /* Line endings sent after a key are not keys. */
    if ( key == '\r' || key == '\n' )
        return;

    if ( key < ARRAY_SIZE(key_table) && key_table[key].fn )
        key_table[key].fn(key);
    else if ( key >= ' ' && key <= '~' )
        printk("'%c' pressed -> no handler\n", key);
    else
        printk("'\\x%02x' pressed -> no handler\n", key);
}

static void keypress_action(void *unused)
{
    while ( ACCESS_ONCE(key_cons) != ACCESS_ONCE(key_prod) )
    {
        unsigned char key = key_queue[key_cons % KEY_QUEUE_SIZE];

        smp_mb();
        key_cons++;
        handle_keypress(key);
    }
}

static DECLARE_TASKLET(keypress_tasklet, keypress_action, NULL);

/* Interrupt context, CPU 0.  Keys beyond the queue size are dropped. */
void keypress_enqueue(unsigned char key)
{
    if ( key_prod - ACCESS_ONCE(key_cons) < KEY_QUEUE_SIZE )
    {
        key_queue[key_prod % KEY_QUEUE_SIZE] = key;
        smp_wmb();
        key_prod++;
    }

    tasklet_schedule(&keypress_tasklet);
}

static void show_handlers(unsigned char key)
{
    unsigned int i;

    printk("'%c' pressed -> showing installed handlers\n", key);
    for ( i = 0; i < ARRAY_SIZE(key_table); i++ )
        if ( key_table[i].fn )
            printk(" key '%c' (ascii '%02x') => %s\n", i, i,
                   key_table[i].desc);
}

/* The state of the running CPU: host frame, then the guest frame. */
static void dump_execstate(struct cpu_user_regs *regs)
{
    unsigned int cpu = smp_processor_id();
    struct vcpu *v = current;

    printk("*** Dumping CPU%u host state: ***\n", cpu);
    show_execution_state(regs);

    if ( v && !is_idle_vcpu(v) )
    {
        printk("*** Dumping CPU%u guest state (d%u v%u): ***\n", cpu,
               v->domain->domain_id, v->vcpu_id);
        show_execution_state(guest_cpu_user_regs());
    }
}

static void dump_execstate_ipi(void *unused)
{
    struct cpu_user_regs *regs = get_irq_regs();

    /* Interrupted in Xen: dump that.  In a guest: dump this handler. */
    if ( regs && !guest_mode(regs) )
        dump_execstate(regs);
    else
        run_in_exception_handler(dump_execstate);
}

static void dump_registers(unsigned char key)
{
    unsigned int cpu, self = smp_processor_id();

    printk("'%c' pressed -> dumping registers\n\n", key);

    /* One CPU at a time, so that the dumps do not interleave. */
    for_each_online_cpu ( cpu )
    {
        if ( cpu == self )
            run_in_exception_handler(dump_execstate);
        else
            on_selected_cpus(cpumask_of(cpu), dump_execstate_ipi, NULL, true);
    }

    printk("\n");
}

/* 'C': a deliberate NULL pointer write, for crash reports. */
void crash_keyhandler(unsigned char key)
{
    volatile unsigned int *volatile ptr = NULL;

    printk("'%c' pressed -> triggering crash\n", key);
    *ptr = 0xdead;
}

static void nmi_stats_key(unsigned char key)
{
    printk("'%c' pressed -> dumping NMI and MCE counts\n", key);
    dump_nmi_stats();
    dump_nmi_watchdog();
    dump_mce_stats();
    livepatch_nmi_printall();
}

static void dump_timers_key(unsigned char key)
{
    printk("'%c' pressed -> dumping timer queues\n", key);
    dump_timers();
}

static void dump_domains(unsigned char key)
{
    unsigned int i, j;

    printk("'%c' pressed -> dumping domain info\n", key);
    for ( i = 0; i < nr_domains; i++ )
    {
        const struct domain *d = domain_list[i];

        printk("d%u: window %#lx %s, events pending %#lx (received %lu)\n",
               d->domain_id, d->window, d->is_dying ? "dying" : "running",
               d->evtchn_pending, d->evtchn_count);
        for ( j = 0; j < d->max_vcpus; j++ )
        {
            const struct vcpu *v = d->vcpu[j];

            printk("  d%uv%u: CPU%u %s hypercalls %lu\n", d->domain_id,
                   v->vcpu_id, v->processor,
                   v->is_running ? "running" :
                   (v->pause_flags & VPF_blocked) ? "blocked" : "runnable",
                   v->nr_hypercalls);
        }
    }
}

void keyhandler_init(void)
{
    register_keyhandler('h', show_handlers, "show this message");
    register_keyhandler('d', dump_registers, "dump registers");
    register_keyhandler('C', crash_keyhandler, "trigger a crash");
    register_keyhandler('n', nmi_stats_key, "NMI and MCE statistics");
    register_keyhandler('t', dump_timers_key, "dump timer queues");
    register_keyhandler('r', dump_runq, "dump run queues");
    register_keyhandler('e', dump_domains, "dump domain and event channel info");
}
