/* SPDX-License-Identifier: GPL-2.0 */
/*
 * payload.h
 *
 * Included first in every test payload source (Rules.mk: -include).
 * Payloads are built with -fpic: with every symbol hidden, the compiler
 * reaches code and data RIP-relative (R_X86_64_PC32/PLT32) and stores
 * addresses with R_X86_64_64, the only relocations the loader accepts.
 * (-fno-pic code, like the hypervisor's, uses R_X86_64_32/32S.)
 */
#pragma GCC visibility push(hidden)

#define ASM_NOP1                ".byte 0x90"
#define ASM_NOP8                ".byte 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00"
