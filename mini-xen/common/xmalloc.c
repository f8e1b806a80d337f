/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xmalloc.c
 *
 * A small first-fit heap over [PLAT_HEAP_BASE, + PLAT_HEAP_SIZE).  Every
 * block starts with a 16-byte header; free blocks are kept on a list in
 * address order so that a freed block merges with its free neighbours.
 * Allocated blocks carry a magic word in place of the list link, which
 * catches double and wild frees.
 */
#include <xen/lib.h>
#include <xen/spinlock.h>
#include <xen/xmalloc.h>
#include <public/counters.h>
#include <public/platform.h>

#define XMEM_ALIGN              16
#define XMEM_MAGIC              ((struct xmem_block *)0x6b6f6c4270616568UL)
#define XMEM_MIN_SPLIT          (2 * XMEM_ALIGN)

struct xmem_block {
    size_t size;                /* whole block, header included */
    struct xmem_block *next;    /* next free block, or XMEM_MAGIC */
};

struct xen_counters xen_counters;

static struct xmem_block *free_list;
static bool xmem_ready;
static DEFINE_SPINLOCK(xmem_lock);

static void xmem_init(void)
{
    struct xmem_block *b = (struct xmem_block *)PLAT_HEAP_BASE;

    BUILD_BUG_ON(sizeof(struct xmem_block) != XMEM_ALIGN);

    b->size = PLAT_HEAP_SIZE;
    b->next = NULL;
    free_list = b;
    xmem_ready = true;
}

void *xmalloc_bytes(size_t size)
{
    struct xmem_block **pprev, *b;
    unsigned long flags;
    size_t need;

    if ( size > PLAT_HEAP_SIZE )
        return NULL;
    need = ROUNDUP(size + sizeof(*b), XMEM_ALIGN);

    spin_lock_irqsave(&xmem_lock, flags);

    if ( !xmem_ready )
        xmem_init();

    for ( pprev = &free_list; (b = *pprev) != NULL; pprev = &b->next )
    {
        if ( b->size < need )
            continue;

        if ( b->size - need >= XMEM_MIN_SPLIT )
        {
            struct xmem_block *rest = (void *)((char *)b + need);

            rest->size = b->size - need;
            rest->next = b->next;
            *pprev = rest;
            b->size = need;
        }
        else
            *pprev = b->next;

        b->next = XMEM_MAGIC;
        xen_counters.heap_blocks++;
        xen_counters.heap_bytes += b->size;
        break;
    }

    spin_unlock_irqrestore(&xmem_lock, flags);

    return b ? b + 1 : NULL;
}

void *xzalloc_bytes(size_t size)
{
    void *p = xmalloc_bytes(size);

    if ( p )
        memset(p, 0, size);

    return p;
}

void xfree(void *p)
{
    struct xmem_block *b, *prev = NULL, *next;
    unsigned long flags;

    if ( !p )
        return;

    b = (struct xmem_block *)p - 1;
    BUG_ON((unsigned long)b < PLAT_HEAP_BASE ||
           (unsigned long)b >= PLAT_HEAP_BASE + PLAT_HEAP_SIZE ||
           b->next != XMEM_MAGIC);

    spin_lock_irqsave(&xmem_lock, flags);

    xen_counters.heap_blocks--;
    xen_counters.heap_bytes -= b->size;

    for ( next = free_list; next && next < b; next = next->next )
        prev = next;

    /* Merge with the following block... */
    if ( next && (char *)b + b->size == (char *)next )
    {
        b->size += next->size;
        b->next = next->next;
    }
    else
        b->next = next;

    /* ... and with the preceding one. */
    if ( prev && (char *)prev + prev->size == (char *)b )
    {
        prev->size += b->size;
        prev->next = b->next;
    }
    else if ( prev )
        prev->next = b;
    else
        free_list = b;

    spin_unlock_irqrestore(&xmem_lock, flags);
}

size_t xmem_free_bytes(void)
{
    const struct xmem_block *b;
    unsigned long flags;
    size_t total = 0;

    spin_lock_irqsave(&xmem_lock, flags);
    if ( !xmem_ready )
        xmem_init();
    for ( b = free_list; b; b = b->next )
        total += b->size;
    spin_unlock_irqrestore(&xmem_lock, flags);

    return total;
}
