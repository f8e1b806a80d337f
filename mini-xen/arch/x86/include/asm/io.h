/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_IO_H__
#define __ASM_X86_IO_H__

#include <xen/types.h>

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    asm volatile ( "inb %w1, %b0" : "=a" (v) : "Nd" (port) );
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;

    asm volatile ( "inl %w1, %0" : "=a" (v) : "Nd" (port) );
    return v;
}

static inline void outb(uint8_t v, uint16_t port)
{
    asm volatile ( "outb %b0, %w1" : : "a" (v), "Nd" (port) );
}

static inline void outl(uint32_t v, uint16_t port)
{
    asm volatile ( "outl %0, %w1" : : "a" (v), "Nd" (port) );
}

#endif /* __ASM_X86_IO_H__ */
