/* SPDX-License-Identifier: GPL-2.0 */
/*
 * traps.c
 *
 * Exception handlers, register dumps and call traces.
 */
#include <xen/lib.h>
#include <xen/console.h>
#include <xen/errno.h>
#include <xen/sched.h>
#include <xen/symbols.h>
#include <xen/version.h>
#include <xen/virtual_region.h>
#include <asm/current.h>
#include <asm/irq.h>
#include <asm/mce.h>
#include <asm/nmi.h>
#include <asm/processor.h>
#include <asm/smp.h>
#include <asm/traps.h>
#include <asm/uaccess.h>

#define MAX_TRACE_DEPTH         32

static const char *const trapstr[TRAP_nr] = {
    "divide error", "debug", "nmi", "int3",
    "overflow", "bounds", "invalid opcode", "device not available",
    "double fault", "coprocessor segment", "invalid tss", "segment not found",
    "stack error", "general protection fault", "page fault",
    "spurious interrupt", "coprocessor error", "alignment check",
    "machine check", "simd error", "virtualisation exception",
    "control protection",
};

const char *trap_name(unsigned int trapnr)
{
    if ( trapnr == HYPERCALL_VECTOR )
        return "hypercall";
    if ( trapnr < TRAP_nr && trapstr[trapnr] )
        return trapstr[trapnr];
    return trapnr < TRAP_nr ? "reserved" : "interrupt";
}

void show_registers(const struct cpu_user_regs *regs)
{
    bool guest = guest_mode(regs);
    const struct vcpu *v = current;
    char context[32];

    if ( guest && v && !is_idle_vcpu(v) )
        snprintf(context, sizeof(context), "guest (d%u v%u)",
                 v->domain->domain_id, v->vcpu_id);
    else
        snprintf(context, sizeof(context), "%s",
                 guest ? "guest" : "hypervisor");

    /*
     * The build's own version, not xen_*_version(): those may be patched,
     * and a fault in them (a jump into freed payload memory) would stop
     * the report before the registers.
     */
    printk("----[ Xen-%u.%u%s  x86_64  debug=y  Not tainted ]----\n",
           XEN_VERSION, XEN_SUBVERSION, XEN_EXTRAVERSION);
    printk("CPU:    %u\n", smp_processor_id());
    if ( guest )
        printk("RIP:    %04lx:[<%016lx>]\n", regs->cs, regs->rip);
    else
        printk("RIP:    %04lx:[<%016lx>] %pS\n", regs->cs, regs->rip,
               (void *)regs->rip);
    printk("RFLAGS: %016lx   CONTEXT: %s\n", regs->rflags, context);
    printk("rax: %016lx   rbx: %016lx   rcx: %016lx\n",
           regs->rax, regs->rbx, regs->rcx);
    printk("rdx: %016lx   rsi: %016lx   rdi: %016lx\n",
           regs->rdx, regs->rsi, regs->rdi);
    printk("rbp: %016lx   rsp: %016lx   r8:  %016lx\n",
           regs->rbp, regs->rsp, regs->r8);
    printk("r9:  %016lx   r10: %016lx   r11: %016lx\n",
           regs->r9, regs->r10, regs->r11);
    printk("r12: %016lx   r13: %016lx   r14: %016lx\n",
           regs->r12, regs->r13, regs->r14);
    printk("r15: %016lx   cr0: %016lx   cr4: %016lx\n",
           regs->r15, read_cr0(), read_cr4());
    printk("cr3: %016lx   cr2: %016lx\n", read_cr3(), read_cr2());
    printk("cs: %04lx   ss: %04lx   error_code: %04x   vector: %02x\n",
           regs->cs, regs->ss, regs->error_code, regs->entry_vector);
}

/* A frame {rbp, ret} inside [lo, hi); no wrap for addresses near the top. */
static bool stack_addr_ok(unsigned long addr, unsigned long lo,
                          unsigned long hi)
{
    return addr >= lo && hi - lo >= 16 && addr <= hi - 16 && !(addr & 7);
}

/*
 * Walk the frame-pointer chain of a hypervisor context: each frame is
 * {saved %rbp, return address}.  The walk stays inside the stack block
 * that holds the frame and only moves upwards.
 */
void show_stack_trace(const struct cpu_user_regs *regs)
{
    unsigned long rbp = regs->rbp;
    unsigned long lo, hi;
    unsigned int depth;

    if ( guest_mode(regs) )
        return;

    lo = stack_block_base(regs->rsp);
    if ( lo < (unsigned long)cpu_stacks ||
         lo >= (unsigned long)cpu_stacks + NR_CPUS * STACK_SIZE )
        lo = stack_block_base((unsigned long)&rbp);
    hi = lo + STACK_SIZE;

    printk("Xen call trace:\n");
    printk("   [<%016lx>] %pS\n", regs->rip, (void *)regs->rip);

    for ( depth = 0; depth < MAX_TRACE_DEPTH; depth++ )
    {
        const unsigned long *frame = (const unsigned long *)rbp;
        unsigned long ret;

        if ( !stack_addr_ok(rbp, lo, hi) )
            break;
        ret = frame[1];
        if ( !is_active_text(ret) )
            break;
        printk("   [<%016lx>] %pS\n", ret, (void *)ret);
        if ( frame[0] <= rbp )
            break;
        rbp = frame[0];
    }
    printk("\n");
}

void show_execution_state(const struct cpu_user_regs *regs)
{
    show_registers(regs);
    show_stack_trace(regs);
}

noreturn void fatal_trap(const struct cpu_user_regs *regs)
{
    unsigned int trapnr = regs->entry_vector;
    unsigned long cr2 = read_cr2();

    panic_begin();

    printk("FATAL TRAP: vector %u (%s)\n", trapnr, trap_name(trapnr));
    printk("[error_code=%04x]\n", regs->error_code);
    if ( trapnr == TRAP_page_fault )
        printk("Faulting linear address: %016lx\n", cr2);
    show_execution_state(regs);

    panic_end(regs, "FATAL TRAP: vector = %u (%s)\n[error_code=%04x]%s\n",
              trapnr, trap_name(trapnr), regs->error_code,
              in_irq() ? ", IN INTERRUPT CONTEXT" : "");
}

/*
 * A fault in ring 3: the guest has no exception handlers, so the domain
 * is crashed.
 */
static void guest_trap(struct cpu_user_regs *regs, unsigned long cr2)
{
    struct vcpu *v = current;
    unsigned int trapnr = regs->entry_vector;

    printk("d%u v%u: unhandled %s (vector %u, error %04x) at %04lx:%016lx"
           " cr2 %016lx\n", v->domain->domain_id, v->vcpu_id,
           trap_name(trapnr), trapnr, regs->error_code, regs->cs, regs->rip,
           cr2);
    show_registers(regs);
    domain_crash(v->domain);
}

/* Exceptions without special handling. */
/*
 * A fault a guest caused is the guest's; one in Xen is fixed up through the
 * exception table if the faulting instruction has an entry, else fatal.
 */
static void fixup_or_fatal(struct cpu_user_regs *regs, unsigned long addr)
{
    unsigned long fixup;

    if ( guest_mode(regs) )
    {
        guest_trap(regs, addr);
        return;
    }

    fixup = search_exception_table(regs->rip);
    if ( fixup )
    {
        regs->rip = fixup;
        return;
    }

    fatal_trap(regs);
}

static void do_trap(struct cpu_user_regs *regs)
{
    fixup_or_fatal(regs, 0);
}

static void do_invalid_op(struct cpu_user_regs *regs)
{
    if ( guest_mode(regs) )
    {
        guest_trap(regs, 0);
        return;
    }

    if ( do_bug_frame(regs, regs->rip) == 0 )
        return;

    fatal_trap(regs);
}

static void do_page_fault(struct cpu_user_regs *regs)
{
    fixup_or_fatal(regs, read_cr2());
}

static void do_reserved_trap(struct cpu_user_regs *regs)
{
    fatal_trap(regs);
}

/* Called from entry.S on IST1; the interrupted state may be garbage. */
noreturn void do_double_fault(struct cpu_user_regs *regs)
{
    panic_begin();

    printk("*** DOUBLE FAULT ***\n");
    printk("FATAL TRAP: vector %u (%s)\n", TRAP_double_fault,
           trap_name(TRAP_double_fault));
    printk("[error_code=%04x]\n", regs->error_code);
    show_execution_state(regs);

    panic_end(regs, "DOUBLE FAULT -- system shutdown\n");
}

/* Indexed by vector, called from entry.S for vectors 0-31. */
exception_fn_t *const exception_table[32] = {
    do_trap,                    /*  0 divide error */
    do_trap,                    /*  1 debug */
    do_nmi,                     /*  2 nmi: IST stub */
    do_trap,                    /*  3 int3 */
    do_trap,                    /*  4 overflow */
    do_trap,                    /*  5 bounds */
    do_invalid_op,              /*  6 invalid opcode */
    do_trap,                    /*  7 device not available */
    do_double_fault,            /*  8 double fault: IST stub */
    do_trap,                    /*  9 coprocessor segment */
    do_trap,                    /* 10 invalid tss */
    do_trap,                    /* 11 segment not found */
    do_trap,                    /* 12 stack error */
    do_trap,                    /* 13 general protection fault */
    do_page_fault,              /* 14 page fault */
    do_reserved_trap,           /* 15 */
    do_trap,                    /* 16 coprocessor error */
    do_trap,                    /* 17 alignment check */
    do_machine_check,           /* 18 machine check: IST stub */
    do_trap,                    /* 19 simd error */
    do_trap,                    /* 20 virtualisation exception */
    do_reserved_trap, do_reserved_trap, do_reserved_trap,  /* 21-23 */
    do_reserved_trap, do_reserved_trap, do_reserved_trap,  /* 24-26 */
    do_reserved_trap, do_reserved_trap, do_reserved_trap,  /* 27-29 */
    do_reserved_trap, do_reserved_trap,                    /* 30-31 */
};
