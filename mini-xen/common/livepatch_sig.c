/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_sig.c
 *
 * Live-patch payload signatures.  A signed payload ends with a struct
 * livepatch_signature_note (public/livepatch.h) whose Ed25519 signature
 * covers every byte before the signature field.  The note is found from
 * the upload size alone and checked before the loader reads any of the
 * ELF; only the ELF part (the file minus the note) is then loaded.
 *
 * The one trusted public key is built into the image (generated from
 * LIVEPATCH_PUBKEY at build time, see keys/README.md).
 */
#include <xen/lib.h>
#include <xen/ed25519.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/sha512.h>
#include <public/livepatch.h>
#include <generated/livepatch_key.h>

static const uint8_t lp_key[ED25519_PUBLIC_KEY_SIZE] = { LIVEPATCH_KEY_BYTES };
static const uint8_t lp_key_id[LIVEPATCH_SIG_KEY_ID_SIZE] = {
    LIVEPATCH_KEY_ID_BYTES
};

#define KEY_ID_HEX_SIZE         (2 * LIVEPATCH_SIG_KEY_ID_SIZE + 1)

static const char *key_id_hex(char *buf, const uint8_t *id)
{
    unsigned int i;

    for ( i = 0; i < LIVEPATCH_SIG_KEY_ID_SIZE; i++ )
        snprintf(buf + 2 * i, 3, "%02x", id[i]);

    return buf;
}

/* The note at the end of @raw, if its fixed header is there. */
static bool find_note(const uint8_t *raw, size_t len,
                      struct livepatch_signature_note *note)
{
    static const char name[4] = LIVEPATCH_SIG_NOTE_NAME;

    if ( len < sizeof(*note) )
        return false;

    memcpy(note, raw + len - sizeof(*note), sizeof(*note));

    return note->namesz == sizeof(name) &&
           note->descsz == LIVEPATCH_SIG_DESC_SIZE &&
           note->type == LIVEPATCH_SIG_NOTE_TYPE &&
           !memcmp(note->name, name, sizeof(name));
}

int livepatch_verify_signature(const char *name, const void *raw,
                               size_t *len)
{
    struct livepatch_signature_note note;
    char why[64], hex[KEY_ID_HEX_SIZE];
    size_t signed_len;

    if ( !find_note(raw, *len, &note) )
        snprintf(why, sizeof(why), "no signature");
    else if ( note.version != LIVEPATCH_SIG_VERSION )
        snprintf(why, sizeof(why), "signature version %u is not supported",
                 note.version);
    else if ( note.algorithm != LIVEPATCH_SIG_ALG_ED25519 ||
              note.hash != LIVEPATCH_SIG_HASH_SHA512 )
        snprintf(why, sizeof(why), "signature algorithm %u/%u is not "
                 "supported", note.algorithm, note.hash);
    else if ( note.reserved )
        snprintf(why, sizeof(why), "signature note has reserved bits set");
    else if ( memcmp(note.key_id, lp_key_id, sizeof(lp_key_id)) )
        snprintf(why, sizeof(why), "signed with unknown key id %s",
                 key_id_hex(hex, note.key_id));
    else
    {
        signed_len = *len - sizeof(note) +
                     offsetof(struct livepatch_signature_note, signature);
        if ( ed25519_verify(note.signature, lp_key, raw, signed_len) )
        {
            *len -= sizeof(note);
            return 0;
        }
        snprintf(why, sizeof(why), "bad signature");
    }

    printk(LIVEPATCH "%s: refused: %s\n", name, why);

    return -EACCES;
}

void livepatch_sig_init(void)
{
    uint8_t digest[SHA512_DIGEST_SIZE];
    char hex[KEY_ID_HEX_SIZE];

    /* The id is generated at build time: check it with our own SHA-512. */
    sha512_digest(lp_key, sizeof(lp_key), digest);
    if ( memcmp(digest, lp_key_id, sizeof(lp_key_id)) )
        panic(LIVEPATCH "key id of %s does not match its SHA-512\n",
              LIVEPATCH_KEY_FILE);

    printk(LIVEPATCH "payload signing key %s, key id %s (Ed25519)\n",
           LIVEPATCH_KEY_FILE, key_id_hex(hex, lp_key_id));
}
