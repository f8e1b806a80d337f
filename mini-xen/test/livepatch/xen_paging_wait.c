/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_paging_wait: replaces mem_paging_wait(), the function a vCPU
 * sleeps in while dom0 answers its paging request.  The replacement
 * sleeps itself, so a vCPU that made a request after the apply sleeps
 * with a return address inside this payload on its kept stack: the
 * stack check's case (REVERT and UNLOAD must wait until it returned).
 */
#include <xen/lib.h>
#include <xen/mem_paging.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_paging_wait_func.h"

long xen_paging_wait_new(struct domain *d, unsigned long gfn);

static const char paging_wait_patch_this_fnc[] = "mem_paging_wait";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_paging_wait = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)paging_wait_patch_this_fnc,
    .new_addr = (uint64_t)xen_paging_wait_new,
    .old_addr = (uint64_t)mem_paging_wait,
    .new_size = SZ_xen_paging_wait_new,
    .old_size = MEM_PAGING_WAIT_SZ,
};
