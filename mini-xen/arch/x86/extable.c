/* SPDX-License-Identifier: GPL-2.0 */
/*
 * extable.c
 *
 * Exception table: entries are {insn, fixup}, each a 32-bit displacement
 * from the field itself.  Sorting moves entries, so it rewrites both
 * displacements.
 */
#include <xen/lib.h>
#include <xen/virtual_region.h>
#include <asm/uaccess.h>

static unsigned long ex_insn(const struct exception_table_entry *e)
{
    return (unsigned long)&e->insn + e->insn;
}

static unsigned long ex_fixup(const struct exception_table_entry *e)
{
    return (unsigned long)&e->fixup + e->fixup;
}

static void ex_set(struct exception_table_entry *e, unsigned long insn,
                   unsigned long fixup)
{
    e->insn = insn - (unsigned long)&e->insn;
    e->fixup = fixup - (unsigned long)&e->fixup;
}

/* Insertion sort by instruction address (tables are small). */
void sort_exception_table(struct exception_table_entry *start,
                          struct exception_table_entry *stop)
{
    struct exception_table_entry *e, *p;

    for ( e = start + 1; e < stop; e++ )
    {
        unsigned long insn = ex_insn(e), fixup = ex_fixup(e);

        for ( p = e; p > start && ex_insn(p - 1) > insn; p-- )
            ex_set(p, ex_insn(p - 1), ex_fixup(p - 1));
        ex_set(p, insn, fixup);
    }
}

unsigned long search_one_extable(const struct exception_table_entry *start,
                                 const struct exception_table_entry *stop,
                                 unsigned long addr)
{
    const struct exception_table_entry *lo = start, *hi = stop;

    while ( lo < hi )
    {
        const struct exception_table_entry *mid = lo + (hi - lo) / 2;
        unsigned long insn = ex_insn(mid);

        if ( insn == addr )
            return ex_fixup(mid);
        if ( insn < addr )
            lo = mid + 1;
        else
            hi = mid;
    }

    return 0;
}

/* Fixup address for a fault at addr, or 0. */
unsigned long search_exception_table(unsigned long addr)
{
    const struct virtual_region *r = find_text_region(addr);

    if ( !r || !r->ex )
        return 0;

    return search_one_extable(r->ex, r->ex_end, addr);
}
