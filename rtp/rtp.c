/*
 * rtp: RTP header parsing and the payload type tables.
 *
 * rtp_parse validates a datagram as RTP version 2 with every length inside
 * the datagram (CSRC list, header extension, padding) and hands back a view
 * into the caller's bytes: nothing is copied. RTCP is told apart by its packet
 * type (200..207 in the second byte), which is how rtcp-mux (RFC 5761)
 * demultiplexes the two on one port.
 *
 * The clock rate tables are Wireshark's (ui/tap-rtp-analysis.c), not RFC
 * 3551's: jitter must agree with `tshark -z rtp,streams`, and Wireshark gives
 * G.722 (PT 9) 8000 Hz, L16 44100 Hz, and nothing to the types it does not
 * list. Names are the IANA encoding names, as an SDP rtpmap spells them.
 */
#include "rtp/rtp.h"

#include <string.h>
#include <strings.h>

bool rtp_parse(const uint8_t *data, size_t len, struct rtp_header *out)
{
    if (len < 12 || (data[0] >> 6) != 2)
        return false;
    /* 200..204 with the marker bit set would read as PT 72..76: RTCP. */
    if (data[1] >= 200 && data[1] <= 204)
        return false;
    out->version = 2;
    out->padding = (data[0] & 0x20) != 0;
    out->extension = (data[0] & 0x10) != 0;
    out->csrc_count = data[0] & 0x0f;
    out->marker = (data[1] & 0x80) != 0;
    out->payload_type = data[1] & 0x7f;
    out->seq = (uint16_t)((data[2] << 8) | data[3]);
    out->timestamp =
        ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16) | ((uint32_t)data[6] << 8) | data[7];
    out->ssrc = ((uint32_t)data[8] << 24) | ((uint32_t)data[9] << 16) | ((uint32_t)data[10] << 8) |
                data[11];

    size_t off = 12 + 4u * out->csrc_count;
    if (off > len)
        return false;
    if (out->extension) {
        if (off + 4 > len)
            return false;
        size_t words = ((size_t)data[off + 2] << 8) | data[off + 3];
        off += 4 + 4 * words;
        if (off > len)
            return false;
    }
    size_t end = len;
    if (out->padding) {
        uint8_t pad = data[len - 1];
        if (pad == 0 || pad > len - off)
            return false;
        end = len - pad;
    }
    out->payload = data + off;
    out->payload_len = end - off;
    return true;
}

bool rtcp_looks_like(const uint8_t *data, size_t len)
{
    if (len < 8 || (data[0] >> 6) != 2)
        return false;
    if (data[1] < 200 || data[1] > 207)
        return false;
    size_t first_len = 4 * ((((size_t)data[2] << 8) | data[3]) + 1);
    return first_len <= len;
}

struct static_pt {
    const char *name;
    uint32_t clock_rate;
};

/* Indexed by payload type; clock rates as Wireshark's clock_map. */
static const struct static_pt static_pts[35] = {
    [0] = {"PCMU", 8000},   [1] = {"1016", 8000},   [2] = {"G721", 8000},   [3] = {"GSM", 8000},
    [4] = {"G723", 8000},   [5] = {"DVI4", 8000},   [6] = {"DVI4", 16000},  [7] = {"LPC", 8000},
    [8] = {"PCMA", 8000},   [9] = {"G722", 8000},   [10] = {"L16", 44100},  [11] = {"L16", 44100},
    [12] = {"QCELP", 8000}, [13] = {"CN", 8000},    [14] = {"MPA", 90000},  [15] = {"G728", 8000},
    [16] = {"DVI4", 11025}, [17] = {"DVI4", 22050}, [18] = {"G729", 8000},  [19] = {"CN", 8000},
    [25] = {"CelB", 90000}, [26] = {"JPEG", 90000}, [28] = {"nv", 90000},   [31] = {"H261", 90000},
    [32] = {"MPV", 90000},  [33] = {"MP2T", 90000}, [34] = {"H263", 90000},
};

const char *rtp_static_codec_name(uint8_t pt)
{
    if (pt < sizeof(static_pts) / sizeof(static_pts[0]) && static_pts[pt].name)
        return static_pts[pt].name;
    return "";
}

uint32_t rtp_static_clock_rate(uint8_t pt)
{
    if (pt < sizeof(static_pts) / sizeof(static_pts[0]))
        return static_pts[pt].clock_rate;
    return 0;
}

struct named_rate {
    const char *name;
    uint32_t clock_rate;
};

/* Wireshark's table for dynamic types named by SDP but given no rate, in
 * case-insensitive alphabetical order: it is searched backwards by prefix so
 * "AMR-WB" is found before "AMR". */
static const struct named_rate named_rates[] = {
    {"AMR", 8000},        {"AMR-WB", 16000},
    {"BMPEG", 90000},     {"BT656", 90000},
    {"DV", 90000},        {"EVRC", 8000},
    {"EVRC0", 8000},      {"EVRC1", 8000},
    {"EVRCB", 8000},      {"EVRCB0", 8000},
    {"EVRCB1", 8000},     {"EVRCWB", 16000},
    {"EVRCWB0", 16000},   {"EVRCWB1", 16000},
    {"EVS", 16000},       {"G7221", 16000},
    {"G726-16", 8000},    {"G726-24", 8000},
    {"G726-32", 8000},    {"G726-40", 8000},
    {"G729D", 8000},      {"G729E", 8000},
    {"GSM-EFR", 8000},    {"H263-1998", 90000},
    {"H263-2000", 90000}, {"H264", 90000},
    {"MP1S", 90000},      {"MP2P", 90000},
    {"MP4V-ES", 90000},   {"mpa-robust", 90000},
    {"opus", 48000},      {"pointer", 90000},
    {"raw", 90000},       {"red", 1000},
    {"SMV", 8000},        {"SMV0", 8000},
    {"t140", 1000},       {"telephone-event", 8000},
};

uint32_t rtp_name_clock_rate(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = sizeof(named_rates) / sizeof(named_rates[0]); i-- > 0;) {
        size_t n = strlen(named_rates[i].name);
        if (strncasecmp(named_rates[i].name, name, n) == 0)
            return named_rates[i].clock_rate;
    }
    return 0;
}
