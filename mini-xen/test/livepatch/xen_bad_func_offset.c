/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_func_offset: old_addr is xen_extra_version + 1, inside the
 * function: the jump would be written over the middle of an instruction
 * and the bytes before it would still run: -EINVAL.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

const char *xen_bad_func_offset_fn(void)
{
    return "Offset";
}

static const char bad_offset_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_func_offset = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_offset_patch_this_fnc,
    .new_addr = (uint64_t)xen_bad_func_offset_fn,
    .old_addr = (uint64_t)xen_extra_version + 1,
    .old_size = XEN_EXTRA_VERSION_SZ - 1,
};
