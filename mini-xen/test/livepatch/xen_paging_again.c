/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_paging_again: a cumulative payload's shape: it defines again
 * xen_paging_banner, which xen_paging_wait exports, and uses its own.
 * Defining a name another payload exports is not linking against it:
 * xen_paging_wait can still be unloaded first.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_paging_again_func.h"

const char *xen_paging_again_version(void);

static const char paging_again_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_paging_again = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)paging_again_patch_this_fnc,
    .new_addr = (uint64_t)xen_paging_again_version,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = SZ_xen_paging_again_version,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
