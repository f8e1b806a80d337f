/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_reloc_type: compiled like the hypervisor itself (-fno-pic), so
 * the address of the string is an R_X86_64_32 (type 10), which the
 * loader does not handle: -EOPNOTSUPP.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"

const char *xen_bad_reloc_type_fn(void)
{
    return "Bad Relocation";
}

static const char bad_reloc_type_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_reloc_type = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_reloc_type_patch_this_fnc,
    .new_addr = (uint64_t)xen_bad_reloc_type_fn,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = 16,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
