/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spinlock.h
 *
 * Ticket locks: the tail (upper 16 bits) is taken with lock xadd, the
 * holder of ticket t owns the lock while head == t.
 */
#ifndef __XEN_SPINLOCK_H__
#define __XEN_SPINLOCK_H__

#include <xen/types.h>

#define SPINLOCK_NO_CPU         0xffffU

typedef struct spinlock {
    union {
        uint32_t head_tail;
        struct {
            uint16_t head;
            uint16_t tail;
        };
    } tickets;
    uint16_t owner;             /* CPU holding the lock, for diagnostics */
} spinlock_t;

#define SPIN_LOCK_UNLOCKED      { { 0 }, SPINLOCK_NO_CPU }
#define DEFINE_SPINLOCK(l)      spinlock_t l = SPIN_LOCK_UNLOCKED

void spin_lock_init(spinlock_t *lock);
void spin_lock(spinlock_t *lock);
void spin_unlock(spinlock_t *lock);
bool spin_trylock(spinlock_t *lock);
bool spin_is_locked(const spinlock_t *lock);
void spin_lock_irq(spinlock_t *lock);
void spin_unlock_irq(spinlock_t *lock);
unsigned long _spin_lock_irqsave(spinlock_t *lock);
void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

#define spin_lock_irqsave(l, f) ((f) = _spin_lock_irqsave(l))

#endif /* __XEN_SPINLOCK_H__ */
