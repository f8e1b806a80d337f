/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __XEN_ERRNO_H__
#define __XEN_ERRNO_H__

#include <public/errno.h>

#define EPERM                   XEN_EPERM
#define ENOENT                  XEN_ENOENT
#define ESRCH                   XEN_ESRCH
#define EINTR                   XEN_EINTR
#define EIO                     XEN_EIO
#define ENXIO                   XEN_ENXIO
#define E2BIG                   XEN_E2BIG
#define ENOEXEC                 XEN_ENOEXEC
#define EBADF                   XEN_EBADF
#define EAGAIN                  XEN_EAGAIN
#define ENOMEM                  XEN_ENOMEM
#define EACCES                  XEN_EACCES
#define EFAULT                  XEN_EFAULT
#define EBUSY                   XEN_EBUSY
#define EEXIST                  XEN_EEXIST
#define EXDEV                   XEN_EXDEV
#define ENODEV                  XEN_ENODEV
#define EINVAL                  XEN_EINVAL
#define ENOSPC                  XEN_ENOSPC
#define EROFS                   XEN_EROFS
#define ERANGE                  XEN_ERANGE
#define ENAMETOOLONG            XEN_ENAMETOOLONG
#define ENOSYS                  XEN_ENOSYS
#define ENOTEMPTY               XEN_ENOTEMPTY
#define ENODATA                 XEN_ENODATA
#define ETIME                   XEN_ETIME
#define EBADMSG                 XEN_EBADMSG
#define EOVERFLOW               XEN_EOVERFLOW
#define EILSEQ                  XEN_EILSEQ
#define EOPNOTSUPP              XEN_EOPNOTSUPP
#define ENOBUFS                 XEN_ENOBUFS
#define ETIMEDOUT               XEN_ETIMEDOUT

#endif /* __XEN_ERRNO_H__ */
