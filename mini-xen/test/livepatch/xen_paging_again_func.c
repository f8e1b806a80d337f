/* SPDX-License-Identifier: GPL-2.0 */
/* xen_paging_again: the replacement of xen_extra_version(). */
#include <xen/lib.h>

const char xen_paging_banner[] = "Paging Again";

const char *xen_paging_again_version(void)
{
    return xen_paging_banner;
}
