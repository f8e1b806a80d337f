/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_VERSION_H__
#define __XEN_VERSION_H__

#include <xen/types.h>

unsigned int xen_major_version(void);
unsigned int xen_minor_version(void);
const char *xen_extra_version(void);
const char *xen_compiler(void);
const char *xen_changeset(void);

/* The GNU build-id note of the running image. */
int xen_build_id(const void **p, unsigned int *len);
void xen_build_init(void);
void print_version_banner(void);

/* The leaf of XENVER_callpath (common/callpath.c). */
unsigned long callpath_leaf(unsigned long x);

#endif /* __XEN_VERSION_H__ */
