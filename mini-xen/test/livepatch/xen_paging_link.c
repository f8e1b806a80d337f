/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_paging_link: replaces xen_extra_version() with a function that
 * returns xen_paging_banner, a symbol exported by xen_paging_wait.  The
 * loader resolves it there, so xen_paging_wait cannot be unloaded while
 * this payload is loaded (payload references, livepatch_ref.c).
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_paging_link_func.h"

const char *xen_paging_link_version(void);

static const char paging_link_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_paging_link = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)paging_link_patch_this_fnc,
    .new_addr = (uint64_t)xen_paging_link_version,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = SZ_xen_paging_link_version,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
