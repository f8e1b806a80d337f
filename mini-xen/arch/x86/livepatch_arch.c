/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_arch.c
 *
 * The x86 side of live patching: ELF machine checks, RELA relocations,
 * the live-patch area (a page allocator over PLAT_LIVEPATCH_BASE) and its
 * permissions, the 5-byte "jmp rel32" trampoline and NOP patches, write
 * enabling through CR0.WP on the patching CPU, serialisation of every
 * CPU afterwards, and payload alternatives.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/livepatch_elf.h>
#include <xen/smp.h>
#include <xen/spinlock.h>
#include <asm/alternative.h>
#include <asm/bitops.h>
#include <asm/livepatch.h>
#include <asm/page.h>
#include <asm/processor.h>
#include <asm/system.h>
#include <public/counters.h>
#include <public/livepatch.h>
#include <public/platform.h>

#define LP_NR_PAGES             (PLAT_LIVEPATCH_SIZE >> PAGE_SHIFT)

static unsigned long lp_page_map[LP_NR_PAGES / BITS_PER_LONG];
static DEFINE_SPINLOCK(lp_page_lock);

/* ---- ELF ------------------------------------------------------------- */

int arch_livepatch_verify_elf(const struct livepatch_elf *elf)
{
    const Elf64_Ehdr *hdr = elf->hdr;

    if ( hdr->e_machine != EM_X86_64 ||
         hdr->e_ident[EI_CLASS] != ELFCLASS64 ||
         hdr->e_ident[EI_DATA] != ELFDATA2LSB )
    {
        elf_err(elf, "not an x86-64 little-endian ELF-64 object");
        return -EOPNOTSUPP;
    }

    return 0;
}

int arch_livepatch_perform_rel(struct livepatch_elf *elf,
                               const struct livepatch_elf_sec *base,
                               const struct livepatch_elf_sec *rel)
{
    elf_err(elf, "SHT_REL relocations (%s) are not supported", rel->name);
    return -EOPNOTSUPP;
}

int arch_livepatch_perform_rela(struct livepatch_elf *elf,
                                const struct livepatch_elf_sec *base,
                                const struct livepatch_elf_sec *rela)
{
    const Elf64_Shdr *rs = rela->sec;
    unsigned long size = base->sec->sh_size;
    unsigned int i, n;

    if ( !rs->sh_size )
        return 0;

    /*
     * Exactly sizeof(Elf64_Rela), unlike Xen (which takes any larger
     * entry size): a larger one would step over relocations and leave
     * code unrelocated.
     */
    if ( rs->sh_entsize != sizeof(Elf64_Rela) || rs->sh_size % rs->sh_entsize )
    {
        elf_err(elf, "%s has entry size %lu and size %lu", rela->name,
                rs->sh_entsize, rs->sh_size);
        return -EINVAL;
    }

    n = rs->sh_size / rs->sh_entsize;
    for ( i = 0; i < n; i++ )
    {
        const Elf64_Rela *r = (const void *)((const char *)rela->data +
                                             i * rs->sh_entsize);
        unsigned long symndx = ELF64_R_SYM(r->r_info);
        unsigned int type = ELF64_R_TYPE(r->r_info);
        const struct livepatch_elf_sym *sym;
        uint8_t *dest;
        uint64_t val;

        if ( symndx == STN_UNDEF )
        {
            elf_err(elf, "relocation %u in %s is against symbol 0",
                    i, rela->name);
            return -EOPNOTSUPP;
        }

        if ( symndx >= elf->nsym )
        {
            elf_err(elf, "relocation %u in %s refers to symbol %lu of %u",
                    i, rela->name, symndx, elf->nsym);
            return -EINVAL;
        }

        sym = &elf->sym[symndx];
        if ( !sym->sym )
        {
            elf_err(elf, "relocation %u in %s has no symbol", i, rela->name);
            return -EINVAL;
        }

        if ( sym->ignored )
        {
            elf_err(elf, "relocation %u in %s is against %s, which is not "
                    "loaded", i, rela->name, sym->name);
            return -EINVAL;
        }

        dest = (uint8_t *)base->load_addr + r->r_offset;
        val = sym->sym->st_value + r->r_addend;

        switch ( type )
        {
        case R_X86_64_NONE:
            break;

        case R_X86_64_64:
            if ( r->r_offset >= size || size - r->r_offset < sizeof(uint64_t) )
                goto bad_offset;
            memcpy(dest, &val, sizeof(val));
            break;

        case R_X86_64_PLT32:
            /* Everything is in reach: a PLT entry is never needed. */
        case R_X86_64_PC32:
        {
            int32_t v32;

            if ( r->r_offset >= size || size - r->r_offset < sizeof(int32_t) )
                goto bad_offset;
            val -= (uint64_t)dest;
            v32 = val;
            if ( (int64_t)val != v32 )
            {
                elf_err(elf, "relocation %u in %s against %s overflows",
                        i, rela->name, sym->name);
                return -EOVERFLOW;
            }
            memcpy(dest, &v32, sizeof(v32));
            break;
        }

        default:
            elf_err(elf, "unknown relocation type %u in %s", type, rela->name);
            return -EOPNOTSUPP;
        }

        continue;

 bad_offset:
        elf_err(elf, "relocation %u in %s is past the end of %s",
                i, rela->name, base->name);
        return -EINVAL;
    }

    return 0;
}

/* ---- The live-patch area --------------------------------------------- */

void arch_livepatch_init(void)
{
    int rc;

    BUILD_BUG_ON(LP_NR_PAGES % BITS_PER_LONG);
    BUILD_BUG_ON(sizeof(struct livepatch_func) != 104);
    BUILD_BUG_ON(sizeof(struct alt_instr) != ALT_INSTR_SIZE);

    /* Nothing is mapped there until a payload is loaded. */
    rc = modify_xen_mappings(PLAT_LIVEPATCH_BASE,
                             PLAT_LIVEPATCH_BASE + PLAT_LIVEPATCH_SIZE, 0);
    BUG_ON(rc);
}

static bool page_free(unsigned int pg)
{
    return !test_bit(pg, lp_page_map);
}

void *arch_livepatch_alloc_pages(unsigned int nr)
{
    unsigned int start, i;
    unsigned long va;
    int rc;

    if ( !nr || nr > LP_NR_PAGES )
        return NULL;

    spin_lock(&lp_page_lock);

    for ( start = 0; start + nr <= LP_NR_PAGES; start = i + 1 )
    {
        for ( i = start; i < start + nr && page_free(i); i++ )
            ;
        if ( i == start + nr )
            break;
    }

    if ( start + nr > LP_NR_PAGES )
    {
        spin_unlock(&lp_page_lock);
        return NULL;
    }

    for ( i = start; i < start + nr; i++ )
        set_bit(i, lp_page_map);
    xen_counters.lp_pages += nr;

    spin_unlock(&lp_page_lock);

    /* Not present before: no CPU can hold a stale translation. */
    va = PLAT_LIVEPATCH_BASE + ((unsigned long)start << PAGE_SHIFT);
    rc = modify_xen_mappings(va, va + ((unsigned long)nr << PAGE_SHIFT),
                             PAGE_HYPERVISOR_RW);
    BUG_ON(rc);

    return (void *)va;
}

static void flush_tlb_ipi(void *unused)
{
    flush_tlb_local();
}

void arch_livepatch_flush_tlb_all(void)
{
    on_selected_cpus(&cpu_online_map, flush_tlb_ipi, NULL, true);
}

void arch_livepatch_free_pages(void *p, unsigned int nr)
{
    unsigned long va = (unsigned long)p;
    unsigned int start = (va - PLAT_LIVEPATCH_BASE) >> PAGE_SHIFT, i;
    int rc;

    BUG_ON(va < PLAT_LIVEPATCH_BASE || (va & ~PAGE_MASK) ||
           start + nr > LP_NR_PAGES);

    rc = modify_xen_mappings(va, va + ((unsigned long)nr << PAGE_SHIFT), 0);
    BUG_ON(rc);
    /* Also the barrier after which nothing can still be using them. */
    arch_livepatch_flush_tlb_all();

    spin_lock(&lp_page_lock);
    for ( i = start; i < start + nr; i++ )
    {
        BUG_ON(page_free(i));
        clear_bit(i, lp_page_map);
    }
    xen_counters.lp_pages -= nr;
    spin_unlock(&lp_page_lock);
}

int arch_livepatch_secure(const void *va, unsigned int pages,
                          enum va_type type)
{
    unsigned long start = (unsigned long)va, flags;

    switch ( type )
    {
    case LIVEPATCH_VA_RX: flags = PAGE_HYPERVISOR_RX; break;
    case LIVEPATCH_VA_RW: flags = PAGE_HYPERVISOR_RW; break;
    case LIVEPATCH_VA_RO: flags = PAGE_HYPERVISOR_RO; break;
    default: return -EINVAL;
    }

    return modify_xen_mappings(start,
                               start + ((unsigned long)pages << PAGE_SHIFT),
                               flags);
}

/* ---- Trampolines ----------------------------------------------------- */

static const uint8_t endbr64[ENDBR64_LEN] = { 0xf3, 0x0f, 0x1e, 0xfa };
static const uint8_t endbr64_poison[ENDBR64_LEN] = { 0x66, 0x0f, 0x1f, 0x01 };

/*
 * memcpy()/memcmp() of the patch window: byte by byte, unpatchable (the
 * string functions are ordinary, patchable code).
 */
static __unpatchable void text_copy(void *dst, const void *src,
                                    unsigned int len)
{
    volatile uint8_t *d = dst;
    const uint8_t *s = src;

    while ( len-- )
        *d++ = *s++;
}

__unpatchable bool arch_livepatch_text_equal(const void *a, const void *b,
                                             unsigned int len)
{
    const volatile uint8_t *p = a;
    const uint8_t *q = b;

    while ( len-- )
        if ( *p++ != *q++ )
            return false;

    return true;
}

static __unpatchable bool is_endbr64(const void *p)
{
    return arch_livepatch_text_equal(p, endbr64, ENDBR64_LEN) ||
           arch_livepatch_text_equal(p, endbr64_poison, ENDBR64_LEN);
}

/* The recommended multi-byte NOPs (Intel SDM, NOP instruction). */
static const uint8_t nops[][9] = {
    { 0x90 },
    { 0x66, 0x90 },
    { 0x0f, 0x1f, 0x00 },
    { 0x0f, 0x1f, 0x40, 0x00 },
    { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
    { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
    { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
    { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
    { 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

static __unpatchable void add_nops(uint8_t *buf, unsigned int len)
{
    while ( len )
    {
        unsigned int n = min_t(unsigned int, len, ARRAY_SIZE(nops));

        text_copy(buf, nops[n - 1], n);
        buf += n;
        len -= n;
    }
}

__unpatchable unsigned int arch_livepatch_patch_offset(const struct livepatch_func *func)
{
    return is_endbr64((const void *)func->old_addr) ? ENDBR64_LEN : 0;
}

extern const char __unpatchable_start[], __unpatchable_end[];

int arch_livepatch_verify_func(const char *name,
                               const struct livepatch_func *func)
{
    const char *fname = (const char *)func->name;
    unsigned long start = (unsigned long)__unpatchable_start;
    unsigned long end = (unsigned long)__unpatchable_end;

    /*
     * Unlike Xen, refuse to touch code that runs while patches are
     * written: the set is closed under direct calls (tools/unpatchable.c
     * checks it at build time), so this covers what it calls too.
     */
    if ( func->old_addr < end && func->old_addr + func->old_size > start )
    {
        printk(LIVEPATCH "%s: %s runs while patches are written and cannot "
               "be patched (.text.unpatchable: the rendezvous, the patch "
               "writers, the idle loop, NMI/MCE entry and what they call)\n",
               name, fname);
        return -EINVAL;
    }

    if ( !func->new_addr )
    {
        /* NOP: new_size bytes from the start of the function. */
        if ( func->new_size > LIVEPATCH_OPAQUE_SIZE )
        {
            printk(LIVEPATCH "%s: NOP patch of %s is %u bytes, at most %u\n",
                   name, fname, func->new_size, LIVEPATCH_OPAQUE_SIZE);
            return -EOPNOTSUPP;
        }
        if ( func->old_size < func->new_size )
        {
            printk(LIVEPATCH "%s: NOP patch of %s is %u bytes, longer than "
                   "the function (%u)\n", name, fname, func->new_size,
                   func->old_size);
            return -EINVAL;
        }
    }
    else
    {
        unsigned int need = ARCH_PATCH_INSN_SIZE +
                            arch_livepatch_patch_offset(func);

        if ( func->old_size < need )
        {
            printk(LIVEPATCH "%s: old_size %u of %s is too small (minimum %u)\n",
                   name, func->old_size, fname, need);
            return -EINVAL;
        }
    }

    return 0;
}

__unpatchable unsigned int livepatch_insn_len(const struct livepatch_func *func,
                                const struct livepatch_fstate *state)
{
    if ( func->new_addr )
        return ARCH_PATCH_INSN_SIZE;

    return func->new_size > state->patch_offset
           ? func->new_size - state->patch_offset : 0;
}

/*
 * Both run on the master CPU with every CPU quiesced and CR0.WP clear.
 * noinline: returning from a call is enough for this CPU to fetch the
 * new bytes; the other CPUs serialise in arch_livepatch_post_action().
 */
noinline __unpatchable void arch_livepatch_apply(const struct livepatch_func *func,
                                   struct livepatch_fstate *state)
{
    uint8_t insn[LIVEPATCH_OPAQUE_SIZE];
    uint8_t *old_ptr;
    unsigned int len;

    state->patch_offset = arch_livepatch_patch_offset(func);
    old_ptr = (uint8_t *)func->old_addr + state->patch_offset;

    len = livepatch_insn_len(func, state);
    if ( !len )
        return;

    /* The original bytes stay in hypervisor memory, never the payload's. */
    text_copy(state->insn_buffer, old_ptr, len);

    if ( func->new_addr )
    {
        int32_t rel = func->new_addr -
                      ((unsigned long)old_ptr + ARCH_PATCH_INSN_SIZE);

        insn[0] = 0xe9;                         /* jmp rel32 */
        text_copy(&insn[1], &rel, sizeof(rel));
    }
    else
        add_nops(insn, len);

    text_copy(old_ptr, insn, len);
}

noinline __unpatchable void arch_livepatch_revert(const struct livepatch_func *func,
                                    struct livepatch_fstate *state)
{
    unsigned int len = livepatch_insn_len(func, state);

    if ( len )
        text_copy((uint8_t *)func->old_addr + state->patch_offset,
                  state->insn_buffer, len);
}

/*
 * Text (the hypervisor's RX pages and the payloads') becomes writable
 * for this CPU only: the other CPUs spin with interrupts off and never
 * write.
 */
__unpatchable void arch_livepatch_quiesce(void)
{
    write_cr0(read_cr0() & ~X86_CR0_WP);
}

__unpatchable void arch_livepatch_revive(void)
{
    write_cr0(read_cr0() | X86_CR0_WP);
}

/* Every CPU, before it runs anything that may have been rewritten. */
__unpatchable void arch_livepatch_post_action(void)
{
    unsigned int eax = 0, ebx, ecx = 0, edx;

    asm volatile ( "cpuid"
                   : "+a" (eax), "=b" (ebx), "+c" (ecx), "=d" (edx)
                   : : "memory" );
}

/* ---- Alternatives ---------------------------------------------------- */

static unsigned long alt_orig(const struct alt_instr *a)
{
    return (unsigned long)&a->orig_offset + a->orig_offset;
}

static unsigned long alt_repl(const struct alt_instr *a)
{
    return (unsigned long)&a->repl_offset + a->repl_offset;
}

int arch_livepatch_apply_alternatives(const char *name,
                                      void *start, void *end,
                                      unsigned long text_start,
                                      unsigned long text_end,
                                      unsigned long repl_start,
                                      unsigned long repl_end)
{
    struct alt_instr *a;
    unsigned int i;

    /* Check every entry first. */
    for ( a = start, i = 0; a < (struct alt_instr *)end; a++, i++ )
    {
        unsigned long orig = alt_orig(a), repl = alt_repl(a);

        if ( orig < text_start || orig > text_end ||
             a->orig_len > text_end - orig )
        {
            printk(LIVEPATCH "%s: alternative %u: site %#lx+%u is outside "
                   "the payload's text\n", name, i, orig, a->orig_len);
            return -EINVAL;
        }

        if ( repl < repl_start || repl > repl_end ||
             a->repl_len > repl_end - repl )
        {
            printk(LIVEPATCH "%s: alternative %u: replacement %#lx+%u is "
                   "outside .altinstr_replacement\n", name, i, repl,
                   a->repl_len);
            return -EINVAL;
        }

        if ( a->repl_len > a->orig_len || a->pad_len > a->orig_len )
        {
            printk(LIVEPATCH "%s: alternative %u: %u-byte replacement for a "
                   "%u-byte site\n", name, i, a->repl_len, a->orig_len);
            return -EINVAL;
        }

        if ( a->cpuid >= X86_NR_FEATURES )
        {
            printk(LIVEPATCH "%s: alternative %u: unknown feature %u\n",
                   name, i, a->cpuid);
            return -EINVAL;
        }
    }

    for ( a = start, i = 0; a < (struct alt_instr *)end; a++, i++ )
    {
        uint8_t buf[255];
        unsigned long orig = alt_orig(a), repl = alt_repl(a);

        if ( !boot_cpu_has(a->cpuid) )
            continue;

        memcpy(buf, (const void *)repl, a->repl_len);

        /* A leading call/jmp rel32 must still reach its target. */
        if ( a->repl_len >= 5 && (buf[0] == 0xe8 || buf[0] == 0xe9) )
        {
            int32_t rel;
            int64_t moved;

            memcpy(&rel, &buf[1], sizeof(rel));
            moved = (int64_t)rel + (int64_t)(repl - orig);
            if ( moved != (int32_t)moved )
            {
                printk(LIVEPATCH "%s: alternative %u: branch out of reach\n",
                       name, i);
                return -EINVAL;
            }
            rel = moved;
            memcpy(&buf[1], &rel, sizeof(rel));
        }

        add_nops(buf + a->repl_len, a->orig_len - a->repl_len);
        memcpy((void *)orig, buf, a->orig_len);
    }

    return 0;
}
