/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch.c
 *
 * Live patching.  For now only the hooks: the per-return-to-guest check
 * and the 'x' debug key.
 */
#include <xen/lib.h>
#include <xen/keyhandler.h>
#include <xen/livepatch.h>

/*
 * Called from test_all_events (entry.S) before every return to a guest,
 * and from the idle loop.  Nothing to do yet.
 */
noinline void check_for_livepatch_work(void)
{
}

static void livepatch_printall(unsigned char key)
{
    printk("'%c' pressed -> dumping live patch info\n", key);
    printk("No payloads loaded\n");
}

void livepatch_init(void)
{
    register_keyhandler('x', livepatch_printall, "print livepatch info");
}
