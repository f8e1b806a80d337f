/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_LIVEPATCH_H__
#define __XEN_LIVEPATCH_H__

/*
 * Called on every return to guest (entry.S: test_all_events) and from
 * the idle loop, with interrupts enabled and a nearly empty stack.
 */
void check_for_livepatch_work(void);

void livepatch_init(void);

#endif /* __XEN_LIVEPATCH_H__ */
