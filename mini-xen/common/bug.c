/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bug.c
 *
 * The #UD handler's part for BUG(), WARN(), ASSERT() and
 * run_in_exception_handler(): find the bug frame of the ud2 at pc.
 */
#include <xen/lib.h>
#include <xen/bug.h>
#include <xen/console.h>
#include <xen/errno.h>
#include <xen/virtual_region.h>
#include <asm/traps.h>
#include <public/platform.h>

#define UD2_LEN                 2

static const char *bug_file(const struct virtual_region *r,
                            const struct bug_frame *b)
{
    unsigned long p = (unsigned long)bug_ptr(b);

    /* The name must live in the read-only data of a known region. */
    if ( (p >= r->rodata_start && p < r->rodata_end) ||
         is_kernel_rodata(p) )
        return (const char *)p;

    return "<unknown>";
}

static const struct bug_frame *find_frame(const struct bug_frame *bugs,
                                          size_t n, unsigned long pc)
{
    size_t i;

    for ( i = 0; i < n; i++ )
        if ( bug_loc(&bugs[i]) == pc )
            return &bugs[i];

    return NULL;
}

int do_bug_frame(struct cpu_user_regs *regs, unsigned long pc)
{
    const struct virtual_region *r = find_text_region(pc);
    const struct bug_frame *b = NULL;
    unsigned int type;
    const char *file;

    if ( !r )
        return -ENOENT;

    for ( type = 0; type < BUGFRAME_NR && !b; type++ )
        b = find_frame(r->frame[type].bugs, r->frame[type].n_bugs, pc);

    if ( !b )
        return -ENOENT;
    type--;                     /* the loop went one past the match */

    if ( type == BUGFRAME_run_fn )
    {
        void (*fn)(struct cpu_user_regs *) = bug_ptr(b);

        fn(regs);
        regs->rip += UD2_LEN;
        return 0;
    }

    file = bug_file(r, b);

    switch ( type )
    {
    case BUGFRAME_warn:
        printk("Xen WARN at %s:%u\n", file, b->line);
        show_execution_state(regs);
        regs->rip += UD2_LEN;
        return 0;

    case BUGFRAME_bug:
        panic_begin();
        printk("Xen BUG at %s:%u\n", file, b->line);
        show_execution_state(regs);
        panic_end(regs, "Xen BUG at %s:%u\n", file, b->line);

    case BUGFRAME_assert:
        panic_begin();
        printk("Assertion '%s' failed at %s:%u\n", bug_msg(b), file, b->line);
        show_execution_state(regs);
        panic_end(regs, "Assertion '%s' failed at %s:%u\n", bug_msg(b), file,
                  b->line);
    }

    return -EINVAL;
}
