/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sched.h
 *
 * Domains, vCPUs and the per-CPU round-robin scheduler.
 *
 * Guest vCPU i (0 <= i < max(nr_domains, nr_cpus)) belongs to domain
 * i % nr_domains and is pinned to CPU i % nr_cpus.  Each CPU also has an
 * idle vCPU (domain DOMID_IDLE) that runs idle_loop().
 */
#ifndef __XEN_SCHED_H__
#define __XEN_SCHED_H__

#include <xen/types.h>
#include <xen/list.h>
#include <xen/spinlock.h>
#include <xen/percpu.h>
#include <public/platform.h>
#include <public/xen.h>

#define _VPF_blocked            0
#define VPF_blocked             (1UL << _VPF_blocked)
/* Sleeping on a waitqueue with its stack kept (xen/wait.h). */
#define _VPF_waiting            1
#define VPF_waiting             (1UL << _VPF_waiting)

struct domain;

struct vcpu {
    unsigned int vcpu_id;       /* index inside its domain */
    unsigned int processor;     /* pinned pCPU */
    unsigned int idx;           /* global guest vCPU index */
    struct domain *domain;
    unsigned long pause_flags;  /* VPF_* */
    bool is_running;
    struct list_head runq_elem; /* on its pCPU's vCPU list */
    unsigned long nr_hypercalls;
    unsigned long nr_switches;
    struct cpu_user_regs user_regs; /* guest state while descheduled */
};

#define DOMAIN_PBUF_SIZE        128

struct domain {
    domid_t domain_id;
    unsigned long window;       /* PLAT_DOMAIN_WINDOW(domain_id) */
    unsigned int max_vcpus;
    struct vcpu *vcpu[NR_CPUS];
    bool is_dying;
    unsigned long evtchn_pending;       /* bit p: port p notified us */
    unsigned long evtchn_count;
    spinlock_t pbuf_lock;               /* guest console line buffer */
    unsigned int pbuf_idx;
    char pbuf[DOMAIN_PBUF_SIZE];
};

extern struct domain *domain_list[MAX_DOMAINS];
extern unsigned int nr_domains;
extern unsigned int nr_guest_vcpus;
extern struct vcpu *idle_vcpu[NR_CPUS];
extern struct domain idle_domain;

static inline bool is_idle_vcpu(const struct vcpu *v)
{
    return v->domain == &idle_domain;
}

static inline bool is_hardware_domain(const struct domain *d)
{
    return d->domain_id == 0;
}

struct domain *get_domain_by_id(domid_t domid);
void domain_crash(struct domain *d);
void create_domains(unsigned int nr_doms, unsigned int nr_cpus,
                    uint32_t boot_flags);

/* scheduler */
void scheduler_init(void);
void idle_domain_init(void);
void sched_add_vcpu(struct vcpu *v);
void scheduler_start_cpu(unsigned int cpu);
void vcpu_block(void);
void vcpu_yield(void);
void vcpu_wake(struct vcpu *v);
noreturn void startup_cpu_idle_loop(void);
noreturn void idle_loop(void);
void dump_runq(unsigned char key);

#endif /* __XEN_SCHED_H__ */
