/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_CONSOLE_H__
#define __XEN_CONSOLE_H__

#include <xen/types.h>

struct domain;
struct cpu_user_regs;

void console_init(void);
void guest_console_write(struct domain *d, const char *buf, unsigned int len);
void serial_rx_interrupt(void);

/* Fatal paths: claim the panic, then finish it. */
void panic_begin(void);
noreturn void panic_end(const struct cpu_user_regs *regs, const char *fmt, ...)
    __printf(2, 3);

/* Write straight to the port, without lock or prefix (NMI/MCE safe). */
void console_raw_write(const char *s);

#endif /* __XEN_CONSOLE_H__ */
