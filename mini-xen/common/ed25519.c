/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ed25519.c
 *
 * Ed25519 verification, written from RFC 8032 (sections 5.1.1-5.1.7):
 * the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 over GF(p),
 * p = 2^255 - 19, with points in extended coordinates (X:Y:Z:T),
 * x = X/Z, y = Y/Z, x y = T/Z.
 *
 * Field elements are five 51-bit limbs; products use 128-bit integers
 * (gcc's unsigned __int128, which needs no library call on x86-64).
 * The field arithmetic has no data-dependent branches or table lookups.
 * Verification handles public data only (key, signature, payload), so
 * the scalar multiplication may branch on the scalars' bits; the final
 * comparison is constant-time all the same.
 *
 * A signature (R, S) of message M by key A is accepted when A decodes
 * as a point, S < L, and the encoding of [S]B - [k]A equals R (so R is
 * a canonical point encoding),
 * where k = SHA-512(R || A || M) mod L: RFC 8032's cofactorless check
 * (the one the RFC allows and the signing side, ed25519-dalek, uses).
 *
 * Built into the hypervisor and, unchanged, into a host test program
 * (tools/crypto-test.c) that checks it against RFC 8032 section 7.1.
 */
#include <xen/types.h>
#include <xen/string.h>
#include <xen/ed25519.h>
#include <xen/sha512.h>

typedef unsigned __int128 u128;

#define MASK51                  ((UINT64_C(1) << 51) - 1)

typedef struct { uint64_t v[5]; } fe;

struct ge {
    fe X, Y, Z, T;
};

/* d = -121665 / 121666 mod p. */
static const uint8_t ed_d[32] = {
    0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41,
    0x4d, 0x0a, 0x70, 0x00, 0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c,
    0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52,
};

/* 2^((p - 1) / 4) mod p, a square root of -1. */
static const uint8_t ed_sqrtm1[32] = {
    0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f, 0xad,
    0x06, 0x18, 0x43, 0x2f, 0xa7, 0xd7, 0xfb, 0x3d, 0x99, 0x00, 0x4d, 0x2b,
    0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b,
};

/* The base point B: y = 4/5, x the even root. */
static const uint8_t ed_base_x[32] = {
    0x1a, 0xd5, 0x25, 0x8f, 0x60, 0x2d, 0x56, 0xc9, 0xb2, 0xa7, 0x25, 0x95,
    0x60, 0xc7, 0x2c, 0x69, 0x5c, 0xdc, 0xd6, 0xfd, 0x31, 0xe2, 0xa4, 0xc0,
    0xfe, 0x53, 0x6e, 0xcd, 0xd3, 0x36, 0x69, 0x21,
};
static const uint8_t ed_base_y[32] = {
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
};

/* The group order L = 2^252 + 27742317777372353535851937790883648493. */
static const uint8_t ed_l[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2,
    0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

int crypto_memneq(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *p = a, *q = b;
    uint8_t acc = 0;
    size_t i;

    for ( i = 0; i < n; i++ )
        acc |= p[i] ^ q[i];

    return acc != 0;
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    unsigned int i;

    for ( i = 0; i < 8; i++ )
        v |= (uint64_t)p[i] << (8 * i);

    return v;
}

/* ---- GF(2^255 - 19) ---------------------------------------------------- */

static void fe_set(fe *h, uint64_t v)
{
    h->v[0] = v;
    h->v[1] = h->v[2] = h->v[3] = h->v[4] = 0;
}

/* Little-endian 255-bit number; bit 255 is ignored. */
static void fe_frombytes(fe *h, const uint8_t s[32])
{
    uint64_t w0 = load_le64(s), w1 = load_le64(s + 8);
    uint64_t w2 = load_le64(s + 16), w3 = load_le64(s + 24);

    h->v[0] = w0 & MASK51;
    h->v[1] = ((w0 >> 51) | (w1 << 13)) & MASK51;
    h->v[2] = ((w1 >> 38) | (w2 << 26)) & MASK51;
    h->v[3] = ((w2 >> 25) | (w3 << 39)) & MASK51;
    h->v[4] = (w3 >> 12) & MASK51;
}

/* Carries every limb into the next; the top one wraps as 19 (2^255 = 19). */
static void fe_carry(fe *h)
{
    uint64_t c;

    c = h->v[0] >> 51; h->v[0] &= MASK51; h->v[1] += c;
    c = h->v[1] >> 51; h->v[1] &= MASK51; h->v[2] += c;
    c = h->v[2] >> 51; h->v[2] &= MASK51; h->v[3] += c;
    c = h->v[3] >> 51; h->v[3] &= MASK51; h->v[4] += c;
    c = h->v[4] >> 51; h->v[4] &= MASK51; h->v[0] += 19 * c;
}

/* The unique representative in [0, p), little-endian. */
static void fe_tobytes(uint8_t s[32], const fe *f)
{
    fe t = *f;
    uint64_t q, w[4];
    unsigned int i;

    fe_carry(&t);
    fe_carry(&t);

    /* q = 1 iff t >= p, i.e. t + 19 carries out of bit 255. */
    q = (t.v[0] + 19) >> 51;
    q = (t.v[1] + q) >> 51;
    q = (t.v[2] + q) >> 51;
    q = (t.v[3] + q) >> 51;
    q = (t.v[4] + q) >> 51;

    t.v[0] += 19 * q;
    t.v[1] += t.v[0] >> 51; t.v[0] &= MASK51;
    t.v[2] += t.v[1] >> 51; t.v[1] &= MASK51;
    t.v[3] += t.v[2] >> 51; t.v[2] &= MASK51;
    t.v[4] += t.v[3] >> 51; t.v[3] &= MASK51;
    t.v[4] &= MASK51;

    w[0] = t.v[0] | (t.v[1] << 51);
    w[1] = (t.v[1] >> 13) | (t.v[2] << 38);
    w[2] = (t.v[2] >> 26) | (t.v[3] << 25);
    w[3] = (t.v[3] >> 39) | (t.v[4] << 12);

    for ( i = 0; i < 32; i++ )
        s[i] = w[i / 8] >> (8 * (i % 8));
}

static void fe_add(fe *h, const fe *f, const fe *g)
{
    unsigned int i;

    for ( i = 0; i < 5; i++ )
        h->v[i] = f->v[i] + g->v[i];
    fe_carry(h);
}

/* f - g + 4p, so that no limb goes negative. */
static void fe_sub(fe *h, const fe *f, const fe *g)
{
    h->v[0] = f->v[0] + 0x1fffffffffffb4ULL - g->v[0];
    h->v[1] = f->v[1] + 0x1ffffffffffffcULL - g->v[1];
    h->v[2] = f->v[2] + 0x1ffffffffffffcULL - g->v[2];
    h->v[3] = f->v[3] + 0x1ffffffffffffcULL - g->v[3];
    h->v[4] = f->v[4] + 0x1ffffffffffffcULL - g->v[4];
    fe_carry(h);
}

static void fe_neg(fe *h, const fe *f)
{
    fe zero;

    fe_set(&zero, 0);
    fe_sub(h, &zero, f);
}

/* h = r mod p, for the five 128-bit column sums of a product. */
static void fe_reduce_wide(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    uint64_t c;

    c = r0 >> 51; h->v[0] = (uint64_t)r0 & MASK51; r1 += c;
    c = r1 >> 51; h->v[1] = (uint64_t)r1 & MASK51; r2 += c;
    c = r2 >> 51; h->v[2] = (uint64_t)r2 & MASK51; r3 += c;
    c = r3 >> 51; h->v[3] = (uint64_t)r3 & MASK51; r4 += c;
    c = r4 >> 51; h->v[4] = (uint64_t)r4 & MASK51;
    h->v[0] += 19 * c;
    fe_carry(h);
}

static void fe_mul(fe *h, const fe *f, const fe *g)
{
    uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3];
    uint64_t f4 = f->v[4];
    uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3];
    uint64_t g4 = g->v[4];
    uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3;
    uint64_t g4_19 = 19 * g4;
    u128 r0, r1, r2, r3, r4;

    r0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 +
         (u128)f3 * g2_19 + (u128)f4 * g1_19;
    r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 +
         (u128)f3 * g3_19 + (u128)f4 * g2_19;
    r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 +
         (u128)f3 * g4_19 + (u128)f4 * g3_19;
    r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 +
         (u128)f3 * g0 + (u128)f4 * g4_19;
    r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 +
         (u128)f3 * g1 + (u128)f4 * g0;

    fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

/* f^2: fe_mul with the symmetric products merged (15 instead of 25). */
static void fe_sq(fe *h, const fe *f)
{
    uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3];
    uint64_t f4 = f->v[4];
    uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f2_2 = 2 * f2, f3_2 = 2 * f3;
    uint64_t f3_19 = 19 * f3, f4_19 = 19 * f4;
    u128 r0, r1, r2, r3, r4;

    r0 = (u128)f0 * f0 + (u128)f1_2 * f4_19 + (u128)f2_2 * f3_19;
    r1 = (u128)f0_2 * f1 + (u128)f2_2 * f4_19 + (u128)f3 * f3_19;
    r2 = (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)f3_2 * f4_19;
    r3 = (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4 * f4_19;
    r4 = (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2;

    fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

/* f^(2^n). */
static void fe_sqn(fe *h, const fe *f, unsigned int n)
{
    fe_sq(h, f);
    while ( --n )
        fe_sq(h, h);
}

/*
 * z^(2^250 - 1), and z^11 on the way (@z11): the common part of the two
 * exponentiations below, by the usual addition chain.
 */
static void fe_pow_2_250_1(fe *h, fe *z11, const fe *z)
{
    fe t0, t1, t2;

    fe_sq(&t0, z);                  /* 2 */
    fe_sqn(&t1, &t0, 2);            /* 8 */
    fe_mul(&t1, &t1, z);            /* 9 */
    fe_mul(z11, &t0, &t1);          /* 11 */
    fe_sq(&t0, z11);                /* 22 */
    fe_mul(&t0, &t0, &t1);          /* 2^5 - 1 */
    fe_sqn(&t1, &t0, 5);
    fe_mul(&t0, &t1, &t0);          /* 2^10 - 1 */
    fe_sqn(&t1, &t0, 10);
    fe_mul(&t1, &t1, &t0);          /* 2^20 - 1 */
    fe_sqn(&t2, &t1, 20);
    fe_mul(&t1, &t2, &t1);          /* 2^40 - 1 */
    fe_sqn(&t1, &t1, 10);
    fe_mul(&t0, &t1, &t0);          /* 2^50 - 1 */
    fe_sqn(&t1, &t0, 50);
    fe_mul(&t1, &t1, &t0);          /* 2^100 - 1 */
    fe_sqn(&t2, &t1, 100);
    fe_mul(&t1, &t2, &t1);          /* 2^200 - 1 */
    fe_sqn(&t1, &t1, 50);
    fe_mul(h, &t1, &t0);            /* 2^250 - 1 */
}

/* 1/z = z^(p - 2) = z^(2^255 - 21). */
static void fe_invert(fe *h, const fe *z)
{
    fe t, z11;

    fe_pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 5);              /* 2^255 - 32 */
    fe_mul(h, &t, &z11);            /* 2^255 - 21 */
}

/* z^((p - 5) / 8) = z^(2^252 - 3), for square roots. */
static void fe_pow_p58(fe *h, const fe *z)
{
    fe t, z11;

    fe_pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 2);              /* 2^252 - 4 */
    fe_mul(h, &t, z);               /* 2^252 - 3 */
}

static bool fe_equal(const fe *f, const fe *g)
{
    uint8_t a[32], b[32];

    fe_tobytes(a, f);
    fe_tobytes(b, g);

    return !crypto_memneq(a, b, sizeof(a));
}

static bool fe_iszero(const fe *f)
{
    fe zero;

    fe_set(&zero, 0);
    return fe_equal(f, &zero);
}

static unsigned int fe_isodd(const fe *f)
{
    uint8_t s[32];

    fe_tobytes(s, f);
    return s[0] & 1;
}

/* ---- The curve (RFC 8032 5.1.3, 5.1.4) ------------------------------- */

static void ge_identity(struct ge *p)
{
    fe_set(&p->X, 0);
    fe_set(&p->Y, 1);
    fe_set(&p->Z, 1);
    fe_set(&p->T, 0);
}

/* r = p + q, with 2d precomputed in @d2; r may alias p or q. */
static void ge_add(struct ge *r, const struct ge *p, const struct ge *q,
                   const fe *d2)
{
    fe a, b, c, d, e, f, g, h, t;

    fe_sub(&a, &p->Y, &p->X);
    fe_sub(&t, &q->Y, &q->X);
    fe_mul(&a, &a, &t);
    fe_add(&b, &p->Y, &p->X);
    fe_add(&t, &q->Y, &q->X);
    fe_mul(&b, &b, &t);
    fe_mul(&c, &p->T, &q->T);
    fe_mul(&c, &c, d2);
    fe_mul(&d, &p->Z, &q->Z);
    fe_add(&d, &d, &d);
    fe_sub(&e, &b, &a);
    fe_sub(&f, &d, &c);
    fe_add(&g, &d, &c);
    fe_add(&h, &b, &a);

    fe_mul(&r->X, &e, &f);
    fe_mul(&r->Y, &g, &h);
    fe_mul(&r->T, &e, &h);
    fe_mul(&r->Z, &f, &g);
}

/* r = 2p; r may alias p. */
static void ge_double(struct ge *r, const struct ge *p)
{
    fe a, b, c, e, f, g, h, t;

    fe_sq(&a, &p->X);
    fe_sq(&b, &p->Y);
    fe_sq(&c, &p->Z);
    fe_add(&c, &c, &c);
    fe_add(&h, &a, &b);
    fe_add(&t, &p->X, &p->Y);
    fe_sq(&t, &t);
    fe_sub(&e, &h, &t);
    fe_sub(&g, &a, &b);
    fe_add(&f, &c, &g);

    fe_mul(&r->X, &e, &f);
    fe_mul(&r->Y, &g, &h);
    fe_mul(&r->T, &e, &h);
    fe_mul(&r->Z, &f, &g);
}

/* Decoding (5.1.3): false if @s is not the encoding of a curve point. */
static bool ge_decode(struct ge *p, const uint8_t s[32], const fe *d)
{
    uint8_t canon[32];
    unsigned int x0 = s[31] >> 7;
    fe y, u, v, v3, x, vx2, t, one;

    /* y must be below p: re-encoding gives the same bytes (bit 255 aside). */
    fe_frombytes(&y, s);
    fe_tobytes(canon, &y);
    canon[31] |= x0 << 7;
    if ( crypto_memneq(canon, s, 32) )
        return false;

    /* u = y^2 - 1, v = d y^2 + 1, x = u v^3 (u v^7)^((p-5)/8). */
    fe_set(&one, 1);
    fe_sq(&u, &y);
    fe_mul(&v, &u, d);
    fe_sub(&u, &u, &one);
    fe_add(&v, &v, &one);

    fe_sq(&v3, &v);
    fe_mul(&v3, &v3, &v);
    fe_sq(&t, &v3);
    fe_mul(&t, &t, &v);
    fe_mul(&t, &t, &u);
    fe_pow_p58(&t, &t);
    fe_mul(&x, &t, &v3);
    fe_mul(&x, &x, &u);

    fe_sq(&vx2, &x);
    fe_mul(&vx2, &vx2, &v);
    if ( !fe_equal(&vx2, &u) )
    {
        fe_neg(&t, &u);
        if ( !fe_equal(&vx2, &t) )
            return false;
        fe_frombytes(&t, ed_sqrtm1);
        fe_mul(&x, &x, &t);
    }

    if ( fe_iszero(&x) && x0 )
        return false;
    if ( fe_isodd(&x) != x0 )
        fe_neg(&x, &x);

    p->X = x;
    p->Y = y;
    fe_set(&p->Z, 1);
    fe_mul(&p->T, &x, &y);

    return true;
}

static void ge_encode(uint8_t s[32], const struct ge *p)
{
    fe zinv, x, y;

    fe_invert(&zinv, &p->Z);
    fe_mul(&x, &p->X, &zinv);
    fe_mul(&y, &p->Y, &zinv);
    fe_tobytes(s, &y);
    s[31] |= fe_isodd(&x) << 7;
}

/* ---- Scalars modulo L ---------------------------------------------------- */

/* True if the little-endian 256-bit @s is below L. */
static bool sc_below_l(const uint8_t s[32])
{
    int i;

    for ( i = 31; i >= 0; i-- )
    {
        if ( s[i] < ed_l[i] )
            return true;
        if ( s[i] > ed_l[i] )
            return false;
    }

    return false;
}

/* @out = the little-endian 512-bit @h mod L, bit by bit from the top. */
static void sc_reduce512(uint8_t out[32], const uint8_t h[64])
{
    uint64_t r[4] = { 0 }, l[4], d[4];
    unsigned int i, j;
    int bit;

    for ( j = 0; j < 4; j++ )
        l[j] = load_le64(ed_l + 8 * j);

    for ( bit = 511; bit >= 0; bit-- )
    {
        uint64_t borrow = 0;

        /* r < L < 2^253, so 2r + 1 fits in 256 bits. */
        r[3] = (r[3] << 1) | (r[2] >> 63);
        r[2] = (r[2] << 1) | (r[1] >> 63);
        r[1] = (r[1] << 1) | (r[0] >> 63);
        r[0] = (r[0] << 1) | ((h[bit / 8] >> (bit % 8)) & 1);

        for ( j = 0; j < 4; j++ )
        {
            u128 t = (u128)r[j] - l[j] - borrow;

            d[j] = (uint64_t)t;
            borrow = (uint64_t)(t >> 64) & 1;
        }
        if ( !borrow )
            memcpy(r, d, sizeof(r));
    }

    for ( i = 0; i < 32; i++ )
        out[i] = r[i / 8] >> (8 * (i % 8));
}

/* ---- Verification (5.1.7) ------------------------------------------------ */

bool ed25519_verify(const uint8_t sig[ED25519_SIGNATURE_SIZE],
                    const uint8_t pk[ED25519_PUBLIC_KEY_SIZE],
                    const void *msg, size_t len)
{
    struct sha512_state hs;
    uint8_t h[SHA512_DIGEST_SIZE], k[32], check[32];
    struct ge a, b, ba, q;
    fe d, d2;
    int i;

    fe_frombytes(&d, ed_d);
    fe_add(&d2, &d, &d);

    /*
     * R is not decoded: the encoding of [S]B - [k]A is a canonical
     * encoding of a point, so bytes that do not decode (5.1.3) can never
     * equal it and are refused by the comparison below.
     */
    if ( !sc_below_l(sig + 32) )
        return false;
    if ( !ge_decode(&a, pk, &d) )
        return false;

    sha512_init(&hs);
    sha512_update(&hs, sig, 32);
    sha512_update(&hs, pk, ED25519_PUBLIC_KEY_SIZE);
    sha512_update(&hs, msg, len);
    sha512_final(&hs, h);
    sc_reduce512(k, h);

    /* b = B, a = -A, ba = B - A. */
    fe_frombytes(&b.X, ed_base_x);
    fe_frombytes(&b.Y, ed_base_y);
    fe_set(&b.Z, 1);
    fe_mul(&b.T, &b.X, &b.Y);
    fe_neg(&a.X, &a.X);
    fe_neg(&a.T, &a.T);
    ge_add(&ba, &b, &a, &d2);

    /* q = [S]B + [k](-A), both scalars walked from bit 255 down. */
    ge_identity(&q);
    for ( i = 255; i >= 0; i-- )
    {
        unsigned int sb = (sig[32 + i / 8] >> (i % 8)) & 1;
        unsigned int kb = (k[i / 8] >> (i % 8)) & 1;

        ge_double(&q, &q);
        if ( sb && kb )
            ge_add(&q, &q, &ba, &d2);
        else if ( sb )
            ge_add(&q, &q, &b, &d2);
        else if ( kb )
            ge_add(&q, &q, &a, &d2);
    }

    ge_encode(check, &q);

    return !crypto_memneq(check, sig, 32);
}
