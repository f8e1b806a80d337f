/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spinlock.c
 *
 * Ticket spinlocks.  Taking a ticket is one "lock xadd" on the combined
 * head/tail word; releasing increments head.
 */
#include <xen/spinlock.h>
#include <xen/percpu.h>
#include <asm/system.h>

#define TICKET_SHIFT            16

void spin_lock_init(spinlock_t *lock)
{
    lock->tickets.head_tail = 0;
    lock->owner = SPINLOCK_NO_CPU;
}

void spin_lock(spinlock_t *lock)
{
    uint32_t old = 1U << TICKET_SHIFT;
    uint16_t ticket;

    asm volatile ( "lock xaddl %0, %1"
                   : "+r" (old), "+m" (lock->tickets.head_tail)
                   : : "memory" );
    ticket = old >> TICKET_SHIFT;

    while ( ACCESS_ONCE(lock->tickets.head) != ticket )
        cpu_relax();

    barrier();
    lock->owner = smp_processor_id();
}

void spin_unlock(spinlock_t *lock)
{
    lock->owner = SPINLOCK_NO_CPU;
    barrier();
    asm volatile ( "lock incw %0" : "+m" (lock->tickets.head) : : "memory" );
}

bool spin_trylock(spinlock_t *lock)
{
    uint32_t old = ACCESS_ONCE(lock->tickets.head_tail);
    uint32_t new;

    if ( (old >> TICKET_SHIFT) != (old & 0xffff) )
        return false;

    new = old + (1U << TICKET_SHIFT);
    if ( cmpxchg(&lock->tickets.head_tail, old, new) != old )
        return false;

    lock->owner = smp_processor_id();
    return true;
}

bool spin_is_locked(const spinlock_t *lock)
{
    uint32_t v = ACCESS_ONCE(lock->tickets.head_tail);

    return (v >> TICKET_SHIFT) != (v & 0xffff);
}

void spin_lock_irq(spinlock_t *lock)
{
    local_irq_disable();
    spin_lock(lock);
}

void spin_unlock_irq(spinlock_t *lock)
{
    spin_unlock(lock);
    local_irq_enable();
}

unsigned long _spin_lock_irqsave(spinlock_t *lock)
{
    unsigned long flags;

    local_irq_save(flags);
    spin_lock(lock);

    return flags;
}

void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
    spin_unlock(lock);
    local_irq_restore(flags);
}
