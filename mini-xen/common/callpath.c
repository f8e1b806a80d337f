/* SPDX-License-Identifier: GPL-2.0 */
/*
 * callpath.c
 *
 * A leaf function for measuring patched call paths
 * (xen_version(XENVER_callpath, x); testbed callpath).  It calls
 * nothing, touches no memory and runs the same instructions for every
 * x, so the instructions of a call through it are those of the hypercall
 * path plus its own five.  The test payloads xen_callpath_* replace it.
 */
#include <xen/lib.h>
#include <xen/version.h>

noinline unsigned long callpath_leaf(unsigned long x)
{
    return x * 3 + 1;
}
