/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_ref.c
 *
 * References between payloads.  A payload whose undefined symbols the
 * loader resolved to another loaded payload's exports holds a reference
 * on that payload until it is itself unloaded, and the referenced one
 * cannot be unloaded meanwhile (-EBUSY): otherwise applying the first
 * (--nodeps skips the build-id check) would jump into freed memory.
 * Xen does not count references (reference §7, latent issues).
 *
 * The loader calls livepatch_ref_begin() before it resolves a payload's
 * symbols, livepatch_ref_used() for each symbol found in a payload, and
 * livepatch_ref_commit() once the payload is loaded.  Everything runs
 * under payload_lock.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/livepatch_payload.h>
#include <xen/livepatch_stack.h>

#define LP_MAX_REFS             256

struct lp_ref {
    const struct payload *user, *used;
    const char *symbol;         /* the first one, in used's symbol table */
};

static struct lp_ref refs[LP_MAX_REFS];
static unsigned int nr_refs, nr_pending;

/* Pending references of the payload being loaded: refs[nr_refs...]. */
void livepatch_ref_begin(void)
{
    nr_pending = 0;
}

bool livepatch_ref_used(const struct payload *used, const char *name)
{
    unsigned int i;

    for ( i = nr_refs; i < nr_refs + nr_pending; i++ )
        if ( refs[i].used == used )
            return true;

    if ( nr_refs + nr_pending == LP_MAX_REFS )
    {
        printk(LIVEPATCH "%s: too many references between payloads (%u) "
               "to link against %s\n", used->name, LP_MAX_REFS, name);
        return false;
    }

    refs[nr_refs + nr_pending].user = NULL;
    refs[nr_refs + nr_pending].used = used;
    refs[nr_refs + nr_pending].symbol = name;
    nr_pending++;

    return true;
}

void livepatch_ref_commit(const struct payload *user)
{
    unsigned int i;

    for ( i = nr_refs; i < nr_refs + nr_pending; i++ )
        refs[i].user = user;
    nr_refs += nr_pending;
    nr_pending = 0;
}

int livepatch_ref_check_unload(const struct payload *used)
{
    unsigned int i;

    for ( i = 0; i < nr_refs; i++ )
        if ( refs[i].used == used )
        {
            printk(LIVEPATCH "%s: can't unload: %s links against its "
                   "symbol %s; unload %s first\n", used->name,
                   refs[i].user->name, refs[i].symbol, refs[i].user->name);
            return -EBUSY;
        }

    return 0;
}

/* p is unloaded: drop the references it holds. */
void livepatch_ref_drop(const struct payload *p)
{
    unsigned int i, n = 0;

    for ( i = 0; i < nr_refs; i++ )
        if ( refs[i].user != p )
            refs[n++] = refs[i];
    nr_refs = n;
}
