/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_rela_type: a replacement whose string is reached through
 * .rela.text.xen_bad_rela_type_fn; after the link Rules.mk sets that
 * section's sh_type to SHT_PROGBITS (1).  Skipped, the
 * function would run unrelocated: -EINVAL.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

const char *xen_bad_rela_type_fn(void)
{
    return "Unrelocated";
}

static const char bad_rela_type_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_rela_type = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_rela_type_patch_this_fnc,
    .new_addr = (uint64_t)xen_bad_rela_type_fn,
    .old_addr = (uint64_t)xen_extra_version,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
