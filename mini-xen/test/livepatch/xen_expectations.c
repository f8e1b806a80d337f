/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_expectations: the NOP patch of xen_nop, guarded by an expectation
 * of the bytes xen_minor_version() starts with in this build.  Applies.
 */
#include <xen/lib.h>
#include <public/livepatch.h>
#include "config.h"

static const char expect_patch_this_fnc[] = "xen_minor_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_expectations = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)expect_patch_this_fnc,
    .new_addr = 0,
    .old_addr = MINOR_VERSION_ADDR,
    .new_size = MINOR_VERSION_SZ - 1,
    .old_size = MINOR_VERSION_SZ,
    .expect = {
        .enabled = 1,
        .len = MINOR_VERSION_EXPECT_LEN,
        .data = { MINOR_VERSION_EXPECT },
    },
};
