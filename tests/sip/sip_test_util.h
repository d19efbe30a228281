/*
 * sip_test_util: builds SIP messages for the sip tests, with a correct
 * Content-Length, so each test states only what it is about.
 */
#ifndef SIPTAP_TESTS_SIP_TEST_UTIL_H
#define SIPTAP_TESTS_SIP_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

/* A request: METHOD sip:bob@example.com with the usual headers, extra
 * headers (each ending in CRLF) and a body. Returns the length. */
static inline size_t sip_test_request(char *out, size_t size, const char *method, const char *extra,
                                      const char *body)
{
    int n = snprintf(out, size,
                     "%s sip:bob@example.com SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-%s-1\r\n"
                     "From: \"Alice\" <sip:alice@atlanta.example>;tag=from-tag-1\r\n"
                     "To: <sip:bob@example.com>\r\n"
                     "Call-ID: call-%s@192.0.2.1\r\n"
                     "CSeq: 7 %s\r\n"
                     "Max-Forwards: 70\r\n"
                     "%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, method, method, method, extra ? extra : "", body ? strlen(body) : 0,
                     body ? body : "");
    return (size_t)n;
}

static inline size_t sip_test_response(char *out, size_t size, int status, const char *reason,
                                       const char *cseq_method, const char *extra, const char *body)
{
    int n = snprintf(out, size,
                     "SIP/2.0 %d %s\r\n"
                     "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-resp-1\r\n"
                     "From: \"Alice\" <sip:alice@atlanta.example>;tag=from-tag-1\r\n"
                     "To: <sip:bob@example.com>;tag=to-tag-2\r\n"
                     "Call-ID: call-resp@192.0.2.1\r\n"
                     "CSeq: 7 %s\r\n"
                     "%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, reason, cseq_method, extra ? extra : "", body ? strlen(body) : 0,
                     body ? body : "");
    return (size_t)n;
}

#endif
