/* SPDX-License-Identifier: GPL-2.0 */
/*
 * string.c
 *
 * The few C library string functions the hypervisor needs.  gcc also
 * emits calls to memcpy/memset/memmove/memcmp for structure copies.
 */
#include <xen/string.h>

void *memcpy(void *dst, const void *src, size_t n)
{
    void *ret = dst;

    asm volatile ( "rep movsb"
                   : "+D" (dst), "+S" (src), "+c" (n) : : "memory" );
    return ret;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if ( d <= s || d >= s + n )
        return memcpy(dst, src, n);

    while ( n-- )
        d[n] = s[n];

    return dst;
}

void *memset(void *s, int c, size_t n)
{
    void *ret = s;

    asm volatile ( "rep stosb"
                   : "+D" (s), "+c" (n) : "a" (c) : "memory" );
    return ret;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;

    for ( ; n; n--, p++, q++ )
        if ( *p != *q )
            return *p - *q;

    return 0;
}

size_t strlen(const char *s)
{
    const char *p = s;

    while ( *p )
        p++;

    return p - s;
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;

    while ( n < max && s[n] )
        n++;

    return n;
}

int strcmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;

    while ( *p && *p == *q )
    {
        p++;
        q++;
    }

    return *p - *q;
}

int strncmp(const char *a, const char *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;

    for ( ; n; n--, p++, q++ )
    {
        if ( *p != *q )
            return *p - *q;
        if ( !*p )
            break;
    }

    return 0;
}

size_t strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if ( size )
    {
        size_t n = len >= size ? size - 1 : len;

        memcpy(dst, src, n);
        dst[n] = '\0';
    }

    return len;
}

char *strchr(const char *s, int c)
{
    for ( ; *s != (char)c; s++ )
        if ( !*s )
            return NULL;

    return (char *)s;
}
