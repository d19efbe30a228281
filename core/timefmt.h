/*
 * timefmt: capture timestamps (microseconds since the Unix epoch) as the
 * RFC 3339 UTC text every event carries.
 */
#ifndef SIPTAP_CORE_TIMEFMT_H
#define SIPTAP_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_RFC3339_LEN 32

/* "2026-04-02T10:15:30.123456Z"; returns buf. */
char *timefmt_rfc3339(uint64_t ts_us, char *buf, size_t len);

/* A frame's capture time (a pcap_pkthdr's seconds and microseconds) in
 * microseconds. libpcap reads a pcap file's 32-bit seconds as signed, so a
 * time past 2038-01-19 arrives negative: it is taken back as the unsigned
 * field the file format defines, as Wireshark reads it (up to 2106). */
uint64_t timefmt_capture_us(int64_t sec, int64_t usec);

#endif
