/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sha512.h
 *
 * SHA-512 (FIPS 180-4), incremental.  Messages up to 2^64 - 1 bytes.
 */
#ifndef __XEN_SHA512_H__
#define __XEN_SHA512_H__

#include <xen/types.h>

#define SHA512_DIGEST_SIZE      64
#define SHA512_BLOCK_SIZE       128

struct sha512_state {
    uint64_t h[8];
    uint64_t count;                 /* bytes hashed so far */
    uint8_t buf[SHA512_BLOCK_SIZE]; /* count % SHA512_BLOCK_SIZE bytes pending */
};

void sha512_init(struct sha512_state *s);
void sha512_update(struct sha512_state *s, const void *data, size_t len);
void sha512_final(struct sha512_state *s, uint8_t digest[SHA512_DIGEST_SIZE]);
void sha512_digest(const void *data, size_t len,
                   uint8_t digest[SHA512_DIGEST_SIZE]);

#endif /* __XEN_SHA512_H__ */
