/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_KERNEL_H__
#define __XEN_KERNEL_H__

#include <xen/types.h>

#define ARRAY_SIZE(a)           (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ({                      \
    const __typeof__(((type *)0)->member) *mptr__ = (ptr);      \
    (type *)((char *)mptr__ - offsetof(type, member)); })

#define min(x, y) ({                                            \
    __typeof__(x) x__ = (x);                                    \
    __typeof__(y) y__ = (y);                                    \
    (void)(&x__ == &y__);                                       \
    x__ < y__ ? x__ : y__; })

#define max(x, y) ({                                            \
    __typeof__(x) x__ = (x);                                    \
    __typeof__(y) y__ = (y);                                    \
    (void)(&x__ == &y__);                                       \
    x__ > y__ ? x__ : y__; })

#define min_t(t, x, y)          min((t)(x), (t)(y))
#define max_t(t, x, y)          max((t)(x), (t)(y))

#define ROUNDUP(x, a)           (((x) + (a) - 1) & ~((a) - 1))
#define IS_ALIGNED(x, a)        (((x) & ((a) - 1)) == 0)

#define BUILD_BUG_ON(cond)      _Static_assert(!(cond), "BUILD_BUG_ON: " #cond)

/* Linker-script symbols (arch/x86/xen.lds.S) */
extern char _start[], _stext[], _etext[];
extern char _srodata[], _erodata[];
extern char _sguest_text[], _eguest_text[];
extern char _sguest_data[], _eguest_data[];
extern char _sdata[], _edata[];
extern char __bss_start[], __bss_end[], _end[];

static inline bool is_kernel_text(unsigned long addr)
{
    return addr >= (unsigned long)_stext && addr < (unsigned long)_etext;
}

static inline bool is_kernel_rodata(unsigned long addr)
{
    return addr >= (unsigned long)_srodata && addr < (unsigned long)_erodata;
}

static inline bool is_kernel(unsigned long addr)
{
    return addr >= (unsigned long)_start && addr < (unsigned long)_end;
}

enum system_state {
    SYS_STATE_early_boot,
    SYS_STATE_boot,
    SYS_STATE_active,
};

extern enum system_state system_state;

#endif /* __XEN_KERNEL_H__ */
