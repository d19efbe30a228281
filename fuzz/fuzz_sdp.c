/*
 * fuzz_sdp: libFuzzer target for the SDP parser.
 *
 * The input is an SDP body. What sdp_parse() fills must stay within its
 * bounds: at most SDP_MAX_MEDIA media, SDP_MAX_FORMATS formats each,
 * terminated names, no RTCP port for a rejected stream (port 0).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

static void assert_bounded(const struct sdp_info *s)
{
    if (s->media_count > SDP_MAX_MEDIA)
        abort();
    for (size_t i = 0; i < s->media_count; i++) {
        const struct sdp_media *m = &s->media[i];
        if (m->format_count > SDP_MAX_FORMATS || !memchr(m->proto, '\0', sizeof(m->proto)))
            abort();
        if (m->port == 0 && m->rtcp_port != 0)
            abort();
        for (size_t f = 0; f < m->format_count; f++)
            if (!memchr(m->formats[f].name, '\0', sizeof(m->formats[f].name)))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sdp_info info;
    memset(&info, 0, sizeof(info));
    if (sdp_parse((const char *)data, size, &info) == 0)
        assert_bounded(&info);
    return 0;
}
