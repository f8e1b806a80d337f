/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mm.c
 *
 * The one set of page tables, shared by all CPUs: an identity map of
 * the 64 MiB of RAM.
 *
 *   0 - 16 MiB   4 KiB pages.  Page 0 not present.  Image: .text RX,
 *                .rodata RO+NX, .guest.text user RX, .guest.data user
 *                RW+NX, .data/.bss RW+NX, stack guard pages not present.
 *                Everything else RW+NX.
 *   16 - 24 MiB  live-patch area, 4 KiB pages, RW+NX here; unmapped by
 *                livepatch_init() until payloads are loaded there.
 *   24 - 32 MiB  heap, 2 MiB pages, RW+NX.
 *   32 - 48 MiB  domain windows, 4 KiB pages, user RW+NX, the last page
 *                of each window not present.
 *   48 - 64 MiB  2 MiB pages, RW+NX.
 *
 * Address spaces: every domain has its own L4/L3/L2 (sharing the L1
 * tables), in which only its own window is present; CPUs load it when
 * they switch to one of its vCPUs (switch_address_space()).  The idle
 * address space, loaded at boot and by the idle vCPUs, has no window at
 * all.  So ring-3 code reaches its own window only, and the hypervisor
 * reaches guest memory through copy_{to,from}_guest() of the current
 * domain, whose bounds check and exception table refuse anything else.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <asm/msr.h>
#include <asm/page.h>
#include <asm/processor.h>
#include <xen/sched.h>
#include <asm/smp.h>
#include <public/platform.h>

#define L1_LOW_TABLES           (XEN_IMAGE_LIMIT >> L2_PAGETABLE_SHIFT)
#define L1_LP_TABLES            (PLAT_LIVEPATCH_SIZE >> L2_PAGETABLE_SHIFT)
#define L1_DOM_TABLES           MAX_DOMAINS
#define NR_L1_TABLES            (L1_LOW_TABLES + L1_LP_TABLES + L1_DOM_TABLES)

static pte_t l4_table[PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);
static pte_t l3_table[PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);
static pte_t l2_table[PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);
static pte_t l1_tables[NR_L1_TABLES][PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);

/* Per-domain top levels; the L2 tables differ in their window slots only. */
static pte_t dom_l4[MAX_DOMAINS][PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);
static pte_t dom_l3[MAX_DOMAINS][PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);
static pte_t dom_l2[MAX_DOMAINS][PAGETABLE_ENTRIES] __aligned(PAGE_SIZE);

#define WINDOW_SLOT(d)          (PLAT_DOMAIN_WINDOW(d) >> L2_PAGETABLE_SHIFT)

static bool in_range(unsigned long a, const char *s, const char *e)
{
    return a >= (unsigned long)s && a < (unsigned long)e;
}

static bool is_stack_guard_page(unsigned long a)
{
    unsigned long base = (unsigned long)cpu_stacks;

    if ( a < base || a >= base + NR_CPUS * STACK_SIZE )
        return false;

    return ((a - base) & (STACK_SIZE - 1)) == STACK_GUARD_PAGE * PAGE_SIZE;
}

/* Leaf flags of a 4 KiB page below XEN_IMAGE_LIMIT. */
static unsigned long low_page_flags(unsigned long a)
{
    if ( a == 0 )
        return 0;
    if ( in_range(a, _stext, _etext) )
        return PAGE_HYPERVISOR_RX;
    if ( in_range(a, _srodata, _erodata) )
        return PAGE_HYPERVISOR_RO;
    if ( in_range(a, _sguest_text, _eguest_text) )
        return PAGE_GUEST_RX;
    if ( in_range(a, _sguest_data, _eguest_data) )
        return PAGE_GUEST_RW;
    if ( is_stack_guard_page(a) )
        return 0;
    return PAGE_HYPERVISOR_RW;
}

static unsigned long domain_page_flags(unsigned long a)
{
    unsigned long off = (a - PLAT_DOMAIN_BASE) & (PLAT_DOMAIN_SIZE - 1);

    return off == PLAT_DOMAIN_SIZE - PAGE_SIZE ? 0 : PAGE_GUEST_RW;
}

/*
 * Domain d's tables see its window and no other; then the idle tables
 * (l4_table) lose every window.  virt_to_l1e() only serves hypervisor
 * mappings, which are the same everywhere.
 */
static void setup_domain_pagetables(void)
{
    unsigned int d, w;

    for ( d = 0; d < MAX_DOMAINS; d++ )
    {
        memcpy(dom_l2[d], l2_table, sizeof(l2_table));
        for ( w = 0; w < MAX_DOMAINS; w++ )
            if ( w != d )
                dom_l2[d][WINDOW_SLOT(w)] = 0;
        dom_l3[d][0] = (unsigned long)dom_l2[d] | PAGE_TABLE_FLAGS;
        dom_l4[d][0] = (unsigned long)dom_l3[d] | PAGE_TABLE_FLAGS;
    }

    for ( w = 0; w < MAX_DOMAINS; w++ )
        l2_table[WINDOW_SLOT(w)] = 0;
}

/* On a context switch to v (idle or not), before it runs. */
void switch_address_space(const struct vcpu *v)
{
    unsigned long cr3 = is_idle_vcpu(v)
                        ? (unsigned long)l4_table
                        : (unsigned long)dom_l4[v->domain->domain_id];

    if ( read_cr3() != cr3 )
        write_cr3(cr3);
}

void setup_pagetables(void)
{
    unsigned int slot, i, next_l1 = 0;

    BUILD_BUG_ON(XEN_VIRT_START != PLAT_IMAGE_BASE);
    BUILD_BUG_ON(XEN_IMAGE_LIMIT != PLAT_IMAGE_LIMIT);
    BUILD_BUG_ON(PLAT_LIVEPATCH_BASE != XEN_IMAGE_LIMIT);
    BUILD_BUG_ON(PLAT_DOMAIN_SIZE != L2_PAGE_SIZE);
    BUILD_BUG_ON(MAX_DOMAINS != PLAT_MAX_DOMAINS);
    BUILD_BUG_ON(NR_CPUS != PLAT_MAX_CPUS);

    l4_table[0] = (unsigned long)l3_table | PAGE_TABLE_FLAGS;
    l3_table[0] = (unsigned long)l2_table | PAGE_TABLE_FLAGS;

    for ( slot = 0; slot < (PLAT_RAM_SIZE >> L2_PAGETABLE_SHIFT); slot++ )
    {
        unsigned long base = (unsigned long)slot << L2_PAGETABLE_SHIFT;
        unsigned long (*flags_of)(unsigned long) = NULL;
        pte_t *l1;

        if ( base < XEN_IMAGE_LIMIT )
            flags_of = low_page_flags;
        else if ( base >= PLAT_LIVEPATCH_BASE &&
                  base < PLAT_LIVEPATCH_BASE + PLAT_LIVEPATCH_SIZE )
            flags_of = NULL;            /* 4 KiB, all RW+NX */
        else if ( base >= PLAT_DOMAIN_BASE &&
                  base < PLAT_DOMAIN_WINDOW(MAX_DOMAINS) )
            flags_of = domain_page_flags;
        else
        {
            l2_table[slot] = base | PAGE_HYPERVISOR_RW | _PAGE_PSE;
            continue;
        }

        l1 = l1_tables[next_l1++];
        for ( i = 0; i < PAGETABLE_ENTRIES; i++ )
        {
            unsigned long a = base + ((unsigned long)i << L1_PAGETABLE_SHIFT);
            unsigned long f = flags_of ? flags_of(a) : PAGE_HYPERVISOR_RW;

            l1[i] = f ? (a | f) : 0;
        }
        l2_table[slot] = (unsigned long)l1 | PAGE_TABLE_FLAGS;
    }

    BUG_ON(next_l1 != NR_L1_TABLES);

    setup_domain_pagetables();
}

/* Enable NX, PAE paging and write protection on this CPU. */
void enable_paging(void)
{
    wrmsrl(MSR_EFER, rdmsrl(MSR_EFER) | EFER_NXE);
    write_cr4(read_cr4() | X86_CR4_PAE);
    write_cr3((unsigned long)l4_table);
    write_cr0(read_cr0() | X86_CR0_PG | X86_CR0_WP);
}

/* The L1 entry mapping va, or NULL if va is mapped by a 2 MiB page. */
pte_t *virt_to_l1e(unsigned long va)
{
    pte_t l2e;

    if ( va >= PLAT_RAM_SIZE )
        return NULL;

    l2e = l2_table[va >> L2_PAGETABLE_SHIFT];
    if ( !(l2e & _PAGE_PRESENT) || (l2e & _PAGE_PSE) )
        return NULL;

    return (pte_t *)(l2e & PADDR_MASK) + ((va >> L1_PAGETABLE_SHIFT) & 511);
}

/*
 * Change the leaf flags of [start, end) (page aligned, 4 KiB-mapped
 * ranges only) on this CPU's view; other CPUs must flush their TLBs.
 */
int modify_xen_mappings(unsigned long start, unsigned long end,
                        unsigned long flags)
{
    unsigned long va;

    if ( (start | end) & ~PAGE_MASK )
        return -EINVAL;

    for ( va = start; va < end; va += PAGE_SIZE )
        if ( !virt_to_l1e(va) )
            return -EINVAL;

    for ( va = start; va < end; va += PAGE_SIZE )
    {
        pte_t *pl1e = virt_to_l1e(va);

        *pl1e = flags ? (va | flags) : 0;
        invlpg(va);
    }

    return 0;
}
