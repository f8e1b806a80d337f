/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_window_now: tries to replace NOW(), the clock the rendezvous
 * reads while patches are written (it used to be ordinary .text, reached
 * from the window): -EINVAL at load, naming it.
 */
#include <xen/lib.h>
#include <public/livepatch.h>

long xen_bad_window_now_fn(void)
{
    return 0;
}

static const char bad_window_now_this_fnc[] = "NOW";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_window_now = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_window_now_this_fnc,
    .new_addr = (uint64_t)xen_bad_window_now_fn,
    .old_addr = 0,
    .new_size = 8,
    .old_size = 16,
};
