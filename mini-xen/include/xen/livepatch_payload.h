/* SPDX-License-Identifier: GPL-2.0 */
/*
 * livepatch_payload.h
 *
 * A loaded payload, and the hook declarations payload code uses.
 *
 * Hook sections (all optional; a payload needs .livepatch.funcs or at
 * least one of them):
 *
 *   .livepatch.hooks.load       void f(void)[]   quiesced, before patching
 *   .livepatch.hooks.unload     void f(void)[]   quiesced, after unpatching
 *   .livepatch.hooks.preapply   int f(payload *) hypercall context; != 0
 *   .livepatch.hooks.prerevert  int f(payload *)   vetoes the action
 *   .livepatch.hooks.apply      int f(payload *) quiesced, replaces the
 *   .livepatch.hooks.revert     int f(payload *)   default apply/revert
 *   .livepatch.hooks.postapply  void f(payload *) after the CPUs are
 *   .livepatch.hooks.postrevert void f(payload *)   released
 *
 * The pre, action and post sections hold exactly one pointer each.  An
 * action hook must leave every fstate[].applied consistent with its
 * return value (all APPLIED on success, all NOT_APPLIED on failure for
 * apply; the reverse for revert), or the hypervisor panics.  The default
 * actions are apply_payload() and revert_payload().
 */
#ifndef __XEN_LIVEPATCH_PAYLOAD_H__
#define __XEN_LIVEPATCH_PAYLOAD_H__

#include <xen/types.h>
#include <xen/list.h>
#include <xen/livepatch.h>
#include <xen/virtual_region.h>
#include <public/livepatch.h>

typedef struct payload livepatch_payload_t;

typedef void livepatch_loadcall_t(void);
typedef void livepatch_unloadcall_t(void);
typedef int livepatch_precall_t(livepatch_payload_t *arg);
typedef int livepatch_actioncall_t(livepatch_payload_t *arg);
typedef void livepatch_postcall_t(livepatch_payload_t *arg);

struct livepatch_hooks {
    struct {
        livepatch_precall_t *pre;
        livepatch_actioncall_t *action;
        livepatch_postcall_t *post;
    } apply, revert;
};

struct livepatch_build_id {
    const uint8_t *p;           /* heap copy of the note's descriptor */
    unsigned int len;
};

struct livepatch_symbol {
    const char *name;
    unsigned long value;
    unsigned long size;
    bool new_symbol;            /* exported: may resolve other payloads */
};

struct livepatch_metadata {
    const char *data;           /* "key=value\0key=value\0", heap copy */
    unsigned int len;
};

struct payload {
    uint32_t state;             /* LIVEPATCH_STATE_* */
    int32_t rc;                 /* last action; -EAGAIN while pending */
    bool reverted;              /* reverted at least once */
    bool safe_to_reapply;       /* no RW data of its own */
    struct list_head list;      /* on payload_list */
    struct list_head applied_list; /* on applied_list while APPLIED */

    struct livepatch_func *funcs;       /* in the payload's memory */
    struct livepatch_fstate *fstate;    /* heap, nfuncs entries */
    unsigned int nfuncs;

    void *text_addr, *rw_addr, *ro_addr;
    size_t text_size, rw_size, ro_size;
    unsigned int pages;                 /* of the single allocation */

    struct virtual_region region;       /* registered from load to unload */

    livepatch_loadcall_t *const *load_funcs;
    livepatch_unloadcall_t *const *unload_funcs;
    unsigned int n_load_funcs, n_unload_funcs;
    struct livepatch_hooks hooks;

    struct livepatch_symbol *symtab;    /* heap */
    char *strtab;                       /* heap */
    unsigned int nsyms;

    struct livepatch_build_id id;       /* .note.gnu.build-id */
    struct livepatch_build_id dep;      /* .livepatch.depends */
    struct livepatch_build_id xen_dep;  /* .livepatch.xen_depends */
    struct livepatch_metadata metadata; /* .modinfo */

    unsigned int region_slot;           /* in livepatch_regions */

    char name[XEN_LIVEPATCH_NAME_SIZE];
};

/*
 * The default actions, run by the master CPU with every CPU quiesced.
 * Exported so that action hooks can wrap them.
 */
int apply_payload(struct payload *data);
int revert_payload(struct payload *data);

#define LIVEPATCH_HOOK__(sec, type, fn)                                 \
    static type *const __used __section(".livepatch.hooks." #sec)       \
        livepatch_hook_##sec##_##fn = (fn)

#define LIVEPATCH_LOAD_HOOK(fn)                                         \
    LIVEPATCH_HOOK__(load, livepatch_loadcall_t, fn)
#define LIVEPATCH_UNLOAD_HOOK(fn)                                       \
    LIVEPATCH_HOOK__(unload, livepatch_unloadcall_t, fn)
#define LIVEPATCH_PREAPPLY_HOOK(fn)                                     \
    LIVEPATCH_HOOK__(preapply, livepatch_precall_t, fn)
#define LIVEPATCH_APPLY_HOOK(fn)                                        \
    LIVEPATCH_HOOK__(apply, livepatch_actioncall_t, fn)
#define LIVEPATCH_POSTAPPLY_HOOK(fn)                                    \
    LIVEPATCH_HOOK__(postapply, livepatch_postcall_t, fn)
#define LIVEPATCH_PREREVERT_HOOK(fn)                                    \
    LIVEPATCH_HOOK__(prerevert, livepatch_precall_t, fn)
#define LIVEPATCH_REVERT_HOOK(fn)                                       \
    LIVEPATCH_HOOK__(revert, livepatch_actioncall_t, fn)
#define LIVEPATCH_POSTREVERT_HOOK(fn)                                   \
    LIVEPATCH_HOOK__(postrevert, livepatch_postcall_t, fn)

#endif /* __XEN_LIVEPATCH_PAYLOAD_H__ */
