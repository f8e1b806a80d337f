/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nm-sysv.h
 *
 * Parser for "nm -pa --format=sysv" output, shared by the host tools.
 * Calls fn for every symbol that belongs in the embedded table, with its
 * table name: "<file>#<name>" for local symbols (file = the preceding
 * STT_FILE symbol), the plain name for global ones.
 */
#ifndef __TOOLS_NM_SYSV_H__
#define __TOOLS_NM_SYSV_H__

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nm_sym {
    const char *name;           /* table name */
    unsigned long long addr;
    unsigned long long size;
    char class;                 /* nm letter */
    int sized;                  /* has a size or is FUNC/OBJECT */
    int local;
};

static char *nm_trim(char *s)
{
    char *e;

    while ( isspace((unsigned char)*s) )
        s++;
    e = s + strlen(s);
    while ( e > s && isspace((unsigned char)e[-1]) )
        *--e = '\0';

    return s;
}

/* Section-based symbols of the image; not undefined, debug or local absolute. */
static int nm_wanted_class(char c)
{
    return c && strchr("TtDdRrBbVvWA", c) != NULL;
}

static void nm_parse(FILE *in, void (*fn)(const struct nm_sym *s, void *arg),
                     void *arg)
{
    char line[4096], full[8192];
    char *file = NULL;
    unsigned int lineno = 0;

    while ( fgets(line, sizeof(line), in) )
    {
        char *f[7], *p = line, *name, *type, *end;
        struct nm_sym s;
        unsigned int i;

        lineno++;
        if ( !strchr(line, '|') )
            continue;

        for ( i = 0; i < 7; i++ )
        {
            f[i] = p;
            p = strchr(p, '|');
            if ( !p )
                break;
            *p++ = '\0';
        }
        if ( i < 6 )
        {
            fprintf(stderr, "nm: malformed line %u\n", lineno);
            exit(1);
        }

        name = nm_trim(f[0]);
        if ( !strcmp(name, "Name") )
            continue;
        type = nm_trim(f[3]);
        s.class = *nm_trim(f[2]);

        if ( !strcmp(type, "FILE") )
        {
            free(file);
            file = strdup(name);
            continue;
        }

        if ( !*name || !strcmp(type, "SECTION") ||
             !nm_wanted_class(s.class) || !strncmp(name, ".L", 2) )
            continue;

        s.addr = strtoull(nm_trim(f[1]), &end, 16);
        if ( *end )
        {
            fprintf(stderr, "nm: bad value on line %u\n", lineno);
            exit(1);
        }
        s.size = *nm_trim(f[4]) ? strtoull(nm_trim(f[4]), NULL, 16) : 0;
        s.local = islower((unsigned char)s.class) && s.class != 'v' &&
                  s.class != 'w';
        s.sized = s.size || !strcmp(type, "FUNC") || !strcmp(type, "OBJECT");

        if ( s.local && file )
            snprintf(full, sizeof(full), "%s#%s", file, name);
        else
            snprintf(full, sizeof(full), "%s", name);
        s.name = full;

        fn(&s, arg);
    }

    free(file);
}

#endif /* __TOOLS_NM_SYSV_H__ */
