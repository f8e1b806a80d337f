/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_hooks_veto: hooks only, no .livepatch.funcs.  The pre-apply hook
 * vetoes with -EPERM: APPLY returns -EPERM, the payload stays CHECKED
 * with rc -EPERM, and the post-apply hook (a BUG) never runs.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch_payload.h>

static int veto_pre_apply(livepatch_payload_t *p)
{
    printk("xen_hooks_veto: vetoing apply\n");
    return -EPERM;
}

static void veto_post_apply(livepatch_payload_t *p)
{
    BUG();
}

LIVEPATCH_PREAPPLY_HOOK(veto_pre_apply);
LIVEPATCH_POSTAPPLY_HOOK(veto_post_apply);
