/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_oversize: a valid NOP entry and more than 2 MiB of read-only
 * data, so the file exceeds LIVEPATCH_MAX_SIZE: UPLOAD fails with
 * -EINVAL before the hypervisor reads it.
 */
#include <xen/lib.h>
#include <public/livepatch.h>
#include "config.h"

const char xen_bad_oversize_blob[LIVEPATCH_MAX_SIZE + PAGE_SIZE] = { 1 };

static const char bad_oversize_patch_this_fnc[] = "xen_minor_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_oversize = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_oversize_patch_this_fnc,
    .new_addr = 0,
    .old_addr = MINOR_VERSION_ADDR,
    .new_size = MINOR_VERSION_SZ - 1,
    .old_size = MINOR_VERSION_SZ,
};
