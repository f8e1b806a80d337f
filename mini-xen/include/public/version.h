/* SPDX-License-Identifier: GPL-2.0 */
/*
 * version.h
 *
 * xen_version(cmd, arg) hypercall (__HYPERVISOR_xen_version).
 */
#ifndef __XEN_PUBLIC_VERSION_H__
#define __XEN_PUBLIC_VERSION_H__

/* arg == NULL; returns major:minor (16:16). */
#define XENVER_version                  0

/* arg == xen_extraversion_t; returns 0. */
#define XENVER_extraversion             1
#define XEN_EXTRAVERSION_LEN            16

/* arg == xen_changeset_info_t; returns 0. */
#define XENVER_changeset                4
#define XEN_CHANGESET_INFO_LEN          64

/*
 * arg == struct xen_build_id; in: len = size of buf; out: len = bytes
 * written.  Returns the length of the build-id, -ENOBUFS if buf is too
 * small.
 */
#define XENVER_build_id                 10

/*
 * mini-xen only: arg == x, returns callpath_leaf(x) = 3x + 1 (unpatched).
 * A leaf function reachable from a guest, for measuring patched call
 * paths (testbed callpath).
 */
#define XENVER_callpath                 0x100

#ifndef __ASSEMBLY__
#include <stdint.h>

typedef char xen_extraversion_t[XEN_EXTRAVERSION_LEN];
typedef char xen_changeset_info_t[XEN_CHANGESET_INFO_LEN];

struct xen_build_id {
    uint32_t len;
    unsigned char buf[];
};
#endif

#endif /* __XEN_PUBLIC_VERSION_H__ */
