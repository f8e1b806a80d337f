/* SPDX-License-Identifier: GPL-2.0 */
#include <xen/lib.h>

const char *xen_replace_world(void)
{
    return "Hello Again World!";
}
