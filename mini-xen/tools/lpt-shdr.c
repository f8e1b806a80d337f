/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lpt-shdr.c
 *
 * Host tool for the malformed test payloads: set one field of one
 * section header of an ELF-64 little-endian file in place.
 *
 * Usage: lpt-shdr <file> <section name> <type|info> <value>
 *
 * "info <value>" may be "shnum", meaning e_shnum (one past the last
 * section).  Exits 1 (with a message) when the file is not such an ELF
 * file or has no section of that name.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *file, const char *what)
{
    fprintf(stderr, "lpt-shdr: %s: %s\n", file, what);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *file, *secname, *field, *value;
    Elf64_Ehdr eh;
    Elf64_Shdr strsh, sh;
    char *names;
    unsigned long v;
    unsigned int i;
    FILE *f;

    if ( argc != 5 )
    {
        fprintf(stderr, "usage: lpt-shdr <file> <section> <type|info> "
                "<value|shnum>\n");
        return 2;
    }
    file = argv[1];
    secname = argv[2];
    field = argv[3];
    value = argv[4];

    f = fopen(file, "r+b");
    if ( !f )
        die(file, "cannot open");

    if ( fread(&eh, sizeof(eh), 1, f) != 1 ||
         memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
         eh.e_ident[EI_CLASS] != ELFCLASS64 ||
         eh.e_ident[EI_DATA] != ELFDATA2LSB ||
         eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum )
        die(file, "not an ELF-64 little-endian file with sections");

    if ( fseek(f, eh.e_shoff + eh.e_shstrndx * sizeof(sh), SEEK_SET) ||
         fread(&strsh, sizeof(strsh), 1, f) != 1 )
        die(file, "cannot read the section name table header");

    names = calloc(1, strsh.sh_size + 1);
    if ( !names || fseek(f, strsh.sh_offset, SEEK_SET) ||
         fread(names, 1, strsh.sh_size, f) != strsh.sh_size )
        die(file, "cannot read the section names");

    if ( !strcmp(value, "shnum") )
        v = eh.e_shnum;
    else
        v = strtoul(value, NULL, 0);

    for ( i = 1; i < eh.e_shnum; i++ )
    {
        long at = eh.e_shoff + i * sizeof(sh);

        if ( fseek(f, at, SEEK_SET) || fread(&sh, sizeof(sh), 1, f) != 1 )
            die(file, "cannot read a section header");
        if ( sh.sh_name >= strsh.sh_size || strcmp(names + sh.sh_name, secname) )
            continue;

        if ( !strcmp(field, "type") )
            sh.sh_type = v;
        else if ( !strcmp(field, "info") )
            sh.sh_info = v;
        else
            die(field, "unknown field (type or info)");

        if ( fseek(f, at, SEEK_SET) || fwrite(&sh, sizeof(sh), 1, f) != 1 ||
             fclose(f) )
            die(file, "cannot write the section header");
        free(names);
        return 0;
    }

    die(secname, "no such section");
    return 1;
}
