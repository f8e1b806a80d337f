/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_nop: NOPs out xen_minor_version() except its final ret (new_addr
 * 0, new_size = size - 1), so the minor version becomes whatever %eax
 * held.  No code and no data of its own: it may be re-applied after a
 * revert.  Also the base of xen_bad_no_xen_depends and
 * xen_bad_wrong_depends, which differ only in their notes.
 */
#include <xen/lib.h>
#include <public/livepatch.h>
#include "config.h"

static const char nop_patch_this_fnc[] = "xen_minor_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_nop = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)nop_patch_this_fnc,
    .new_addr = 0,
    .old_addr = MINOR_VERSION_ADDR,
    .new_size = MINOR_VERSION_SZ - 1,
    .old_size = MINOR_VERSION_SZ,
};
