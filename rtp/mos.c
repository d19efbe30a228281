/*
 * mos: an ITU-T G.107 E-model estimate for a passively observed stream.
 *
 * R = R0 - Is - Id - Ie_eff + A, with G.107's default R0 - Is = 93.2, A = 0.
 * A tap cannot see mouth-to-ear delay, so delay comes from a jitter-buffer
 * model: the receiver is assumed to hold a buffer of B = max(60 ms, 3 J)
 * (capped at 200 ms) for interarrival jitter J, which adds B to an assumed
 * 40 ms of packetisation and network delay (Id from the simplified G.107
 * delay curve), and packets whose delay variation exceeds the buffer are
 * discarded: with exponentially distributed variation of mean J that is
 * exp(-B / J) of them. Discards add to network loss, and the total feeds
 * Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) with the codec's Ie and
 * Bpl (G.113 Appendix I). docs/mos.md has the constants and why.
 *
 * Every term is monotonic, so R (and MOS) falls as loss, BurstR or J rises.
 */
#include "rtp/mos.h"

#include <math.h>
#include <strings.h>

#define R_DEFAULT            93.2
#define BASE_DELAY_MS        40.0
#define BUFFER_MIN_MS        60.0
#define BUFFER_MAX_MS        200.0
#define BUFFER_JITTER_FACTOR 3.0

struct codec_impairment {
    const char *name;
    double ie, bpl;
};

/* G.113 Appendix I; G.711 assumes packet loss concealment (Bpl 25.1, not 4.3). */
static const struct codec_impairment codecs[] = {
    {"PCMU", 0, 25.1},  {"PCMA", 0, 25.1},  {"G711", 0, 25.1}, {"G722", 0, 25.1},
    {"G729", 11, 19.0}, {"G723", 15, 16.1}, {"GSM", 20, 10.0}, {"GSM-EFR", 5, 10.0},
};

static const struct codec_impairment *codec_find(const char *name)
{
    if (name) {
        for (size_t i = sizeof(codecs) / sizeof(codecs[0]); i-- > 0;)
            if (strcasecmp(codecs[i].name, name) == 0)
                return &codecs[i];
    }
    return &codecs[0];
}

double rtp_r_factor(const char *codec, double loss_pct, double burst_ratio, double jitter_ms)
{
    const struct codec_impairment *c = codec_find(codec);
    double loss = loss_pct > 0 ? (loss_pct < 100 ? loss_pct / 100 : 1) : 0;
    double burst = burst_ratio > 1 ? burst_ratio : 1;
    double j = jitter_ms > 0 ? jitter_ms : 0;

    double buffer = BUFFER_JITTER_FACTOR * j;
    if (buffer < BUFFER_MIN_MS)
        buffer = BUFFER_MIN_MS;
    if (buffer > BUFFER_MAX_MS)
        buffer = BUFFER_MAX_MS;
    double discard = j > 0 ? exp(-buffer / j) : 0;

    double d = BASE_DELAY_MS + buffer;
    double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);

    double ppl = 100 * (1 - (1 - loss) * (1 - discard));
    double ie_eff = c->ie + (95 - c->ie) * ppl / (ppl / burst + c->bpl);
    return R_DEFAULT - id - ie_eff;
}

double rtp_mos_from_r(double r)
{
    if (r <= 0)
        return 1.0;
    if (r >= 100)
        return 4.5;
    double mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
    /* The cubic dips just below 1 for small R; keep it monotonic. */
    return mos < 1 ? 1.0 : mos;
}
