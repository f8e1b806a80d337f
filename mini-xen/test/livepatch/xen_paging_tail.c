/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_paging_tail: replaces mem_paging_wait() with a function that
 * tail-calls a helper of the payload, which does the waiting.  A vCPU
 * asleep in it has no frame of the replacement on its kept stack, only
 * the helper's: REVERT (which rewrites the jump to the replacement) may
 * go ahead, UNLOAD (which frees the helper) may not.
 */
#include <xen/lib.h>
#include <xen/mem_paging.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_paging_tail_func.h"

long xen_paging_tail_new(struct domain *d, unsigned long gfn);

static const char paging_tail_patch_this_fnc[] = "mem_paging_wait";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_paging_tail = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)paging_tail_patch_this_fnc,
    .new_addr = (uint64_t)xen_paging_tail_new,
    .old_addr = (uint64_t)mem_paging_wait,
    .new_size = SZ_xen_paging_tail_new,
    .old_size = MEM_PAGING_WAIT_SZ,
};
