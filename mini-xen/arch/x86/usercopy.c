/* SPDX-License-Identifier: GPL-2.0 */
/*
 * usercopy.c
 *
 * Copies to and from guest memory.  The bounds check keeps the copy
 * inside the current domain's window; the exception table turns a fault
 * (the last page of every window is unmapped) into a short copy.
 */
#include <xen/lib.h>
#include <xen/guest_access.h>
#include <xen/sched.h>
#include <asm/current.h>
#include <asm/uaccess.h>
#include <public/platform.h>

static unsigned long raw_copy(void *to, const void *from, unsigned long n)
{
    asm volatile ( "1: rep movsb\n\t"
                   "2:\n\t"
                   _ASM_EXTABLE(1b, 2b)
                   : "+c" (n), "+D" (to), "+S" (from)
                   : : "memory" );

    return n;
}

unsigned long raw_copy_to_guest(void *to, const void *from, unsigned long n)
{
    return raw_copy(to, from, n);
}

unsigned long raw_copy_from_guest(void *to, const void *from, unsigned long n)
{
    return raw_copy(to, from, n);
}

bool guest_range_ok(const struct domain *d, unsigned long addr,
                    unsigned long len)
{
    unsigned long start = d->window;

    return addr >= start && len <= PLAT_DOMAIN_SIZE &&
           addr - start <= PLAT_DOMAIN_SIZE - len;
}

unsigned long copy_to_guest(unsigned long to, const void *from,
                            unsigned long len)
{
    const struct vcpu *v = current;

    if ( !v || is_idle_vcpu(v) || !guest_range_ok(v->domain, to, len) )
        return len;

    return raw_copy_to_guest((void *)to, from, len);
}

unsigned long copy_from_guest(void *to, unsigned long from, unsigned long len)
{
    const struct vcpu *v = current;

    if ( !v || is_idle_vcpu(v) || !guest_range_ok(v->domain, from, len) )
        return len;

    return raw_copy_from_guest(to, (const void *)from, len);
}
