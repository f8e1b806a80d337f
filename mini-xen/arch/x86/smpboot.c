/* SPDX-License-Identifier: GPL-2.0 */
/*
 * smpboot.c
 *
 * Per-CPU stacks and bringing up the secondary CPUs.  CPU 0 starts AP n
 * with an out32 of n to PORT_CPU_START; the AP enters at the start of
 * the image (head.S) with %rdi = n, sets itself up and marks itself
 * online.
 */
#include <xen/lib.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/time.h>
#include <asm/desc.h>
#include <asm/io.h>
#include <asm/page.h>
#include <asm/smp.h>
#include <asm/system.h>
#include <public/platform.h>

#define AP_BOOT_TIMEOUT         MILLISECS(1000)

char cpu_stacks[NR_CPUS * STACK_SIZE] __aligned(STACK_SIZE);

noreturn void start_secondary(unsigned int cpu)
{
    enable_paging();
    load_descriptors(cpu);
    set_current(idle_vcpu[cpu]);

    scheduler_start_cpu(cpu);

    smp_mb();
    cpumask_set_cpu(cpu, &cpu_online_map);

    local_irq_enable();
    startup_cpu_idle_loop();
}

static void cpu_up(unsigned int cpu)
{
    s_time_t deadline = NOW() + AP_BOOT_TIMEOUT;

    outl(cpu, PORT_CPU_START);

    while ( !cpu_online(cpu) )
    {
        if ( NOW() > deadline )
            panic("CPU%u: did not come online\n", cpu);
        cpu_relax();
    }

    printk("CPU%u: online\n", cpu);
}

void smp_boot_cpus(unsigned int nr)
{
    unsigned int cpu;

    for ( cpu = 1; cpu < nr; cpu++ )
        cpu_up(cpu);

    printk("Brought up %u CPUs\n", num_online_cpus());
}
