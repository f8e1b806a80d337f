/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sysctl.h
 *
 * sysctl(struct xen_sysctl *) hypercall (__HYPERVISOR_sysctl), dom0 only
 * (-EPERM otherwise).  interface_version must equal
 * XEN_SYSCTL_INTERFACE_VERSION (-EACCES otherwise).  On success the
 * whole struct is copied back.  Unknown cmd: -ENOSYS.
 *
 * XEN_SYSCTL_livepatch_op (public/livepatch.h): the struct is copied back
 * whatever the result, unless it is -ENOSYS or -EOPNOTSUPP.
 */
#ifndef __XEN_PUBLIC_SYSCTL_H__
#define __XEN_PUBLIC_SYSCTL_H__

#define XEN_SYSCTL_INTERFACE_VERSION    0x00000015

#define XEN_SYSCTL_physinfo             3

#include "livepatch.h"

#ifndef __ASSEMBLY__
#include <stdint.h>

struct xen_sysctl_physinfo {
    uint32_t threads_per_core;          /* OUT: 1 */
    uint32_t cores_per_socket;          /* OUT: nr_cpus */
    uint32_t nr_cpus;                   /* OUT: online CPUs */
    uint32_t max_cpu_id;                /* OUT: highest online CPU */
    uint32_t nr_nodes;                  /* OUT: 1 */
    uint32_t max_node_id;               /* OUT: 0 */
    uint32_t cpu_khz;                   /* OUT: 0 (no TSC) */
    uint32_t capabilities;              /* OUT: 0 */
    uint64_t total_pages;               /* OUT: RAM / 4 KiB */
    uint64_t free_pages;                /* OUT: 0 */
    uint64_t scrub_pages;               /* OUT: 0 */
    uint32_t nr_domains;                /* OUT: domains created */
    uint32_t nr_vcpus;                  /* OUT: guest vCPUs */
};

struct xen_sysctl {
    uint32_t cmd;
    uint32_t interface_version;
    union {
        struct xen_sysctl_physinfo physinfo;
        struct xen_sysctl_livepatch_op livepatch;
        uint8_t pad[128];
    } u;
};
#endif

#endif /* __XEN_PUBLIC_SYSCTL_H__ */
