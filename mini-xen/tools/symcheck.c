/* SPDX-License-Identifier: GPL-2.0 */
/*
 * symcheck.c
 *
 * Host tool: check the symbol table embedded in the flat image against
 * the ELF's own symbols.
 *
 * Usage: symcheck <mini-xen.bin> <nm -pa --format=sysv output> [--dump]
 *
 * Checks that the table is sorted by address, that the name index is
 * sorted and complete, that every symbol of the ELF (by table name,
 * "file.c#name" for locals) is in the table with the same address, and
 * that a name lookup by binary search finds each entry.  --dump prints
 * the table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nm-sysv.h"

#define IMAGE_BASE              0x100000ULL

struct entry {
    uint64_t addr;
    uint32_t size;
    uint32_t name;
    uint8_t type;
    uint8_t pad[7];
};

static unsigned char *image;
static size_t image_size;
static const struct entry *entries;
static const uint32_t *by_name;
static const char *names;
static uint32_t nr_entries;
static size_t names_size;

static unsigned long long sym_entries, sym_num, sym_by_name, sym_names;
static unsigned long long sym_names_size;
static unsigned int nr_elf, nr_local, errors;

static const void *at(unsigned long long addr, size_t len)
{
    if ( addr < IMAGE_BASE || addr - IMAGE_BASE + len > image_size )
    {
        fprintf(stderr, "symcheck: address %#llx outside the image\n", addr);
        exit(1);
    }
    return image + (addr - IMAGE_BASE);
}

static const char *ename(uint32_t i)
{
    if ( entries[i].name >= names_size )
    {
        fprintf(stderr, "symcheck: entry %u: bad name offset\n", i);
        exit(1);
    }
    return names + entries[i].name;
}

static int lookup(const char *name)
{
    uint32_t lo = 0, hi = nr_entries;

    while ( lo < hi )
    {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, ename(by_name[mid]));

        if ( !c )
            return by_name[mid];
        if ( c > 0 )
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void find_table(const struct nm_sym *s, void *unused)
{
    if ( !strcmp(s->name, "symbols_entries") )
        sym_entries = s->addr;
    else if ( !strcmp(s->name, "symbols_num") )
        sym_num = s->addr;
    else if ( !strcmp(s->name, "symbols_by_name") )
        sym_by_name = s->addr;
    else if ( !strcmp(s->name, "symbols_names") )
    {
        sym_names = s->addr;
        sym_names_size = s->size;
    }
}

static void check_sym(const struct nm_sym *s, void *unused)
{
    int i = lookup(s->name);

    nr_elf++;
    if ( s->local && strchr(s->name, '#') )
        nr_local++;

    if ( i < 0 )
    {
        fprintf(stderr, "symcheck: %s missing from the table\n", s->name);
        errors++;
    }
    else if ( entries[i].addr != s->addr )
    {
        fprintf(stderr, "symcheck: %s at %#llx in the table, %#llx in the ELF\n",
                s->name, (unsigned long long)entries[i].addr, s->addr);
        errors++;
    }
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;

    if ( !f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
         fseek(f, 0, SEEK_SET) )
    {
        perror(path);
        exit(1);
    }
    buf = malloc(n ? n : 1);
    if ( !buf || fread(buf, 1, n, f) != (size_t)n )
    {
        perror(path);
        exit(1);
    }
    fclose(f);
    *size = n;
    return buf;
}

int main(int argc, char **argv)
{
    FILE *nm;
    uint32_t i;
    int dump = argc > 3 && !strcmp(argv[3], "--dump");

    if ( argc < 3 )
    {
        fprintf(stderr, "usage: symcheck <image.bin> <nm-output> [--dump]\n");
        return 1;
    }

    image = read_file(argv[1], &image_size);

    nm = fopen(argv[2], "r");
    if ( !nm )
    {
        perror(argv[2]);
        return 1;
    }
    nm_parse(nm, find_table, NULL);
    if ( !sym_entries || !sym_num || !sym_by_name || !sym_names )
    {
        fprintf(stderr, "symcheck: symbol table symbols not found\n");
        return 1;
    }

    nr_entries = *(const uint32_t *)at(sym_num, 4);
    entries = at(sym_entries, (size_t)nr_entries * sizeof(*entries));
    by_name = at(sym_by_name, (size_t)nr_entries * 4);
    names = at(sym_names, sym_names_size);
    names_size = sym_names_size;

    for ( i = 1; i < nr_entries; i++ )
        if ( entries[i - 1].addr > entries[i].addr )
        {
            fprintf(stderr, "symcheck: entries not sorted at %u\n", i);
            errors++;
        }

    for ( i = 0; i < nr_entries; i++ )
    {
        if ( by_name[i] >= nr_entries )
        {
            fprintf(stderr, "symcheck: bad name index %u\n", i);
            return 1;
        }
        if ( i && strcmp(ename(by_name[i - 1]), ename(by_name[i])) >= 0 )
        {
            fprintf(stderr, "symcheck: name index not sorted at %u\n", i);
            errors++;
        }
    }

    for ( i = 0; i < nr_entries; i++ )
        if ( lookup(ename(i)) != (int)i )
        {
            fprintf(stderr, "symcheck: lookup of %s fails\n", ename(i));
            errors++;
        }

    rewind(nm);
    nm_parse(nm, check_sym, NULL);
    fclose(nm);

    if ( nr_elf != nr_entries )
    {
        fprintf(stderr, "symcheck: %u symbols in the ELF, %u in the table\n",
                nr_elf, nr_entries);
        errors++;
    }

    if ( dump )
        for ( i = 0; i < nr_entries; i++ )
            printf("%016llx %8x %c %s\n",
                   (unsigned long long)entries[i].addr, entries[i].size,
                   entries[i].type, ename(i));

    if ( errors )
    {
        fprintf(stderr, "symcheck: %u errors\n", errors);
        return 1;
    }

    printf("symcheck: %u symbols OK (%u local, named file#symbol)\n",
           nr_entries, nr_local);
    return 0;
}
