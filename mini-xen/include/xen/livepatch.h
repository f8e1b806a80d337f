/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch.h
 *
 * Live patching: the sysctl entry point, the per-CPU work check and the
 * interface between the common code (common/livepatch.c) and the
 * architecture (arch/x86/livepatch_arch.c).
 */
#ifndef __XEN_LIVEPATCH_H__
#define __XEN_LIVEPATCH_H__

#include <xen/types.h>

struct xen_sysctl_livepatch_op;
struct livepatch_func;
struct virtual_region;

#define LIVEPATCH               "livepatch: "

/*
 * Called on every return to guest (entry.S: test_all_events) and from
 * the idle loop, with interrupts enabled and a nearly empty stack.
 */
void check_for_livepatch_work(void);

void livepatch_init(void);

struct cpu_user_regs;

/* The end of an action, on the master: LIVEPATCH_SOFTIRQ. */
void livepatch_action_tail(void);

/* NMI/#MC while patching and the window's console lines (livepatch_nmi.c). */
void livepatch_nmi_init(void);
void livepatch_nmi_printall(void);
const char *livepatch_nmi_policy(void);
int livepatch_nmi_enter(const struct cpu_user_regs *regs);
int livepatch_mce_enter(const struct cpu_user_regs *regs);
void livepatch_window_enter(void);
void livepatch_window_exit(void);
void livepatch_nmi_mask(void);
void livepatch_nmi_unmask(void);
void livepatch_log_args(const char *fmt, unsigned int nr, ...);

#define LIVEPATCH_LOG_NARGS_(_0, _1, _2, _3, _4, n, ...) n
#define LIVEPATCH_LOG_NARGS(...) \
    LIVEPATCH_LOG_NARGS_(_, ##__VA_ARGS__, 4, 3, 2, 1, 0)

/*
 * printk() for unpatchable code: the line is printed once the action is
 * over.  At most 4 arguments, integers or pointers that stay valid.
 */
#define livepatch_log(fmt, args...) \
    livepatch_log_args(fmt, LIVEPATCH_LOG_NARGS(args), ##args)

/* Payload signatures (common/livepatch_sig.c). */
struct xen_sysctl_livepatch_signature;

/* What the check found for a loaded payload. */
enum livepatch_sig_status {
    LIVEPATCH_SIG_UNCHECKED,    /* livepatch-signature=off */
    LIVEPATCH_SIG_VALID,        /* signed with the built-in key */
    LIVEPATCH_SIG_INVALID,      /* loaded under livepatch-signature=warn */
};

void livepatch_sig_init(void);

/*
 * Checks the signature note at the end of the @*len bytes at @raw before
 * anything else of the payload is read, as livepatch-signature= says:
 *   enforce: 0 if signed with the built-in key; else -EACCES and one
 *            console line naming @name and the reason (no note, an
 *            unsupported version or algorithm, another key, a bad
 *            signature);
 *   warn:    the same check, but a failure is that console line only;
 *   off:     no check.
 * On success *len is cut to the ELF part (when there is a note) and
 * *status says what was found.
 */
int livepatch_verify_signature(const char *name, const void *raw,
                               size_t *len,
                               enum livepatch_sig_status *status);

const char *livepatch_sig_status_str(enum livepatch_sig_status status);

/* XEN_SYSCTL_LIVEPATCH_SIGNATURE. */
void livepatch_sig_get(struct xen_sysctl_livepatch_signature *sig);

/* The policy line of the 'x' debug key. */
void livepatch_sig_printall(void);

/* XEN_SYSCTL_livepatch_op, called with the sysctl lock held. */
int livepatch_op(struct xen_sysctl_livepatch_op *op);

/* Name lookup among the exported symbols of loaded payloads, or 0. */
unsigned long livepatch_symbols_lookup_by_name(const char *name);

/* Per-function runtime state, kept in hypervisor memory. */
enum livepatch_func_state {
    LIVEPATCH_FUNC_NOT_APPLIED,
    LIVEPATCH_FUNC_APPLIED,
};

#define LIVEPATCH_OPAQUE_SIZE   31

struct livepatch_fstate {
    unsigned int patch_offset;          /* 4 after an ENDBR64, else 0 */
    enum livepatch_func_state applied;
    uint8_t insn_buffer[LIVEPATCH_OPAQUE_SIZE]; /* the original bytes */
};

/* Page permissions of the three regions of a payload. */
enum va_type {
    LIVEPATCH_VA_RX,
    LIVEPATCH_VA_RW,
    LIVEPATCH_VA_RO,
};

/* ---- Architecture hooks --------------------------------------------- */
void arch_livepatch_init(void);

/* Pages of the live-patch area, mapped RW+NX; NULL if none are free. */
void *arch_livepatch_alloc_pages(unsigned int nr);
/* Unmap and release; the caller made sure nothing uses them any more. */
void arch_livepatch_free_pages(void *va, unsigned int nr);
/* Set the permissions of [va, va + pages) (no remote TLB flush). */
int arch_livepatch_secure(const void *va, unsigned int pages,
                          enum va_type type);
/* Flush the TLB of every online CPU (interrupts must be enabled). */
void arch_livepatch_flush_tlb_all(void);

/* Sizes of a jump or NOP patch; name is the payload's, for messages. */
int arch_livepatch_verify_func(const char *name,
                               const struct livepatch_func *func);
/* Where the patch goes: past an ENDBR64 at old_addr. */
unsigned int arch_livepatch_patch_offset(const struct livepatch_func *func);
/* Bytes the patch of func rewrites (0 for an empty NOP). */
unsigned int livepatch_insn_len(const struct livepatch_func *func,
                                const struct livepatch_fstate *state);
void arch_livepatch_apply(const struct livepatch_func *func,
                          struct livepatch_fstate *state);
void arch_livepatch_revert(const struct livepatch_func *func,
                           struct livepatch_fstate *state);

/* Make text writable on this CPU, and back; then serialise every CPU. */
bool arch_livepatch_text_equal(const void *a, const void *b, unsigned int len);
void arch_livepatch_quiesce(void);
void arch_livepatch_revive(void);
void arch_livepatch_post_action(void);

/*
 * Validate the alternatives of a payload ([start, end) of struct
 * alt_instr) against its text and replacement ranges, and apply those
 * whose feature is present.  Text must still be writable.
 */
int arch_livepatch_apply_alternatives(const char *name,
                                      void *start, void *end,
                                      unsigned long text_start,
                                      unsigned long text_end,
                                      unsigned long repl_start,
                                      unsigned long repl_end);

#endif /* __XEN_LIVEPATCH_H__ */
