/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_stack.c
 *
 * Stack checks: no CPU and no sleeping vCPU may hold a return address or
 * an interrupted RIP inside code that an action rewrites or frees.
 *
 * Xen has none: it argues that every CPU reaches the rendezvous with a
 * freshly reset stack, and refuses to patch while any vCPU sleeps on a
 * waitqueue.  kpatch and Linux walk every stack instead; so do we.
 *
 * What is compared (the ranges, set up in hypercall context when the
 * action is scheduled):
 *   APPLY    the functions being patched, [old_addr, old_addr + old_size)
 *   REVERT   the payload's text: its new functions and whatever they
 *            call (a replacement that tail-calls a helper leaves only the
 *            helper on the stack, and nothing may run in the text of a
 *            payload that is not applied); for a NOP entry also the
 *            patched bytes of the old function
 *   REPLACE  the new payload's old functions and every applied payload's
 *            text (they are all reverted)
 *   UNLOAD   the payload's whole allocation: text, data, read-only data
 *            (anything it exports)
 *
 * What is walked, with frame pointers (mini-xen is built with them):
 *   - every online CPU's stack, from the frame each slave noted when it
 *     arrived in the rendezvous (the master: its own), across the whole
 *     stack block (the #DF/NMI/#MC IST stacks and the primary stack; not
 *     the guard page);
 *   - every sleeping vCPU's kept stack (xen/wait.h), in its copy;
 *   - across interrupt and exception frames: a return address into
 *     common_interrupt (entry.S) means that a struct cpu_user_regs lies
 *     just above the frame of the C handler; its RIP, the interrupted
 *     one, is compared too, and the walk goes on from its %rbp (it ends
 *     at a frame from ring 3).
 *
 * APPLY, REVERT and REPLACE are checked by the master in the rendezvous,
 * with interrupts off and every other CPU spinning, right before the
 * first byte is written: nothing can change under the walk.  The code
 * that runs then (the walk, the comparisons) is in .text.unpatchable.
 * UNLOAD runs in the sysctl, without a rendezvous; by then the payload is
 * reverted, so no CPU can newly enter its code except through another
 * payload that links against it (livepatch_ref.c refuses that unload
 * first).  It walks the sleeping vCPUs, then every CPU from an IPI (each
 * CPU walks itself from the interrupt frame: what it was running), then
 * the sleeping vCPUs again (one that woke up and slept again in
 * between), so that a vCPU can be inside the payload at no point without
 * being seen.
 *
 * A refusal is -EBUSY with nothing changed and one console line naming
 * the vCPU (or CPU), the function (%pS) and the frame.  There is no
 * internal retry: a vCPU may sleep for as long as dom0 does not answer
 * (dom0 may be the very caller), so waiting inside the rendezvous, with
 * every CPU held with interrupts off, could not end well; the caller
 * retries (xen-livepatch reports -EBUSY as "busy, try again", exit
 * status 2), after the sleeper was woken and has returned.
 *
 * livepatch-stack-check=on (default) does the above; =off checks
 * nothing, so the hazard can be reproduced; =xen is Xen's own rule
 * (arch_livepatch_safety_check()): APPLY, REVERT and REPLACE are refused
 * whenever any vCPU sleeps, whatever its stack holds, and UNLOAD is not
 * checked.
 */
#include <xen/lib.h>
#include <xen/errno.h>
#include <xen/livepatch.h>
#include <xen/livepatch_payload.h>
#include <xen/livepatch_stack.h>
#include <xen/param.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/spinlock.h>
#include <xen/wait.h>
#include <asm/current.h>
#include <asm/smp.h>
#include <public/livepatch.h>

#define LP_STACK_MAX_RANGES     64
#define LP_STACK_MAX_FRAMES     64

/* Where an interrupt or exception entry calls its C handler. */
extern const char common_interrupt[], ret_from_intr[];

struct lp_range {
    unsigned long start, end;
};

/* The code at risk in one action. */
struct lp_ranges {
    unsigned int nr;
    struct lp_range r[LP_STACK_MAX_RANGES];
};

/* What the walk looks for (rs), and what it found first. */
struct lp_stack_hit {
    const struct lp_ranges *rs;
    bool found;
    bool sleeping;              /* in a sleeping vCPU's kept stack */
    bool interrupted;           /* an interrupted RIP, not a return address */
    const struct vcpu *v;       /* the vCPU; NULL: the CPU ran idle */
    unsigned int cpu;
    unsigned int frame;         /* 0: the innermost */
    unsigned long addr;
};

/* One stack as the walk reads it: live memory, or a kept copy. */
struct lp_stack_view {
    unsigned long lo, hi;       /* readable: [lo, hi) */
    unsigned long guard_lo, guard_hi; /* except this */
    const uint8_t *copy;        /* the bytes of [lo, hi), or NULL: live */
};

DEFINE_PER_CPU(unsigned long, lp_stack_frame);

static unsigned int lp_stack_mode = LIVEPATCH_STACK_ON;
/* The scheduled action's; UNLOAD (no rendezvous) has its own. */
static struct lp_ranges lp_action_ranges, lp_unload_ranges;
static struct lp_stack_hit lp_hit = { .rs = &lp_action_ranges };
static DEFINE_SPINLOCK(lp_hit_lock);

static const char *const mode_names[] = {
    [LIVEPATCH_STACK_OFF] = "off",
    [LIVEPATCH_STACK_ON] = "on",
    [LIVEPATCH_STACK_XEN] = "xen",
};

static int parse_stack_mode(const char *s)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(mode_names); i++ )
        if ( !strcmp(s, mode_names[i]) )
        {
            lp_stack_mode = i;
            return 0;
        }

    return -EINVAL;
}
custom_param("livepatch-stack-check", parse_stack_mode);

/* ---- Ranges (hypercall context) --------------------------------------- */

static void add_range(struct lp_ranges *rs, unsigned long start,
                      unsigned long size)
{
    struct lp_range *r;

    if ( !size )
        return;

    /* Out of slots: widen the last one (refuses more, never less). */
    if ( rs->nr == LP_STACK_MAX_RANGES )
    {
        r = &rs->r[LP_STACK_MAX_RANGES - 1];
        r->start = min(r->start, start);
        r->end = max(r->end, start + size);
        return;
    }

    r = &rs->r[rs->nr++];
    r->start = start;
    r->end = start + size;
}

static void add_old_funcs(struct lp_ranges *rs, const struct payload *p)
{
    unsigned int i;

    for ( i = 0; i < p->nfuncs; i++ )
        add_range(rs, p->funcs[i].old_addr, p->funcs[i].old_size);
}

static void add_reverted(struct lp_ranges *rs, const struct payload *p)
{
    unsigned int i;

    add_range(rs, (unsigned long)p->text_addr, p->text_size);

    for ( i = 0; i < p->nfuncs; i++ )
        if ( !p->funcs[i].new_addr ) /* a NOP entry: its bytes are restored */
            add_range(rs, p->funcs[i].old_addr, p->funcs[i].new_size);
}

void livepatch_stack_prepare(const struct payload *data, uint32_t cmd,
                             const struct list_head *applied)
{
    struct lp_ranges *rs = &lp_action_ranges;
    const struct payload *other;

    rs->nr = 0;
    lp_hit.found = false;

    switch ( cmd )
    {
    case LIVEPATCH_ACTION_APPLY:
        add_old_funcs(rs, data);
        break;

    case LIVEPATCH_ACTION_REVERT:
        add_reverted(rs, data);
        break;

    case LIVEPATCH_ACTION_REPLACE:
        add_old_funcs(rs, data);
        list_for_each_entry ( other, applied, applied_list )
            add_reverted(rs, other);
        break;
    }
}

/* ---- The walk (also in the rendezvous: unpatchable) ------------------- */

static __unpatchable bool view_read(const struct lp_stack_view *s,
                                    unsigned long a, unsigned long *val)
{
    if ( (a & 7) || a < s->lo || a + 8 > s->hi ||
         (a + 8 > s->guard_lo && a < s->guard_hi) )
        return false;

    *val = s->copy ? *(const unsigned long *)(s->copy + (a - s->lo))
                   : *(const unsigned long *)a;

    return true;
}

static __unpatchable bool in_ranges(const struct lp_ranges *rs,
                                    unsigned long a)
{
    unsigned int i;

    for ( i = 0; i < rs->nr; i++ )
        if ( a >= rs->r[i].start && a < rs->r[i].end )
            return true;

    return false;
}

static __unpatchable bool hit(struct lp_stack_hit *h, unsigned long addr,
                              bool interrupted, unsigned int frame)
{
    if ( !in_ranges(h->rs, addr) )
        return false;

    h->found = true;
    h->addr = addr;
    h->interrupted = interrupted;
    h->frame = frame;

    return true;
}

/* Follow the frame chain from rbp; true (and h filled in) on a hit. */
static __unpatchable bool walk(const struct lp_stack_view *s,
                               unsigned long rbp, struct lp_stack_hit *h)
{
    unsigned int frame = 0, i;

    for ( i = 0; i < LP_STACK_MAX_FRAMES; i++ )
    {
        unsigned long next, ret;

        if ( !view_read(s, rbp, &next) || !view_read(s, rbp + 8, &ret) ||
             !ret )
            return false;

        if ( hit(h, ret, false, frame++) )
            return true;

        if ( ret >= (unsigned long)common_interrupt &&
             ret < (unsigned long)ret_from_intr )
        {
            /* CALL_C from the entry: pad, then the register frame. */
            unsigned long regs = rbp + 24, cs, rip;

            if ( !view_read(s, regs + offsetof(struct cpu_user_regs, cs),
                            &cs) || (cs & 3) ||
                 !view_read(s, regs + offsetof(struct cpu_user_regs, rip),
                            &rip) ||
                 !view_read(s, regs + offsetof(struct cpu_user_regs, rbp),
                            &next) )
                return false;

            if ( hit(h, rip, true, frame++) )
                return true;
        }

        if ( next <= rbp )
            return false;
        rbp = next;
    }

    return false;
}

static __unpatchable void live_view(struct lp_stack_view *s, unsigned int cpu)
{
    unsigned long block = cpu_stack_block(cpu);

    s->lo = block;
    s->hi = block + STACK_SIZE;
    s->guard_lo = block + STACK_GUARD_PAGE * PAGE_SIZE;
    s->guard_hi = s->guard_lo + PAGE_SIZE;
    s->copy = NULL;
}

static __unpatchable bool walk_cpu(unsigned int cpu, unsigned long rbp,
                                   struct lp_stack_hit *h)
{
    const struct vcpu *v = ACCESS_ONCE(cpu_info_of(cpu)->current_vcpu);
    struct lp_stack_view s;

    live_view(&s, cpu);
    if ( !walk(&s, rbp, h) )
        return false;

    h->cpu = cpu;
    h->sleeping = false;
    h->v = (v && !is_idle_vcpu(v)) ? v : NULL;

    return true;
}

/*
 * Every sleeping vCPU's kept stack.  With only_sleeping (Xen's rule),
 * any sleeping vCPU is a hit.
 */
static __unpatchable bool walk_sleepers(struct lp_stack_hit *h,
                                        bool only_sleeping)
{
    unsigned int d, i;

    for ( d = 0; d < nr_domains; d++ )
    {
        const struct domain *dom = domain_list[d];

        for ( i = 0; i < dom->max_vcpus; i++ )
        {
            const struct vcpu *v = dom->vcpu[i];
            const struct waitqueue_vcpu *w = waitqueue_vcpu_of(v);
            struct lp_stack_view s;

            if ( !w )
                continue;

            if ( only_sleeping )
                h->found = true;
            else
            {
                s.lo = w->sp;
                s.hi = w->sp + w->len;
                s.guard_lo = s.guard_hi = 0;
                s.copy = w->stack;
                /* arch_wait_save()'s frame, above the 5 registers it kept. */
                if ( !walk(&s, w->sp + 5 * 8, h) )
                    continue;
            }

            h->sleeping = true;
            h->v = v;
            h->cpu = v->processor;

            return true;
        }
    }

    return false;
}

int __unpatchable livepatch_stack_check(void)
{
    unsigned int self = smp_processor_id(), cpu;
    struct lp_stack_hit *h = &lp_hit;

    h->found = false;

    switch ( lp_stack_mode )
    {
    case LIVEPATCH_STACK_OFF:
        return 0;

    case LIVEPATCH_STACK_XEN:
        return walk_sleepers(h, true) ? -EBUSY : 0;
    }

    for_each_online_cpu ( cpu )
    {
        unsigned long rbp = cpu == self
            ? (unsigned long)__builtin_frame_address(0)
            : per_cpu(lp_stack_frame, cpu);

        if ( walk_cpu(cpu, rbp, h) )
            return -EBUSY;
    }

    return walk_sleepers(h, false) ? -EBUSY : 0;
}

/* ---- Reports and UNLOAD (hypercall context) ---------------------------- */

static void print_hit(const char *name, const char *action,
                      const struct lp_stack_hit *h)
{
    char who[32];

    if ( h->v )
        snprintf(who, sizeof(who), "d%uv%u (%s CPU%u)",
                 h->v->domain->domain_id, h->v->vcpu_id,
                 h->sleeping ? "sleeping, on" : "running on", h->cpu);
    else
        snprintf(who, sizeof(who), "CPU%u (idle)", h->cpu);

    if ( lp_stack_mode == LIVEPATCH_STACK_XEN )
        printk(LIVEPATCH "%s: %s refused: %s sleeps on a waitqueue "
               "(livepatch-stack-check=xen)\n", name, action, who);
    else
        printk(LIVEPATCH "%s: %s refused: %s holds %pS, %s of frame %u "
               "(livepatch-stack-check=on)\n", name, action, who,
               (void *)h->addr,
               h->interrupted ? "the interrupted RIP" : "the return address",
               h->frame);
}

void livepatch_stack_report(const char *name, const char *action)
{
    if ( lp_hit.found )
        print_hit(name, action, &lp_hit);
    lp_hit.found = false;
}

/* IPI handler: this CPU walks its own stack, from this very frame. */
static void unload_walk_self(void *info)
{
    struct lp_stack_hit *out = info;
    struct lp_stack_hit h = { .rs = out->rs };

    if ( !walk_cpu(smp_processor_id(),
                   (unsigned long)__builtin_frame_address(0), &h) )
        return;

    spin_lock(&lp_hit_lock);
    if ( !out->found )
        *out = h;
    spin_unlock(&lp_hit_lock);
}

int livepatch_stack_check_unload(const struct payload *data)
{
    struct lp_stack_hit h = { .rs = &lp_unload_ranges };

    if ( lp_stack_mode != LIVEPATCH_STACK_ON || !data->pages )
        return 0;

    lp_unload_ranges.nr = 0;
    add_range(&lp_unload_ranges, (unsigned long)data->text_addr,
              (unsigned long)data->pages << PAGE_SHIFT);

    if ( !walk_sleepers(&h, false) )
        on_selected_cpus(&cpu_online_map, unload_walk_self, &h, true);
    if ( !h.found )
        walk_sleepers(&h, false);

    if ( !h.found )
        return 0;

    print_hit(data->name, "UNLOAD", &h);

    return -EBUSY;
}
