/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_TIME_H__
#define __XEN_TIME_H__

#include <xen/types.h>

#define SECONDS(s)              ((s_time_t)((s) * 1000000000ULL))
#define MILLISECS(ms)           ((s_time_t)((ms) * 1000000ULL))
#define MICROSECS(us)           ((s_time_t)((us) * 1000ULL))
#define STIME_MAX               ((s_time_t)((uint64_t)~0ULL >> 1))

/* Virtual time of this vCPU in ns (PORT_TIME_LO/HI). */
s_time_t NOW(void);

/* Program this CPU's one-shot timer for absolute time t (0: cancel). */
void reprogram_timer(s_time_t t);

#endif /* __XEN_TIME_H__ */
