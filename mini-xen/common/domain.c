/* SPDX-License-Identifier: GPL-2.0 */
/*
 * domain.c
 *
 * Creation of the simulated domains and their vCPUs.
 *
 * A guest vCPU starts at guest_start (.guest.text) in ring 3 with
 *   rdi = domid, rsi = vCPU id in the domain, rdx = window base (its
 *   struct mailbox), rcx = nr_domains, r8 = boot flags, r9 = global index
 * and its stack at the top of the window, below the unmapped last page,
 * GUEST_STACK_SIZE per vCPU.
 */
#include <xen/lib.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/softirq.h>
#include <asm/processor.h>
#include <asm/system.h>
#include <public/platform.h>

#define GUEST_STACK_SIZE        (2 * PAGE_SIZE)

extern const char guest_start[];

struct domain *domain_list[MAX_DOMAINS];
unsigned int nr_domains;
unsigned int nr_guest_vcpus;

static struct domain domain_array[MAX_DOMAINS];
static struct vcpu vcpu_array[NR_CPUS];

struct domain idle_domain;
struct vcpu *idle_vcpu[NR_CPUS];
static struct vcpu idle_vcpu_array[NR_CPUS];

void idle_domain_init(void)
{
    unsigned int cpu;

    idle_domain.domain_id = DOMID_IDLE;
    spin_lock_init(&idle_domain.pbuf_lock);

    for ( cpu = 0; cpu < NR_CPUS; cpu++ )
    {
        struct vcpu *v = &idle_vcpu_array[cpu];

        v->vcpu_id = cpu;
        v->processor = cpu;
        v->domain = &idle_domain;
        v->is_running = true;
        INIT_LIST_HEAD(&v->runq_elem);
        idle_vcpu[cpu] = v;
    }
}

struct domain *get_domain_by_id(domid_t domid)
{
    if ( domid >= nr_domains )
        return NULL;

    return domain_list[domid];
}

void domain_crash(struct domain *d)
{
    unsigned int i;

    if ( d->is_dying )
        return;

    printk("Domain %u crashed\n", d->domain_id);
    d->is_dying = true;
    smp_mb();

    for ( i = 0; i < d->max_vcpus; i++ )
        cpu_raise_softirq(d->vcpu[i]->processor, SCHEDULE_SOFTIRQ);
}

static void vcpu_init_regs(struct vcpu *v, unsigned int nr_doms,
                           uint32_t flags)
{
    struct cpu_user_regs *regs = &v->user_regs;
    struct domain *d = v->domain;

    memset(regs, 0, sizeof(*regs));
    regs->rip = (unsigned long)guest_start;
    regs->cs = FLAT_GUEST_CS;
    regs->ss = FLAT_GUEST_SS;
    regs->rflags = X86_EFLAGS_MBS | X86_EFLAGS_IF;
    regs->rsp = d->window + PLAT_DOMAIN_SIZE - PAGE_SIZE -
                v->vcpu_id * GUEST_STACK_SIZE;
    regs->rdi = d->domain_id;
    regs->rsi = v->vcpu_id;
    regs->rdx = d->window;
    regs->rcx = nr_doms;
    regs->r8 = flags;
    regs->r9 = v->idx;
}

void create_domains(unsigned int nr_doms, unsigned int nr_cpus,
                    uint32_t flags)
{
    unsigned int i, nr_vcpus = max(nr_doms, nr_cpus);

    BUILD_BUG_ON(GUEST_STACK_SIZE * NR_CPUS > PLAT_DOMAIN_SIZE / 2);

    for ( i = 0; i < nr_doms; i++ )
    {
        struct domain *d = &domain_array[i];

        d->domain_id = i;
        d->window = PLAT_DOMAIN_WINDOW(i);
        spin_lock_init(&d->pbuf_lock);
        domain_list[i] = d;
    }
    nr_domains = nr_doms;

    for ( i = 0; i < nr_vcpus; i++ )
    {
        struct vcpu *v = &vcpu_array[i];
        struct domain *d = domain_list[i % nr_doms];

        v->idx = i;
        v->domain = d;
        v->vcpu_id = d->max_vcpus;
        v->processor = i % nr_cpus;
        INIT_LIST_HEAD(&v->runq_elem);
        vcpu_init_regs(v, nr_doms, flags);
        d->vcpu[d->max_vcpus++] = v;
    }
    nr_guest_vcpus = nr_vcpus;

    for ( i = 0; i < nr_doms; i++ )
    {
        struct domain *d = domain_list[i];
        char cpus[3 * NR_CPUS + 1];
        unsigned int j, n = 0;

        cpus[0] = '\0';
        for ( j = 0; j < d->max_vcpus; j++ )
            n += scnprintf(cpus + n, sizeof(cpus) - n, "%s%u", j ? "," : "",
                           d->vcpu[j]->processor);

        printk("Created d%u: %u vCPU%s on CPU %s, memory %#lx-%#lx\n",
               d->domain_id, d->max_vcpus, d->max_vcpus == 1 ? "" : "s",
               cpus, d->window, d->window + PLAT_DOMAIN_SIZE - 1);
    }

    for ( i = 0; i < nr_vcpus; i++ )
        sched_add_vcpu(&vcpu_array[i]);
}
