/* A lower bound of a libelf-based create-diff-object: open the three ELF
 * inputs with libelf and read every section header, section and symbol,
 * which the original does before it compares anything. */
#include <elf.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

typedef struct Elf Elf;
typedef struct Elf_Scn Elf_Scn;
typedef struct {
    void *d_buf;
    int d_type;
    unsigned int d_version;
    size_t d_size;
    long d_off;
    size_t d_align;
} Elf_Data;

extern unsigned int elf_version(unsigned int);
extern Elf *elf_begin(int, int, Elf *);
extern int elf_end(Elf *);
extern Elf_Scn *elf_nextscn(Elf *, Elf_Scn *);
extern Elf_Data *elf_getdata(Elf_Scn *, Elf_Data *);
extern Elf64_Shdr *gelf_getshdr(Elf_Scn *, Elf64_Shdr *);
extern Elf64_Sym *gelf_getsym(Elf_Data *, int, Elf64_Sym *);
extern char *elf_strptr(Elf *, size_t, size_t);

#define ELF_C_READ 1

int main(int argc, char **argv)
{
    unsigned long sum = 0;
    int i;

    elf_version(EV_CURRENT);
    for ( i = 1; i < argc; i++ )
    {
        int fd = open(argv[i], O_RDONLY);
        Elf *elf;
        Elf_Scn *scn = NULL;

        if ( fd < 0 )
            return 1;
        elf = elf_begin(fd, ELF_C_READ, NULL);
        if ( !elf )
            return 1;
        while ( (scn = elf_nextscn(elf, scn)) )
        {
            Elf64_Shdr sh;
            Elf_Data *d;

            if ( !gelf_getshdr(scn, &sh) )
                return 1;
            d = elf_getdata(scn, NULL);
            sum += d ? d->d_size : 0;
            if ( sh.sh_type == SHT_SYMTAB && d )
            {
                size_t n = sh.sh_size / sizeof(Elf64_Sym), j;

                for ( j = 0; j < n; j++ )
                {
                    Elf64_Sym sym;
                    const char *name;

                    if ( !gelf_getsym(d, j, &sym) )
                        return 1;
                    name = elf_strptr(elf, sh.sh_link, sym.st_name);
                    sum += name ? name[0] : 0;
                }
            }
        }
        elf_end(elf);
        close(fd);
    }
    printf("%lu\n", sum);
    return 0;
}
