/*
 * fuzz_sip: libFuzzer target for the SIP message parsers.
 *
 * The input is one SIP message (as a UDP datagram would carry it). It goes
 * through the sniff and sip_parse_message() as the daemon uses them, and
 * through both parsers behind it: whenever the allocation-free fast pass
 * answers a message the sniff lets through, libosip2 must accept it too and fill the same struct
 * byte for byte (the differential test of tests/sip, on every input the
 * fuzzer makes). Every string the parse fills must be terminated.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"
#include "sip/sip_internal.h"

#define TERMINATED(s) (memchr((s), '\0', sizeof(s)) != NULL)

static void assert_terminated(const struct sip_msg *m)
{
    if (!TERMINATED(m->method_name) || !TERMINATED(m->reason) || !TERMINATED(m->request_uri) ||
        !TERMINATED(m->request_user) || !TERMINATED(m->call_id) || !TERMINATED(m->from_user) ||
        !TERMINATED(m->from_host) || !TERMINATED(m->from_tag) || !TERMINATED(m->to_user) ||
        !TERMINATED(m->to_host) || !TERMINATED(m->to_tag) || !TERMINATED(m->via_branch) ||
        !TERMINATED(m->via_sent_by) || !TERMINATED(m->user_agent) || !TERMINATED(m->contact_host) ||
        !TERMINATED(m->reason_header) || !TERMINATED(m->credentials_realm) ||
        !TERMINATED(m->credentials_nonce) || !TERMINATED(m->challenge_realm) ||
        !TERMINATED(m->challenge_nonce) || m->sdp.media_count > SDP_MAX_MEDIA)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sip_msg fast, osip, msg;
    bool sip = sip_sniff(data, size);
    if (sip_parse_message(data, size, &msg) == 0)
        assert_terminated(&msg);
    memset(&fast, 0, sizeof(fast));
    memset(&osip, 0, sizeof(osip));
    int fr = sip_parse_fast(data, size, &fast);
    int orc = sip_parse_osip(data, size, &osip);
    if (orc == 0)
        assert_terminated(&osip);
    /* Both see only what the sniff lets through (sip_parse_message_path). */
    if (sip && fr == SIP_FAST_OK && (orc != 0 || memcmp(&fast, &osip, sizeof(fast)) != 0))
        abort(); /* the fast pass read the message otherwise than libosip2 */
    return 0;
}
