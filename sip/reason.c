/*
 * reason: the Q.850 cause of a Reason header (RFC 3326), for call records.
 *
 *   Reason            = "Reason" HCOLON reason-value *(COMMA reason-value)
 *   reason-value      = protocol *(SEMI reason-params)
 *   reason-params     = protocol-cause / reason-text / reason-extension
 *   protocol-cause    = "cause" EQUAL cause; cause = 1*DIGIT
 *
 * e.g. `Q.850;cause=16;text="Normal call clearing"`, or
 * `SIP;cause=200;text="Call completed elsewhere", Q.850;cause=26`. The
 * header value is the wire's (hostile): it is only read, within its NUL,
 * quoted strings (which may hold ';' and ',') are skipped whole, and a cause
 * counts only as 1 to 3 digits naming a Q.850 cause value (0..127, seven
 * bits in ITU-T Q.850). Anything else is no cause.
 */
#include <string.h>
#include <strings.h>

#include "sip/sip.h"

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* Past a token or quoted string, up to the next ';' or ',' outside quotes
 * (or the end). */
static const char *skip_item(const char *p)
{
    bool quoted = false;
    for (; *p; p++) {
        if (quoted) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = false;
        } else if (*p == '"') {
            quoted = true;
        } else if (*p == ';' || *p == ',') {
            break;
        }
    }
    return p;
}

/* The length of the token at p (letters, digits and the RFC 3261 token marks). */
static size_t token_len(const char *p)
{
    size_t n = 0;
    while (p[n] && strchr(" \t\r\n;,=\"", p[n]) == NULL)
        n++;
    return n;
}

/* A cause value: 1..3 digits, at most 127, then the end of the parameter. */
static int cause_value(const char *p)
{
    p = skip_space(p);
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 3)
            return -1;
        v = v * 10 + (*p - '0');
        p++;
    }
    p = skip_space(p);
    if (!digits || v > 127 || (*p && *p != ';' && *p != ','))
        return -1;
    return v;
}

/* One reason-value's parameters (p just past its protocol): its cause, or -1. */
static int params_cause(const char **pp)
{
    const char *p = *pp;
    int cause = -1;
    while (*p == ';') {
        p = skip_space(p + 1);
        size_t n = token_len(p);
        const char *after = skip_space(p + n);
        if (n == 5 && strncasecmp(p, "cause", 5) == 0 && *after == '=' && cause < 0)
            cause = cause_value(after + 1);
        p = skip_item(p);
    }
    *pp = p;
    return cause;
}

int sip_reason_q850_cause(const char *reason)
{
    const char *p = reason;
    while (*p) {
        p = skip_space(p);
        size_t n = token_len(p);
        bool q850 = n == 5 && strncasecmp(p, "Q.850", 5) == 0;
        p = skip_item(p + n); /* to its parameters, or the next value */
        int cause = params_cause(&p);
        if (q850 && cause >= 0)
            return cause;
        p = skip_item(p); /* whatever does not parse, up to the next ',' */
        if (*p == ',')
            p++;
        else if (*p)
            p++; /* a stray ';' cannot stop the walk */
    }
    return -1;
}
