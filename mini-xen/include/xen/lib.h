/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_LIB_H__
#define __XEN_LIB_H__

#include <stdarg.h>
#include <xen/types.h>
#include <xen/kernel.h>
#include <xen/string.h>
#include <xen/bug.h>

int vsnprintf(char *buf, size_t size, const char *fmt, va_list args);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
int scnprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

void printk(const char *fmt, ...) __printf(1, 2);
void vprintk(const char *fmt, va_list args);
noreturn void panic(const char *fmt, ...) __printf(1, 2);

#endif /* __XEN_LIB_H__ */
