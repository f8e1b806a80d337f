/* SPDX-License-Identifier: GPL-2.0 */
/*
 * console.c
 *
 * Serial console: printk, guest console output, console input (debug
 * keys) and panic.  Hypervisor lines are prefixed "(XEN) ", guest lines
 * "(dN) ".  Whole printk calls are written under console_lock, so lines
 * from different CPUs do not interleave.
 */
#include <xen/lib.h>
#include <xen/console.h>
#include <xen/errno.h>
#include <xen/guest_access.h>
#include <xen/hypercall.h>
#include <xen/keyhandler.h>
#include <xen/sched.h>
#include <xen/smp.h>
#include <xen/spinlock.h>
#include <asm/io.h>
#include <asm/system.h>
#include <public/platform.h>
#include <public/xen.h>

#define LSR_DATA_READY          0x01

static DEFINE_SPINLOCK(console_lock);
static bool console_at_line_start = true;
static int panic_cpu = -1;

static void serial_putc(char c)
{
    outb(c, PORT_COM1_DATA);
}

/* Write str with prefix at the start of every line; console_lock held. */
static void console_emit(const char *prefix, const char *str, size_t len)
{
    size_t i;
    const char *p;

    for ( i = 0; i < len; i++ )
    {
        if ( console_at_line_start )
        {
            for ( p = prefix; *p; p++ )
                serial_putc(*p);
            console_at_line_start = false;
        }
        serial_putc(str[i]);
        if ( str[i] == '\n' )
            console_at_line_start = true;
    }
}

static void console_write(const char *prefix, const char *str, size_t len)
{
    unsigned long flags;

    spin_lock_irqsave(&console_lock, flags);
    console_emit(prefix, str, len);
    spin_unlock_irqrestore(&console_lock, flags);
}

void vprintk(const char *fmt, va_list args)
{
    char buf[512];
    int n = vsnprintf(buf, sizeof(buf), fmt, args);

    if ( n >= (int)sizeof(buf) )
        n = sizeof(buf) - 1;

    console_write("(XEN) ", buf, n);
}

void printk(const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vprintk(fmt, args);
    va_end(args);
}

void console_raw_write(const char *s)
{
    for ( ; *s; s++ )
        serial_putc(*s);
}

void console_init(void)
{
    spin_lock_init(&console_lock);
    console_at_line_start = true;
}

/*
 * Guest output is collected per domain and written a line at a time:
 * "(dN) text".
 */
static void guest_console_flush(struct domain *d)
{
    char prefix[12];

    if ( !d->pbuf_idx )
        return;

    snprintf(prefix, sizeof(prefix), "(d%u) ", d->domain_id);
    if ( d->pbuf[d->pbuf_idx - 1] != '\n' )
        d->pbuf[d->pbuf_idx++] = '\n';
    console_write(prefix, d->pbuf, d->pbuf_idx);
    d->pbuf_idx = 0;
}

void guest_console_write(struct domain *d, const char *buf, unsigned int len)
{
    unsigned int i;

    spin_lock(&d->pbuf_lock);

    for ( i = 0; i < len; i++ )
    {
        char c = buf[i];

        /* Only printable characters, tab and newline get through. */
        if ( c != '\n' && c != '\t' && (c < ' ' || c > '~') )
            continue;

        d->pbuf[d->pbuf_idx++] = c;
        if ( c == '\n' || d->pbuf_idx == DOMAIN_PBUF_SIZE - 1 )
            guest_console_flush(d);
    }

    spin_unlock(&d->pbuf_lock);
}

/* SERIAL_VECTOR, CPU 0: queue every pending input byte as a debug key. */
void serial_rx_interrupt(void)
{
    while ( inb(PORT_COM1_LSR) & LSR_DATA_READY )
        keypress_enqueue(inb(PORT_COM1_DATA));
}

/*
 * Only one CPU may report a panic.  Another CPU that panics at the same
 * time stops here; a nested fault on the panicking CPU stops the machine
 * at once.
 */
void panic_begin(void)
{
    int cpu = smp_processor_id();
    int owner;

    local_irq_disable();

    owner = cmpxchg(&panic_cpu, -1, cpu);
    if ( owner == cpu )
    {
        console_raw_write("\n*** recursive panic ***\n");
        outl(0, PORT_PANIC);
    }
    else if ( owner != -1 )
    {
        for ( ; ; )
            halt();
    }

    /* A fault inside printk must not deadlock the report. */
    if ( console_lock.owner == cpu )
        spin_lock_init(&console_lock);
    if ( !console_at_line_start )
        console_write("", "\n", 1);
}

void panic_end(const struct cpu_user_regs *regs, const char *fmt, ...)
{
    char buf[256];
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    printk("\n****************************************\n");
    printk("Panic on CPU %u:\n", smp_processor_id());
    printk("%s%s", buf, (n > 0 && buf[min(n, (int)sizeof(buf) - 1) - 1] == '\n')
                        ? "" : "\n");
    printk("****************************************\n\n");

    outl((uint32_t)(unsigned long)regs, PORT_PANIC);

    for ( ; ; )
        halt();
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list args;

    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    panic_begin();
    panic_end(NULL, "%s", buf);
}

/* console_io(CONSOLEIO_write, count, buffer) */
long do_console_io(unsigned long cmd, unsigned long count,
                   unsigned long buffer, unsigned long a4, unsigned long a5)
{
    char kbuf[128];

    if ( cmd != CONSOLEIO_write )
        return -ENOSYS;

    while ( count )
    {
        unsigned long chunk = min_t(unsigned long, count, sizeof(kbuf));

        if ( copy_from_guest(kbuf, buffer, chunk) )
            return -EFAULT;

        guest_console_write(current->domain, kbuf, chunk);
        buffer += chunk;
        count -= chunk;
    }

    return 0;
}
