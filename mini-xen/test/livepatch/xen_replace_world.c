/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_replace_world: for REPLACE.  old_addr is 0: the loader resolves
 * the name.  The guest sees the first 15 characters, "Hello Again Wor".
 */
#include <xen/lib.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_replace_world_func.h"

const char *xen_replace_world(void);

static const char replace_world_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_replace_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)replace_world_patch_this_fnc,
    .new_addr = (uint64_t)xen_replace_world,
    .old_addr = 0,
    .new_size = SZ_xen_replace_world,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
