/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_access.h
 *
 * Copies between the hypervisor and the memory of the current domain.
 * Guest addresses must lie inside the domain's window
 * [PLAT_DOMAIN_WINDOW(d), + PLAT_DOMAIN_SIZE); a fault inside the window
 * (its last page is unmapped) is caught through the exception table.
 * Like Xen, both return the number of bytes NOT copied.
 */
#ifndef __XEN_GUEST_ACCESS_H__
#define __XEN_GUEST_ACCESS_H__

#include <xen/types.h>

struct domain;

bool guest_range_ok(const struct domain *d, unsigned long addr,
                    unsigned long len);
unsigned long copy_to_guest(unsigned long to, const void *from,
                            unsigned long len);
unsigned long copy_from_guest(void *to, unsigned long from,
                              unsigned long len);

#endif /* __XEN_GUEST_ACCESS_H__ */
