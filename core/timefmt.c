/* timefmt: gmtime_r based, so no locale or TZ environment leaks in. */
#include "core/timefmt.h"

#include <stdio.h>
#include <time.h>

char *timefmt_rfc3339(uint64_t ts_us, char *buf, size_t len)
{
    time_t secs = (time_t)(ts_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ts_us % 1000000));
    return buf;
}
