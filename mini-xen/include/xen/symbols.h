/* SPDX-License-Identifier: GPL-2.0 */
/*
 * symbols.h
 *
 * The hypervisor's own symbol table, embedded in .rodata by a 3-pass
 * link (tools/symbols.c).  Local symbols are named "file.c#name", global
 * ones by their plain name.
 */
#ifndef __XEN_SYMBOLS_H__
#define __XEN_SYMBOLS_H__

#include <xen/types.h>

/* Layout of one table entry (also used by tools/symbols.c). */
struct symbol_entry {
    uint64_t addr;
    uint32_t size;
    uint32_t name;              /* offset into symbols_names */
    uint8_t  type;              /* nm class letter: T t D d R r B b ... */
    uint8_t  _pad[7];
};

extern const struct symbol_entry symbols_entries[];    /* by address */
extern const uint32_t symbols_by_name[];               /* indices, by name */
extern const char symbols_names[];
extern const uint32_t symbols_num;

/*
 * Name of the symbol containing addr, or NULL.  *size and *offset (if not
 * NULL) receive the symbol's size and addr's offset inside it.
 */
const char *symbols_lookup(unsigned long addr, unsigned long *size,
                           unsigned long *offset);

/*
 * The same, also for the text of live-patch payloads; *module (if not
 * NULL) receives the payload's name, or NULL for the hypervisor.
 */
const char *symbols_lookup_module(unsigned long addr, unsigned long *size,
                                  unsigned long *offset, const char **module);

/* Address of the symbol called name, or 0. */
unsigned long symbols_lookup_by_name(const char *name);

#endif /* __XEN_SYMBOLS_H__ */
