/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_TYPES_H__
#define __XEN_TYPES_H__

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <xen/compiler.h>

typedef uint8_t  u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t   s8;
typedef int16_t  s16;
typedef int32_t  s32;
typedef int64_t  s64;

typedef uint16_t domid_t;
typedef int64_t  s_time_t;
typedef long     ssize_t;

#define INT_MAX                 ((int)(~0U >> 1))
#define UINT_MAX                (~0U)
#define LONG_MAX                ((long)(~0UL >> 1))
#define ULONG_MAX               (~0UL)

#endif /* __XEN_TYPES_H__ */
