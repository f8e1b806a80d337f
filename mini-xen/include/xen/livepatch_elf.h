/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_elf.h
 *
 * The loader's view of a payload: a relocatable ELF-64 object in a
 * temporary heap buffer, with its sections, names and symbols checked.
 */
#ifndef __XEN_LIVEPATCH_ELF_H__
#define __XEN_LIVEPATCH_ELF_H__

#include <xen/types.h>
#include <xen/elfstructs.h>
#include <xen/livepatch.h>

struct livepatch_elf_sec {
    const Elf64_Shdr *sec;      /* header, inside the raw image */
    const char *name;           /* inside .shstrtab */
    const void *data;           /* contents in the raw image (not NOBITS) */
    void *load_addr;            /* final address, for SHF_ALLOC sections */
};

struct livepatch_elf_sym {
    Elf64_Sym *sym;             /* st_value is rewritten by resolution */
    const char *name;
    bool ignored;               /* defined in a non-ALLOC section */
};

struct livepatch_elf {
    const char *name;           /* payload name, for messages */
    char *raw;                  /* the uploaded bytes (heap, writable) */
    const Elf64_Ehdr *hdr;
    size_t len;
    struct livepatch_elf_sec *sec;      /* e_shnum entries */
    struct livepatch_elf_sym *sym;      /* nsym entries, [0] unused */
    unsigned int nsym;
    unsigned int symtab_idx;
    const struct livepatch_elf_sec *symtab, *strtab;
};

/* One console line per refusal: "livepatch: <payload>: <reason>". */
#define elf_err(elf, fmt, args...)                                      \
    printk(LIVEPATCH "%s: " fmt "\n", (elf)->name, ## args)

/* Sections that get loaded, and into which region. */
static inline bool livepatch_elf_secalloc(const struct livepatch_elf_sec *s)
{
    return s->sec->sh_flags & SHF_ALLOC;
}

int livepatch_elf_load(struct livepatch_elf *elf, void *data, size_t len);
void livepatch_elf_free(struct livepatch_elf *elf);

/* First section called name (duplicates are not detected, as in Xen). */
const struct livepatch_elf_sec *
livepatch_elf_sec_by_name(const struct livepatch_elf *elf, const char *name);

int livepatch_elf_resolve_symbols(struct livepatch_elf *elf);
int livepatch_elf_perform_relocs(struct livepatch_elf *elf);

/* Arch hooks (arch/x86/livepatch_arch.c). */
int arch_livepatch_verify_elf(const struct livepatch_elf *elf);
int arch_livepatch_perform_rela(struct livepatch_elf *elf,
                                const struct livepatch_elf_sec *base,
                                const struct livepatch_elf_sec *rela);
int arch_livepatch_perform_rel(struct livepatch_elf *elf,
                               const struct livepatch_elf_sec *base,
                               const struct livepatch_elf_sec *rel);

#endif /* __XEN_LIVEPATCH_ELF_H__ */
