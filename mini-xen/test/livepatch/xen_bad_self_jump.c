/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_self_jump: new_addr == old_addr, a jump to itself: the first
 * caller would never return.  Not in the payload's text: -EINVAL.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

const char *xen_bad_self_jump_fn(void)
{
    return "Self";
}

static const char bad_self_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_self_jump = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_self_patch_this_fnc,
    .new_addr = (uint64_t)xen_extra_version,
    .old_addr = (uint64_t)xen_extra_version,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
