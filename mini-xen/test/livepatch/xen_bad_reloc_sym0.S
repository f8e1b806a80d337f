/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen_bad_reloc_sym0: a valid NOP entry, plus one relocation against
 * symbol 0 (STN_UNDEF): -EOPNOTSUPP.
 */
#include "config.h"

        .section .rodata.bad_reloc_sym0, "a", @progbits
bad_reloc_sym0_name:
        .asciz  "xen_minor_version"

        .section .livepatch.funcs, "a", @progbits
        .p2align 3
livepatch_bad_reloc_sym0:
        .quad   bad_reloc_sym0_name     /* name */
        .quad   0                       /* new_addr: NOP */
        .quad   MINOR_VERSION_ADDR      /* old_addr */
        .long   MINOR_VERSION_SZ - 1    /* new_size */
        .long   MINOR_VERSION_SZ        /* old_size */
        .byte   2                       /* version */
        .fill   39 + 32, 1, 0

        .section .data.bad_reloc_sym0, "aw", @progbits
        .p2align 3
bad_reloc_sym0_word:
        .reloc  ., R_X86_64_64, 0
        .quad   0
