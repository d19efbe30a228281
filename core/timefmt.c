/*
 * timefmt: every event carries one of these, so the date is computed from
 * the day count (Howard Hinnant's civil_from_days, exact for the proleptic
 * Gregorian calendar) and the digits written by hand: no gmtime_r, no
 * snprintf, no locale or TZ environment. Years past 9999 fall back to
 * snprintf's wider field.
 */
#include "core/timefmt.h"

#include <stdio.h>

static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

char *timefmt_rfc3339(uint64_t ts_us, char *buf, size_t len)
{
    uint64_t secs = ts_us / 1000000;
    unsigned us = (unsigned)(ts_us % 1000000);
    unsigned sod = (unsigned)(secs % 86400);
    int64_t z = (int64_t)(secs / 86400) + 719468; /* days since 0000-03-01 */
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t year = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                      /* [0, 11], March first */
    unsigned day = doy - (153 * mp + 2) / 5 + 1;
    unsigned month = mp < 10 ? mp + 3 : mp - 9;
    if (month <= 2)
        year++;
    if (len < sizeof("2026-04-02T10:15:30.123456Z") || year > 9999) {
        snprintf(buf, len, "%04lld-%02u-%02uT%02u:%02u:%02u.%06uZ", (long long)year, month, day,
                 sod / 3600, sod / 60 % 60, sod % 60, us);
        return buf;
    }
    char *p = put_digits(buf, (unsigned)year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    *p++ = '.';
    p = put_digits(p, us, 6);
    *p++ = 'Z';
    *p = '\0';
    return buf;
}

uint64_t timefmt_capture_us(int64_t sec, int64_t usec)
{
    uint64_t s = sec < 0 ? (uint64_t)(uint32_t)sec : (uint64_t)sec;
    return s * 1000000u + (usec > 0 ? (uint64_t)usec : 0);
}
