/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sysctl.c
 *
 * The sysctl hypercall: control operations for dom0.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/guest_access.h>
#include <xen/hypercall.h>
#include <xen/livepatch.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/spinlock.h>
#include <public/platform.h>
#include <public/sysctl.h>

static DEFINE_SPINLOCK(sysctl_lock);

static void physinfo(struct xen_sysctl_physinfo *pi)
{
    unsigned int cpu, max_cpu = 0;

    for_each_online_cpu ( cpu )
        max_cpu = cpu;

    memset(pi, 0, sizeof(*pi));
    pi->threads_per_core = 1;
    pi->cores_per_socket = num_online_cpus();
    pi->nr_cpus = num_online_cpus();
    pi->max_cpu_id = max_cpu;
    pi->nr_nodes = 1;
    pi->max_node_id = 0;
    pi->total_pages = PLAT_RAM_SIZE >> PAGE_SHIFT;
    pi->nr_domains = nr_domains;
    pi->nr_vcpus = nr_guest_vcpus;
}

long do_sysctl(unsigned long arg, unsigned long a2, unsigned long a3,
               unsigned long a4, unsigned long a5)
{
    struct xen_sysctl op;
    bool copyback = false;
    long ret;

    BUILD_BUG_ON(sizeof(op) != 8 + 128);

    if ( copy_from_guest(&op, arg, sizeof(op)) )
        return -EFAULT;

    if ( op.interface_version != XEN_SYSCTL_INTERFACE_VERSION )
        return -EACCES;

    if ( !is_hardware_domain(current->domain) )
        return -EPERM;

    spin_lock(&sysctl_lock);

    switch ( op.cmd )
    {
    case XEN_SYSCTL_physinfo:
        physinfo(&op.u.physinfo);
        copyback = true;
        ret = 0;
        break;

    case XEN_SYSCTL_livepatch_op:
        ret = livepatch_op(&op.u.livepatch);
        copyback = ret != -ENOSYS && ret != -EOPNOTSUPP;
        break;

    default:
        ret = -ENOSYS;
        break;
    }

    spin_unlock(&sysctl_lock);

    if ( copyback && copy_to_guest(arg, &op, sizeof(op)) )
        ret = -EFAULT;

    return ret;
}
