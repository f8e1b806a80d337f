/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_HYPERCALL_H__
#define __XEN_HYPERCALL_H__

#include <xen/types.h>

struct cpu_user_regs;

typedef long hypercall_fn_t(unsigned long a1, unsigned long a2,
                            unsigned long a3, unsigned long a4,
                            unsigned long a5);

long do_memory_op(unsigned long cmd, unsigned long arg, unsigned long a3,
                  unsigned long a4, unsigned long a5);
long do_xen_version(unsigned long cmd, unsigned long arg, unsigned long a3,
                    unsigned long a4, unsigned long a5);
long do_console_io(unsigned long cmd, unsigned long count,
                   unsigned long buffer, unsigned long a4, unsigned long a5);
long do_sched_op(unsigned long cmd, unsigned long arg, unsigned long a3,
                 unsigned long a4, unsigned long a5);
long do_event_channel_op(unsigned long cmd, unsigned long arg,
                         unsigned long a3, unsigned long a4,
                         unsigned long a5);
long do_sysctl(unsigned long arg, unsigned long a2, unsigned long a3,
               unsigned long a4, unsigned long a5);

void do_hypercall(struct cpu_user_regs *regs);

#endif /* __XEN_HYPERCALL_H__ */
