/* SPDX-License-Identifier: GPL-2.0 */
/*
 * param.h
 *
 * Hypervisor command-line parameters, declared where they are used:
 *
 *   boolean_param("name", var)   name, name=<bool>, no-name
 *   integer_param("name", var)   name=<unsigned decimal or 0x hex>
 *   string_param("name", buf)    name=<text>, truncated to sizeof(buf)
 *   custom_param("name", fn)     name=<text> passed to int fn(const char *);
 *                                a negative return is an invalid value
 *
 * Each declaration is one struct kernel_param in section .init.setup;
 * cmdline_parse() looks every "key[=value]" word of the command line up
 * in that table.
 */
#ifndef __XEN_PARAM_H__
#define __XEN_PARAM_H__

#include <xen/types.h>

enum param_type {
    OPT_BOOL,
    OPT_UINT,
    OPT_STR,
    OPT_CUSTOM,
};

struct kernel_param {
    const char *name;
    enum param_type type;
    unsigned int len;               /* OPT_BOOL, OPT_UINT, OPT_STR: sizeof(var) */
    union {
        void *var;
        int (*func)(const char *);
    } par;
};

extern const struct kernel_param __setup_start[], __setup_end[];

#define __param(id) \
    static const struct kernel_param __used __section(".init.setup") \
        __aligned(8) id

#define boolean_param(_name, _var) \
    __param(__setup_##_var) = { .name = _name, .type = OPT_BOOL, \
                                .len = sizeof(_var), .par.var = &(_var) }
#define integer_param(_name, _var) \
    __param(__setup_##_var) = { .name = _name, .type = OPT_UINT, \
                                .len = sizeof(_var), .par.var = &(_var) }
#define string_param(_name, _var) \
    __param(__setup_##_var) = { .name = _name, .type = OPT_STR, \
                                .len = sizeof(_var), .par.var = (_var) }
#define custom_param(_name, _fn) \
    __param(__setup_##_fn) = { .name = _name, .type = OPT_CUSTOM, \
                               .par.func = (_fn) }

/* The command line as booted (NUL-terminated, possibly empty). */
extern char saved_cmdline[];

/*
 * Copies the command line the boot loader left at @src (@len bytes) into
 * saved_cmdline, prints it and applies every parameter in it.
 */
void cmdline_parse(const char *src, unsigned int len);

/* "1", "yes", "on", "true", "enable" -> 1; the opposites -> 0; else -1. */
int parse_bool(const char *s, const char *e);

#endif /* __XEN_PARAM_H__ */
