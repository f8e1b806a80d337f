/* SPDX-License-Identifier: GPL-2.0 */
/* xen_hooks: xen_extra_version() returns "Hooks World"; see xen_hooks_func.c. */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_hooks_func.h"

const char *xen_hooks_world(void);

static const char hooks_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_hooks = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)hooks_patch_this_fnc,
    .new_addr = (uint64_t)xen_hooks_world,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = SZ_xen_hooks_world,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
