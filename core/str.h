/*
 * str: bounded string copying. Wire strings are copied into fixed fields,
 * truncated when longer (a truncated Call-ID in a report beats a crash or
 * an allocation per message); the result is always NUL-terminated.
 */
#ifndef SIPTAP_CORE_STR_H
#define SIPTAP_CORE_STR_H

#include <stddef.h>
#include <string.h>

static inline void str_copy(char *dst, size_t dstlen, const char *src)
{
    if (dstlen == 0)
        return;
    size_t n = src ? strnlen(src, dstlen - 1) : 0;
    if (n)
        memmove(dst, src, n); /* dst may be src itself */
    dst[n] = '\0';
}

#endif
