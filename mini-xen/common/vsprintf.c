/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vsprintf.c
 *
 * A small vsnprintf: conversions d i u x X o c s p %, flags - 0 + space #,
 * width and precision (also as *), length modifiers hh h l ll z t.
 * %pS / %ps print a symbol ("name+0xoff/0xsize" / "name"); in the text
 * of a live-patch payload, " [payload]" follows.
 */
#include <xen/lib.h>
#include <xen/symbols.h>
#include <public/livepatch.h>

#define F_LEFT      0x01
#define F_ZEROPAD   0x02
#define F_PLUS      0x04
#define F_SPACE     0x08
#define F_SPECIAL   0x10
#define F_UPPER     0x20
#define F_SIGNED    0x40

struct outbuf {
    char *buf;
    size_t size;
    size_t pos;
};

static void out_char(struct outbuf *o, char c)
{
    if ( o->pos + 1 < o->size )
        o->buf[o->pos] = c;
    o->pos++;
}

static void out_string(struct outbuf *o, const char *s, int width,
                       int precision, unsigned int flags)
{
    int len, i;

    if ( !s )
        s = "<NULL>";

    len = strnlen(s, precision < 0 ? INT_MAX : (size_t)precision);

    if ( !(flags & F_LEFT) )
        for ( i = len; i < width; i++ )
            out_char(o, ' ');
    for ( i = 0; i < len; i++ )
        out_char(o, s[i]);
    if ( flags & F_LEFT )
        for ( i = len; i < width; i++ )
            out_char(o, ' ');
}

static void out_number(struct outbuf *o, unsigned long long num,
                       unsigned int base, int width, int precision,
                       unsigned int flags)
{
    const char *digits = (flags & F_UPPER) ? "0123456789ABCDEF"
                                           : "0123456789abcdef";
    char tmp[24];
    char sign = 0;
    const char *prefix = "";
    int ndigits = 0, len, i;

    if ( flags & F_SIGNED )
    {
        if ( (long long)num < 0 )
        {
            sign = '-';
            num = -(long long)num;
        }
        else if ( flags & F_PLUS )
            sign = '+';
        else if ( flags & F_SPACE )
            sign = ' ';
    }

    if ( (flags & F_SPECIAL) && num )
    {
        if ( base == 16 )
            prefix = (flags & F_UPPER) ? "0X" : "0x";
        else if ( base == 8 )
            prefix = "0";
    }

    do {
        tmp[ndigits++] = digits[num % base];
        num /= base;
    } while ( num );

    if ( precision >= 0 )
        flags &= ~F_ZEROPAD;
    if ( precision < ndigits )
        precision = ndigits;

    len = precision + (sign ? 1 : 0) + strlen(prefix);

    if ( !(flags & (F_LEFT | F_ZEROPAD)) )
        for ( i = len; i < width; i++ )
            out_char(o, ' ');
    if ( sign )
        out_char(o, sign);
    for ( ; *prefix; prefix++ )
        out_char(o, *prefix);
    if ( (flags & F_ZEROPAD) && !(flags & F_LEFT) )
        for ( i = len; i < width; i++ )
            out_char(o, '0');
    for ( i = ndigits; i < precision; i++ )
        out_char(o, '0');
    while ( ndigits-- )
        out_char(o, tmp[ndigits]);
    if ( flags & F_LEFT )
        for ( i = len; i < width; i++ )
            out_char(o, ' ');
}

static void out_symbol(struct outbuf *o, unsigned long addr, bool offset,
                       int width, unsigned int flags)
{
    unsigned long size, off;
    const char *module;
    const char *name = symbols_lookup_module(addr, &size, &off, &module);
    char buf[128 + XEN_LIVEPATCH_NAME_SIZE];
    int n;

    if ( !name )
    {
        out_number(o, addr, 16, width, -1, flags | F_SPECIAL);
        return;
    }

    if ( offset )
        n = snprintf(buf, sizeof(buf), "%s+%#lx/%#lx", name, off, size);
    else
        n = snprintf(buf, sizeof(buf), "%s", name);
    if ( module && n >= 0 && (size_t)n < sizeof(buf) )
        snprintf(buf + n, sizeof(buf) - n, " [%s]", module);
    out_string(o, buf, width, -1, flags);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
    struct outbuf o = { .buf = buf, .size = size, .pos = 0 };

    for ( ; *fmt; fmt++ )
    {
        unsigned int flags = 0, base = 10;
        int width = -1, precision = -1, qualifier = 0;
        unsigned long long num;

        if ( *fmt != '%' )
        {
            out_char(&o, *fmt);
            continue;
        }

        /* flags */
        for ( ; ; )
        {
            fmt++;
            if ( *fmt == '-' )
                flags |= F_LEFT;
            else if ( *fmt == '0' )
                flags |= F_ZEROPAD;
            else if ( *fmt == '+' )
                flags |= F_PLUS;
            else if ( *fmt == ' ' )
                flags |= F_SPACE;
            else if ( *fmt == '#' )
                flags |= F_SPECIAL;
            else
                break;
        }

        /* width */
        if ( *fmt == '*' )
        {
            width = va_arg(args, int);
            if ( width < 0 )
            {
                width = -width;
                flags |= F_LEFT;
            }
            fmt++;
        }
        else if ( *fmt >= '0' && *fmt <= '9' )
            for ( width = 0; *fmt >= '0' && *fmt <= '9'; fmt++ )
                width = width * 10 + (*fmt - '0');

        /* precision */
        if ( *fmt == '.' )
        {
            fmt++;
            if ( *fmt == '*' )
            {
                precision = va_arg(args, int);
                fmt++;
            }
            else
                for ( precision = 0; *fmt >= '0' && *fmt <= '9'; fmt++ )
                    precision = precision * 10 + (*fmt - '0');
            if ( precision < 0 )
                precision = -1;
        }

        /* length */
        if ( *fmt == 'h' )
        {
            qualifier = 'h';
            if ( *++fmt == 'h' )
            {
                qualifier = 'H';
                fmt++;
            }
        }
        else if ( *fmt == 'l' )
        {
            qualifier = 'l';
            if ( *++fmt == 'l' )
            {
                qualifier = 'L';
                fmt++;
            }
        }
        else if ( *fmt == 'z' || *fmt == 't' )
        {
            qualifier = 'l';
            fmt++;
        }

        switch ( *fmt )
        {
        case 'c':
            if ( !(flags & F_LEFT) )
                while ( --width > 0 )
                    out_char(&o, ' ');
            out_char(&o, (char)va_arg(args, int));
            while ( --width > 0 )
                out_char(&o, ' ');
            continue;

        case 's':
            out_string(&o, va_arg(args, const char *), width, precision,
                       flags);
            continue;

        case 'p':
            if ( fmt[1] == 'S' || fmt[1] == 's' )
            {
                fmt++;
                out_symbol(&o, (unsigned long)va_arg(args, void *),
                           *fmt == 'S', width, flags);
                continue;
            }
            if ( width < 0 )
            {
                width = 2 * sizeof(void *);
                flags |= F_ZEROPAD;
            }
            out_number(&o, (unsigned long)va_arg(args, void *), 16, width,
                       precision, flags);
            continue;

        case '%':
            out_char(&o, '%');
            continue;

        case 'o':
            base = 8;
            break;

        case 'X':
            flags |= F_UPPER;
            /* fallthrough */
        case 'x':
            base = 16;
            break;

        case 'd':
        case 'i':
            flags |= F_SIGNED;
            break;

        case 'u':
            break;

        default:
            /* Unknown conversion: print it as is. */
            out_char(&o, '%');
            if ( !*fmt )
                goto out;
            out_char(&o, *fmt);
            continue;
        }

        if ( flags & F_SIGNED )
        {
            switch ( qualifier )
            {
            case 'L': num = va_arg(args, long long); break;
            case 'l': num = va_arg(args, long); break;
            case 'h': num = (short)va_arg(args, int); break;
            case 'H': num = (signed char)va_arg(args, int); break;
            default:  num = va_arg(args, int); break;
            }
        }
        else
        {
            switch ( qualifier )
            {
            case 'L': num = va_arg(args, unsigned long long); break;
            case 'l': num = va_arg(args, unsigned long); break;
            case 'h': num = (unsigned short)va_arg(args, int); break;
            case 'H': num = (unsigned char)va_arg(args, int); break;
            default:  num = va_arg(args, unsigned int); break;
            }
        }

        out_number(&o, num, base, width, precision, flags);
    }

 out:
    if ( o.size )
        o.buf[o.pos < o.size ? o.pos : o.size - 1] = '\0';

    return o.pos;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(buf, size, fmt, args);
    va_end(args);

    return n;
}

int scnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(buf, size, fmt, args);
    va_end(args);

    if ( size == 0 )
        return 0;

    return (size_t)n >= size ? (int)size - 1 : n;
}
