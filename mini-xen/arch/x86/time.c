/* SPDX-License-Identifier: GPL-2.0 */
/*
 * time.c
 *
 * Virtual time and the per-CPU one-shot timer of the machine.  Time is
 * the emulator's virtual nanosecond counter (never the TSC).
 */
#include <xen/lib.h>
#include <xen/time.h>
#include <asm/io.h>
#include <public/platform.h>

/* Also the clock of the live-patch rendezvous: unpatchable. */
__unpatchable s_time_t NOW(void)
{
    uint32_t lo, hi;

    /* Reading LO latches HI. */
    lo = inl(PORT_TIME_LO);
    hi = inl(PORT_TIME_HI);

    return ((s_time_t)hi << 32) | lo;
}

void reprogram_timer(s_time_t t)
{
    s_time_t delta;

    if ( t == 0 )
    {
        outl(0, PORT_TIMER);
        return;
    }

    delta = t - NOW();
    if ( delta < 1 )
        delta = 1;
    if ( delta > 0xffffffffLL )
        delta = 0xffffffffLL;   /* fires early; the softirq re-arms */

    outl((uint32_t)delta, PORT_TIMER);
}
