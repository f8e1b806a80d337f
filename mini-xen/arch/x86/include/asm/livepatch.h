/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __ASM_X86_LIVEPATCH_H__
#define __ASM_X86_LIVEPATCH_H__

/* A patched function starts with "jmp rel32". */
#define ARCH_PATCH_INSN_SIZE    5
/* How far a rel32 reaches. */
#define ARCH_LIVEPATCH_RANGE    (1UL << 31)

/* endbr64 (f3 0f 1e fa) and its "poisoned" form nopw (%rcx) (66 0f 1f 01). */
#define ENDBR64_LEN             4

#endif /* __ASM_X86_LIVEPATCH_H__ */
