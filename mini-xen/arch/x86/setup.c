/* SPDX-License-Identifier: GPL-2.0 */
/*
 * setup.c
 *
 * Boot of CPU 0: console, build-id and banner, page tables, descriptor
 * tables, core subsystems, secondary CPUs, domains, then the idle loop.
 */
#include <xen/lib.h>
#include <xen/console.h>
#include <xen/keyhandler.h>
#include <xen/livepatch.h>
#include <xen/mem_paging.h>
#include <xen/param.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/softirq.h>
#include <xen/tasklet.h>
#include <xen/timer.h>
#include <xen/version.h>
#include <xen/virtual_region.h>
#include <asm/desc.h>
#include <asm/page.h>
#include <asm/smp.h>
#include <asm/system.h>
#include <asm/traps.h>
#include <asm/uaccess.h>
#include <public/platform.h>

enum system_state system_state = SYS_STATE_early_boot;

const struct boot_info *boot_info;

static unsigned int boot_nr_cpus = 1;
static unsigned int boot_nr_domains = PLAT_NR_DOMAINS;
static uint32_t boot_flags;

/* maxcpus=<n>: bring up at most n CPUs (CPU 0 always runs). */
static unsigned int max_cpus = NR_CPUS;
integer_param("maxcpus", max_cpus);

static void parse_boot_info(void)
{
    const struct boot_info *bi = (const struct boot_info *)PLAT_BOOT_INFO;

    boot_info = bi;

    if ( bi->magic != BOOT_INFO_MAGIC )
    {
        printk("Boot info: bad magic %#x, using 1 CPU and %u domains\n",
               bi->magic, boot_nr_domains);
        return;
    }

    boot_nr_cpus = bi->nr_cpus;
    if ( boot_nr_cpus < 1 || boot_nr_cpus > NR_CPUS )
    {
        printk("Boot info: nr_cpus %u out of range, using 1\n", bi->nr_cpus);
        boot_nr_cpus = 1;
    }

    boot_nr_domains = bi->nr_domains;
    if ( boot_nr_domains < 1 || boot_nr_domains > MAX_DOMAINS )
    {
        printk("Boot info: nr_domains %u out of range, using %u\n",
               bi->nr_domains, PLAT_NR_DOMAINS);
        boot_nr_domains = PLAT_NR_DOMAINS;
    }

    boot_flags = bi->flags;

    printk("Boot info: %u CPUs, %u domains, flags %#x%s\n", boot_nr_cpus,
           boot_nr_domains, boot_flags,
           (boot_flags & BOOT_BUSY_GUESTS) ? " (busy guests)" : "");

    cmdline_parse((const char *)PLAT_BOOT_CMDLINE, bi->cmdline_len);

    if ( max_cpus < 1 )
        max_cpus = 1;
    if ( boot_nr_cpus > max_cpus )
    {
        printk("Boot info: maxcpus=%u, leaving %u CPUs offline\n", max_cpus,
               boot_nr_cpus - max_cpus);
        boot_nr_cpus = max_cpus;
    }
}

noreturn void __start_xen(void)
{
    console_init();

    /* .ex_table becomes read-only once paging is on: sort it now. */
    sort_exception_table(__start___ex_table, __stop___ex_table);

    xen_build_init();
    print_version_banner();
    parse_boot_info();

    setup_pagetables();
    enable_paging();

    init_idt();
    load_descriptors(0);

    setup_virtual_regions();
    timer_init();
    tasklet_subsys_init();
    keyhandler_init();
    livepatch_init();
    scheduler_init();
    mem_paging_init();

    set_current(idle_vcpu[0]);
    cpumask_set_cpu(0, &cpu_online_map);
    system_state = SYS_STATE_boot;

    local_irq_enable();

    smp_boot_cpus(boot_nr_cpus);

    create_domains(boot_nr_domains, boot_nr_cpus, boot_flags);

    scheduler_start_cpu(0);

    system_state = SYS_STATE_active;
    printk("Scheduler: round-robin, tick %uus; entering idle loop\n",
           SCHED_TICK_NS / 1000);

    startup_cpu_idle_loop();
}
