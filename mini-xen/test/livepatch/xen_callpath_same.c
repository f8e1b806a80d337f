/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_callpath_same: a same-size replacement of callpath_leaf()
 * (XENVER_callpath): the same instructions with another constant,
 * 3x + 2.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_callpath_same_func.h"

unsigned long callpath_same_leaf(unsigned long x);

static const char callpath_same_patch_this_fnc[] = "callpath_leaf";

struct livepatch_func __section(".livepatch.funcs") livepatch_callpath_same = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)callpath_same_patch_this_fnc,
    .new_addr = (uint64_t)callpath_same_leaf,
    .old_addr = (uint64_t)callpath_leaf,
    .new_size = SZ_callpath_same_leaf,
    .old_size = CALLPATH_LEAF_SZ,
};
