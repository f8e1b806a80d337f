/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch.h
 *
 * XEN_SYSCTL_livepatch_op: the guest-visible live-patch interface, laid
 * out as in current Xen (payload version 2, LIST with total sizes).  Guest
 * handles are 64-bit guest addresses.  Mirrored by
 * emulator/src/livepatch.rs; tests compare sizes and offsets.
 */
#ifndef __XEN_PUBLIC_LIVEPATCH_H__
#define __XEN_PUBLIC_LIVEPATCH_H__

#define XEN_SYSCTL_livepatch_op         27

#define XEN_LIVEPATCH_NAME_SIZE         128     /* including the NUL */
#define LIVEPATCH_PAYLOAD_VERSION       2
#define LIVEPATCH_MAX_SIZE              (2u << 20)

#define XEN_SYSCTL_LIVEPATCH_UPLOAD     0
#define XEN_SYSCTL_LIVEPATCH_GET        1
#define XEN_SYSCTL_LIVEPATCH_LIST       2
#define XEN_SYSCTL_LIVEPATCH_ACTION     3
#define XEN_SYSCTL_LIVEPATCH_SIGNATURE  4   /* mini-xen: the signature policy */

#define LIVEPATCH_FLAG_FORCE            (1u << 0)

#define LIVEPATCH_STATE_CHECKED         1
#define LIVEPATCH_STATE_APPLIED         2

#define LIVEPATCH_ACTION_UNLOAD         1
#define LIVEPATCH_ACTION_REVERT         2
#define LIVEPATCH_ACTION_APPLY          3
#define LIVEPATCH_ACTION_REPLACE        4
#define LIVEPATCH_ACTION_APPLY_NODEPS   (1u << 0)

#define LIVEPATCH_LIST_MAX              1024

/*
 * Payload signatures (mini-xen's own; Xen has none merged).
 *
 * A signed payload is the ELF file followed by one ELF note, struct
 * livepatch_signature_note, as its last LIVEPATCH_SIG_NOTE_SIZE bytes:
 *
 *   namesz 4, descsz LIVEPATCH_SIG_DESC_SIZE, type LIVEPATCH_SIG_NOTE_TYPE,
 *   name "Xen\0", then the descriptor: version, algorithm, hash, reserved
 *   (zero), the key id and the signature.
 *
 * The signature covers every byte of the file before the signature field:
 * the whole ELF file and the note up to and including the key id.  With
 * Ed25519 (RFC 8032, PureEdDSA) that message is hashed with SHA-512 by
 * the algorithm itself.  The key id is the first LIVEPATCH_SIG_KEY_ID_SIZE
 * bytes of SHA-512 of the 32-byte public key.  The hypervisor finds the
 * note from the file size alone, checks it before it reads any of the
 * ELF, and then loads only the ELF part (the file minus the note).
 */
#define LIVEPATCH_SIG_NOTE_NAME         "Xen"
#define LIVEPATCH_SIG_NOTE_TYPE         0x4c505331  /* "LPS1" */
#define LIVEPATCH_SIG_VERSION           1
#define LIVEPATCH_SIG_ALG_ED25519       1
#define LIVEPATCH_SIG_HASH_SHA512       1
#define LIVEPATCH_SIG_KEY_ID_SIZE       8
#define LIVEPATCH_SIG_SIZE              64
#define LIVEPATCH_SIG_DESC_SIZE         80
#define LIVEPATCH_SIG_NOTE_SIZE         96

/* livepatch-signature=off|warn|enforce on the hypervisor command line. */
#define LIVEPATCH_SIG_MODE_OFF          0   /* not checked */
#define LIVEPATCH_SIG_MODE_WARN         1   /* checked; a failure is logged, the payload loads */
#define LIVEPATCH_SIG_MODE_ENFORCE      2   /* checked; a failure refuses the upload (-EACCES) */

/* A payload has fewer sections than this (arbitrary, as in Xen). */
#define LIVEPATCH_MAX_SECTIONS          1024

/*
 * Hook sections: arrays of void (*)(void) run at load and unload, and
 * one int (*)(struct payload *) (void for post) each for the others.
 */
#define LIVEPATCH_HOOKS_LOAD            ".livepatch.hooks.load"
#define LIVEPATCH_HOOKS_UNLOAD          ".livepatch.hooks.unload"
#define LIVEPATCH_HOOKS_PREAPPLY        ".livepatch.hooks.preapply"
#define LIVEPATCH_HOOKS_APPLY           ".livepatch.hooks.apply"
#define LIVEPATCH_HOOKS_POSTAPPLY       ".livepatch.hooks.postapply"
#define LIVEPATCH_HOOKS_PREREVERT       ".livepatch.hooks.prerevert"
#define LIVEPATCH_HOOKS_REVERT          ".livepatch.hooks.revert"
#define LIVEPATCH_HOOKS_POSTREVERT      ".livepatch.hooks.postrevert"

#ifndef __ASSEMBLY__
#include <stdint.h>

struct xen_livepatch_name {
    uint64_t name;              /* IN: guest address of the name */
    uint16_t size;              /* IN: strlen + 1, 1 .. XEN_LIVEPATCH_NAME_SIZE */
    uint16_t pad[3];            /* IN: must be zero */
};

struct xen_sysctl_livepatch_upload {
    struct xen_livepatch_name name;
    uint64_t size;              /* IN: payload size, 1 .. LIVEPATCH_MAX_SIZE */
    uint64_t payload;           /* IN: guest address of the ELF */
};

struct xen_livepatch_status {
    uint32_t state;             /* OUT: LIVEPATCH_STATE_* */
    int32_t rc;                 /* OUT: result of the last action, -EAGAIN while pending */
};

struct xen_sysctl_livepatch_get {
    struct xen_livepatch_name name;
    struct xen_livepatch_status status;
};

struct xen_sysctl_livepatch_list {
    uint32_t version;           /* OUT: bumped on every upload and unload */
    uint32_t idx;               /* IN: first payload */
    uint32_t nr;                /* IN: max entries; OUT: remaining */
    uint32_t pad;               /* IN: must be zero */
    uint32_t name_total_size;   /* IN: size of name buffer; OUT: bytes used */
    uint32_t metadata_total_size; /* IN: size of metadata buffer; OUT: bytes used */
    uint64_t status;            /* OUT: struct xen_livepatch_status[nr] */
    uint64_t name;              /* OUT: names, NUL-terminated, back to back */
    uint64_t len;               /* OUT: uint32_t[nr], name lengths incl. NUL */
    uint64_t metadata;          /* OUT: .modinfo contents, back to back */
    uint64_t metadata_len;      /* OUT: uint32_t[nr] */
};

struct xen_sysctl_livepatch_action {
    struct xen_livepatch_name name;
    uint32_t cmd;               /* IN: LIVEPATCH_ACTION_* */
    uint32_t timeout;           /* IN: ns, 0 = 30 ms of virtual time */
    uint32_t flags;             /* IN: LIVEPATCH_ACTION_APPLY_NODEPS */
    uint32_t pad;               /* IN: must be zero */
};

/* XEN_SYSCTL_LIVEPATCH_SIGNATURE: how uploads are checked (all OUT). */
struct xen_sysctl_livepatch_signature {
    uint32_t mode;              /* LIVEPATCH_SIG_MODE_* */
    uint8_t algorithm;          /* LIVEPATCH_SIG_ALG_* of the built-in key */
    uint8_t pad[3];
    uint8_t key_id[LIVEPATCH_SIG_KEY_ID_SIZE]; /* of the built-in key */
};

struct xen_sysctl_livepatch_op {
    uint32_t cmd;               /* IN: XEN_SYSCTL_LIVEPATCH_* */
    uint32_t flags;             /* IN: LIVEPATCH_FLAG_* */
    union {
        struct xen_sysctl_livepatch_upload upload;
        struct xen_sysctl_livepatch_list list;
        struct xen_sysctl_livepatch_get get;
        struct xen_sysctl_livepatch_action action;
        struct xen_sysctl_livepatch_signature signature;
    } u;
};

/*
 * struct livepatch_func as it appears in a payload's .livepatch.funcs
 * section (version 2: 104 bytes).
 */
struct livepatch_expectation {
    uint8_t enabled : 1;
    uint8_t len : 5;            /* bytes of data[] to compare */
    uint8_t rsv : 2;
    uint8_t data[31];
};

struct livepatch_signature_note {
    uint32_t namesz;            /* 4 */
    uint32_t descsz;            /* LIVEPATCH_SIG_DESC_SIZE */
    uint32_t type;              /* LIVEPATCH_SIG_NOTE_TYPE */
    char name[4];               /* LIVEPATCH_SIG_NOTE_NAME, NUL-terminated */
    uint16_t version;           /* LIVEPATCH_SIG_VERSION */
    uint8_t algorithm;          /* LIVEPATCH_SIG_ALG_* */
    uint8_t hash;               /* LIVEPATCH_SIG_HASH_* */
    uint32_t reserved;          /* zero */
    uint8_t key_id[LIVEPATCH_SIG_KEY_ID_SIZE];
    uint8_t signature[LIVEPATCH_SIG_SIZE];
};

struct livepatch_func {
    uint64_t name;              /* const char * */
    uint64_t new_addr;          /* 0: NOP out old_addr */
    uint64_t old_addr;          /* 0: resolve name */
    uint32_t new_size;
    uint32_t old_size;
    uint8_t version;            /* LIVEPATCH_PAYLOAD_VERSION */
    uint8_t _pad[39];
    struct livepatch_expectation expect;
};
/*
 * ---- What the testbed's detectors read -------------------------------
 * The hypervisor keeps one slot per uploaded payload in the page-aligned
 * table `livepatch_regions` (symbol name LIVEPATCH_REGIONS_SYMBOL), slots
 * reused round robin, and increments gen after every change.  While a
 * slot is LOADED nothing jumps into its text; only its hooks may run, and
 * only while the slot is BUSY (an action on it is in progress).  A FREED
 * slot keeps the range and name of an unloaded payload: its memory is no
 * longer the payload's.
 */
#define LIVEPATCH_REGIONS_SYMBOL  "livepatch_regions"
#define LIVEPATCH_REGION_FREE     0
#define LIVEPATCH_REGION_LOADED   1
#define LIVEPATCH_REGION_BUSY     2
#define LIVEPATCH_REGION_APPLIED  3
#define LIVEPATCH_REGION_FREED    4
#define LIVEPATCH_MAX_REGIONS     32
#define LIVEPATCH_REGION_NAME     48

/*
 * A payload's symbols, for the names in the testbed's reports: `symtab`
 * points to `nsyms` of these (hypervisor memory), each naming a
 * NUL-terminated string; valid while the slot is not FREED (then 0).
 */
struct livepatch_region_symbol {
    uint64_t name;                      /* address of the string */
    uint64_t value;
    uint64_t size;                      /* 0: up to the next symbol */
    uint64_t flags;                     /* bit 0: exported */
};

struct livepatch_region {
    uint64_t text_start, text_end;      /* [start, end) */
    uint64_t mem_start, mem_end;        /* the whole allocation */
    uint32_t state;                     /* LIVEPATCH_REGION_* */
    uint32_t nsyms;
    uint64_t symtab;                    /* struct livepatch_region_symbol[] */
    char name[LIVEPATCH_REGION_NAME];   /* NUL-terminated, truncated */
};

struct livepatch_regions {
    uint64_t gen;
    struct livepatch_region slot[LIVEPATCH_MAX_REGIONS];
};

#endif /* __ASSEMBLY__ */

#endif /* __XEN_PUBLIC_LIVEPATCH_H__ */
