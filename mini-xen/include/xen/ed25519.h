/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ed25519.h
 *
 * Ed25519 signature verification (RFC 8032, section 5.1.7; PureEdDSA,
 * no context, no prehash).
 */
#ifndef __XEN_ED25519_H__
#define __XEN_ED25519_H__

#include <xen/types.h>

#define ED25519_PUBLIC_KEY_SIZE 32
#define ED25519_SIGNATURE_SIZE  64

/*
 * True if @sig is a valid signature by @pk of the @len bytes at @msg.
 * Works on the caller's stack only; no allocation.
 */
bool ed25519_verify(const uint8_t sig[ED25519_SIGNATURE_SIZE],
                    const uint8_t pk[ED25519_PUBLIC_KEY_SIZE],
                    const void *msg, size_t len);

/* Compares @n bytes in time that depends on @n only: 0 if equal. */
int crypto_memneq(const void *a, const void *b, size_t n);

#endif /* __XEN_ED25519_H__ */
