/* core/timefmt against gmtime_r + strftime: the hand-written calendar must
 * give the same text for every kind of date (leap days, century years, the
 * epoch, the last second of a year, far future). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "core/timefmt.h"

static void assert_like_gmtime(uint64_t ts_us)
{
    time_t secs = (time_t)(ts_us / 1000000);
    struct tm tm;
    cr_assert_not_null(gmtime_r(&secs, &tm));
    char want[64], got[TIMEFMT_RFC3339_LEN];
    snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(ts_us % 1000000));
    cr_assert_str_eq(timefmt_rfc3339(ts_us, got, sizeof(got)), want, "ts %llu",
                     (unsigned long long)ts_us);
}

Test(timefmt, known_instants)
{
    char buf[TIMEFMT_RFC3339_LEN];
    cr_assert_str_eq(timefmt_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000000Z");
    cr_assert_str_eq(timefmt_rfc3339(951782400123456ULL, buf, sizeof(buf)),
                     "2000-02-29T00:00:00.123456Z");
    cr_assert_str_eq(timefmt_rfc3339(1704067199999999ULL, buf, sizeof(buf)),
                     "2023-12-31T23:59:59.999999Z");
}

Test(timefmt, agrees_with_gmtime)
{
    /* Every day for 200 years from 1970, at a moving time of day, then
     * pseudo-random instants up to year 9999. */
    for (uint64_t day = 0; day < 200 * 366; day++)
        assert_like_gmtime(day * 86400000000ULL + (day * 7919 % 86400) * 1000000ULL +
                           day % 1000000);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        assert_like_gmtime(x % 253402300799000000ULL);
    }
}

/* libpcap hands a pcap file's seconds past 2038 over negative (it reads the
 * unsigned field as signed): they are the times Wireshark shows, not
 * microseconds wrapped past year 586000 (the stats events of the public
 * capture heplify sip_ipv6_udp.pcap read "586489-11-03T..." before). */
Test(timefmt, capture_times_past_2038)
{
    char buf[TIMEFMT_RFC3339_LEN];
    cr_assert_eq(timefmt_capture_us(1704067200, 5), 1704067200000005ULL);
    cr_assert_eq(timefmt_capture_us((int32_t)3215500952u, 251758), 3215500952251758ULL);
    cr_assert_str_eq(timefmt_rfc3339(timefmt_capture_us((int32_t)3867576602u, 0), buf, sizeof(buf)),
                     "2092-07-22T14:50:02.000000Z");
    cr_assert_eq(timefmt_capture_us(-1, 0), 4294967295000000ULL);
}
