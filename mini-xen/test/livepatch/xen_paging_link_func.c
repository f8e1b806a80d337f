/* SPDX-License-Identifier: GPL-2.0 */
/* xen_paging_link: the replacement of xen_extra_version(). */
#include <xen/lib.h>

extern const char xen_paging_banner[];  /* xen_paging_wait's export */

const char *xen_paging_link_version(void)
{
    return xen_paging_banner;
}
