/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bye_world: xen_extra_version() returns "Bye World".  Its
 * .livepatch.depends is xen_hello_world's build-id: it only applies on
 * top of xen_hello_world.
 */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_bye_world_func.h"

const char *xen_bye_world(void);

static const char bye_world_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_bye_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bye_world_patch_this_fnc,
    .new_addr = (uint64_t)xen_bye_world,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = SZ_xen_bye_world,
    .old_size = XEN_EXTRA_VERSION_SZ,
};
