/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xmalloc.h
 *
 * The hypervisor heap: PLAT_HEAP_SIZE bytes at PLAT_HEAP_BASE (RW, NX),
 * first-fit with coalescing, 16-byte aligned.  Callable with interrupts
 * on or off, never from NMI/MCE context.
 */
#ifndef __XEN_XMALLOC_H__
#define __XEN_XMALLOC_H__

#include <xen/types.h>

void *xmalloc_bytes(size_t size);
void *xzalloc_bytes(size_t size);
void xfree(void *p);

#define xmalloc(type)           ((type *)xmalloc_bytes(sizeof(type)))
#define xzalloc(type)           ((type *)xzalloc_bytes(sizeof(type)))
#define xzalloc_array(type, n)                                          \
    ((type *)xzalloc_array_bytes(sizeof(type), (n)))

static inline void *xzalloc_array_bytes(size_t size, size_t n)
{
    if ( n && size > SIZE_MAX / n )
        return NULL;

    return xzalloc_bytes(size * n);
}

/* Bytes of the heap not allocated (for diagnostics). */
size_t xmem_free_bytes(void);

#endif /* __XEN_XMALLOC_H__ */
