/* SPDX-License-Identifier: GPL-2.0 */
/*
 * desc.c
 *
 * GDT, IDT and per-CPU TSS.
 *
 * GDT: 0x08 Xen code (64-bit), 0x10 Xen data, 0x1b guest code (64-bit,
 * DPL 3), 0x23 guest data (DPL 3), then one 16-byte TSS descriptor per
 * CPU at TSS_SELECTOR(cpu).  The IDT has 256 interrupt gates pointing at
 * the stubs in entry.S; the hypercall gate (0x82) has DPL 3.  IST: #DF 1,
 * NMI 2, #MC 3.
 */
#include <xen/lib.h>
#include <xen/percpu.h>
#include <asm/current.h>
#include <asm/desc.h>
#include <asm/smp.h>
#include <public/platform.h>

#define ENTRY_STUB_SIZE         16


static uint64_t gdt_table[GDT_ENTRIES] __aligned(16);
struct idt_entry idt_table[256] __aligned(16);
static struct tss64 tss_table[NR_CPUS] __aligned(16);

static void set_gate(unsigned int vector, unsigned long addr,
                     unsigned int dpl, unsigned int ist)
{
    struct idt_entry *e = &idt_table[vector];

    e->offset_lo = addr & 0xffff;
    e->selector = __HYPERVISOR_CS;
    e->ist = ist;
    e->type_attr = 0x80 | (dpl << 5) | GATE_INTERRUPT;
    e->offset_mid = (addr >> 16) & 0xffff;
    e->offset_hi = addr >> 32;
    e->_rsvd = 0;
}

void set_ist(unsigned int vector, unsigned int ist)
{
    idt_table[vector].ist = ist;
}

static void set_tss_desc(unsigned int cpu)
{
    unsigned long base = (unsigned long)&tss_table[cpu];
    unsigned long limit = sizeof(struct tss64) - 1;
    unsigned int idx = TSS_SELECTOR(cpu) / 8;

    /* Present, DPL 0, type 9 (available 64-bit TSS). */
    gdt_table[idx] = (limit & 0xffff) |
                     ((base & 0xffffffUL) << 16) |
                     (0x89UL << 40) |
                     (((limit >> 16) & 0xf) << 48) |
                     (((base >> 24) & 0xff) << 56);
    gdt_table[idx + 1] = base >> 32;
}

void init_idt(void)
{
    unsigned int v;

    BUILD_BUG_ON(sizeof(struct idt_entry) != 16);
    BUILD_BUG_ON(sizeof(struct tss64) != 104);

    for ( v = 0; v < 256; v++ )
        set_gate(v, (unsigned long)entry_stubs + v * ENTRY_STUB_SIZE,
                 v == HYPERCALL_VECTOR ? 3 : 0, IST_NONE);

    set_ist(TRAP_double_fault, IST_DF);
    set_ist(TRAP_nmi, IST_NMI);
    set_ist(TRAP_machine_check, IST_MCE);

    gdt_table[0] = 0;
    gdt_table[__HYPERVISOR_CS / 8] = 0x00af9a000000ffffUL;
    gdt_table[__HYPERVISOR_DS / 8] = 0x00cf92000000ffffUL;
    gdt_table[__GUEST_CS_SEL / 8] = 0x00affa000000ffffUL;
    gdt_table[__GUEST_DS_SEL / 8] = 0x00cff2000000ffffUL;

    for ( v = 0; v < NR_CPUS; v++ )
        set_tss_desc(v);
}

/* Fill this CPU's TSS and load GDT, segments, TR and IDT. */
void load_descriptors(unsigned int cpu)
{
    unsigned long block = cpu_stack_block(cpu);
    struct cpu_info *ci = cpu_info_of(cpu);
    struct tss64 *tss = &tss_table[cpu];
    struct desc_ptr gdtr = {
        .limit = sizeof(gdt_table) - 1,
        .base = (unsigned long)gdt_table,
    };
    struct desc_ptr idtr = {
        .limit = sizeof(idt_table) - 1,
        .base = (unsigned long)idt_table,
    };

    memset(tss, 0, sizeof(*tss));
    tss->rsp0 = (unsigned long)(&ci->guest_cpu_user_regs + 1);
    tss->ist[IST_DF - 1] = block + (IST_DF_PAGE + 1) * PAGE_SIZE;
    tss->ist[IST_NMI - 1] = block + (IST_NMI_PAGE + 1) * PAGE_SIZE;
    tss->ist[IST_MCE - 1] = block + (IST_MCE_PAGE + 1) * PAGE_SIZE;
    tss->iomap_base = sizeof(*tss);

    asm volatile ( "lgdt %0\n\t"
                   "mov %k1, %%ds\n\t"
                   "mov %k1, %%es\n\t"
                   "mov %k1, %%ss\n\t"
                   "mov %k2, %%fs\n\t"
                   "mov %k2, %%gs\n\t"
                   "pushq %3\n\t"
                   "lea 1f(%%rip), %%rax\n\t"
                   "pushq %%rax\n\t"
                   "lretq\n"
                   "1:"
                   : : "m" (gdtr), "r" (__HYPERVISOR_DS), "r" (0),
                       "i" (__HYPERVISOR_CS)
                   : "rax", "memory" );

    asm volatile ( "ltr %w0" : : "r" (TSS_SELECTOR(cpu)) : "memory" );
    asm volatile ( "lidt %0" : : "m" (idtr) : "memory" );
}
