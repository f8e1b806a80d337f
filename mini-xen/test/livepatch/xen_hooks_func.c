/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_hooks: every kind of hook.  Each one counts its calls in
 * xen_hooks_counts[] (an exported symbol of the payload, in its .bss) and
 * prints "xen_hooks: <hook> hook (<count>)".  The apply and revert action
 * hooks wrap the default actions, so the function is really patched
 * (xen_extra_version() returns "Hooks World") and the load and unload
 * hooks run inside them.  The pre-apply hook also WARN()s, to show a
 * call trace through payload code before the payload is applied.  The
 * post-revert hook checks that every hook ran exactly once per
 * apply/revert cycle.
 */
#include <xen/lib.h>
#include <xen/livepatch_payload.h>

enum {
    XH_LOAD, XH_UNLOAD, XH_PREAPPLY, XH_APPLY, XH_POSTAPPLY,
    XH_PREREVERT, XH_REVERT, XH_POSTREVERT, XH_NR
};

static const char *const xen_hooks_names[XH_NR] = {
    "load", "unload", "pre-apply", "apply", "post-apply",
    "pre-revert", "revert", "post-revert",
};

unsigned int xen_hooks_counts[XH_NR];

static void xen_hooks_count(unsigned int h)
{
    xen_hooks_counts[h]++;
    printk("xen_hooks: %s hook (%u)\n", xen_hooks_names[h],
           xen_hooks_counts[h]);
}

const char *xen_hooks_world(void)
{
    return "Hooks World";
}

static void xen_hooks_load(void)
{
    xen_hooks_count(XH_LOAD);
}

static void xen_hooks_unload(void)
{
    xen_hooks_count(XH_UNLOAD);
}

static int xen_hooks_pre_apply(livepatch_payload_t *p)
{
    xen_hooks_count(XH_PREAPPLY);
    WARN();
    return 0;
}

static int xen_hooks_apply(livepatch_payload_t *p)
{
    xen_hooks_count(XH_APPLY);
    return apply_payload(p);
}

static void xen_hooks_post_apply(livepatch_payload_t *p)
{
    xen_hooks_count(XH_POSTAPPLY);
    printk("xen_hooks: %s is %s, rc=%d\n", p->name,
           p->state == LIVEPATCH_STATE_APPLIED ? "APPLIED" : "CHECKED", p->rc);
}

static int xen_hooks_pre_revert(livepatch_payload_t *p)
{
    xen_hooks_count(XH_PREREVERT);
    return 0;
}

static int xen_hooks_revert(livepatch_payload_t *p)
{
    xen_hooks_count(XH_REVERT);
    return revert_payload(p);
}

static void xen_hooks_post_revert(livepatch_payload_t *p)
{
    unsigned int h;

    xen_hooks_count(XH_POSTREVERT);

    for ( h = 0; h < XH_NR; h++ )
        if ( xen_hooks_counts[h] != xen_hooks_counts[XH_POSTREVERT] )
        {
            printk("xen_hooks: %s hook ran %u times, post-revert %u\n",
                   xen_hooks_names[h], xen_hooks_counts[h],
                   xen_hooks_counts[XH_POSTREVERT]);
            return;
        }

    printk("xen_hooks: every hook ran %u time(s)\n",
           xen_hooks_counts[XH_POSTREVERT]);
}

LIVEPATCH_LOAD_HOOK(xen_hooks_load);
LIVEPATCH_UNLOAD_HOOK(xen_hooks_unload);
LIVEPATCH_PREAPPLY_HOOK(xen_hooks_pre_apply);
LIVEPATCH_APPLY_HOOK(xen_hooks_apply);
LIVEPATCH_POSTAPPLY_HOOK(xen_hooks_post_apply);
LIVEPATCH_PREREVERT_HOOK(xen_hooks_pre_revert);
LIVEPATCH_REVERT_HOOK(xen_hooks_revert);
LIVEPATCH_POSTREVERT_HOOK(xen_hooks_post_revert);
