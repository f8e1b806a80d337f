/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uaccess.h
 *
 * Raw, fault-tolerant accessors for guest memory.  Every instruction that
 * may touch guest memory has an entry in .ex_table: {insn, fixup}, both
 * 32-bit displacements relative to the field itself.  The #PF handler
 * resumes at the fixup instead of crashing.
 */
#ifndef __ASM_X86_UACCESS_H__
#define __ASM_X86_UACCESS_H__

#include <xen/types.h>
#include <xen/errno.h>
#include <asm/asm_defns.h>

struct exception_table_entry {
    int32_t insn;
    int32_t fixup;
};

extern struct exception_table_entry __start___ex_table[];
extern struct exception_table_entry __stop___ex_table[];

void sort_exception_table(struct exception_table_entry *start,
                          struct exception_table_entry *stop);
unsigned long search_exception_table(unsigned long addr);
unsigned long search_one_extable(const struct exception_table_entry *start,
                                 const struct exception_table_entry *stop,
                                 unsigned long addr);

/* Both return the number of bytes NOT copied (0 on success). */
unsigned long raw_copy_to_guest(void *to, const void *from, unsigned long n);
unsigned long raw_copy_from_guest(void *to, const void *from, unsigned long n);

/* 0 on success, -EFAULT if the store faulted. */
static inline int put_guest_u64(uint64_t *ptr, uint64_t val)
{
    int rc = 0;

    asm volatile ( "1: movq %2, %1\n\t"
                   "2:\n\t"
                   ".pushsection .fixup, \"ax\", @progbits\n\t"
                   "3: movl %3, %0\n\t"
                   "jmp 2b\n\t"
                   ".popsection\n\t"
                   _ASM_EXTABLE(1b, 3b)
                   : "+r" (rc), "=m" (*ptr)
                   : "r" (val), "i" (-EFAULT) );
    return rc;
}

#endif /* __ASM_X86_UACCESS_H__ */
