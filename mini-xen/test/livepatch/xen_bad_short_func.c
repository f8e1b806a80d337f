/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_short_func: old_size 4, too small for a 5-byte jump: -EINVAL.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>

const char *xen_bad_short_func_fn(void)
{
    return "Short";
}

static const char bad_short_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_short_func = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_short_patch_this_fnc,
    .new_addr = (uint64_t)xen_bad_short_func_fn,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = 8,
    .old_size = 4,
};
