/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crypto-test.c
 *
 * Host driver for the hypervisor's own common/sha512.c and
 * common/ed25519.c, built unchanged for the host, so that a test can
 * check them against published vectors and against another
 * implementation.  Reads commands from standard input, one per line,
 * and answers each with one line:
 *
 *   sha512 <hex>                      -> the digest, in hex
 *   sha512-repeat <hex byte> <count>  -> digest of count copies of the byte
 *   verify <key hex> <sig hex> <hex>  -> "1" valid, "0" invalid
 *
 * "-" stands for an empty hex string.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xen/ed25519.h>
#include <xen/sha512.h>

static int nibble(int c)
{
    if ( c >= '0' && c <= '9' )
        return c - '0';
    if ( c >= 'a' && c <= 'f' )
        return c - 'a' + 10;
    if ( c >= 'A' && c <= 'F' )
        return c - 'A' + 10;
    return -1;
}

/* Decodes @hex into a fresh buffer; -1 on bad input. */
static long unhex(const char *hex, uint8_t **out)
{
    size_t n = strlen(hex), i;
    uint8_t *b;

    if ( !strcmp(hex, "-") )
        n = 0;
    if ( n % 2 )
        return -1;
    b = malloc(n / 2 + 1);
    if ( !b )
        return -1;
    for ( i = 0; i < n / 2; i++ )
    {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

        if ( hi < 0 || lo < 0 )
        {
            free(b);
            return -1;
        }
        b[i] = hi << 4 | lo;
    }
    *out = b;
    return n / 2;
}

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;

    for ( i = 0; i < n; i++ )
        printf("%02x", p[i]);
    printf("\n");
}

int main(void)
{
    char *line = NULL, cmd[32], *a, *b, *c;
    size_t cap = 0;
    ssize_t got;

    while ( (got = getline(&line, &cap, stdin)) > 0 )
    {
        uint8_t digest[SHA512_DIGEST_SIZE], *x = NULL, *y = NULL, *z = NULL;
        long nx, ny, nz;

        a = malloc(got + 1);
        b = malloc(got + 1);
        c = malloc(got + 1);
        if ( !a || !b || !c )
            return 2;
        a[0] = b[0] = c[0] = '\0';
        if ( sscanf(line, "%31s %s %s %s", cmd, a, b, c) < 2 )
            return 2;

        if ( !strcmp(cmd, "sha512") && (nx = unhex(a, &x)) >= 0 )
        {
            sha512_digest(x, nx, digest);
            print_hex(digest, sizeof(digest));
        }
        else if ( !strcmp(cmd, "sha512-repeat") && unhex(a, &x) == 1 )
        {
            struct sha512_state s;
            unsigned long count = strtoul(b, NULL, 10), i;

            sha512_init(&s);
            for ( i = 0; i < count; i++ )
                sha512_update(&s, x, 1);
            sha512_final(&s, digest);
            print_hex(digest, sizeof(digest));
        }
        else if ( !strcmp(cmd, "verify") &&
                  (nx = unhex(a, &x)) == ED25519_PUBLIC_KEY_SIZE &&
                  (ny = unhex(b, &y)) == ED25519_SIGNATURE_SIZE &&
                  (nz = unhex(c, &z)) >= 0 )
            printf("%d\n", ed25519_verify(y, x, z, nz));
        else
        {
            fprintf(stderr, "crypto-test: bad command: %s", line);
            return 2;
        }

        free(x);
        free(y);
        free(z);
        free(a);
        free(b);
        free(c);
        fflush(stdout);
    }

    free(line);
    return 0;
}
