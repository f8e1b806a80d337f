/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_COMPILER_H__
#define __XEN_COMPILER_H__

#define likely(x)               __builtin_expect(!!(x), 1)
#define unlikely(x)             __builtin_expect(!!(x), 0)

#define inline                  __inline__
#define always_inline           __inline__ __attribute__((__always_inline__))
#define noinline                __attribute__((__noinline__))
#define noreturn                __attribute__((__noreturn__))
#define __packed                __attribute__((__packed__))
#define __aligned(a)            __attribute__((__aligned__(a)))
#define __section(s)            __attribute__((__section__(s)))
/*
 * Code that runs while live patches are written (the rendezvous, the
 * patch writers, the idle loop the other CPUs wait in, NMI/MCE entry) is
 * collected in one range that no payload may patch.
 */
#define __unpatchable           __section(".text.unpatchable")
#define __used                  __attribute__((__used__))
#define __maybe_unused          __attribute__((__unused__))
#define __printf(a, b)          __attribute__((__format__(__printf__, a, b)))
#define __weak                  __attribute__((__weak__))

#define barrier()               asm volatile ( "" : : : "memory" )

#define ACCESS_ONCE(x)          (*(volatile __typeof__(x) *)&(x))
#define read_atomic(p)          ACCESS_ONCE(*(p))
#define write_atomic(p, v)      (ACCESS_ONCE(*(p)) = (v))

#define unreachable()           __builtin_unreachable()

#endif /* __XEN_COMPILER_H__ */
