/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtual_region.c
 */
#include <xen/lib.h>
#include <xen/spinlock.h>
#include <xen/virtual_region.h>

static struct virtual_region core_region;
static LIST_HEAD(virtual_region_list);
static DEFINE_SPINLOCK(virtual_region_lock);

void register_virtual_region(struct virtual_region *r)
{
    unsigned long flags;

    spin_lock_irqsave(&virtual_region_lock, flags);
    r->list.next = &virtual_region_list;
    r->list.prev = virtual_region_list.prev;
    barrier();
    /* Publish: readers only follow ->next. */
    virtual_region_list.prev->next = &r->list;
    virtual_region_list.prev = &r->list;
    spin_unlock_irqrestore(&virtual_region_lock, flags);
}

/*
 * The caller must make sure that no CPU still uses the region (e.g. by
 * unregistering with all CPUs quiesced) before freeing it.
 */
void unregister_virtual_region(struct virtual_region *r)
{
    unsigned long flags;

    spin_lock_irqsave(&virtual_region_lock, flags);
    r->list.prev->next = r->list.next;
    r->list.next->prev = r->list.prev;
    spin_unlock_irqrestore(&virtual_region_lock, flags);
}

const struct virtual_region *find_text_region(unsigned long addr)
{
    const struct list_head *pos;

    for ( pos = ACCESS_ONCE(virtual_region_list.next);
          pos != &virtual_region_list;
          pos = ACCESS_ONCE(pos->next) )
    {
        const struct virtual_region *r =
            list_entry(pos, struct virtual_region, list);

        if ( addr >= r->text_start && addr < r->text_end )
            return r;
    }

    return NULL;
}

#define SET_FRAMES(n)                                                   \
    do {                                                                \
        core_region.frame[n].bugs = __start_bug_frames_##n;             \
        core_region.frame[n].n_bugs =                                   \
            __stop_bug_frames_##n - __start_bug_frames_##n;             \
    } while ( 0 )

void setup_virtual_regions(void)
{
    core_region.name = NULL;
    core_region.text_start = (unsigned long)_stext;
    core_region.text_end = (unsigned long)_etext;
    core_region.rodata_start = (unsigned long)_srodata;
    core_region.rodata_end = (unsigned long)_erodata;
    SET_FRAMES(0);
    SET_FRAMES(1);
    SET_FRAMES(2);
    SET_FRAMES(3);
    core_region.ex = __start___ex_table;
    core_region.ex_end = __stop___ex_table;

    register_virtual_region(&core_region);
}
