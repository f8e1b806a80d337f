/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kernel.c
 *
 * The xen_version hypercall.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/guest_access.h>
#include <xen/hypercall.h>
#include <xen/version.h>
#include <public/version.h>

static long xenver_build_id(unsigned long arg)
{
    struct xen_build_id hdr;
    const void *p;
    unsigned int len;
    int rc;

    rc = xen_build_id(&p, &len);
    if ( rc )
        return rc;

    if ( copy_from_guest(&hdr, arg, sizeof(hdr)) )
        return -EFAULT;

    if ( hdr.len < len )
        return -ENOBUFS;

    hdr.len = len;
    if ( copy_to_guest(arg + offsetof(struct xen_build_id, buf), p, len) ||
         copy_to_guest(arg, &hdr, sizeof(hdr)) )
        return -EFAULT;

    return len;
}

long do_xen_version(unsigned long cmd, unsigned long arg, unsigned long a3,
                    unsigned long a4, unsigned long a5)
{
    switch ( cmd )
    {
    case XENVER_version:
        return (xen_major_version() << 16) | xen_minor_version();

    case XENVER_extraversion:
    {
        xen_extraversion_t extraversion;

        memset(extraversion, 0, sizeof(extraversion));
        strlcpy(extraversion, xen_extra_version(), sizeof(extraversion));
        if ( copy_to_guest(arg, extraversion, sizeof(extraversion)) )
            return -EFAULT;
        return 0;
    }

    case XENVER_changeset:
    {
        xen_changeset_info_t chgset;

        memset(chgset, 0, sizeof(chgset));
        strlcpy(chgset, xen_changeset(), sizeof(chgset));
        if ( copy_to_guest(arg, chgset, sizeof(chgset)) )
            return -EFAULT;
        return 0;
    }

    case XENVER_build_id:
        return xenver_build_id(arg);

    case XENVER_callpath:
        return callpath_leaf(arg);
    }

    return -ENOSYS;
}
