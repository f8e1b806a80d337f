/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_new_addr: new_addr is 0xffffffffffffffff, outside the payload's
 * text; the old jump-range check wrapped and let it through.  -EINVAL.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

static const char bad_new_addr_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_new_addr = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_new_addr_patch_this_fnc,
    .new_addr = ~0ULL,
    .old_addr = (uint64_t)xen_extra_version,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
