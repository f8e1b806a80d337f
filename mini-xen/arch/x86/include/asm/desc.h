/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_DESC_H__
#define __ASM_X86_DESC_H__

#include <xen/types.h>

struct __packed tss64 {
    uint32_t _rsvd0;
    uint64_t rsp0, rsp1, rsp2;
    uint64_t _rsvd1;
    uint64_t ist[7];
    uint64_t _rsvd2;
    uint16_t _rsvd3;
    uint16_t iomap_base;
};

struct idt_entry {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t  ist;
    uint8_t  type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t _rsvd;
};

struct __packed desc_ptr {
    uint16_t limit;
    uint64_t base;
};

#define GATE_INTERRUPT          0xe

extern struct idt_entry idt_table[256];
extern const char entry_stubs[];     /* entry.S: 16 bytes per vector */

void init_idt(void);
void load_descriptors(unsigned int cpu);
void set_ist(unsigned int vector, unsigned int ist);

#endif /* __ASM_X86_DESC_H__ */
