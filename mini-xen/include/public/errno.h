/* SPDX-License-Identifier: GPL-2.0 */
/*
 * errno.h
 *
 * Error values returned (negated) by hypercalls.  They are Xen's values,
 * which are the Linux/x86 ones.
 */
#ifndef __XEN_PUBLIC_ERRNO_H__
#define __XEN_PUBLIC_ERRNO_H__

#define XEN_EPERM               1   /* Operation not permitted */
#define XEN_ENOENT              2   /* No such file or directory */
#define XEN_ESRCH               3   /* No such process */
#define XEN_EINTR               4   /* Interrupted system call */
#define XEN_EIO                 5   /* I/O error */
#define XEN_ENXIO               6   /* No such device or address */
#define XEN_E2BIG               7   /* Arg list too long */
#define XEN_ENOEXEC             8   /* Exec format error */
#define XEN_EBADF               9   /* Bad file number */
#define XEN_ECHILD              10  /* No child processes */
#define XEN_EAGAIN              11  /* Try again */
#define XEN_ENOMEM              12  /* Out of memory */
#define XEN_EACCES              13  /* Permission denied */
#define XEN_EFAULT              14  /* Bad address */
#define XEN_EBUSY               16  /* Device or resource busy */
#define XEN_EEXIST              17  /* File exists */
#define XEN_EXDEV               18  /* Cross-device link */
#define XEN_ENODEV              19  /* No such device */
#define XEN_EISDIR              21  /* Is a directory */
#define XEN_EINVAL              22  /* Invalid argument */
#define XEN_ENFILE              23  /* File table overflow */
#define XEN_EMFILE              24  /* Too many open files */
#define XEN_ENOSPC              28  /* No space left on device */
#define XEN_EROFS               30  /* Read-only file system */
#define XEN_EMLINK              31  /* Too many links */
#define XEN_EDOM                33  /* Math argument out of domain of func */
#define XEN_ERANGE              34  /* Math result not representable */
#define XEN_EDEADLK             35  /* Resource deadlock would occur */
#define XEN_ENAMETOOLONG        36  /* File name too long */
#define XEN_ENOLCK              37  /* No record locks available */
#define XEN_ENOSYS              38  /* Function not implemented */
#define XEN_ENOTEMPTY           39  /* Directory not empty */
#define XEN_ENODATA             61  /* No data available */
#define XEN_ETIME               62  /* Timer expired */
#define XEN_EBADMSG             74  /* Not a data message */
#define XEN_EOVERFLOW           75  /* Value too large for defined data type */
#define XEN_EILSEQ              84  /* Illegal byte sequence */
#define XEN_ERESTART            85  /* Interrupted system call should be restarted */
#define XEN_ENOTSOCK            88  /* Socket operation on non-socket */
#define XEN_EMSGSIZE            90  /* Message too large */
#define XEN_EOPNOTSUPP          95  /* Operation not supported on transport endpoint */
#define XEN_EADDRINUSE          98  /* Address already in use */
#define XEN_EADDRNOTAVAIL       99  /* Cannot assign requested address */
#define XEN_ENOBUFS             105 /* No buffer space available */
#define XEN_EISCONN             106 /* Transport endpoint is already connected */
#define XEN_ENOTCONN            107 /* Transport endpoint is not connected */
#define XEN_ETIMEDOUT           110 /* Connection timed out */
#define XEN_ECONNREFUSED        111 /* Connection refused */

#endif /* __XEN_PUBLIC_ERRNO_H__ */
