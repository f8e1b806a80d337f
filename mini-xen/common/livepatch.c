/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch.c
 *
 * Live patching: XEN_SYSCTL_livepatch_op (upload, get, list, action),
 * the payload loader, the state machine, the rendezvous of every CPU on
 * its return-to-guest path or in its idle loop, and the 'x' debug key.
 *
 * A payload is loaded into one allocation of the live-patch area laid
 * out [text][rw][ro]; its sections are copied and relocated, and its
 * pages are then made RX, RW+NX and RO+NX.  Its virtual region (bug
 * frames, exception table, symbols) is registered from load to unload.
 *
 * An action (apply, revert, replace) is checked in hypercall context and
 * scheduled; the CPU that scheduled it is the first to pass
 * check_for_livepatch_work() and becomes the master.  It kicks every
 * other online CPU with an event-check IPI and waits until all of them
 * have arrived (they spin, interrupts on; the master looks on each of
 * its own exits), lets them disable interrupts and waits again, both
 * against one deadline in virtual time.  Then, with every other CPU
 * spinning with interrupts off, it rewrites the code and releases them;
 * each CPU serialises before it returns.  On a timeout nothing has been
 * written and the action's rc is -EBUSY.
 *
 * Everything the rendezvous runs is in .text.unpatchable and calls only
 * code in it (tools/unpatchable.c checks the image): its console lines
 * go through livepatch_log(), and the end of the action (those lines,
 * the metadata, the post hook, "finished", the payload states) is
 * livepatch_action_tail(), run by LIVEPATCH_SOFTIRQ on the master right
 * after the release.  NMI/#MC meanwhile: livepatch_nmi.c.
 *
 * Locking: payload_lock (taken by the sysctl, which the sysctl lock
 * already serialises, and tried by the debug key) protects the payload
 * list and the decisions; an action in flight is owned by the CPUs of the
 * rendezvous until livepatch_work.pending drops, and the sysctl refuses
 * any other action meanwhile.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/guest_access.h>
#include <xen/keyhandler.h>
#include <xen/livepatch.h>
#include <xen/livepatch_elf.h>
#include <xen/livepatch_payload.h>
#include <xen/livepatch_stack.h>
#include <xen/percpu.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/softirq.h>
#include <xen/spinlock.h>
#include <xen/symbols.h>
#include <xen/time.h>
#include <xen/version.h>
#include <xen/virtual_region.h>
#include <xen/xmalloc.h>
#include <asm/alternative.h>
#include <asm/bitops.h>
#include <asm/livepatch.h>
#include <asm/system.h>
#include <asm/uaccess.h>
#include <public/counters.h>
#include <public/livepatch.h>
#include <public/sysctl.h>

#define DEFAULT_TIMEOUT         MILLISECS(30)
#define PFN_UP(x)               (((x) + PAGE_SIZE - 1) >> PAGE_SHIFT)

static DEFINE_SPINLOCK(payload_lock);
static LIST_HEAD(payload_list);
/* Applied payloads, oldest first: the last one is the top of the stack. */
static LIST_HEAD(applied_list);
static unsigned int payload_cnt;
static unsigned int payload_version = 1;

/*
 * The action in flight.  gen numbers actions; the two arrival counters
 * hold (gen << 32 | count) and only count CPUs of the current action, so
 * that a CPU delayed across the end of one action cannot be counted in
 * the next.
 */
struct livepatch_work {
    volatile bool pending;      /* scheduled, until the master is done */
    volatile bool do_work;      /* CPUs must rendezvous; 0 releases them */
    volatile bool ready;        /* every CPU arrived: disable interrupts */
    volatile uint32_t gen;
    volatile unsigned int master; /* its CPU, or NR_CPUS before it came */
    uint32_t cmd;               /* LIVEPATCH_ACTION_* */
    uint32_t cpus;              /* other online CPUs */
    s_time_t timeout;
    s_time_t deadline;          /* both phases, master's NOW() */
    struct payload *data;
    bool action_done;           /* the window ran: post hook due */
    const char *broken;         /* an action hook left this half done */
    const struct payload *broken_payload;
    int broken_rc;
};

static struct livepatch_work livepatch_work;
static uint64_t lp_arrived;     /* CPU phase: arrivals, master included */
static uint64_t lp_irq_off;     /* IRQ phase: slaves with interrupts off */

static DEFINE_PER_CPU(bool, work_to_do);

/*
 * What the testbed's detectors read (public/livepatch.h): alone in its
 * page, so that watching it costs nothing elsewhere.
 */
struct livepatch_regions livepatch_regions
    __section(".data.page_aligned.livepatch_regions") __aligned(PAGE_SIZE);
static unsigned int region_next;

/* Also called by the master at the end of an action: unpatchable. */
static __unpatchable void publish_region(const struct payload *data,
                                         uint32_t state)
{
    struct livepatch_region *r = &livepatch_regions.slot[data->region_slot];
    unsigned int i;

    /* The public symbol layout is the loader's own. */
    BUILD_BUG_ON(sizeof(struct livepatch_symbol) !=
                 sizeof(struct livepatch_region_symbol));
    BUILD_BUG_ON(offsetof(struct livepatch_symbol, name) !=
                 offsetof(struct livepatch_region_symbol, name));
    BUILD_BUG_ON(offsetof(struct livepatch_symbol, value) !=
                 offsetof(struct livepatch_region_symbol, value));
    BUILD_BUG_ON(offsetof(struct livepatch_symbol, size) !=
                 offsetof(struct livepatch_region_symbol, size));
    BUILD_BUG_ON(offsetof(struct livepatch_symbol, new_symbol) !=
                 offsetof(struct livepatch_region_symbol, flags));

    /* A FREED slot keeps the range it had: the pages are gone. */
    if ( state != LIVEPATCH_REGION_FREED )
    {
        r->text_start = (unsigned long)data->text_addr;
        r->text_end = r->text_start + data->text_size;
        r->mem_start = r->text_start;
        r->mem_end = r->mem_start + ((unsigned long)data->pages << PAGE_SHIFT);
        r->symtab = (unsigned long)data->symtab;
        r->nsyms = data->nsyms;
    }
    else
    {
        r->symtab = 0;
        r->nsyms = 0;
    }
    for ( i = 0; i + 1 < sizeof(r->name) && data->name[i]; i++ )
        r->name[i] = data->name[i];
    r->name[i] = '\0';
    smp_wmb();
    ACCESS_ONCE(r->state) = state;
    smp_wmb();
    livepatch_regions.gen++;
}

static __unpatchable void publish_state(const struct payload *data)
{
    publish_region(data, data->state == LIVEPATCH_STATE_APPLIED
                         ? LIVEPATCH_REGION_APPLIED : LIVEPATCH_REGION_LOADED);
}

/* A payload's hook runs: the payload is BUSY while it does. */
static int call_pre_hook(struct payload *data, livepatch_precall_t *hook)
{
    int rc;

    publish_region(data, LIVEPATCH_REGION_BUSY);
    rc = hook(data);
    if ( rc )
        publish_state(data);

    return rc;
}

static const char *state2str(uint32_t state)
{
    switch ( state )
    {
    case LIVEPATCH_STATE_CHECKED: return "CHECKED";
    case LIVEPATCH_STATE_APPLIED: return "APPLIED";
    }

    return "unknown";
}

static const char *action2str(uint32_t cmd)
{
    switch ( cmd )
    {
    case LIVEPATCH_ACTION_UNLOAD:  return "UNLOAD";
    case LIVEPATCH_ACTION_REVERT:  return "REVERT";
    case LIVEPATCH_ACTION_APPLY:   return "APPLY";
    case LIVEPATCH_ACTION_REPLACE: return "REPLACE";
    }

    return "unknown";
}

/* Lower-case hex of a build-id, NUL-terminated, truncated to fit. */
static const char *hex_id(char *buf, size_t size, const uint8_t *p,
                          unsigned int len)
{
    unsigned int i;

    buf[0] = '\0';
    for ( i = 0; i < len && 2 * i + 2 < size; i++ )
        snprintf(&buf[2 * i], 3, "%02x", p[i]);

    return buf;
}

static struct payload *find_payload(const char *name)
{
    struct payload *data;

    list_for_each_entry ( data, &payload_list, list )
        if ( !strcmp(data->name, name) )
            return data;

    return NULL;
}

/*
 * Exported symbols of the loaded payloads; payload_lock held.  Several
 * payloads may export a name (a cumulative payload defines again what
 * the payloads it replaces added): an applied payload's symbol wins,
 * otherwise the one loaded first.
 */
static const struct livepatch_symbol *find_export(const char *name,
                                                  const struct payload **owner)
{
    const struct payload *data;
    const struct livepatch_symbol *first = NULL;
    unsigned int i;

    list_for_each_entry ( data, &payload_list, list )
        for ( i = 0; i < data->nsyms; i++ )
        {
            if ( !data->symtab[i].new_symbol ||
                 strcmp(data->symtab[i].name, name) )
                continue;
            if ( data->state == LIVEPATCH_STATE_APPLIED || !first )
            {
                first = &data->symtab[i];
                *owner = data;
            }
            if ( data->state == LIVEPATCH_STATE_APPLIED )
                return first;
        }

    return first;
}

/* A symbol the payload being loaded links against: it holds a reference. */
unsigned long livepatch_symbols_lookup_by_name(const char *name)
{
    const struct payload *owner = NULL;
    const struct livepatch_symbol *sym = find_export(name, &owner);

    if ( !sym || !livepatch_ref_used(owner, sym->name) )
        return 0;

    return sym->value;
}

/*
 * The symbol of a payload's text containing addr, for call traces.
 * Runs in trap context with interrupts off, without payload_lock: the
 * region is only unregistered (then waited for) before the table is
 * freed.
 */
static const char *livepatch_symbols_lookup(const struct virtual_region *r,
                                            unsigned long addr,
                                            unsigned long *size,
                                            unsigned long *offset)
{
    const struct payload *data = container_of(r, struct payload, region);
    const struct livepatch_symbol *best = NULL;
    unsigned long end = r->text_end;
    unsigned int i;

    for ( i = 0; i < data->nsyms; i++ )
    {
        const struct livepatch_symbol *s = &data->symtab[i];

        if ( s->value < r->text_start || s->value >= r->text_end )
            continue;
        if ( s->value > addr )
        {
            end = min(end, s->value);
            continue;
        }
        if ( !best || s->value > best->value ||
             (s->value == best->value && s->size > best->size) )
            best = s;
    }

    if ( !best )
        return NULL;

    if ( size )
        *size = best->size ?: end - best->value;
    if ( offset )
        *offset = addr - best->value;

    return best->name;
}

/* ---- Loading --------------------------------------------------------- */

/* A string inside the payload's own memory. */
static bool payload_string_ok(const struct payload *payload, uint64_t p)
{
    unsigned long start = (unsigned long)payload->text_addr;
    unsigned long end = start + ((unsigned long)payload->pages << PAGE_SHIFT);

    if ( !payload->pages || p < start || p >= end )
        return false;

    return strnlen((const char *)p, end - p) < end - p;
}

static bool payload_text_ok(const struct payload *payload, unsigned long p)
{
    unsigned long start = (unsigned long)payload->text_addr;

    return p >= start && p < start + payload->text_size;
}

/*
 * Not in Xen: a replacement or a hook is entered at the start of one of
 * the payload's functions (an STT_FUNC symbol of an executable section),
 * never in the middle of its code.
 */
static bool payload_func_start(const struct livepatch_elf *elf,
                               unsigned long p)
{
    unsigned int i;

    for ( i = 1; i < elf->nsym; i++ )
    {
        const Elf64_Sym *s = elf->sym[i].sym;

        if ( !s || elf->sym[i].ignored || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
             s->st_shndx == SHN_UNDEF || s->st_shndx >= elf->hdr->e_shnum ||
             !(elf->sec[s->st_shndx].sec->sh_flags & SHF_EXECINSTR) )
            continue;
        if ( s->st_value == p )
            return true;
    }

    return false;
}

static int copy_build_id(struct livepatch_build_id *id, const uint8_t *p,
                         unsigned int len)
{
    uint8_t *buf = xmalloc_bytes(len);

    if ( !buf )
        return -ENOMEM;

    memcpy(buf, p, len);
    id->p = buf;
    id->len = len;

    return 0;
}

/* A GNU build-id note filling the section; *p points into the raw copy. */
static int parse_build_id(const struct livepatch_elf *elf,
                          const struct livepatch_elf_sec *sec,
                          const uint8_t **p, unsigned int *len)
{
    const Elf64_Note *n = sec->data;
    uint64_t size = sec->sec->sh_size, desc;

    if ( !n || size <= sizeof(*n) )
    {
        elf_err(elf, "%s is too small for a note", sec->name);
        return -EINVAL;
    }

    desc = sizeof(*n) + ROUNDUP((uint64_t)n->n_namesz, 4);
    if ( n->n_namesz < 4 || desc > size || n->n_descsz > size - desc )
    {
        elf_err(elf, "%s: note sizes %u/%u do not fit %lu bytes",
                sec->name, n->n_namesz, n->n_descsz, (unsigned long)size);
        return -EINVAL;
    }

    if ( memcmp(n + 1, "GNU", 4) )
    {
        elf_err(elf, "%s: note is not a GNU note", sec->name);
        return -EINVAL;
    }

    if ( n->n_type != NT_GNU_BUILD_ID )
    {
        elf_err(elf, "%s: note type %u is not a build-id", sec->name,
                n->n_type);
        return -ENODATA;
    }

    if ( !n->n_descsz )
    {
        elf_err(elf, "%s: build-id is empty", sec->name);
        return -EINVAL;
    }

    *p = (const uint8_t *)n + desc;
    *len = n->n_descsz;

    return 0;
}

/* Done before anything else is parsed: the layouts may differ per build. */
static int check_xen_buildid(struct payload *payload,
                             const struct livepatch_elf *elf)
{
    const struct livepatch_elf_sec *sec;
    const void *xen_id;
    const uint8_t *id;
    unsigned int len, xen_len;
    int rc;

    sec = livepatch_elf_sec_by_name(elf, ".livepatch.xen_depends");
    if ( !sec )
    {
        elf_err(elf, "section .livepatch.xen_depends is missing");
        return -EINVAL;
    }

    rc = parse_build_id(elf, sec, &id, &len);
    if ( rc )
        return rc;

    if ( xen_build_id(&xen_id, &xen_len) )
    {
        elf_err(elf, "the hypervisor has no build-id");
        return -ENODATA;
    }

    if ( len != xen_len || memcmp(id, xen_id, len) )
    {
        elf_err(elf, "check against hypervisor build-id failed");
        return -EINVAL;
    }

    rc = copy_build_id(&payload->xen_dep, id, len);
    if ( rc )
        elf_err(elf, "out of memory");

    return rc;
}

enum { REGION_TEXT, REGION_RW, REGION_RO, NR_REGIONS };

static unsigned int region_of(const Elf64_Shdr *s)
{
    if ( s->sh_flags & SHF_EXECINSTR )
        return REGION_TEXT;
    if ( s->sh_flags & SHF_WRITE )
        return REGION_RW;
    return REGION_RO;
}

/*
 * One allocation, [text][rw][ro], each region page aligned; the sections
 * of a region packed in index order.
 */
static int move_payload(struct payload *payload, struct livepatch_elf *elf)
{
    unsigned int nsec = elf->hdr->e_shnum, i;
    size_t size[NR_REGIONS] = { 0 }, region_off[NR_REGIONS];
    unsigned long *offset;
    size_t total;
    char *buf;
    int rc = 0;

    offset = xzalloc_array(unsigned long, nsec);
    if ( !offset )
    {
        elf_err(elf, "out of memory");
        return -ENOMEM;
    }

    for ( i = 1; i < nsec; i++ )
    {
        const Elf64_Shdr *s = elf->sec[i].sec;
        unsigned long align = s->sh_addralign ?: 1;
        unsigned int r;

        if ( !(s->sh_flags & SHF_ALLOC) )
            continue;

        if ( (s->sh_flags & SHF_EXECINSTR) && (s->sh_flags & SHF_WRITE) )
        {
            elf_err(elf, "section %s is writable and executable",
                    elf->sec[i].name);
            rc = -EOPNOTSUPP;
            goto out;
        }

        if ( align > PAGE_SIZE )
        {
            elf_err(elf, "section %s needs %lu-byte alignment",
                    elf->sec[i].name, align);
            rc = -EOPNOTSUPP;
            goto out;
        }

        if ( s->sh_size > PLAT_LIVEPATCH_SIZE )
        {
            elf_err(elf, "section %s is too large (%lu bytes)",
                    elf->sec[i].name, s->sh_size);
            rc = -ENOMEM;
            goto out;
        }

        r = region_of(s);
        offset[i] = ROUNDUP(size[r], align);
        size[r] = offset[i] + s->sh_size;
        if ( size[r] > PLAT_LIVEPATCH_SIZE )
        {
            elf_err(elf, "sections are too large for the live-patch area");
            rc = -ENOMEM;
            goto out;
        }
    }

    region_off[REGION_TEXT] = 0;
    region_off[REGION_RW] = ROUNDUP(size[REGION_TEXT], PAGE_SIZE);
    region_off[REGION_RO] = region_off[REGION_RW] +
                            ROUNDUP(size[REGION_RW], PAGE_SIZE);
    total = region_off[REGION_RO] + ROUNDUP(size[REGION_RO], PAGE_SIZE);

    payload->pages = total >> PAGE_SHIFT;
    if ( !payload->pages )
        goto out;               /* nothing to load: refused later */

    buf = arch_livepatch_alloc_pages(payload->pages);
    if ( !buf )
    {
        elf_err(elf, "no room for %u pages in the live-patch area",
                payload->pages);
        payload->pages = 0;
        rc = -ENOMEM;
        goto out;
    }
    memset(buf, 0, total);

    payload->text_addr = buf + region_off[REGION_TEXT];
    payload->text_size = size[REGION_TEXT];
    payload->rw_addr = buf + region_off[REGION_RW];
    payload->rw_size = size[REGION_RW];
    payload->ro_addr = buf + region_off[REGION_RO];
    payload->ro_size = size[REGION_RO];

    for ( i = 1; i < nsec; i++ )
    {
        struct livepatch_elf_sec *sec = &elf->sec[i];

        if ( !livepatch_elf_secalloc(sec) )
            continue;

        sec->load_addr = buf + region_off[region_of(sec->sec)] + offset[i];
        if ( sec->sec->sh_type != SHT_NOBITS && sec->sec->sh_size )
            memcpy(sec->load_addr, sec->data, sec->sec->sh_size);
    }

 out:
    xfree(offset);
    return rc;
}

static int check_special_sections(const struct livepatch_elf *elf)
{
    static const char *const names[] = {
        ".note.gnu.build-id",
        ".livepatch.depends",
        ".livepatch.xen_depends",
    };
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(names); i++ )
    {
        const struct livepatch_elf_sec *sec =
            livepatch_elf_sec_by_name(elf, names[i]);

        if ( !sec )
        {
            elf_err(elf, "section %s is missing", names[i]);
            return -EINVAL;
        }
        if ( !sec->sec->sh_size )
        {
            elf_err(elf, "section %s is empty", names[i]);
            return -EINVAL;
        }
    }

    return 0;
}

static const char *const patching_sections[] = {
    ".livepatch.funcs",
    LIVEPATCH_HOOKS_LOAD,
    LIVEPATCH_HOOKS_UNLOAD,
    LIVEPATCH_HOOKS_PREAPPLY,
    LIVEPATCH_HOOKS_APPLY,
    LIVEPATCH_HOOKS_POSTAPPLY,
    LIVEPATCH_HOOKS_PREREVERT,
    LIVEPATCH_HOOKS_REVERT,
    LIVEPATCH_HOOKS_POSTREVERT,
};

/*
 * Sections the loader finds by name.  Xen takes the first of each name
 * (its duplicate check is dead code, 3a28da8f4d); here a second section
 * of one of these names is -EINVAL.
 */
static const char *const special_prefixes[] = {
    ".livepatch.", ".note.gnu.build-id", ".bug_frames.", ".altinstructions",
    ".altinstr_replacement", ".ex_table", ".modinfo",
};

static bool is_special(const char *name)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(special_prefixes); i++ )
        if ( !strncmp(name, special_prefixes[i],
                      strlen(special_prefixes[i])) )
            return true;

    return false;
}

static int check_duplicate_sections(const struct livepatch_elf *elf)
{
    unsigned int i, j;

    for ( i = 1; i < elf->hdr->e_shnum; i++ )
    {
        if ( !is_special(elf->sec[i].name) )
            continue;
        for ( j = 1; j < i; j++ )
            if ( !strcmp(elf->sec[i].name, elf->sec[j].name) )
            {
                elf_err(elf, "sections [%u] and [%u] are both %s", j, i,
                        elf->sec[i].name);
                return -EINVAL;
            }
    }

    return 0;
}

static int check_patching_sections(const struct livepatch_elf *elf)
{
    unsigned int i, found = 0;

    for ( i = 0; i < ARRAY_SIZE(patching_sections); i++ )
    {
        const struct livepatch_elf_sec *sec =
            livepatch_elf_sec_by_name(elf, patching_sections[i]);

        if ( !sec )
            continue;

        if ( !sec->sec->sh_size )
        {
            elf_err(elf, "section %s is empty", patching_sections[i]);
            return -EINVAL;
        }

        if ( !livepatch_elf_secalloc(sec) )
        {
            elf_err(elf, "section %s is not allocated", patching_sections[i]);
            return -EINVAL;
        }

        found++;
    }

    if ( !found )
    {
        elf_err(elf, "nothing to patch");
        return -EINVAL;
    }

    return 0;
}

static int resolve_old_address(struct livepatch_func *f,
                               const struct livepatch_elf *elf)
{
    const char *fname = (const char *)f->name;

    if ( f->old_addr )
        return 0;

    f->old_addr = symbols_lookup_by_name(fname);
    if ( !f->old_addr )
        f->old_addr = livepatch_symbols_lookup_by_name(fname);
    if ( !f->old_addr )
    {
        elf_err(elf, "could not resolve old address of %s", fname);
        return -ENOENT;
    }

    return 0;
}

/*
 * Only whole functions are patched: old_addr must be where a symbol of
 * the hypervisor or of a loaded payload starts, and old_size must not
 * run past its end.  -EINVAL otherwise.
 */
static int check_func_start(const struct livepatch_elf *elf,
                            const struct livepatch_func *f)
{
    const char *fname = (const char *)f->name;
    unsigned long size = 0, offset = 0;
    const char *sym;

    sym = symbols_lookup(f->old_addr, &size, &offset);
    if ( !sym || offset )
    {
        elf_err(elf, "%s: %#lx is not the start of a function (%s+%#lx)",
                fname, (unsigned long)f->old_addr, sym ?: "?", offset);
        return -EINVAL;
    }

    if ( size && f->old_size > size )
    {
        elf_err(elf, "%s: old_size %u is larger than %s (%lu bytes)",
                fname, f->old_size, sym, size);
        return -EINVAL;
    }

    return 0;
}

/* |to - from| < ARCH_LIVEPATCH_RANGE or to - from == -RANGE, without wrapping. */
static bool in_jump_range(unsigned long from, unsigned long to)
{
    if ( to >= from )
        return to - from < ARCH_LIVEPATCH_RANGE;

    return from - to <= ARCH_LIVEPATCH_RANGE;
}

/*
 * A replacement function lies in the payload's own text (as the hooks
 * must), so that the jump never leaves code this payload brings and
 * frees; new_size, when given, must fit there too.  -EINVAL, or
 * -EOVERFLOW (Xen's) when the jump cannot reach it.
 */
static int check_func_new(const struct payload *payload,
                          const struct livepatch_elf *elf,
                          const struct livepatch_func *f)
{
    const char *fname = (const char *)f->name;
    unsigned long text_end = (unsigned long)payload->text_addr +
                             payload->text_size;
    unsigned long from;

    if ( !f->new_addr )
        return 0;

    if ( !payload_text_ok(payload, f->new_addr) ||
         f->new_size > text_end - f->new_addr )
    {
        elf_err(elf, "%s: replacement %#lx+%u is not in the payload's text",
                fname, (unsigned long)f->new_addr, f->new_size);
        return -EINVAL;
    }

    if ( !payload_func_start(elf, f->new_addr) )
    {
        elf_err(elf, "%s: replacement %#lx is not the start of a function of "
                "the payload", fname, (unsigned long)f->new_addr);
        return -EINVAL;
    }

    from = f->old_addr + ARCH_PATCH_INSN_SIZE + arch_livepatch_patch_offset(f);
    if ( !in_jump_range(from, f->new_addr) )
    {
        elf_err(elf, "%s: replacement %#lx is out of jump range",
                fname, (unsigned long)f->new_addr);
        return -EOVERFLOW;
    }

    return 0;
}

static bool ranges_overlap(const struct livepatch_func *a,
                           const struct livepatch_func *b)
{
    return a->old_addr < b->old_addr + b->old_size &&
           b->old_addr < a->old_addr + a->old_size;
}

/*
 * Entry i against the entries before it and against every loaded
 * payload.  Within one payload a function is patched once: a second
 * entry for the same or an overlapping range is -EEXIST.  Across
 * payloads, stacking on the same function (same old_addr) is what
 * .livepatch.depends and LIFO revert are for; a range that overlaps
 * another payload's without starting at the same address would tear
 * that payload's patch: -EINVAL.  payload_lock held.
 */
static int check_func_overlap(const struct payload *payload,
                              const struct livepatch_elf *elf, unsigned int i)
{
    const struct livepatch_func *f = &payload->funcs[i];
    const char *fname = (const char *)f->name;
    const struct payload *other;
    unsigned int j;

    for ( j = 0; j < i; j++ )
        if ( ranges_overlap(f, &payload->funcs[j]) )
        {
            elf_err(elf, "%s: %#lx+%u is already patched by entry %u (%s)",
                    fname, (unsigned long)f->old_addr, f->old_size, j,
                    (const char *)payload->funcs[j].name);
            return -EEXIST;
        }

    list_for_each_entry ( other, &payload_list, list )
        for ( j = 0; j < other->nfuncs; j++ )
        {
            const struct livepatch_func *g = &other->funcs[j];

            if ( g->old_addr != f->old_addr && ranges_overlap(f, g) )
            {
                elf_err(elf, "%s: %#lx+%u overlaps %s of payload %s",
                        fname, (unsigned long)f->old_addr, f->old_size,
                        (const char *)g->name, other->name);
                return -EINVAL;
            }
        }

    return 0;
}

static int prepare_funcs(struct payload *payload,
                         const struct livepatch_elf *elf)
{
    const struct livepatch_elf_sec *sec;
    unsigned int i;
    int rc;

    sec = livepatch_elf_sec_by_name(elf, ".livepatch.funcs");
    if ( !sec )
        return 0;

    if ( sec->sec->sh_size % sizeof(struct livepatch_func) )
    {
        elf_err(elf, ".livepatch.funcs is %lu bytes, not a multiple of %zu",
                sec->sec->sh_size, sizeof(struct livepatch_func));
        return -EINVAL;
    }

    payload->funcs = sec->load_addr;
    payload->nfuncs = sec->sec->sh_size / sizeof(struct livepatch_func);
    payload->fstate = xzalloc_array(struct livepatch_fstate, payload->nfuncs);
    if ( !payload->fstate )
    {
        elf_err(elf, "out of memory");
        return -ENOMEM;
    }

    for ( i = 0; i < payload->nfuncs; i++ )
    {
        struct livepatch_func *f = &payload->funcs[i];
        const struct virtual_region *r;
        const char *fname;

        if ( !payload_string_ok(payload, f->name) )
        {
            elf_err(elf, "function %u has no valid name", i);
            return -EINVAL;
        }
        fname = (const char *)f->name;

        if ( f->version != LIVEPATCH_PAYLOAD_VERSION )
        {
            elf_err(elf, "%s: wrong version %u (expected %u)", fname,
                    f->version, LIVEPATCH_PAYLOAD_VERSION);
            return -EOPNOTSUPP;
        }

        if ( !f->old_size )
        {
            elf_err(elf, "%s: old_size is 0", fname);
            return -EINVAL;
        }

        rc = resolve_old_address(f, elf);
        if ( rc )
            return rc;

        /* Only code of the hypervisor or of a loaded payload is patched. */
        r = find_text_region(f->old_addr);
        if ( !r || f->old_size > r->text_end - f->old_addr )
        {
            elf_err(elf, "%s: %#lx+%u is not in the text of the hypervisor "
                    "or of a payload", fname, (unsigned long)f->old_addr,
                    f->old_size);
            return -EINVAL;
        }

        rc = check_func_start(elf, f);
        if ( rc )
            return rc;

        rc = arch_livepatch_verify_func(payload->name, f);
        if ( rc )
            return rc;

        rc = check_func_new(payload, elf, f);
        if ( !rc )
            rc = check_func_overlap(payload, elf, i);
        if ( rc )
            return rc;
    }

    return 0;
}

static int hook_ok(const struct payload *payload,
                   const struct livepatch_elf *elf, const char *sec,
                   unsigned int i, unsigned long fn)
{
    if ( !payload_text_ok(payload, fn) )
    {
        elf_err(elf, "%s[%u] = %#lx is not in the payload's text", sec, i, fn);
        return -EINVAL;
    }

    if ( !payload_func_start(elf, fn) )
    {
        elf_err(elf, "%s[%u] = %#lx is not the start of a function of the "
                "payload", sec, i, fn);
        return -EINVAL;
    }

    return 0;
}

static int prepare_hook_array(const struct payload *payload,
                              const struct livepatch_elf *elf,
                              const char *name, void *const **array,
                              unsigned int *n)
{
    const struct livepatch_elf_sec *sec = livepatch_elf_sec_by_name(elf, name);
    void *const *fns;
    unsigned int i;
    int rc;

    if ( !sec )
        return 0;

    if ( sec->sec->sh_size % sizeof(void *) )
    {
        elf_err(elf, "%s is %lu bytes, not a multiple of %zu", name,
                sec->sec->sh_size, sizeof(void *));
        return -EINVAL;
    }

    fns = sec->load_addr;
    for ( i = 0; i < sec->sec->sh_size / sizeof(void *); i++ )
    {
        rc = hook_ok(payload, elf, name, i, (unsigned long)fns[i]);
        if ( rc )
            return rc;
    }

    *array = fns;
    *n = sec->sec->sh_size / sizeof(void *);

    return 0;
}

static int prepare_hook(const struct payload *payload,
                        const struct livepatch_elf *elf, const char *name,
                        void **fn)
{
    const struct livepatch_elf_sec *sec = livepatch_elf_sec_by_name(elf, name);
    int rc;

    if ( !sec )
        return 0;

    if ( sec->sec->sh_size != sizeof(void *) )
    {
        elf_err(elf, "%s is %lu bytes: it must hold exactly one hook",
                name, sec->sec->sh_size);
        return -EINVAL;
    }

    rc = hook_ok(payload, elf, name, 0, *(unsigned long *)sec->load_addr);
    if ( rc )
        return rc;

    *fn = *(void **)sec->load_addr;

    return 0;
}

static int prepare_hooks(struct payload *payload,
                         const struct livepatch_elf *elf)
{
    struct livepatch_hooks *h = &payload->hooks;
    int rc;

    rc = prepare_hook_array(payload, elf, LIVEPATCH_HOOKS_LOAD,
                            (void *const **)&payload->load_funcs,
                            &payload->n_load_funcs);
    if ( !rc )
        rc = prepare_hook_array(payload, elf, LIVEPATCH_HOOKS_UNLOAD,
                                (void *const **)&payload->unload_funcs,
                                &payload->n_unload_funcs);
    if ( !rc )
        rc = prepare_hook(payload, elf, LIVEPATCH_HOOKS_PREAPPLY,
                          (void **)&h->apply.pre);
    if ( !rc )
        rc = prepare_hook(payload, elf, LIVEPATCH_HOOKS_APPLY,
                          (void **)&h->apply.action);
    if ( !rc )
        rc = prepare_hook(payload, elf, LIVEPATCH_HOOKS_POSTAPPLY,
                          (void **)&h->apply.post);
    if ( !rc )
        rc = prepare_hook(payload, elf, LIVEPATCH_HOOKS_PREREVERT,
                          (void **)&h->revert.pre);
    if ( !rc )
        rc = prepare_hook(payload, elf, LIVEPATCH_HOOKS_REVERT,
                          (void **)&h->revert.action);
    if ( !rc )
        rc = prepare_hook(payload, elf, LIVEPATCH_HOOKS_POSTREVERT,
                          (void **)&h->revert.post);

    return rc;
}

static int prepare_build_ids(struct payload *payload,
                             const struct livepatch_elf *elf)
{
    const struct livepatch_elf_sec *sec;
    const struct payload *other;
    const uint8_t *id;
    unsigned int len;
    int rc;

    sec = livepatch_elf_sec_by_name(elf, ".note.gnu.build-id");
    rc = parse_build_id(elf, sec, &id, &len);
    if ( rc )
        return rc;

    list_for_each_entry ( other, &payload_list, list )
        if ( other->id.len == len && !memcmp(other->id.p, id, len) )
        {
            elf_err(elf, "build-id is the same as payload %s's", other->name);
            return -EEXIST;
        }

    rc = copy_build_id(&payload->id, id, len);
    if ( rc )
        goto nomem;

    sec = livepatch_elf_sec_by_name(elf, ".livepatch.depends");
    rc = parse_build_id(elf, sec, &id, &len);
    if ( rc )
        return rc;

    rc = copy_build_id(&payload->dep, id, len);
    if ( rc )
        goto nomem;

    return 0;

 nomem:
    elf_err(elf, "out of memory");
    return rc;
}

/*
 * Not in Xen: every frame of a payload's .bug_frames.N marks a ud2 in its
 * own text; a run_in_exception_handler() frame points at the start of one
 * of its functions and an ASSERT() message is a string in its memory (the
 * file name is checked when printed).  -EINVAL otherwise.
 */
static int check_bug_frames(const struct payload *payload,
                            const struct livepatch_elf *elf, const char *name,
                            unsigned int type, const struct bug_frame *b,
                            unsigned int n)
{
    unsigned int i;

    for ( i = 0; i < n; i++, b++ )
    {
        const char *msg = bug_msg(b);
        unsigned long ptr = (unsigned long)bug_ptr(b);

        if ( !payload_text_ok(payload, bug_loc(b)) ||
             (type == BUGFRAME_run_fn && !payload_func_start(elf, ptr)) ||
             (msg && !payload_string_ok(payload, (unsigned long)msg)) )
        {
            elf_err(elf, "%s[%u] does not describe code of the payload",
                    name, i);
            return -EINVAL;
        }
    }

    return 0;
}

/* Not in Xen: both ends of every exception-table entry are payload text. */
static int check_ex_table(const struct payload *payload,
                          const struct livepatch_elf *elf,
                          const struct exception_table_entry *s,
                          const struct exception_table_entry *e)
{
    const struct exception_table_entry *p;

    for ( p = s; p < e; p++ )
    {
        unsigned long insn = (unsigned long)&p->insn + p->insn;
        unsigned long fixup = (unsigned long)&p->fixup + p->fixup;

        if ( !payload_text_ok(payload, insn) ||
             !payload_text_ok(payload, fixup) )
        {
            elf_err(elf, ".ex_table[%u] (%#lx -> %#lx) is not in the "
                    "payload's text", (unsigned int)(p - s), insn, fixup);
            return -EINVAL;
        }
    }

    return 0;
}

static int prepare_region(struct payload *payload,
                          const struct livepatch_elf *elf)
{
    struct virtual_region *region = &payload->region;
    const struct livepatch_elf_sec *sec, *repl;
    unsigned int i;
    int rc;

    region->name = payload->name;
    region->text_start = (unsigned long)payload->text_addr;
    region->text_end = region->text_start + payload->text_size;
    region->rodata_start = (unsigned long)payload->ro_addr;
    region->rodata_end = region->rodata_start + payload->ro_size;
    region->symbols_lookup = livepatch_symbols_lookup;

    for ( i = 0; i < BUGFRAME_NR; i++ )
    {
        char name[16];

        snprintf(name, sizeof(name), ".bug_frames.%u", i);
        sec = livepatch_elf_sec_by_name(elf, name);
        if ( !sec )
            continue;

        if ( !livepatch_elf_secalloc(sec) ||
             sec->sec->sh_size % sizeof(struct bug_frame) )
        {
            elf_err(elf, "%s is %lu bytes, not a multiple of %zu, or not "
                    "allocated", name, sec->sec->sh_size,
                    sizeof(struct bug_frame));
            return -EINVAL;
        }

        rc = check_bug_frames(payload, elf, name, i, sec->load_addr,
                              sec->sec->sh_size / sizeof(struct bug_frame));
        if ( rc )
            return rc;

        region->frame[i].bugs = sec->load_addr;
        region->frame[i].n_bugs = sec->sec->sh_size / sizeof(struct bug_frame);
    }

    sec = livepatch_elf_sec_by_name(elf, ".altinstructions");
    if ( sec && sec->sec->sh_size )
    {
        repl = livepatch_elf_sec_by_name(elf, ".altinstr_replacement");

        if ( !livepatch_elf_secalloc(sec) ||
             sec->sec->sh_size % sizeof(struct alt_instr) )
        {
            elf_err(elf, ".altinstructions is %lu bytes, not a multiple of %zu",
                    sec->sec->sh_size, sizeof(struct alt_instr));
            return -EINVAL;
        }

        if ( !payload->text_size || !repl || !livepatch_elf_secalloc(repl) )
        {
            elf_err(elf, ".altinstructions without text or "
                    ".altinstr_replacement");
            return -EINVAL;
        }

        rc = arch_livepatch_apply_alternatives(
            payload->name, sec->load_addr,
            (char *)sec->load_addr + sec->sec->sh_size,
            region->text_start, region->text_end,
            (unsigned long)repl->load_addr,
            (unsigned long)repl->load_addr + repl->sec->sh_size);
        if ( rc )
            return rc;
    }

    sec = livepatch_elf_sec_by_name(elf, ".ex_table");
    if ( sec )
    {
        struct exception_table_entry *s = sec->load_addr;
        struct exception_table_entry *e;

        if ( !livepatch_elf_secalloc(sec) || sec->sec->sh_size % sizeof(*s) )
        {
            elf_err(elf, ".ex_table is %lu bytes, not a multiple of %zu, or "
                    "not allocated", sec->sec->sh_size, sizeof(*s));
            return -EINVAL;
        }

        e = s + sec->sec->sh_size / sizeof(*s);
        rc = check_ex_table(payload, elf, s, e);
        if ( rc )
            return rc;
        sort_exception_table(s, e);
        region->ex = s;
        region->ex_end = e;
    }

    return 0;
}

static int prepare_metadata(struct payload *payload,
                            const struct livepatch_elf *elf)
{
    const struct livepatch_elf_sec *sec;
    const char *data;
    char *copy;
    size_t size;

    sec = livepatch_elf_sec_by_name(elf, ".modinfo");
    if ( !sec || !sec->sec->sh_size )
        return 0;

    data = sec->data;
    size = sec->sec->sh_size;
    if ( !data || data[size - 1] )
    {
        elf_err(elf, ".modinfo is not NUL-terminated");
        return -EINVAL;
    }

    copy = xmalloc_bytes(size);
    if ( !copy )
    {
        elf_err(elf, "out of memory");
        return -ENOMEM;
    }
    memcpy(copy, data, size);
    payload->metadata.data = copy;
    payload->metadata.len = size;

    return 0;
}

/*
 * Re-applying after a revert is only safe when the payload has no data
 * of its own that its code may have changed.  .livepatch.funcs and the
 * hook pointer arrays are writable only so that they can be relocated;
 * nothing writes them afterwards, so they are not payload state.
 */
static bool payload_safe_to_reapply(const struct livepatch_elf *elf)
{
    static const char hooks[] = ".livepatch.hooks.";
    unsigned int i;

    for ( i = 1; i < elf->hdr->e_shnum; i++ )
    {
        const struct livepatch_elf_sec *sec = &elf->sec[i];

        if ( !livepatch_elf_secalloc(sec) ||
             !(sec->sec->sh_flags & SHF_WRITE) || !sec->sec->sh_size )
            continue;
        if ( strcmp(sec->name, ".livepatch.funcs") &&
             strncmp(sec->name, hooks, sizeof(hooks) - 1) )
            return false;
    }

    return true;
}

static int prepare_payload(struct payload *payload,
                           const struct livepatch_elf *elf)
{
    int rc;

    rc = prepare_funcs(payload, elf);
    if ( !rc )
        rc = prepare_hooks(payload, elf);
    if ( !rc )
        rc = prepare_build_ids(payload, elf);
    if ( !rc )
        rc = prepare_region(payload, elf);
    if ( !rc )
        rc = prepare_metadata(payload, elf);

    payload->safe_to_reapply = payload_safe_to_reapply(elf);

    return rc;
}

static bool is_payload_symbol(const struct livepatch_elf *elf,
                              const struct livepatch_elf_sym *sym)
{
    unsigned int idx;

    if ( !sym->sym )
        return false;

    idx = sym->sym->st_shndx;
    if ( idx == SHN_UNDEF || idx >= elf->hdr->e_shnum ||
         !livepatch_elf_secalloc(&elf->sec[idx]) )
        return false;

    if ( !sym->name[0] )
        return false;

    /* Assembler-local labels of mergeable strings. */
    if ( sym->name[0] == '.' && sym->name[1] == 'L' &&
         (elf->sec[idx].sec->sh_flags & SHF_MERGE) )
        return false;

    return true;
}

/*
 * The payload's symbols, kept for call traces and for linking later
 * payloads.  A symbol at the address of a replacement function overrides
 * the hypervisor's and is not exported; every other one is, and must not
 * be a hypervisor symbol (lookups would never find it).  Another loaded
 * payload may export the same name: a cumulative payload, uploaded to
 * REPLACE the stack, defines again what the payloads below added.
 */
static int build_symbol_table(struct payload *payload,
                              const struct livepatch_elf *elf)
{
    const struct payload *other;
    struct livepatch_symbol *symtab;
    unsigned int i, j, nsyms = 0;
    size_t strtab_len = 0;
    char *strtab;

    for ( i = 1; i < elf->nsym; i++ )
        if ( is_payload_symbol(elf, &elf->sym[i]) )
        {
            nsyms++;
            strtab_len += strlen(elf->sym[i].name) + 1;
        }

    symtab = xzalloc_array(struct livepatch_symbol, nsyms ?: 1);
    strtab = xmalloc_bytes(strtab_len ?: 1);
    if ( !symtab || !strtab )
    {
        xfree(symtab);
        xfree(strtab);
        elf_err(elf, "out of memory");
        return -ENOMEM;
    }

    for ( i = 1, nsyms = 0, strtab_len = 0; i < elf->nsym; i++ )
    {
        const struct livepatch_elf_sym *sym = &elf->sym[i];
        struct livepatch_symbol *s = &symtab[nsyms];
        bool overrides = false;

        if ( !is_payload_symbol(elf, sym) )
            continue;

        memcpy(&strtab[strtab_len], sym->name, strlen(sym->name) + 1);
        s->name = &strtab[strtab_len];
        strtab_len += strlen(sym->name) + 1;
        s->value = sym->sym->st_value;
        s->size = sym->sym->st_size;

        for ( j = 0; j < payload->nfuncs; j++ )
            if ( s->value == payload->funcs[j].new_addr )
                overrides = true;

        if ( !overrides )
        {
            if ( symbols_lookup_by_name(s->name) )
            {
                elf_err(elf, "duplicate new symbol: %s", s->name);
                xfree(symtab);
                xfree(strtab);
                return -EEXIST;
            }
            if ( find_export(s->name, &other) )
                printk(LIVEPATCH "%s: new symbol %s is also exported by "
                       "a loaded payload\n", elf->name, s->name);
            s->new_symbol = true;
        }

        nsyms++;
    }

    payload->symtab = symtab;
    payload->strtab = strtab;
    payload->nsyms = nsyms;

    return 0;
}

static int secure_payload(struct payload *payload,
                          const struct livepatch_elf *elf)
{
    unsigned int text_pages = PFN_UP(payload->text_size);
    unsigned int rw_pages = PFN_UP(payload->rw_size);
    unsigned int ro_pages = payload->pages - text_pages - rw_pages;
    int rc = 0;

    if ( text_pages )
        rc = arch_livepatch_secure(payload->text_addr, text_pages,
                                   LIVEPATCH_VA_RX);
    if ( !rc && rw_pages )
        rc = arch_livepatch_secure(payload->rw_addr, rw_pages,
                                   LIVEPATCH_VA_RW);
    if ( !rc && ro_pages )
        rc = arch_livepatch_secure(payload->ro_addr, ro_pages,
                                   LIVEPATCH_VA_RO);
    if ( rc )
    {
        elf_err(elf, "could not set page permissions (%d)", rc);
        return rc;
    }

    if ( payload->pages )
        arch_livepatch_flush_tlb_all();

    return 0;
}

/* Everything load_payload_data() may have allocated. */
static void free_payload_data(struct payload *payload)
{
    if ( payload->pages )
        arch_livepatch_free_pages(payload->text_addr, payload->pages);
    payload->pages = 0;

    xfree(payload->fstate);
    xfree(payload->symtab);
    xfree(payload->strtab);
    xfree((void *)payload->id.p);
    xfree((void *)payload->dep.p);
    xfree((void *)payload->xen_dep.p);
    xfree((void *)payload->metadata.data);
}

static int load_payload_data(struct payload *payload, void *raw, size_t len)
{
    struct livepatch_elf elf = { .name = payload->name };
    int rc;

    rc = livepatch_elf_load(&elf, raw, len);
    if ( !rc )
        rc = check_xen_buildid(payload, &elf);
    if ( !rc )
        rc = move_payload(payload, &elf);
    if ( !rc )
        rc = livepatch_elf_resolve_symbols(&elf);
    if ( !rc )
        rc = livepatch_elf_perform_relocs(&elf);
    if ( !rc )
        rc = check_duplicate_sections(&elf);
    if ( !rc )
        rc = check_special_sections(&elf);
    if ( !rc )
        rc = check_patching_sections(&elf);
    if ( !rc )
        rc = prepare_payload(payload, &elf);
    if ( !rc )
        rc = build_symbol_table(payload, &elf);
    if ( !rc )
        rc = secure_payload(payload, &elf);

    if ( rc )
        free_payload_data(payload);

    livepatch_elf_free(&elf);

    return rc;
}

/* ---- sysctl ---------------------------------------------------------- */

static int get_name(const struct xen_livepatch_name *name, char *n)
{
    if ( !name->size || name->size > XEN_LIVEPATCH_NAME_SIZE )
        return -EINVAL;

    if ( name->pad[0] || name->pad[1] || name->pad[2] )
        return -EINVAL;

    if ( copy_from_guest(n, name->name, name->size) )
        return -EFAULT;

    if ( n[name->size - 1] )
        return -EINVAL;

    return 0;
}

static int livepatch_upload(struct xen_sysctl_livepatch_upload *upload)
{
    char n[XEN_LIVEPATCH_NAME_SIZE];
    struct payload *data;
    void *raw;
    int rc;

    rc = get_name(&upload->name, n);
    if ( rc )
    {
        printk(LIVEPATCH "upload: invalid payload name (%d)\n", rc);
        return rc;
    }

    if ( !upload->size || upload->size > LIVEPATCH_MAX_SIZE )
    {
        printk(LIVEPATCH "%s: payload size %lu is not in 1..%u\n", n,
               (unsigned long)upload->size, LIVEPATCH_MAX_SIZE);
        return -EINVAL;
    }

    if ( !guest_range_ok(current->domain, upload->payload, upload->size) )
    {
        printk(LIVEPATCH "%s: payload %#lx+%#lx is not in the caller's "
               "memory\n", n, (unsigned long)upload->payload,
               (unsigned long)upload->size);
        return -EFAULT;
    }

    data = xzalloc(struct payload);
    raw = xmalloc_bytes(upload->size);

    spin_lock(&payload_lock);

    if ( find_payload(n) )
    {
        printk(LIVEPATCH "%s: a payload of that name is already loaded\n", n);
        rc = -EEXIST;
    }
    else if ( !data || !raw )
    {
        printk(LIVEPATCH "%s: out of memory for %lu bytes\n", n,
               (unsigned long)upload->size);
        rc = -ENOMEM;
    }
    else if ( copy_from_guest(raw, upload->payload, upload->size) )
    {
        printk(LIVEPATCH "%s: could not copy the payload\n", n);
        rc = -EFAULT;
    }
    else
    {
        size_t len = upload->size;

        strlcpy(data->name, n, sizeof(data->name));
        /* Before anything of the payload is parsed. */
        rc = livepatch_verify_signature(n, raw, &len, &data->sig);
        livepatch_ref_begin();
        if ( !rc )
            rc = load_payload_data(data, raw, len);
        if ( !rc )
        {
            livepatch_ref_commit(data);
            data->state = LIVEPATCH_STATE_CHECKED;
            data->rc = 0;
            INIT_LIST_HEAD(&data->applied_list);
            register_virtual_region(&data->region);
            data->region_slot = region_next++ % LIVEPATCH_MAX_REGIONS;
            publish_state(data);
            list_add_tail(&data->list, &payload_list);
            payload_cnt++;
            xen_counters.lp_payloads = payload_cnt;
            payload_version++;
        }
    }

    spin_unlock(&payload_lock);

    xfree(raw);
    if ( rc )
        xfree(data);

    return rc;
}

static int livepatch_get(struct xen_sysctl_livepatch_get *get)
{
    char n[XEN_LIVEPATCH_NAME_SIZE];
    struct payload *data;
    int rc;

    rc = get_name(&get->name, n);
    if ( rc )
        return rc;

    spin_lock(&payload_lock);

    data = find_payload(n);
    if ( data )
    {
        get->status.state = data->state;
        get->status.rc = ACCESS_ONCE(data->rc);
    }
    else
        rc = -ENOENT;

    spin_unlock(&payload_lock);

    return rc;
}

static int livepatch_list(struct xen_sysctl_livepatch_list *list)
{
    const struct domain *d = current->domain;
    uint32_t name_size = list->name_total_size;
    uint32_t md_size = list->metadata_total_size;
    uint32_t name_off = 0, md_off = 0, copied = 0, pos = 0;
    struct xen_livepatch_status status;
    struct payload *data;
    int rc = 0;

    if ( list->nr > LIVEPATCH_LIST_MAX )
        return -E2BIG;

    if ( list->pad )
        return -EINVAL;

    if ( list->nr &&
         (!guest_range_ok(d, list->status, list->nr * sizeof(status)) ||
          !guest_range_ok(d, list->len, list->nr * sizeof(uint32_t)) ||
          !guest_range_ok(d, list->metadata_len,
                          list->nr * sizeof(uint32_t))) )
        return -EINVAL;

    spin_lock(&payload_lock);

    if ( list->idx >= payload_cnt && payload_cnt )
    {
        spin_unlock(&payload_lock);
        return -EINVAL;
    }

    if ( list->nr )
    {
        list_for_each_entry ( data, &payload_list, list )
        {
            uint32_t name_len = strlen(data->name) + 1;
            uint32_t md_len = data->metadata.len;

            if ( pos < list->idx )
            {
                pos++;
                continue;
            }

            /*
             * Stop when the caller's buffers are full: -ENOBUFS if not
             * even the first entry fits, else a short page (nr says how
             * many remain).
             */
            if ( name_len > name_size - name_off ||
                 md_len > md_size - md_off )
            {
                if ( !copied )
                    rc = -ENOBUFS;
                break;
            }

            status.state = data->state;
            status.rc = data->rc;
            if ( copy_to_guest(list->status + copied * sizeof(status),
                               &status, sizeof(status)) ||
                 copy_to_guest(list->name + name_off, data->name, name_len) ||
                 copy_to_guest(list->len + copied * sizeof(uint32_t),
                               &name_len, sizeof(name_len)) ||
                 (md_len && copy_to_guest(list->metadata + md_off,
                                          data->metadata.data, md_len)) ||
                 copy_to_guest(list->metadata_len + copied * sizeof(uint32_t),
                               &md_len, sizeof(md_len)) )
            {
                rc = -EFAULT;
                break;
            }

            pos++;
            copied++;
            name_off += name_len;
            md_off += md_len;

            if ( copied >= list->nr )
                break;
        }
    }
    else
    {
        list_for_each_entry ( data, &payload_list, list )
        {
            name_off += strlen(data->name) + 1;
            md_off += data->metadata.len;
        }
    }

    list->name_total_size = name_off;
    list->metadata_total_size = md_off;
    list->nr = payload_cnt - pos;
    list->version = payload_version;

    spin_unlock(&payload_lock);

    return rc ?: (int)copied;
}

/* ---- Actions --------------------------------------------------------- */

static void livepatch_display_metadata(const struct livepatch_metadata *m)
{
    const char *p;

    if ( !m->len )
        return;

    printk(LIVEPATCH "module metadata:\n");
    for ( p = m->data; p < m->data + m->len; p += strlen(p) + 1 )
        if ( *p )
            printk(LIVEPATCH "  %s\n", p);
}

/* Also run by REPLACE inside the patch window: unpatchable. */
static __unpatchable int livepatch_check_expectations(const struct payload *payload)
{
    unsigned int i;

    for ( i = 0; i < payload->nfuncs; i++ )
    {
        const struct livepatch_func *f = &payload->funcs[i];
        const struct livepatch_expectation *e = &f->expect;
        const char *fname = (const char *)f->name;
        unsigned int len = e->len;

        if ( !e->enabled )
            continue;

        if ( !f->old_addr )
        {
            livepatch_log(LIVEPATCH "%s: %s: expectation without an address\n",
                          payload->name, fname);
            return -EFAULT;
        }

        if ( len > sizeof(e->data) )
        {
            livepatch_log(LIVEPATCH "%s: %s: expectation of %u bytes\n",
                          payload->name, fname, len);
            return -EOVERFLOW;
        }

        if ( e->rsv )
        {
            livepatch_log(LIVEPATCH "%s: %s: reserved expectation bits are set\n",
                          payload->name, fname);
            return -EINVAL;
        }

        if ( f->old_size < e->len )
        {
            livepatch_log(LIVEPATCH "%s: %s: expectation of %u bytes is longer than "
                          "the function\n", payload->name, fname, e->len);
            return -ERANGE;
        }

        if ( !arch_livepatch_text_equal((const void *)f->old_addr, e->data,
                                        e->len) )
        {
            livepatch_log(LIVEPATCH "%s: %s: expectation failed\n",
                          payload->name, fname);
            return -EINVAL;
        }
    }

    return 0;
}

/*
 * The payload must stack on the hypervisor (internal: nothing applied,
 * or REPLACE) or on the top of the applied stack.
 */
static int build_id_dep(const struct payload *payload, bool internal)
{
    const void *id;
    unsigned int len;
    const char *what = "hypervisor";

    if ( internal )
    {
        if ( xen_build_id(&id, &len) )
            return -ENODATA;
    }
    else
    {
        const struct payload *top =
            list_last_entry(&applied_list, struct payload, applied_list);

        id = top->id.p;
        len = top->id.len;
        what = top->name;
    }

    if ( payload->dep.len != len || memcmp(payload->dep.p, id, len) )
    {
        printk(LIVEPATCH "%s: check against %s build-id failed\n",
               payload->name, what);
        return -EINVAL;
    }

    return 0;
}

static bool has_vetoing_hooks(const struct payload *payload)
{
    return payload->hooks.apply.pre || payload->hooks.apply.post ||
           payload->hooks.revert.pre || payload->hooks.revert.post;
}

/*
 * apply_payload() .. livepatch_do_action() run in the patch window:
 * unpatchable, and their console lines wait for the end of the action
 * (livepatch_log()).
 */
__unpatchable int apply_payload(struct payload *data)
{
    unsigned int i;

    livepatch_log(LIVEPATCH "%s: Applying %u functions\n", data->name,
                  data->nfuncs);

    arch_livepatch_quiesce();

    for ( i = 0; i < data->n_load_funcs; i++ )
        data->load_funcs[i]();

    for ( i = 0; i < data->nfuncs; i++ )
    {
        if ( data->fstate[i].applied == LIVEPATCH_FUNC_APPLIED )
        {
            livepatch_log(LIVEPATCH "%s: %s is already applied\n", data->name,
                          (const char *)data->funcs[i].name);
            continue;
        }

        arch_livepatch_apply(&data->funcs[i], &data->fstate[i]);
        data->fstate[i].applied = LIVEPATCH_FUNC_APPLIED;
    }

    arch_livepatch_revive();

    /* livepatch_action_tail() prints the metadata. */
    return 0;
}

__unpatchable int revert_payload(struct payload *data)
{
    unsigned int i;

    livepatch_log(LIVEPATCH "%s: Reverting\n", data->name);

    arch_livepatch_quiesce();

    /* Reverse apply order: a later entry may have saved an earlier one's. */
    for ( i = data->nfuncs; i-- > 0; )
    {
        if ( !data->funcs[i].old_addr ||
             data->fstate[i].applied == LIVEPATCH_FUNC_NOT_APPLIED )
        {
            livepatch_log(LIVEPATCH "%s: %s is not applied\n", data->name,
                          (const char *)data->funcs[i].name);
            continue;
        }

        arch_livepatch_revert(&data->funcs[i], &data->fstate[i]);
        data->fstate[i].applied = LIVEPATCH_FUNC_NOT_APPLIED;
    }

    for ( i = 0; i < data->n_unload_funcs; i++ )
        data->unload_funcs[i]();

    arch_livepatch_revive();

    return 0;
}

/*
 * An action hook must not leave a payload half applied.  The panic
 * cannot happen here (printing is patchable code): the master panics in
 * livepatch_action_tail(), right after the release.
 */
static __unpatchable void check_consistency(const struct payload *data,
                                            int rc,
                                            enum livepatch_func_state expected,
                                            const char *what)
{
    unsigned int i;

    for ( i = 0; i < data->nfuncs; i++ )
        if ( data->fstate[i].applied != expected && !livepatch_work.broken )
        {
            livepatch_work.broken = what;
            livepatch_work.broken_payload = data;
            livepatch_work.broken_rc = rc;
        }
}

static __unpatchable int apply_action(struct payload *data)
{
    int rc = data->hooks.apply.action ? data->hooks.apply.action(data)
                                      : apply_payload(data);

    check_consistency(data, rc,
                      rc ? LIVEPATCH_FUNC_NOT_APPLIED : LIVEPATCH_FUNC_APPLIED,
                      "applied");

    if ( !rc )
    {
        list_add_tail(&data->applied_list, &applied_list);
        data->state = LIVEPATCH_STATE_APPLIED;
    }

    return rc;
}

static __unpatchable int revert_action(struct payload *data)
{
    int rc = data->hooks.revert.action ? data->hooks.revert.action(data)
                                       : revert_payload(data);

    check_consistency(data, rc,
                      rc ? LIVEPATCH_FUNC_APPLIED : LIVEPATCH_FUNC_NOT_APPLIED,
                      "reverted");

    if ( !rc )
    {
        list_del(&data->applied_list);
        INIT_LIST_HEAD(&data->applied_list);
        data->reverted = true;
        data->state = LIVEPATCH_STATE_CHECKED;
    }

    return rc;
}

/* Master CPU, every other CPU spinning with interrupts off. */
static __unpatchable void livepatch_do_action(struct payload *data,
                                              uint32_t cmd)
{
    struct payload *other;
    int rc = 0;

    switch ( cmd )
    {
    case LIVEPATCH_ACTION_APPLY:
        rc = apply_action(data);
        break;

    case LIVEPATCH_ACTION_REVERT:
        rc = revert_action(data);
        break;

    case LIVEPATCH_ACTION_REPLACE:
        /* Revert the whole stack, top first. */
        while ( !list_empty(&applied_list) )
        {
            other = list_last_entry(&applied_list, struct payload,
                                    applied_list);
            other->rc = revert_action(other);
            if ( other->rc )
            {
                livepatch_log(LIVEPATCH "%s: reverting %s failed (rc=%d)\n",
                              data->name, other->name, other->rc);
                rc = -EINVAL;
                break;
            }
        }

        if ( !rc )
        {
            rc = livepatch_check_expectations(data);
            if ( rc )
                livepatch_log(LIVEPATCH "%s: every payload was reverted but "
                              "this one cannot be applied: SYSTEM MIGHT BE "
                              "INSECURE\n", data->name);
            else
                rc = apply_action(data);
        }
        break;

    default:
        rc = -EOPNOTSUPP;
        break;
    }

    data->rc = rc;
}

/*
 * Count this CPU into an arrival counter of action gen.  Returns false
 * (and counts nothing) when the counter belongs to another action.
 */
static __unpatchable bool arrive(uint64_t *counter, uint32_t gen, uint32_t *before)
{
    uint64_t old = ACCESS_ONCE(*counter), seen;

    for ( ; ; )
    {
        if ( (uint32_t)(old >> 32) != gen )
            return false;
        seen = cmpxchg(counter, old, old + 1);
        if ( seen == old )
            break;
        old = seen;
    }

    if ( before )
        *before = (uint32_t)old;

    return true;
}

/* Wait until counter reaches target, or until deadline; 0 or -EBUSY. */
static __unpatchable int wait_for_cpus(const uint64_t *counter, uint32_t target,
                         s_time_t deadline, uint32_t *got)
{
    for ( ; ; )
    {
        *got = (uint32_t)ACCESS_ONCE(*counter);
        if ( *got >= target )
            return 0;
        if ( NOW() > deadline )
            return -EBUSY;
        cpu_relax();
    }
}

/*
 * The master waits for the others between its own exits: until all of
 * them have arrived nothing has been written, so it may go on running
 * its guest (which can then still issue hypercalls: GET says -EAGAIN, a
 * second action is refused) and look again on its next return to the
 * guest or pass through the idle loop, at least once per scheduler tick.
 * Once every CPU is here it stays, as in Xen, until the end.
 */
static __unpatchable void livepatch_master_poll(void)
{
    struct payload *data = livepatch_work.data;
    uint32_t cmd = livepatch_work.cmd, cpus = livepatch_work.cpus, got;
    unsigned long flags;

    /* Phase 1: every CPU is here, interrupts still on. */
    got = (uint32_t)ACCESS_ONCE(lp_arrived);
    if ( got < cpus + 1 )
    {
        if ( NOW() <= livepatch_work.deadline )
        {
            this_cpu(work_to_do) = true;
            return;
        }

        livepatch_log(LIVEPATCH "%s: Timed out on semaphore in CPU quiesce "
                      "phase %u/%u\n", data->name, got - 1, cpus);
        data->rc = -EBUSY;
        goto abort;
    }

    livepatch_work.ready = true;
    smp_mb();

    /* Phase 2: every other CPU has interrupts off; same deadline. */
    if ( wait_for_cpus(&lp_irq_off, cpus, livepatch_work.deadline, &got) )
    {
        livepatch_log(LIVEPATCH "%s: Timed out on semaphore in IRQ quiesce "
                      "phase %u/%u\n", data->name, got, cpus);
        data->rc = -EBUSY;
        goto abort;
    }

    local_irq_save(flags);
    livepatch_window_enter();
    /* Nothing is written while a stack holds the code at risk. */
    data->rc = livepatch_stack_check();
    if ( !data->rc )
    {
        livepatch_do_action(data, cmd);
        arch_livepatch_post_action();
        livepatch_work.action_done = true;
    }
    livepatch_window_exit();
    local_irq_restore(flags);

 abort:
    /* Release the other CPUs. */
    smp_mb();
    livepatch_work.do_work = false;
    smp_mb();
    livepatch_nmi_unmask();

    /* The rest (post hook, states, console) is livepatch_action_tail(). */
    set_bit(LIVEPATCH_SOFTIRQ, &this_cpu(softirq_pending));
}

/*
 * The master, right after the action (LIVEPATCH_SOFTIRQ): the window's
 * console lines have been printed; now the metadata, the post hook and
 * the result, and the sysctl may start another action.
 */
void livepatch_action_tail(void)
{
    struct payload *data = livepatch_work.data, *other;
    uint32_t cmd = livepatch_work.cmd;

    if ( !livepatch_work.pending || ACCESS_ONCE(livepatch_work.do_work) ||
         livepatch_work.master != smp_processor_id() )
        return;

    if ( livepatch_work.broken )
        panic("livepatch: %s: partially %s payload (rc=%d)\n",
              livepatch_work.broken_payload->name, livepatch_work.broken,
              livepatch_work.broken_rc);

    if ( livepatch_work.action_done )
    {
        switch ( cmd )
        {
        case LIVEPATCH_ACTION_APPLY:
        case LIVEPATCH_ACTION_REPLACE:
            if ( !data->rc && !data->hooks.apply.action )
                livepatch_display_metadata(&data->metadata);
            if ( cmd == LIVEPATCH_ACTION_APPLY && data->hooks.apply.post )
                data->hooks.apply.post(data);
            break;

        case LIVEPATCH_ACTION_REVERT:
            if ( data->hooks.revert.post )
                data->hooks.revert.post(data);
            break;
        }
    }

    livepatch_stack_report(data->name, action2str(cmd));
    printk(LIVEPATCH "%s finished %s with rc=%d\n", data->name,
           action2str(cmd), data->rc);

    list_for_each_entry ( other, &payload_list, list )
        publish_state(other);

    /* From here on the sysctl may start another action. */
    smp_mb();
    livepatch_work.pending = false;
}

/* The first CPU to arrive: kick the others and start the clock. */
static __unpatchable void livepatch_master_start(void)
{
    unsigned int self = smp_processor_id(), cpu;
    cpumask_t others;

    cpumask_copy(&others, &cpu_online_map);
    cpumask_clear_cpu(self, &others);

    livepatch_work.cpus = cpumask_weight(&others);
    livepatch_work.deadline = NOW() + livepatch_work.timeout;
    livepatch_work.master = self;

    livepatch_log(LIVEPATCH "%s: CPU%u - IPIing the other %u CPUs\n",
                  livepatch_work.data->name, self, livepatch_work.cpus);

    livepatch_nmi_mask();

    for_each_cpu ( cpu, &others )
        per_cpu(work_to_do, cpu) = true;
    smp_mb();
    smp_send_event_check_mask(&others);

    livepatch_master_poll();
}

/* Returns false if the action changed under our feet: start again. */
static __unpatchable bool livepatch_slave(uint32_t gen)
{
    unsigned long flags;
    bool same;

    while ( ACCESS_ONCE(livepatch_work.gen) == gen &&
            ACCESS_ONCE(livepatch_work.do_work) &&
            !ACCESS_ONCE(livepatch_work.ready) )
        cpu_relax();

    smp_rmb();
    if ( ACCESS_ONCE(livepatch_work.gen) != gen )
        return false;
    if ( !ACCESS_ONCE(livepatch_work.do_work) )
        return true;            /* aborted (timeout) */

    local_irq_save(flags);
    livepatch_window_enter();
    livepatch_stack_note_cpu();

    if ( !arrive(&lp_irq_off, gen, NULL) )
    {
        livepatch_window_exit();
        local_irq_restore(flags);
        return false;
    }

    while ( ACCESS_ONCE(livepatch_work.do_work) &&
            ACCESS_ONCE(livepatch_work.gen) == gen )
        cpu_relax();

    same = ACCESS_ONCE(livepatch_work.gen) == gen;

    /* Code may have changed: fetch it anew. */
    arch_livepatch_post_action();
    livepatch_window_exit();
    local_irq_restore(flags);

    return same;
}

static noinline __unpatchable void do_livepatch_work(void)
{
    uint32_t gen, before;

    ASSERT(local_irq_is_enabled());

    for ( ; ; )
    {
        /* Cleared first, so that a new kick is never lost. */
        this_cpu(work_to_do) = false;
        smp_mb();

        if ( !ACCESS_ONCE(livepatch_work.do_work) )
            return;
        smp_rmb();
        gen = ACCESS_ONCE(livepatch_work.gen);

        /* Already the master of this action: look again. */
        if ( ACCESS_ONCE(livepatch_work.master) == smp_processor_id() )
        {
            livepatch_master_poll();
            return;
        }

        if ( !arrive(&lp_arrived, gen, &before) )
            continue;

        if ( before == 0 )
        {
            livepatch_master_start();
            return;
        }

        if ( livepatch_slave(gen) )
            return;
    }
}

/*
 * Called from test_all_events (entry.S) before every return to a guest,
 * and from the idle loop: nothing on the stack but this.
 */
noinline __unpatchable void check_for_livepatch_work(void)
{
    if ( likely(!ACCESS_ONCE(this_cpu(work_to_do))) )
        return;

    do_livepatch_work();
}

/* payload_lock held; nothing else pending. */
static void schedule_work(struct payload *data, uint32_t cmd,
                          uint32_t timeout)
{
    uint32_t gen;

    ASSERT(!livepatch_work.pending);

    livepatch_work.data = data;
    livepatch_work.cmd = cmd;
    publish_region(data, LIVEPATCH_REGION_BUSY);
    livepatch_work.timeout = timeout ?: DEFAULT_TIMEOUT;
    livepatch_stack_prepare(data, cmd, &applied_list);

    printk(LIVEPATCH "%s: timeout is %ldns\n", data->name,
           (long)livepatch_work.timeout);

    gen = livepatch_work.gen + 1;
    livepatch_work.master = NR_CPUS;
    write_atomic(&lp_arrived, (uint64_t)gen << 32);
    write_atomic(&lp_irq_off, (uint64_t)gen << 32);
    livepatch_work.ready = false;
    livepatch_work.action_done = false;
    livepatch_work.broken = NULL;
    livepatch_work.pending = true;
    smp_mb();
    livepatch_work.gen = gen;
    smp_mb();
    livepatch_work.do_work = true;
    smp_mb();

    /* This CPU becomes the master on its way back to the guest. */
    this_cpu(work_to_do) = true;
}

static void free_payload(struct payload *data)
{
    list_del(&data->list);
    payload_cnt--;
    xen_counters.lp_payloads = payload_cnt;
    payload_version++;

    livepatch_ref_drop(data);
    unregister_virtual_region(&data->region);
    /* free_payload_data() waits for every CPU before the memory goes. */
    publish_region(data, LIVEPATCH_REGION_BUSY);
    free_payload_data(data);
    publish_region(data, LIVEPATCH_REGION_FREED);
    xfree(data);
}

/*
 * A payload with data of its own that was reverted cannot run again: its
 * data is as the revert left it.  Sets its rc, as an action's refusal.
 */
static bool reapply_refused(struct payload *data)
{
    if ( !data->reverted || data->safe_to_reapply )
        return false;

    printk(LIVEPATCH "%s: can't re-apply: it has data of its own and was "
           "reverted; unload it and upload it again\n", data->name);
    data->rc = -EINVAL;

    return true;
}

static int livepatch_action(struct xen_sysctl_livepatch_action *action)
{
    char n[XEN_LIVEPATCH_NAME_SIZE];
    struct payload *data;
    int rc;

    rc = get_name(&action->name, n);
    if ( rc )
        return rc;

    if ( action->pad || (action->flags & ~LIVEPATCH_ACTION_APPLY_NODEPS) )
        return -EINVAL;

    spin_lock(&payload_lock);

    data = find_payload(n);
    if ( !data )
    {
        rc = -ENOENT;
        goto out;
    }

    /* One action at a time; and never unload what is being worked on. */
    if ( livepatch_work.pending &&
         (livepatch_work.data == data ||
          action->cmd != LIVEPATCH_ACTION_UNLOAD) )
    {
        printk(LIVEPATCH "%s: %s refused: %s of %s is in progress\n", n,
               action2str(action->cmd), action2str(livepatch_work.cmd),
               livepatch_work.data->name);
        rc = -EBUSY;
        goto out;
    }

    switch ( action->cmd )
    {
    case LIVEPATCH_ACTION_UNLOAD:
        if ( data->state == LIVEPATCH_STATE_CHECKED )
        {
            rc = livepatch_ref_check_unload(data);
            if ( !rc )
                rc = livepatch_stack_check_unload(data);
            if ( !rc )
                free_payload(data);
        }
        else
        {
            printk(LIVEPATCH "%s: can't unload: it is %s\n", n,
                   state2str(data->state));
            rc = -EINVAL;
        }
        break;

    case LIVEPATCH_ACTION_REVERT:
        if ( data->state != LIVEPATCH_STATE_APPLIED )
            break;              /* nothing to do */

        if ( list_last_entry(&applied_list, struct payload,
                             applied_list) != data )
        {
            printk(LIVEPATCH "%s: can't revert: it is not on top, %s is\n", n,
                   list_last_entry(&applied_list, struct payload,
                                   applied_list)->name);
            rc = -EBUSY;
            break;
        }

        if ( data->hooks.revert.pre )
        {
            rc = call_pre_hook(data, data->hooks.revert.pre);
            if ( rc )
            {
                printk(LIVEPATCH "%s: pre-revert hook failed (rc=%d)\n", n, rc);
                data->rc = rc;
                break;
            }
        }

        data->rc = -EAGAIN;
        schedule_work(data, action->cmd, action->timeout);
        break;

    case LIVEPATCH_ACTION_APPLY:
        if ( data->state != LIVEPATCH_STATE_CHECKED )
            break;              /* nothing to do */

        if ( reapply_refused(data) )
            break;

        if ( !(action->flags & LIVEPATCH_ACTION_APPLY_NODEPS) )
        {
            rc = build_id_dep(data, list_empty(&applied_list));
            if ( rc )
                break;
        }

        rc = livepatch_check_expectations(data);
        if ( rc )
            break;

        if ( data->hooks.apply.pre )
        {
            rc = call_pre_hook(data, data->hooks.apply.pre);
            if ( rc )
            {
                printk(LIVEPATCH "%s: pre-apply hook failed (rc=%d)\n", n, rc);
                data->rc = rc;
                break;
            }
        }

        data->rc = -EAGAIN;
        schedule_work(data, action->cmd, action->timeout);
        break;

    case LIVEPATCH_ACTION_REPLACE:
    {
        const struct payload *other;

        if ( data->state != LIVEPATCH_STATE_CHECKED )
            break;              /* nothing to do */

        /* Xen skips this for REPLACE: a reverted payload's data would be
         * reused as it was left. */
        if ( reapply_refused(data) )
            break;

        rc = build_id_dep(data, true);
        if ( rc )
            break;

        if ( has_vetoing_hooks(data) )
        {
            printk(LIVEPATCH "%s: can't replace with a payload that has "
                   "pre/post hooks\n", n);
            rc = -EOPNOTSUPP;
            break;
        }

        list_for_each_entry ( other, &applied_list, applied_list )
            if ( has_vetoing_hooks(other) )
            {
                printk(LIVEPATCH "%s: can't replace %s, which has pre/post "
                       "hooks\n", n, other->name);
                rc = -EOPNOTSUPP;
                break;
            }
        if ( rc )
            break;

        data->rc = -EAGAIN;
        schedule_work(data, action->cmd, action->timeout);
        break;
    }

    default:
        rc = -EOPNOTSUPP;
        break;
    }

 out:
    spin_unlock(&payload_lock);

    return rc;
}

int livepatch_op(struct xen_sysctl_livepatch_op *op)
{
    /* As in Xen, unknown flags pass when FORCE is among them. */
    if ( (op->flags & ~LIVEPATCH_FLAG_FORCE) &&
         !(op->flags & LIVEPATCH_FLAG_FORCE) )
        return -EINVAL;

    switch ( op->cmd )
    {
    case XEN_SYSCTL_LIVEPATCH_UPLOAD:
        return livepatch_upload(&op->u.upload);

    case XEN_SYSCTL_LIVEPATCH_GET:
        return livepatch_get(&op->u.get);

    case XEN_SYSCTL_LIVEPATCH_LIST:
        return livepatch_list(&op->u.list);

    case XEN_SYSCTL_LIVEPATCH_ACTION:
        return livepatch_action(&op->u.action);

    case XEN_SYSCTL_LIVEPATCH_SIGNATURE:
        livepatch_sig_get(&op->u.signature);
        return 0;
    }

    return -EOPNOTSUPP;
}

/* ---- 'x' debug key --------------------------------------------------- */

static void livepatch_printall(unsigned char key)
{
    const struct payload *data;
    const void *id;
    unsigned int len, i;
    char hex[2 * 64 + 1];

    printk("'%c' pressed - Dumping all livepatch patches\n", key);

    if ( !xen_build_id(&id, &len) )
        printk("build-id: %s\n", hex_id(hex, sizeof(hex), id, len));
    livepatch_sig_printall();

    if ( !spin_trylock(&payload_lock) )
    {
        printk("Lock held. Try again.\n");
        return;
    }

    list_for_each_entry ( data, &payload_list, list )
    {
        printk(" name=%s state=%s(%u) %p (.data=%p, .rodata=%p) using %u "
               "pages.\n", data->name, state2str(data->state), data->state,
               data->text_addr, data->rw_addr, data->ro_addr, data->pages);

        livepatch_display_metadata(&data->metadata);

        for ( i = 0; i < data->nfuncs; i++ )
        {
            const struct livepatch_func *f = &data->funcs[i];

            printk("    %s patch %p(%u) with %p (%u)\n",
                   (const char *)f->name, (void *)f->old_addr, f->old_size,
                   (void *)f->new_addr, f->new_size);
        }

        if ( data->id.len )
            printk("build-id=%s\n",
                   hex_id(hex, sizeof(hex), data->id.p, data->id.len));

        if ( data->dep.len )
            printk("depend-on=%s\n",
                   hex_id(hex, sizeof(hex), data->dep.p, data->dep.len));

        printk("signature=%s\n", livepatch_sig_status_str(data->sig));
    }

    spin_unlock(&payload_lock);
}

void livepatch_init(void)
{
    arch_livepatch_init();
    livepatch_nmi_init();
    livepatch_sig_init();
    register_keyhandler('x', livepatch_printall, "print livepatch info");
}
