/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_sig.c
 *
 * Live-patch payload signatures: the public key built into the image
 * (generated from LIVEPATCH_PUBKEY at build time, see keys/README.md).
 * The note format is in public/livepatch.h.
 */
#include <xen/lib.h>
#include <xen/livepatch.h>
#include <public/livepatch.h>
#include <generated/livepatch_key.h>

static const uint8_t lp_key_id[LIVEPATCH_SIG_KEY_ID_SIZE] = {
    LIVEPATCH_KEY_ID_BYTES
};

static const char *key_id_hex(char *buf)
{
    unsigned int i;

    for ( i = 0; i < LIVEPATCH_SIG_KEY_ID_SIZE; i++ )
        snprintf(buf + 2 * i, 3, "%02x", lp_key_id[i]);

    return buf;
}

void livepatch_sig_init(void)
{
    char id[2 * LIVEPATCH_SIG_KEY_ID_SIZE + 1];

    printk(LIVEPATCH "payload signing key %s, key id %s (Ed25519)\n",
           LIVEPATCH_KEY_FILE, key_id_hex(id));
}
