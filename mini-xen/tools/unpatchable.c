/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unpatchable.c
 *
 * Host tool: check that the unpatchable set is closed.  The set is the
 * code linked into .text.unpatchable (__unpatchable_start ..
 * __unpatchable_end): everything that runs while live patches are
 * written (the rendezvous, the patch writers, the idle loop, NMI/#MC/#DF
 * entry and what they call).  A direct call or jump from the set to code
 * outside it would run patchable code inside the patch window, so it
 * fails the build.
 *
 * Usage: objdump -d --no-show-raw-insn IMAGE | unpatchable NM-FILE [--list]
 *
 * NM-FILE is "nm -n IMAGE" output (addresses of the functions and of the
 * two bounds).  Every direct call, jmp and jcc decoded by objdump is
 * checked; indirect calls and jumps (exception table, NMI callback,
 * hooks, softirq handlers) cannot be followed statically and are only
 * counted: the code that dispatches them decides at run time
 * (common/livepatch_nmi.c).  --list prints the functions of the set.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct func {
    unsigned long long addr;
    char *name;
};

static struct func *funcs;
static size_t nr_funcs, cap_funcs;
static unsigned long long set_start, set_end;

static int in_set(unsigned long long a)
{
    return a >= set_start && a < set_end;
}

/* The function holding a (the last one starting at or below it). */
static const struct func *func_at(unsigned long long a)
{
    size_t lo = 0, hi = nr_funcs;

    while ( lo < hi )
    {
        size_t mid = lo + (hi - lo) / 2;

        if ( funcs[mid].addr <= a )
            lo = mid + 1;
        else
            hi = mid;
    }

    return lo ? &funcs[lo - 1] : NULL;
}

static void read_nm(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024], name[900], type;
    unsigned long long addr;

    if ( !f )
    {
        perror(path);
        exit(1);
    }

    while ( fgets(line, sizeof(line), f) )
    {
        if ( sscanf(line, "%llx %c %899s", &addr, &type, name) != 3 )
            continue;
        if ( !strcmp(name, "__unpatchable_start") )
            set_start = addr;
        else if ( !strcmp(name, "__unpatchable_end") )
            set_end = addr;
        if ( type != 't' && type != 'T' )
            continue;
        if ( nr_funcs == cap_funcs )
        {
            cap_funcs = cap_funcs ? cap_funcs * 2 : 1024;
            funcs = realloc(funcs, cap_funcs * sizeof(*funcs));
            if ( !funcs )
            {
                perror("realloc");
                exit(1);
            }
        }
        funcs[nr_funcs].addr = addr;
        funcs[nr_funcs].name = strdup(name);
        nr_funcs++;
    }
    fclose(f);

    if ( !set_start || set_end <= set_start )
    {
        fprintf(stderr, "unpatchable: %s: no __unpatchable_start/end\n", path);
        exit(1);
    }
}

static int is_branch(const char *m)
{
    return !strncmp(m, "call", 4) || m[0] == 'j' || !strncmp(m, "loop", 4);
}

int main(int argc, char **argv)
{
    char line[4096];
    unsigned long edges = 0, indirect = 0, errors = 0, members = 0;
    size_t i;

    if ( argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--list")) )
    {
        fprintf(stderr, "usage: objdump -d --no-show-raw-insn IMAGE | "
                "unpatchable NM-FILE [--list]\n");
        return 2;
    }
    read_nm(argv[1]);

    while ( fgets(line, sizeof(line), stdin) )
    {
        unsigned long long at, target;
        char *p = line, *end, mnem[32];
        const struct func *from, *to;
        int n;

        while ( *p == ' ' )
            p++;
        at = strtoull(p, &end, 16);
        if ( end == p || *end != ':' || end[1] != '\t' )
            continue;
        if ( !in_set(at) )
            continue;
        p = end + 2;
        if ( sscanf(p, "%31s%n", mnem, &n) != 1 || !is_branch(mnem) )
            continue;
        p += n;
        while ( *p == ' ' )
            p++;
        if ( *p == '*' )
        {
            indirect++;
            continue;
        }
        if ( !isxdigit((unsigned char)*p) )
            continue;
        target = strtoull(p, &end, 16);
        if ( end == p )
            continue;
        edges++;
        if ( in_set(target) )
            continue;

        from = func_at(at);
        to = func_at(target);
        fprintf(stderr, "error: %s (.text.unpatchable) %s %s+%#llx at %#llx: "
                "outside the unpatchable set; move the call out of the "
                "patch window or mark %s __unpatchable\n",
                from ? from->name : "?", mnem, to ? to->name : "?",
                to ? target - to->addr : target, at, to ? to->name : "it");
        errors++;
    }

    for ( i = 0; i < nr_funcs; i++ )
        if ( in_set(funcs[i].addr) &&
             strcmp(funcs[i].name, "__unpatchable_start") )
        {
            members++;
            if ( argc == 3 )
                printf("%s\n", funcs[i].name);
        }

    if ( errors )
    {
        fprintf(stderr, "unpatchable: %lu call(s) leave the set\n", errors);
        return 1;
    }

    fprintf(argc == 3 ? stderr : stdout,
            "unpatchable: %lu functions closed under %lu direct calls/jumps "
            "(%lu indirect, dispatched at run time)\n",
            members, edges, indirect);

    return 0;
}
