/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_callpath_nop: NOPs out callpath_leaf() except its final ret
 * (new_addr 0, new_size = size - 1), as xen_nop does to
 * xen_minor_version(): XENVER_callpath then returns whatever %rax held.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

static const char callpath_nop_patch_this_fnc[] = "callpath_leaf";

struct livepatch_func __section(".livepatch.funcs") livepatch_callpath_nop = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)callpath_nop_patch_this_fnc,
    .new_addr = 0,
    .old_addr = (uint64_t)callpath_leaf,
    .new_size = CALLPATH_LEAF_SZ - 1,
    .old_size = CALLPATH_LEAF_SZ,
};
