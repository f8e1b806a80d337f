/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_expectations_fail: as xen_expectations, but expecting bytes that
 * are not there.  Uploads; APPLY fails with -EINVAL ("expectation
 * failed") and nothing is written.
 */
#include <xen/lib.h>
#include <public/livepatch.h>
#include "config.h"

static const char expect_fail_patch_this_fnc[] = "xen_minor_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_expectations_fail = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)expect_fail_patch_this_fnc,
    .new_addr = 0,
    .old_addr = MINOR_VERSION_ADDR,
    .new_size = MINOR_VERSION_SZ - 1,
    .old_size = MINOR_VERSION_SZ,
    .expect = {
        .enabled = 1,
        .len = 6,
        .data = { 0xde, 0xad, 0xc0, 0xde, 0xba, 0xbe },
    },
};
