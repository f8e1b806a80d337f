/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_callpath_stack: replaces callpath_leaf() again, stacked on
 * xen_callpath_same (its .livepatch.depends is that payload's
 * build-id): 3x + 3.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_callpath_stack_func.h"

unsigned long callpath_stack_leaf(unsigned long x);

static const char callpath_stack_patch_this_fnc[] = "callpath_leaf";

struct livepatch_func __section(".livepatch.funcs") livepatch_callpath_stack = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)callpath_stack_patch_this_fnc,
    .new_addr = (uint64_t)callpath_stack_leaf,
    .old_addr = (uint64_t)callpath_leaf,
    .new_size = SZ_callpath_stack_leaf,
    .old_size = CALLPATH_LEAF_SZ,
};
