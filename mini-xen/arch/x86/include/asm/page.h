/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_PAGE_H__
#define __ASM_X86_PAGE_H__

#define _PAGE_PRESENT           0x001UL
#define _PAGE_RW                0x002UL
#define _PAGE_USER              0x004UL
#define _PAGE_ACCESSED          0x020UL
#define _PAGE_DIRTY             0x040UL
#define _PAGE_PSE               0x080UL
#define _PAGE_GLOBAL            0x100UL
#define _PAGE_NX                (1UL << 63)

#define L1_PAGETABLE_SHIFT      12
#define L2_PAGETABLE_SHIFT      21
#define L3_PAGETABLE_SHIFT      30
#define L4_PAGETABLE_SHIFT      39
#define PAGETABLE_ENTRIES       512
#define L2_PAGE_SIZE            (1UL << L2_PAGETABLE_SHIFT)

#define PADDR_MASK              0x000ffffffffff000UL

/* Leaf permissions */
#define PAGE_HYPERVISOR_RX      (_PAGE_PRESENT | _PAGE_ACCESSED)
#define PAGE_HYPERVISOR_RO      (_PAGE_PRESENT | _PAGE_ACCESSED | _PAGE_NX)
#define PAGE_HYPERVISOR_RW      (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | \
                                 _PAGE_DIRTY | _PAGE_NX)
#define PAGE_HYPERVISOR_RWX     (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | \
                                 _PAGE_DIRTY)
#define PAGE_GUEST_RX           (_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED)
#define PAGE_GUEST_RW           (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | \
                                 _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_NX)
/* Non-leaf entries grant everything; leaves decide. */
#define PAGE_TABLE_FLAGS        (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | \
                                 _PAGE_ACCESSED | _PAGE_DIRTY)

#ifndef __ASSEMBLY__

#include <xen/types.h>

typedef uint64_t pte_t;

void setup_pagetables(void);
void enable_paging(void);
int modify_xen_mappings(unsigned long start, unsigned long end,
                        unsigned long flags);
pte_t *virt_to_l1e(unsigned long va);
struct vcpu;
void switch_address_space(const struct vcpu *v);

static inline void flush_tlb_local(void)
{
    unsigned long cr3;

    asm volatile ( "mov %%cr3, %0; mov %0, %%cr3" : "=r" (cr3) : : "memory" );
}

static inline void invlpg(unsigned long va)
{
    asm volatile ( "invlpg (%0)" : : "r" (va) : "memory" );
}

#endif /* !__ASSEMBLY__ */

#endif /* __ASM_X86_PAGE_H__ */
