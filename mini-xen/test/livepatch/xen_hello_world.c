/* SPDX-License-Identifier: GPL-2.0 */
/* xen_hello_world: xen_extra_version() returns "Hello World". */
#include <xen/lib.h>
#include <xen/version.h>
#include <public/livepatch.h>
#include "config.h"
#include "xen_hello_world_func.h"

const char *xen_hello_world(void);

static const char hello_world_patch_this_fnc[] = "xen_extra_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_xen_hello_world = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)hello_world_patch_this_fnc,
    .new_addr = (uint64_t)xen_hello_world,
    .old_addr = (uint64_t)xen_extra_version,
    .new_size = SZ_xen_hello_world,
    .old_size = XEN_EXTRA_VERSION_SZ,
};

/* Shown by "xen-livepatch list" and at apply. */
static const char hello_modinfo[] __section(".modinfo") __used =
    "version=1\0test=hello world";
