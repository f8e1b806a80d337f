/* SPDX-License-Identifier: GPL-2.0 */
/*
 * wait.h
 *
 * Waitqueues: a guest vCPU that sleeps inside the hypervisor, in the
 * middle of a hypercall, keeping its hypervisor stack, as Xen's vm_event
 * waitqueues do (xen/common/wait.c there).
 *
 * wait_event(wq, condition) sleeps until condition holds.  While the
 * vCPU sleeps, the part of its CPU's primary stack from the sleeping
 * frame up to the guest frame is kept in a per-vCPU buffer and the CPU
 * runs other vCPUs (or idles) on the same stack.  When the vCPU is woken
 * and scheduled again (vCPUs are pinned, so on the same CPU: the frames
 * go back to the same addresses), the buffer is copied back and the
 * sleeping call returns.  The frames of a sleeping vCPU, return addresses
 * into whatever called wait_event() included, therefore survive any
 * live-patch action taken meanwhile: common/livepatch_stack.c walks them.
 *
 * The waker makes the condition true, then calls wake_up_all().
 */
#ifndef __XEN_WAIT_H__
#define __XEN_WAIT_H__

#include <xen/types.h>
#include <xen/list.h>
#include <xen/spinlock.h>

/* Bytes of hypervisor stack a sleeping vCPU may keep. */
#define WAIT_STACK_SIZE         1536

struct vcpu;

struct waitqueue_head {
    spinlock_t lock;
    struct list_head list;      /* of struct waitqueue_vcpu */
};

/* One per guest vCPU (waitqueue.c). */
struct waitqueue_vcpu {
    struct list_head list;      /* on a waitqueue while waiting */
    struct waitqueue_head *wq;
    struct vcpu *vcpu;
    unsigned long sp;           /* lowest byte kept, 0: nothing kept */
    unsigned long len;          /* bytes kept, up to the guest frame */
    unsigned long sleeps;
    uint8_t stack[WAIT_STACK_SIZE];
};

void init_waitqueue_head(struct waitqueue_head *wq);
void wake_up_all(struct waitqueue_head *wq);

/* The building blocks of wait_event(). */
void prepare_to_wait(struct waitqueue_head *wq);
void finish_wait(struct waitqueue_head *wq);
void wait_sleep(void);

#define wait_event(wq, condition)                                       \
do {                                                                    \
    for ( ; ; )                                                         \
    {                                                                   \
        prepare_to_wait(wq);                                            \
        if ( condition )                                                \
            break;                                                      \
        wait_sleep();                                                   \
    }                                                                   \
    finish_wait(wq);                                                    \
} while ( 0 )

/* The kept stack of guest vCPU v, or NULL while it keeps none. */
const struct waitqueue_vcpu *waitqueue_vcpu_of(const struct vcpu *v);

/*
 * Called by the scheduler just before it returns to the guest of the
 * current vCPU: if that vCPU sleeps with its stack kept (and has been
 * woken, or it would not have been picked), continue it where it slept.
 * Does not return then.
 */
void waitqueue_resume(void);

/* arch/x86/waitqueue.S */
int arch_wait_save(unsigned long *sp, void *buf, unsigned long top,
                   unsigned long max);
noreturn void arch_wait_resume(unsigned long sp, const void *buf,
                               unsigned long len);

#endif /* __XEN_WAIT_H__ */
