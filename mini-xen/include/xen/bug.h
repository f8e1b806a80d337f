/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bug.h
 *
 * BUG(), WARN(), ASSERT() and run_in_exception_handler(), implemented
 * with a ud2 instruction and a "bug frame" that describes it.  Frames
 * live in .bug_frames.<type> (collected by the linker script between
 * __start_bug_frames_<type> and __stop_bug_frames_<type>) and are 16
 * bytes each:
 *
 *   int32  loc_disp   ud2 address    - frame address
 *   int32  ptr_disp   file name (or function for run_fn) - frame address
 *   int32  msg_disp   assertion text - frame address, 0 if none
 *   uint32 line       source line (0 for run_fn)
 *
 * The #UD handler (do_bug_frame) finds the frame whose ud2 is at the
 * faulting RIP.
 */
#ifndef __XEN_BUG_H__
#define __XEN_BUG_H__

#define BUGFRAME_warn           0
#define BUGFRAME_bug            1
#define BUGFRAME_assert         2
#define BUGFRAME_run_fn         3
#define BUGFRAME_NR             4

#define BUG_FRAME_SIZE          16

#ifndef __ASSEMBLY__

#include <xen/types.h>
#include <xen/stringify.h>

struct bug_frame {
    int32_t loc_disp;
    int32_t ptr_disp;
    int32_t msg_disp;
    uint32_t line;
};

static inline unsigned long bug_loc(const struct bug_frame *b)
{
    return (unsigned long)b + b->loc_disp;
}

static inline const void *bug_ptr(const struct bug_frame *b)
{
    return (const char *)b + b->ptr_disp;
}

static inline const char *bug_msg(const struct bug_frame *b)
{
    return b->msg_disp ? (const char *)b + b->msg_disp : NULL;
}

#define _BUG_FRAME_TEXT(type, msg_expr)                                     \
    "1: ud2\n\t"                                                            \
    ".pushsection .bug_frames." __stringify(type) ", \"a\", @progbits\n\t"  \
    ".p2align 2\n\t"                                                        \
    "2:\n\t"                                                                \
    ".long (1b - 2b)\n\t"                                                   \
    ".long (%c[bf_ptr] - 2b)\n\t"                                              \
    ".long " msg_expr "\n\t"                                                \
    ".long %c[bf_line]\n\t"                                                    \
    ".popsection"

#define BUG_FRAME(type, ln, p) do {                                         \
    asm volatile ( _BUG_FRAME_TEXT(type, "0")                               \
                   :: [bf_ptr] "i" (p), [bf_line] "i" (ln) );               \
} while ( 0 )

#define ASSERT_FRAME(ln, p, m) do {                                         \
    asm volatile ( _BUG_FRAME_TEXT(BUGFRAME_assert, "(%c[bf_msg] - 2b)")    \
                   :: [bf_ptr] "i" (p), [bf_line] "i" (ln),                 \
                      [bf_msg] "i" (m) );                                   \
} while ( 0 )

#define WARN() BUG_FRAME(BUGFRAME_warn, __LINE__, __FILE__)

#define WARN_ON(p) ({                                                       \
    bool ret_warn_on__ = !!(p);                                             \
    if ( unlikely(ret_warn_on__) )                                          \
        WARN();                                                             \
    unlikely(ret_warn_on__);                                                \
})

#define BUG() do {                                                          \
    BUG_FRAME(BUGFRAME_bug, __LINE__, __FILE__);                            \
    unreachable();                                                          \
} while ( 0 )

#define BUG_ON(p) do { if ( unlikely(p) ) BUG(); } while ( 0 )

#define ASSERT(p) do {                                                      \
    if ( unlikely(!(p)) )                                                   \
    {                                                                       \
        ASSERT_FRAME(__LINE__, __FILE__, #p);                               \
        unreachable();                                                      \
    }                                                                       \
} while ( 0 )

#define ASSERT_UNREACHABLE() ASSERT(!"unreachable")

struct cpu_user_regs;

/*
 * Run fn(regs) from the #UD handler, with the register state of the
 * caller: used to dump the state of the running CPU.
 */
#define run_in_exception_handler(fn) BUG_FRAME(BUGFRAME_run_fn, 0, fn)

extern const struct bug_frame __start_bug_frames_0[], __stop_bug_frames_0[];
extern const struct bug_frame __start_bug_frames_1[], __stop_bug_frames_1[];
extern const struct bug_frame __start_bug_frames_2[], __stop_bug_frames_2[];
extern const struct bug_frame __start_bug_frames_3[], __stop_bug_frames_3[];

/* Returns 0 if handled (execution continues), -ENOENT if no frame. */
int do_bug_frame(struct cpu_user_regs *regs, unsigned long pc);

#endif /* !__ASSEMBLY__ */

#endif /* __XEN_BUG_H__ */
