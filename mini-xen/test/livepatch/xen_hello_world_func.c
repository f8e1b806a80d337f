/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_hello_world: the replacement of xen_extra_version() and the load
 * and unload hooks.  The new function also runs an alternative (applied
 * at load), an exception-table fixup (a load from a non-canonical
 * address must give -EFAULT) and a BUG_ON(), so .altinstructions,
 * .ex_table and .bug_frames all work inside payload code.  hello_cnt is
 * .bss: once reverted, the payload may not be applied again.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch_payload.h>
#include <asm/alternative.h>
#include <asm/uaccess.h>

static unsigned int hello_cnt;

/* 0 and *val, or -EFAULT if the load faulted. */
static int hello_read_unsafe(unsigned long addr, unsigned long *val)
{
    int rc = 0;

    asm volatile ( "1: mov (%[addr]), %[val]\n\t"
                   "2:\n\t"
                   ".pushsection .fixup, \"ax\", @progbits\n\t"
                   "3: mov %[efault], %[rc]\n\t"
                   "jmp 2b\n\t"
                   ".popsection\n\t"
                   _ASM_EXTABLE(1b, 3b)
                   : [rc] "+r" (rc), [val] "=&r" (*val)
                   : [addr] "r" (addr), [efault] "i" (-EFAULT) );

    return rc;
}

const char *xen_hello_world(void)
{
    unsigned long tmp;
    int rc;

    alternative(ASM_NOP8, ASM_NOP1, X86_FEATURE_ALWAYS);

    rc = hello_read_unsafe(0xdead000000000000UL, &tmp);
    BUG_ON(rc != -EFAULT);

    return "Hello World";
}

static void hello_apply_hook(void)
{
    printk("Hook executing.\n");
}

static void hello_revert_hook(void)
{
    printk("Hook unloaded.\n");
}

static void hello_hi_func(void)
{
    hello_cnt++;
    printk("hello_hi_func: Hi! (called %u times)\n", hello_cnt);
}

static void hello_check_fnc(void)
{
    printk("hello_check_fnc: Hi func called %u times\n", hello_cnt);
    BUG_ON(hello_cnt == 0 || hello_cnt > 2);
}

LIVEPATCH_LOAD_HOOK(hello_apply_hook);
LIVEPATCH_LOAD_HOOK(hello_hi_func);

LIVEPATCH_UNLOAD_HOOK(hello_revert_hook);
LIVEPATCH_UNLOAD_HOOK(hello_hi_func);
LIVEPATCH_UNLOAD_HOOK(hello_check_fnc);
