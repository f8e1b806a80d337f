/* SPDX-License-Identifier: GPL-2.0 */
#include <xen/lib.h>

const char *xen_bye_world(void)
{
    return "Bye World";
}
