/* SPDX-License-Identifier: GPL-2.0 */
/*
 * alternative.h
 *
 * Instruction alternatives.  mini-xen's own image has none; live-patch
 * payloads may carry them, and the loader applies them before the
 * payload's text becomes read-only.
 *
 * .altinstructions holds struct alt_instr entries; the replacement code
 * lives in .altinstr_replacement.  orig_len is the whole original site
 * (instructions and padding), repl_len <= orig_len; the rest of the site
 * is filled with NOPs.  A replacement starting with a call/jmp rel32 is
 * re-targeted for its new address.
 *
 * mini-xen's CPU has no optional features: only X86_FEATURE_ALWAYS is
 * present, every other number below X86_NR_FEATURES is absent, and a
 * number from X86_NR_FEATURES up is invalid.
 */
#ifndef __ASM_X86_ALTERNATIVE_H__
#define __ASM_X86_ALTERNATIVE_H__

#define X86_NR_FEATURES         256
#define X86_FEATURE_ALWAYS      255     /* synthetic: always present */
#define X86_FEATURE_NEVER       254     /* synthetic: never present */

#define ALT_INSTR_SIZE          14

#ifndef __ASSEMBLY__

#include <xen/types.h>
#include <xen/stringify.h>

struct __packed alt_instr {
    int32_t  orig_offset;       /* original site - &orig_offset */
    int32_t  repl_offset;       /* replacement - &repl_offset */
    uint16_t cpuid;             /* X86_FEATURE_* */
    uint8_t  orig_len;          /* bytes at the original site */
    uint8_t  repl_len;          /* bytes of replacement */
    uint8_t  pad_len;           /* of orig_len, padding added at build */
    uint8_t  priv;              /* 0 */
};

static inline bool boot_cpu_has(unsigned int feature)
{
    return feature == X86_FEATURE_ALWAYS;
}

/* "oldinstr", replaced by "newinstr" when feature is present. */
#define ALTERNATIVE(oldinstr, newinstr, feature)                        \
    "661:\n\t" oldinstr "\n662:\n\t"                                    \
    ".pushsection .altinstructions, \"a\", @progbits\n\t"               \
    ".long 661b - .\n\t"                                                \
    ".long 663f - .\n\t"                                                \
    ".word " __stringify(feature) "\n\t"                                \
    ".byte 662b - 661b\n\t"                                             \
    ".byte 664f - 663f\n\t"                                             \
    ".byte 0, 0\n\t"                                                    \
    ".popsection\n\t"                                                   \
    ".pushsection .altinstr_replacement, \"ax\", @progbits\n\t"         \
    "663:\n\t" newinstr "\n664:\n\t"                                    \
    ".popsection\n\t"

#define alternative(oldinstr, newinstr, feature)                        \
    asm volatile ( ALTERNATIVE(oldinstr, newinstr, feature) ::: "memory" )

#endif /* !__ASSEMBLY__ */

#endif /* __ASM_X86_ALTERNATIVE_H__ */
