/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_elf.c
 *
 * The ELF side of payload loading: checks of the header, the section
 * table, the string tables and the symbol table of an uploaded
 * relocatable object, then symbol resolution and relocation dispatch
 * once its sections have been placed.  The raw bytes are a private heap
 * copy, so the symbol values can be rewritten in place.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/livepatch_elf.h>
#include <xen/symbols.h>
#include <xen/xmalloc.h>
#include <public/livepatch.h>

static int elf_header_check(const struct livepatch_elf *elf)
{
    const Elf64_Ehdr *hdr = elf->hdr;
    int rc;

    if ( elf->len < sizeof(*hdr) || memcmp(hdr->e_ident, ELFMAG, SELFMAG) )
    {
        elf_err(elf, "not an ELF file");
        return -EINVAL;
    }

    rc = arch_livepatch_verify_elf(elf);
    if ( rc )
        return rc;

    if ( hdr->e_ident[EI_VERSION] != EV_CURRENT ||
         hdr->e_version != EV_CURRENT ||
         hdr->e_ident[EI_ABIVERSION] != 0 ||
         (hdr->e_ident[EI_OSABI] != ELFOSABI_NONE &&
          hdr->e_ident[EI_OSABI] != ELFOSABI_FREEBSD) )
    {
        elf_err(elf, "unsupported ELF version or OS ABI");
        return -EOPNOTSUPP;
    }

    if ( hdr->e_type != ET_REL || hdr->e_phnum )
    {
        elf_err(elf, "not a relocatable object (type %u, %u program headers)",
                hdr->e_type, hdr->e_phnum);
        return -EOPNOTSUPP;
    }

    if ( hdr->e_shstrndx == SHN_UNDEF )
    {
        elf_err(elf, "no section name table");
        return -EINVAL;
    }

    if ( hdr->e_shnum >= LIVEPATCH_MAX_SECTIONS )
    {
        elf_err(elf, "too many sections (%u)", hdr->e_shnum);
        return -EOPNOTSUPP;
    }

    if ( hdr->e_shstrndx >= hdr->e_shnum )
    {
        elf_err(elf, "section name table index %u is past the %u sections",
                hdr->e_shstrndx, hdr->e_shnum);
        return -EINVAL;
    }

    if ( hdr->e_shoff >= elf->len )
    {
        elf_err(elf, "section table offset %#lx is past the end of the file",
                hdr->e_shoff);
        return -EINVAL;
    }

    if ( hdr->e_shentsize < sizeof(Elf64_Shdr) )
    {
        elf_err(elf, "section header size %u is smaller than %zu",
                hdr->e_shentsize, sizeof(Elf64_Shdr));
        return -EINVAL;
    }

    if ( (elf->len - hdr->e_shoff) / hdr->e_shentsize < hdr->e_shnum )
    {
        elf_err(elf, "section table is truncated");
        return -EINVAL;
    }

    return 0;
}

static int elf_verify_strtab(const struct livepatch_elf *elf,
                             const struct livepatch_elf_sec *s,
                             const char *what)
{
    const char *data = s->data;
    size_t size;

    if ( !s->sec || s->sec->sh_type != SHT_STRTAB || !data )
    {
        elf_err(elf, "%s is not a string table", what);
        return -EINVAL;
    }

    size = s->sec->sh_size;
    if ( !size || data[0] || data[size - 1] )
    {
        elf_err(elf, "%s is empty or not NUL-delimited", what);
        return -EINVAL;
    }

    return 0;
}

/*
 * Not in Xen: the file data of a section is its own.  Two sections whose
 * bytes overlap each other, the ELF header or the section header table
 * (a corrupt sh_offset or sh_size) are -EINVAL, and so is executable
 * SHT_NOBITS (code that would be zeroes).
 */
static int elf_check_section_data(const struct livepatch_elf *elf)
{
    const Elf64_Ehdr *hdr = elf->hdr;
    unsigned long shdr_end = hdr->e_shoff +
                             (unsigned long)hdr->e_shnum * hdr->e_shentsize;
    unsigned int i, j;

    for ( i = 1; i < hdr->e_shnum; i++ )
    {
        const Elf64_Shdr *a = elf->sec[i].sec;

        if ( a->sh_type == SHT_NOBITS )
        {
            if ( a->sh_flags & SHF_EXECINSTR )
            {
                elf_err(elf, "section [%u] is executable SHT_NOBITS", i);
                return -EINVAL;
            }
            continue;
        }
        if ( !a->sh_size )
            continue;

        if ( a->sh_offset < shdr_end && hdr->e_shoff < a->sh_offset + a->sh_size )
        {
            elf_err(elf, "data of section [%u] overlaps the section headers", i);
            return -EINVAL;
        }

        for ( j = 1; j < i; j++ )
        {
            const Elf64_Shdr *b = elf->sec[j].sec;

            if ( b->sh_type == SHT_NOBITS || !b->sh_size )
                continue;
            if ( a->sh_offset < b->sh_offset + b->sh_size &&
                 b->sh_offset < a->sh_offset + a->sh_size )
            {
                elf_err(elf, "data of sections [%u] and [%u] overlap", j, i);
                return -EINVAL;
            }
        }
    }

    return 0;
}

static int elf_resolve_sections(struct livepatch_elf *elf)
{
    const Elf64_Ehdr *hdr = elf->hdr;
    struct livepatch_elf_sec *sec;
    unsigned int i;
    int rc;

    sec = xzalloc_array(struct livepatch_elf_sec, hdr->e_shnum);
    if ( !sec )
    {
        elf_err(elf, "out of memory for %u sections", hdr->e_shnum);
        return -ENOMEM;
    }
    elf->sec = sec;

    for ( i = 1; i < hdr->e_shnum; i++ )
    {
        const Elf64_Shdr *s = (const void *)(elf->raw + hdr->e_shoff +
                                             i * hdr->e_shentsize);
        unsigned long off = s->sh_offset, align = s->sh_addralign;

        sec[i].sec = s;

        if ( off < sizeof(Elf64_Ehdr) ||
             (s->sh_type != SHT_NOBITS &&
              (off > elf->len || s->sh_size > elf->len - off)) )
        {
            elf_err(elf, "data of section [%u] is outside the file", i);
            return -EINVAL;
        }

        if ( align & (align - 1) )
        {
            elf_err(elf, "section [%u] alignment %#lx is not a power of two",
                    i, align);
            return -EOPNOTSUPP;
        }

        if ( align > 1 && (s->sh_addr & (align - 1)) )
        {
            elf_err(elf, "section [%u] address %#lx is not %lu-byte aligned",
                    i, s->sh_addr, align);
            return -EINVAL;
        }

        /* Not in Xen: as every linker places them (a shifted sh_offset). */
        if ( align > 1 && s->sh_type != SHT_NOBITS && s->sh_size &&
             (off & (align - 1)) )
        {
            elf_err(elf, "data of section [%u] at %#lx is not %lu-byte aligned",
                    i, off, align);
            return -EINVAL;
        }

        if ( s->sh_type == SHT_NOBITS &&
             (s->sh_flags & (SHF_ALLOC | SHF_WRITE)) ==
             (SHF_ALLOC | SHF_WRITE) &&
             s->sh_size > LIVEPATCH_MAX_SIZE )
        {
            elf_err(elf, "section [%u] is %lu bytes of .bss, more than %u",
                    i, s->sh_size, LIVEPATCH_MAX_SIZE);
            return -EINVAL;
        }

        if ( s->sh_type != SHT_NOBITS )
            sec[i].data = elf->raw + off;

        if ( s->sh_type == SHT_SYMTAB )
        {
            if ( elf->symtab )
            {
                elf_err(elf, "more than one symbol table");
                return -EOPNOTSUPP;
            }

            elf->symtab = &sec[i];
            elf->symtab_idx = i;

            if ( s->sh_link == SHN_UNDEF || s->sh_link >= hdr->e_shnum )
            {
                elf_err(elf, "symbol table links to section [%u]", s->sh_link);
                return -EINVAL;
            }
            elf->strtab = &sec[s->sh_link];
        }
    }

    rc = elf_check_section_data(elf);
    if ( rc )
        return rc;

    if ( !elf->symtab )
    {
        elf_err(elf, "no symbol table");
        return -EINVAL;
    }

    if ( !elf->symtab->sec->sh_size ||
         elf->symtab->sec->sh_entsize != sizeof(Elf64_Sym) ||
         elf->symtab->sec->sh_size % elf->symtab->sec->sh_entsize )
    {
        elf_err(elf, "symbol table size %lu / entry size %lu is invalid",
                elf->symtab->sec->sh_size, elf->symtab->sec->sh_entsize);
        return -EINVAL;
    }

    return elf_verify_strtab(elf, elf->strtab, "the symbol string table");
}

static int elf_resolve_section_names(struct livepatch_elf *elf)
{
    const struct livepatch_elf_sec *shstrtab = &elf->sec[elf->hdr->e_shstrndx];
    const char *names;
    unsigned int i;
    int rc;

    rc = elf_verify_strtab(elf, shstrtab, "the section name table");
    if ( rc )
        return rc;

    names = shstrtab->data;
    for ( i = 1; i < elf->hdr->e_shnum; i++ )
    {
        if ( elf->sec[i].sec->sh_name >= shstrtab->sec->sh_size )
        {
            elf_err(elf, "name of section [%u] is outside the name table", i);
            return -EINVAL;
        }
        elf->sec[i].name = names + elf->sec[i].sec->sh_name;
    }

    return 0;
}

static int elf_get_sym(struct livepatch_elf *elf)
{
    const Elf64_Shdr *symtab = elf->symtab->sec;
    const char *strtab = elf->strtab->data;
    size_t strtab_size = elf->strtab->sec->sh_size;
    unsigned int i, nsym = symtab->sh_size / symtab->sh_entsize;

    elf->sym = xzalloc_array(struct livepatch_elf_sym, nsym);
    if ( !elf->sym )
    {
        elf_err(elf, "out of memory for %u symbols", nsym);
        return -ENOMEM;
    }

    /* Symbol 0 is the undefined symbol: leave it empty. */
    for ( i = 1; i < nsym; i++ )
    {
        Elf64_Sym *s = (Elf64_Sym *)(elf->raw + symtab->sh_offset +
                                     i * symtab->sh_entsize);

        if ( s->st_name >= strtab_size )
        {
            elf_err(elf, "name of symbol [%u] is outside the string table", i);
            return -EINVAL;
        }

        elf->sym[i].sym = s;
        elf->sym[i].name = strtab + s->st_name;
    }
    elf->nsym = nsym;

    return 0;
}

int livepatch_elf_load(struct livepatch_elf *elf, void *data, size_t len)
{
    int rc;

    elf->raw = data;
    elf->hdr = data;
    elf->len = len;

    rc = elf_header_check(elf);
    if ( rc )
        return rc;

    rc = elf_resolve_sections(elf);
    if ( rc )
        return rc;

    rc = elf_resolve_section_names(elf);
    if ( rc )
        return rc;

    return elf_get_sym(elf);
}

void livepatch_elf_free(struct livepatch_elf *elf)
{
    xfree(elf->sec);
    elf->sec = NULL;
    xfree(elf->sym);
    elf->sym = NULL;
    elf->nsym = 0;
}

const struct livepatch_elf_sec *
livepatch_elf_sec_by_name(const struct livepatch_elf *elf, const char *name)
{
    unsigned int i;

    for ( i = 1; i < elf->hdr->e_shnum; i++ )
        if ( !strcmp(name, elf->sec[i].name) )
            return &elf->sec[i];

    return NULL;
}

/*
 * Undefined symbols come from the hypervisor first, then from the
 * exported symbols of the payloads already loaded; defined ones move
 * with their section.
 */
int livepatch_elf_resolve_symbols(struct livepatch_elf *elf)
{
    unsigned int i;

    for ( i = 1; i < elf->nsym; i++ )
    {
        Elf64_Sym *s = elf->sym[i].sym;
        const char *name = elf->sym[i].name;
        unsigned int idx = s->st_shndx;
        unsigned long addr, sz;

        switch ( idx )
        {
        case SHN_COMMON:
            elf_err(elf, "symbol %s is COMMON (build with -fno-common)", name);
            return -EINVAL;

        case SHN_UNDEF:
            addr = symbols_lookup_by_name(name);
            if ( !addr )
                addr = livepatch_symbols_lookup_by_name(name);
            if ( !addr )
            {
                elf_err(elf, "unknown symbol %s", name);
                return -ENOENT;
            }
            s->st_value = addr;
            break;

        case SHN_ABS:
            break;

        default:
            if ( idx >= SHN_LORESERVE )
            {
                elf_err(elf, "symbol %s is in unsupported section %#x",
                        name, idx);
                return -EOPNOTSUPP;
            }
            if ( idx >= elf->hdr->e_shnum )
            {
                elf_err(elf, "symbol %s is in section [%u], past the end",
                        name, idx);
                return -EINVAL;
            }
            if ( !livepatch_elf_secalloc(&elf->sec[idx]) )
            {
                /* Debug info and the like: never loaded. */
                elf->sym[i].ignored = true;
                break;
            }
            /* Not in Xen: a symbol lies inside its section (end included). */
            sz = elf->sec[idx].sec->sh_size;
            if ( s->st_value > sz || s->st_size > sz - s->st_value )
            {
                elf_err(elf, "symbol %s (%#lx+%#lx) is outside section [%u] "
                        "of %#lx bytes", name, s->st_value, s->st_size, idx,
                        sz);
                return -EINVAL;
            }
            s->st_value += (unsigned long)elf->sec[idx].load_addr;
            break;
        }
    }

    return 0;
}

/*
 * Unlike Xen, which skips such sections, a relocation section the loader
 * would not apply is refused, so that no payload runs unrelocated code:
 * a section named .rel* that is not SHT_RELA/SHT_REL, or a relocation
 * section whose target (sh_info) is not a section of the file, or is not
 * the section its name says, is -EINVAL.
 */
static int elf_check_reloc_section(const struct livepatch_elf *elf,
                                   const struct livepatch_elf_sec *r)
{
    bool is_rel = r->sec->sh_type == SHT_RELA || r->sec->sh_type == SHT_REL;
    const char *target, *prefix;

    if ( !is_rel && !strncmp(r->name, ".rel", 4) )
    {
        elf_err(elf, "%s is of type %u, not a relocation section", r->name,
                r->sec->sh_type);
        return -EINVAL;
    }

    if ( !is_rel )
        return 0;

    if ( r->sec->sh_info == SHN_UNDEF || r->sec->sh_info >= elf->hdr->e_shnum )
    {
        elf_err(elf, "%s applies to section [%u] of %u", r->name,
                r->sec->sh_info, elf->hdr->e_shnum);
        return -EINVAL;
    }

    /* As every linker names them: .rela<target> (or .rel<target>). */
    target = elf->sec[r->sec->sh_info].name;
    prefix = r->sec->sh_type == SHT_RELA ? ".rela" : ".rel";
    if ( strncmp(r->name, prefix, strlen(prefix)) ||
         strcmp(r->name + strlen(prefix), target) )
    {
        elf_err(elf, "%s applies to section [%u] %s", r->name,
                r->sec->sh_info, target);
        return -EINVAL;
    }

    return 0;
}

int livepatch_elf_perform_relocs(struct livepatch_elf *elf)
{
    unsigned int i;
    int rc;

    for ( i = 1; i < elf->hdr->e_shnum; i++ )
    {
        const struct livepatch_elf_sec *r = &elf->sec[i], *base;

        rc = elf_check_reloc_section(elf, r);
        if ( rc )
            return rc;

        if ( r->sec->sh_type != SHT_RELA && r->sec->sh_type != SHT_REL )
            continue;

        /* Relocations of a section that is not loaded are not needed. */
        base = &elf->sec[r->sec->sh_info];
        if ( !livepatch_elf_secalloc(base) )
            continue;

        if ( r->sec->sh_link != elf->symtab_idx )
        {
            elf_err(elf, "%s links to section [%u], not the symbol table [%u]",
                    r->name, r->sec->sh_link, elf->symtab_idx);
            return -EINVAL;
        }

        if ( r->sec->sh_type == SHT_RELA )
            rc = arch_livepatch_perform_rela(elf, base, r);
        else
            rc = arch_livepatch_perform_rel(elf, base, r);
        if ( rc )
            return rc;
    }

    return 0;
}
