/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keyhandler.h
 *
 * Debug keys read from the console, like "xl debug-keys".  Handlers run
 * in tasklet context on CPU 0, one key at a time.
 */
#ifndef __XEN_KEYHANDLER_H__
#define __XEN_KEYHANDLER_H__

#include <xen/types.h>

typedef void keyhandler_fn_t(unsigned char key);

/* Install (or replace) the handler of key. */
void register_keyhandler(unsigned char key, keyhandler_fn_t *fn,
                         const char *desc);
void handle_keypress(unsigned char key);
void keyhandler_init(void);

/* Called from the serial interrupt with each input byte. */
void keypress_enqueue(unsigned char key);

#endif /* __XEN_KEYHANDLER_H__ */
