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
 *
 * livepatch-signature=enforce (the default) refuses a payload without a
 * good signature, =warn logs the failure and loads it (the behaviour of
 * Xen's posted series), =off does not look.
 */
#include <xen/lib.h>
#include <xen/ed25519.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/param.h>
#include <xen/sha512.h>
#include <public/livepatch.h>
#include <generated/livepatch_key.h>

static const uint8_t lp_key[ED25519_PUBLIC_KEY_SIZE] = { LIVEPATCH_KEY_BYTES };
static const uint8_t lp_key_id[LIVEPATCH_SIG_KEY_ID_SIZE] = {
    LIVEPATCH_KEY_ID_BYTES
};

#define KEY_ID_HEX_SIZE         (2 * LIVEPATCH_SIG_KEY_ID_SIZE + 1)

static unsigned int sig_mode = LIVEPATCH_SIG_MODE_ENFORCE;

static const char *const mode_names[] = {
    [LIVEPATCH_SIG_MODE_OFF] = "off",
    [LIVEPATCH_SIG_MODE_WARN] = "warn",
    [LIVEPATCH_SIG_MODE_ENFORCE] = "enforce",
};

static int parse_signature_mode(const char *s)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(mode_names); i++ )
        if ( !strcmp(s, mode_names[i]) )
        {
            sig_mode = i;
            return 0;
        }

    return -EINVAL;
}
custom_param("livepatch-signature", parse_signature_mode);

const char *livepatch_sig_status_str(enum livepatch_sig_status status)
{
    switch ( status )
    {
    case LIVEPATCH_SIG_UNCHECKED:
        return "unchecked";
    case LIVEPATCH_SIG_VALID:
        return "valid";
    case LIVEPATCH_SIG_INVALID:
        return "INVALID";
    }

    return "?";
}

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

/*
 * The reason @raw is not signed with the built-in key, or NULL if it is.
 * @signed_note: the note's fixed header is there.
 */
static const char *check(const uint8_t *raw, size_t len, bool *signed_note,
                         char *why, size_t size)
{
    struct livepatch_signature_note note;
    char hex[KEY_ID_HEX_SIZE];

    *signed_note = find_note(raw, len, &note);

    if ( !*signed_note )
        return "no signature";
    if ( note.version != LIVEPATCH_SIG_VERSION )
    {
        snprintf(why, size, "signature version %u is not supported",
                 note.version);
        return why;
    }
    if ( note.algorithm != LIVEPATCH_SIG_ALG_ED25519 ||
         note.hash != LIVEPATCH_SIG_HASH_SHA512 )
    {
        snprintf(why, size, "signature algorithm %u/%u is not supported",
                 note.algorithm, note.hash);
        return why;
    }
    if ( note.reserved )
        return "signature note has reserved bits set";
    if ( memcmp(note.key_id, lp_key_id, sizeof(lp_key_id)) )
    {
        snprintf(why, size, "signed with unknown key id %s",
                 key_id_hex(hex, note.key_id));
        return why;
    }
    if ( !ed25519_verify(note.signature, lp_key, raw,
                         len - sizeof(note) +
                         offsetof(struct livepatch_signature_note, signature)) )
        return "bad signature";

    return NULL;
}

int livepatch_verify_signature(const char *name, const void *raw,
                               size_t *len,
                               enum livepatch_sig_status *status)
{
    struct livepatch_signature_note note;
    const char *reason;
    bool signed_note;
    char why[64];

    if ( sig_mode == LIVEPATCH_SIG_MODE_OFF )
    {
        if ( find_note(raw, *len, &note) )
            *len -= sizeof(note);
        *status = LIVEPATCH_SIG_UNCHECKED;
        return 0;
    }

    reason = check(raw, *len, &signed_note, why, sizeof(why));
    if ( reason && sig_mode == LIVEPATCH_SIG_MODE_ENFORCE )
    {
        printk(LIVEPATCH "%s: refused: %s\n", name, reason);
        return -EACCES;
    }
    if ( reason )
        printk(LIVEPATCH "%s: loading anyway: %s (livepatch-signature=warn)\n",
               name, reason);

    if ( signed_note )
        *len -= sizeof(note);
    *status = reason ? LIVEPATCH_SIG_INVALID : LIVEPATCH_SIG_VALID;

    return 0;
}

void livepatch_sig_get(struct xen_sysctl_livepatch_signature *sig)
{
    memset(sig, 0, sizeof(*sig));
    sig->mode = sig_mode;
    sig->algorithm = LIVEPATCH_SIG_ALG_ED25519;
    memcpy(sig->key_id, lp_key_id, sizeof(sig->key_id));
}

void livepatch_sig_printall(void)
{
    char hex[KEY_ID_HEX_SIZE];

    printk("livepatch-signature=%s key=%s key-id=%s (Ed25519)\n",
           mode_names[sig_mode], LIVEPATCH_KEY_FILE,
           key_id_hex(hex, lp_key_id));
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

    printk(LIVEPATCH "payload signatures: %s, key %s, key id %s (Ed25519)\n",
           mode_names[sig_mode], LIVEPATCH_KEY_FILE,
           key_id_hex(hex, lp_key_id));
}
