/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtual_region.h
 *
 * Ranges of executable code with their bug frames and exception table.
 * The hypervisor image is the first region; live-patch payloads
 * register theirs from load to unload, so that WARN/BUG, extable fixups
 * and symbol lookups also work in payload code.  Readers walk the list
 * without a lock: regions are added at the tail with the new entry fully
 * initialised first.  Every reader runs with interrupts off (trap
 * handlers, dumps), so after unregistering, an IPI round trip to every
 * CPU is enough to know that no reader still sees the region.
 */
#ifndef __XEN_VIRTUAL_REGION_H__
#define __XEN_VIRTUAL_REGION_H__

#include <xen/types.h>
#include <xen/list.h>
#include <xen/bug.h>
#include <asm/uaccess.h>

struct virtual_region {
    struct list_head list;
    const char *name;                   /* NULL for the hypervisor */
    unsigned long text_start, text_end; /* [start, end) */
    unsigned long rodata_start, rodata_end;
    struct {
        const struct bug_frame *bugs;
        size_t n_bugs;
    } frame[BUGFRAME_NR];
    const struct exception_table_entry *ex, *ex_end;
    /* Symbol of addr in this region's text (NULL for the hypervisor). */
    const char *(*symbols_lookup)(const struct virtual_region *r,
                                  unsigned long addr, unsigned long *size,
                                  unsigned long *offset);
};

void setup_virtual_regions(void);
void register_virtual_region(struct virtual_region *r);
void unregister_virtual_region(struct virtual_region *r);
const struct virtual_region *find_text_region(unsigned long addr);

/* Is addr inside the text of any registered region? */
static inline bool is_active_text(unsigned long addr)
{
    return find_text_region(addr) != NULL;
}

#endif /* __XEN_VIRTUAL_REGION_H__ */
