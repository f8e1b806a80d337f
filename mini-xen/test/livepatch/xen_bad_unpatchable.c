/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_unpatchable: tries to replace check_for_livepatch_work(), which
 * runs while patches are written: -EINVAL at load.
 */
#include <xen/lib.h>
#include <public/livepatch.h>

void xen_bad_unpatchable_fn(void)
{
}

static const char bad_unpatchable_this_fnc[] = "check_for_livepatch_work";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_unpatchable = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_unpatchable_this_fnc,
    .new_addr = (uint64_t)xen_bad_unpatchable_fn,
    .old_addr = 0,
    .new_size = 1,
    .old_size = 16,
};
