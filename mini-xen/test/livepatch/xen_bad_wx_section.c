/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_wx_section: a valid NOP entry, plus a section that is both
 * writable and executable: -EOPNOTSUPP.
 */
#include <xen/lib.h>
#include <public/livepatch.h>
#include "config.h"

asm ( ".pushsection .bad_wx, \"awx\", @progbits\n\t"
      "bad_wx_code: ret\n\t"
      ".popsection" );

static const char bad_wx_patch_this_fnc[] = "xen_minor_version";

struct livepatch_func __section(".livepatch.funcs") livepatch_bad_wx = {
    .version = LIVEPATCH_PAYLOAD_VERSION,
    .name = (uint64_t)bad_wx_patch_this_fnc,
    .new_addr = 0,
    .old_addr = MINOR_VERSION_ADDR,
    .new_size = MINOR_VERSION_SZ - 1,
    .old_size = MINOR_VERSION_SZ,
};
