/* SPDX-License-Identifier: GPL-2.0 */
/*
 * version.c
 *
 * Version strings and the build-id of the running image (read from its
 * own .note.gnu.build-id).
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/version.h>

#define NT_GNU_BUILD_ID         3

struct elf_note {
    uint32_t namesz;
    uint32_t descsz;
    uint32_t type;
};

extern const struct elf_note __note_gnu_build_id_start[];
extern const char __note_gnu_build_id_end[];

static const void *build_id_p;
static unsigned int build_id_len;

unsigned int xen_major_version(void)
{
    return XEN_VERSION;
}

unsigned int xen_minor_version(void)
{
    return XEN_SUBVERSION;
}

const char *xen_extra_version(void)
{
    return XEN_EXTRAVERSION;
}

const char *xen_compiler(void)
{
    return "gcc " __VERSION__;
}

const char *xen_changeset(void)
{
    return "mini-xen";
}

int xen_build_id(const void **p, unsigned int *len)
{
    if ( !build_id_len )
        return -ENODATA;

    *p = build_id_p;
    *len = build_id_len;

    return 0;
}

void xen_build_init(void)
{
    const struct elf_note *n = __note_gnu_build_id_start;
    const char *name = (const char *)(n + 1);
    unsigned long avail = __note_gnu_build_id_end - (const char *)n;

    if ( avail < sizeof(*n) + 4 || n->type != NT_GNU_BUILD_ID ||
         n->namesz != 4 || memcmp(name, "GNU", 4) ||
         sizeof(*n) + 4 + n->descsz > avail || !n->descsz )
        return;

    build_id_p = name + ROUNDUP(n->namesz, 4);
    build_id_len = n->descsz;
}

void print_version_banner(void)
{
    const unsigned char *id;
    char hex[2 * 64 + 1];
    unsigned int i, len;

    if ( xen_build_id((const void **)&id, &len) == 0 )
    {
        len = min(len, 64U);
        for ( i = 0; i < len; i++ )
            snprintf(&hex[2 * i], 3, "%02x", id[i]);
        hex[2 * len] = '\0';
        printk("build-id: %s\n", hex);
    }
    else
        printk("build-id: <none>\n");

    printk("Xen version %u.%u%s (%s) (%s) debug=y\n",
           xen_major_version(), xen_minor_version(), xen_extra_version(),
           xen_changeset(), xen_compiler());
}
