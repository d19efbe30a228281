/*
 * sip_text: scanners of raw SIP header text that more than one part of sip/
 * needs (the stream framer in sip.c, the libosip2 path's repairs in
 * sip_parse.c), written once so that they cannot come to disagree on what a
 * header line is.
 */
#include "sip/sip_internal.h"

#include <strings.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

size_t sip_content_length_value_at(const char *line, size_t n)
{
    size_t k;
    if (n >= 15 && strncasecmp(line, "content-length", 14) == 0)
        k = 14;
    else if (n >= 2 && (line[0] == 'l' || line[0] == 'L') && (line[1] == ':' || is_blank(line[1])))
        k = 1;
    else
        return 0;
    while (k < n && is_blank(line[k]))
        k++;
    if (k >= n || line[k] != ':')
        return 0;
    k++;
    while (k < n && is_blank(line[k]))
        k++;
    return k;
}
