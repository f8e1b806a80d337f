/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_STRINGIFY_H__
#define __XEN_STRINGIFY_H__

#define __stringify_1(x...)     #x
#define __stringify(x...)       __stringify_1(x)

#endif /* __XEN_STRINGIFY_H__ */
