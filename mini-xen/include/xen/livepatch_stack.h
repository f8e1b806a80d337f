/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_stack.h
 *
 * Stack checks of live-patch actions (common/livepatch_stack.c) and the
 * references between payloads (common/livepatch_ref.c).
 */
#ifndef __XEN_LIVEPATCH_STACK_H__
#define __XEN_LIVEPATCH_STACK_H__

#include <xen/types.h>
#include <xen/list.h>
#include <xen/percpu.h>

struct payload;

/* livepatch-stack-check=on|off|xen */
enum livepatch_stack_mode {
    LIVEPATCH_STACK_OFF,
    LIVEPATCH_STACK_ON,
    LIVEPATCH_STACK_XEN,
};

/* Frame pointer of each CPU waiting in the rendezvous. */
DECLARE_PER_CPU(unsigned long, lp_stack_frame);

/* Inline, so that the frame noted is the caller's own (a slave's). */
static always_inline void livepatch_stack_note_cpu(void)
{
    this_cpu(lp_stack_frame) = (unsigned long)__builtin_frame_address(0);
}

/*
 * Hypercall context, payload_lock held, when an APPLY, REVERT or REPLACE
 * of data is scheduled: the code the action may not find on a stack.
 * applied is the list of applied payloads (REPLACE reverts them all).
 */
void livepatch_stack_prepare(const struct payload *data, uint32_t cmd,
                             const struct list_head *applied);

/*
 * The master, interrupts off, every other CPU in the rendezvous: 0, or
 * -EBUSY if a CPU's stack or a sleeping vCPU's kept stack holds an
 * address in that code (what was found is kept for the report).
 */
int livepatch_stack_check(void);

/* After the CPUs are released: the console line of a refusal, if any. */
void livepatch_stack_report(const char *name, const char *action);

/*
 * Hypercall context, payload_lock held, before data's memory is freed:
 * 0 or -EBUSY (with its console line) if any CPU or sleeping vCPU holds
 * an address inside the payload.
 */
int livepatch_stack_check_unload(const struct payload *data);

/* livepatch_ref.c: payloads whose exports another payload links against. */
void livepatch_ref_begin(void);
bool livepatch_ref_used(const struct payload *used, const char *name);
void livepatch_ref_commit(const struct payload *user);
int livepatch_ref_check_unload(const struct payload *used);
void livepatch_ref_drop(const struct payload *p);

#endif /* __XEN_LIVEPATCH_STACK_H__ */
