/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_dup_func: two .livepatch.funcs entries for xen_extra_version.
 * Accepted, the second entry would save the first one's jump as the
 * "original" bytes, and a revert in apply order would leave the jump in
 * place: -EEXIST at upload.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

const char *xen_bad_dup_func_fn(void)
{
    return "Twice";
}

static const char bad_dup_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_dup_func[] = {
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = (uint64_t)bad_dup_patch_this_fnc,
        .new_addr = (uint64_t)xen_bad_dup_func_fn,
        .old_addr = (uint64_t)xen_extra_version,
        .old_size = XEN_EXTRA_VERSION_SZ,
    },
    {
        .version = LIVEPATCH_PAYLOAD_VERSION,
        .name = (uint64_t)bad_dup_patch_this_fnc,
        .new_addr = (uint64_t)xen_bad_dup_func_fn,
        .old_addr = (uint64_t)xen_extra_version,
        .old_size = XEN_EXTRA_VERSION_SZ,
    },
};
