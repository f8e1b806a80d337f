/* SPDX-License-Identifier: GPL-2.0 */
/*
 * param.c
 *
 * The hypervisor command line: space-separated "key" or "key=value"
 * words, each looked up in the .init.setup table that boolean_param(),
 * integer_param(), string_param() and custom_param() build (xen/param.h).
 * An unknown key or a value its parameter refuses is reported with one
 * console line and otherwise ignored; boot goes on.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/param.h>
#include <public/platform.h>

char saved_cmdline[BOOT_CMDLINE_MAX];

/* A scratch copy cut into NUL-terminated words. */
static char cmdline_words[BOOT_CMDLINE_MAX];

static bool word_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(e - s) == n && !strncmp(s, word, n);
}

int parse_bool(const char *s, const char *e)
{
    if ( !e )
        e = s + strlen(s);

    if ( word_is(s, e, "1") || word_is(s, e, "yes") || word_is(s, e, "on") ||
         word_is(s, e, "true") || word_is(s, e, "enable") )
        return 1;

    if ( word_is(s, e, "0") || word_is(s, e, "no") || word_is(s, e, "off") ||
         word_is(s, e, "false") || word_is(s, e, "disable") )
        return 0;

    return -1;
}

/* Unsigned decimal or 0x-prefixed hex, the whole of @s; -EINVAL else. */
static int parse_uint(const char *s, unsigned long *out)
{
    unsigned long v = 0;
    unsigned int base = 10, digits = 0;

    if ( s[0] == '0' && (s[1] == 'x' || s[1] == 'X') )
    {
        base = 16;
        s += 2;
    }

    for ( ; *s; s++, digits++ )
    {
        unsigned int d;

        if ( *s >= '0' && *s <= '9' )
            d = *s - '0';
        else if ( base == 16 && *s >= 'a' && *s <= 'f' )
            d = *s - 'a' + 10;
        else if ( base == 16 && *s >= 'A' && *s <= 'F' )
            d = *s - 'A' + 10;
        else
            return -EINVAL;

        if ( v > (~0UL - d) / base )
            return -ERANGE;
        v = v * base + d;
    }

    if ( !digits )
        return -EINVAL;

    *out = v;
    return 0;
}

static int store_uint(const struct kernel_param *p, unsigned long v)
{
    switch ( p->len )
    {
    case sizeof(uint8_t):
        if ( v > 0xff )
            return -ERANGE;
        *(uint8_t *)p->par.var = v;
        return 0;
    case sizeof(uint16_t):
        if ( v > 0xffff )
            return -ERANGE;
        *(uint16_t *)p->par.var = v;
        return 0;
    case sizeof(uint32_t):
        if ( v > 0xffffffffUL )
            return -ERANGE;
        *(uint32_t *)p->par.var = v;
        return 0;
    case sizeof(uint64_t):
        *(uint64_t *)p->par.var = v;
        return 0;
    }

    return -EINVAL;
}

/*
 * Applies one parameter; @val is NULL for a bare key.  @negated: the key
 * was written "no-<name>" (booleans only).
 */
static int apply_param(const struct kernel_param *p, const char *val,
                       bool negated)
{
    unsigned long v;
    int b, rc;

    switch ( p->type )
    {
    case OPT_BOOL:
        if ( !val )
            b = !negated;
        else if ( negated || (b = parse_bool(val, NULL)) < 0 )
            return -EINVAL;
        return store_uint(p, b);

    case OPT_UINT:
        if ( !val || negated )
            return -EINVAL;
        rc = parse_uint(val, &v);
        return rc ?: store_uint(p, v);

    case OPT_STR:
        if ( !val || negated )
            return -EINVAL;
        strlcpy(p->par.var, val, p->len);
        return 0;

    case OPT_CUSTOM:
        if ( negated )
            return -EINVAL;
        return p->par.func(val ?: "");
    }

    return -EINVAL;
}

static const struct kernel_param *find_param(const char *key)
{
    const struct kernel_param *p;

    for ( p = __setup_start; p < __setup_end; p++ )
        if ( !strcmp(p->name, key) )
            return p;

    return NULL;
}

static void parse_word(char *word)
{
    const struct kernel_param *p;
    char *val = strchr(word, '=');
    bool negated = false;
    int rc;

    if ( val )
        *val++ = '\0';

    p = find_param(word);
    if ( !p && !val && !strncmp(word, "no-", 3) )
    {
        p = find_param(word + 3);
        if ( p && p->type == OPT_BOOL )
            negated = true;
        else
            p = NULL;
    }

    if ( !p )
    {
        printk("Command line: unknown option \"%s\" ignored\n", word);
        return;
    }

    rc = apply_param(p, val, negated);
    if ( rc )
        printk("Command line: option \"%s\" refused value \"%s\" (rc=%d)\n",
               p->name, val ?: "", rc);
}

void cmdline_parse(const char *src, unsigned int len)
{
    char *s;

    if ( len >= BOOT_CMDLINE_MAX )
        len = BOOT_CMDLINE_MAX - 1;
    memcpy(saved_cmdline, src, len);
    saved_cmdline[len] = '\0';

    printk("Command line: %s\n", saved_cmdline);

    strlcpy(cmdline_words, saved_cmdline, sizeof(cmdline_words));

    for ( s = cmdline_words; *s; )
    {
        char *word;

        while ( *s == ' ' || *s == '\t' )
            s++;
        if ( !*s )
            break;

        word = s;
        while ( *s && *s != ' ' && *s != '\t' )
            s++;
        if ( *s )
            *s++ = '\0';

        parse_word(word);
    }
}
