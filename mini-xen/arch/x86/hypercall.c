/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hypercall.c
 *
 * int $0x82 dispatch: rax = number, arguments in rdi, rsi, rdx, r10, r8,
 * result in rax.  Runs with interrupts enabled, on the guest's frame.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/hypercall.h>
#include <xen/sched.h>
#include <public/xen.h>

static hypercall_fn_t *const hypercall_table[NR_hypercalls] = {
    [__HYPERVISOR_memory_op]        = do_memory_op,
    [__HYPERVISOR_xen_version]      = do_xen_version,
    [__HYPERVISOR_console_io]       = do_console_io,
    [__HYPERVISOR_sched_op]         = do_sched_op,
    [__HYPERVISOR_event_channel_op] = do_event_channel_op,
    [__HYPERVISOR_sysctl]           = do_sysctl,
};

void do_hypercall(struct cpu_user_regs *regs)
{
    unsigned long op = regs->rax;
    struct vcpu *v = current;

    ASSERT(!is_idle_vcpu(v));

    if ( op >= NR_hypercalls || !hypercall_table[op] )
    {
        regs->rax = -ENOSYS;
        return;
    }

    v->nr_hypercalls++;
    regs->rax = hypercall_table[op](regs->rdi, regs->rsi, regs->rdx,
                                    regs->r10, regs->r8);
}
