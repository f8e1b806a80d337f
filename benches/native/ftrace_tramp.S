/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ftrace_tramp.S
 *
 * Template of an ftrace-style trampoline, as kpatch/klp reach a
 * replacement: the patched function's first 5 bytes are "call
 * cp_tramp"; the trampoline saves the caller-saved registers, looks the
 * function up in a hash table by its address (the return address of that
 * call), overwrites the return address with the replacement's (as
 * klp_ftrace_handler sets regs->ip) and returns into it.
 *
 * Never executed where it is linked: benches/src/native.rs copies
 * [cp_tramp, cp_tramp_end) into memory it maps and writes the table's
 * address into the movabs at cp_tramp_table.  Position independent
 * otherwise.
 *
 * Table: CP_TABLE_SIZE entries of { u64 ip; u64 new; }, ip = the patched
 * function's address + 5; bucket ((ip >> 4) * 0x9e3779b1 mod 2^32) >> 19,
 * then linear probing (native.rs hashes the same way).
 */
        .file "ftrace_tramp.S"

#define CP_TABLE_MASK   8191

        .section .rodata.cp_tramp, "a", @progbits
        .globl  cp_tramp, cp_tramp_end, cp_tramp_table

cp_tramp:
        push    %rax
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        mov     72(%rsp), %rax                  /* patched function + 5 */
cp_tramp_table:
        movabs  $0, %rdx                        /* the table, written at copy */
        mov     %rax, %rcx
        shr     $4, %rcx
        imul    $0x9e3779b1, %ecx, %ecx
        shr     $19, %ecx
1:      mov     %rcx, %r8
        shl     $4, %r8
        cmp     (%rdx,%r8), %rax
        je      2f
        inc     %ecx
        and     $CP_TABLE_MASK, %ecx
        jmp     1b
2:      mov     8(%rdx,%r8), %rax
        mov     %rax, 72(%rsp)                  /* "regs->ip = new_func" */
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rax
        ret                                     /* into the replacement */
cp_tramp_end:

        .section .note.GNU-stack, "", @progbits
