/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_callpath_replace: replaces callpath_leaf() for REPLACE: 3x + 4;
 * old_addr is 0, resolved by name.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_callpath_replace_func.h"

unsigned long callpath_replace_leaf(unsigned long x);

static const char callpath_replace_patch_this_fnc[] = "callpath_leaf";

struct livepatch_func __section(".livepatch.funcs") livepatch_callpath_replace = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)callpath_replace_patch_this_fnc,
    .new_addr = (uint64_t)callpath_replace_leaf,
    .old_addr = 0,
    .new_size = SZ_callpath_replace_leaf,
    .old_size = CALLPATH_LEAF_SZ,
};
