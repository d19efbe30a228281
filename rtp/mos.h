/*
 * mos: an ITU-T G.107 E-model estimate (rtp/mos.c) for a passively observed
 * stream: R from codec, loss, burstiness and jitter, and MOS from R.
 */
#ifndef SIPTAP_RTP_MOS_H
#define SIPTAP_RTP_MOS_H

/* E-model (ITU-T G.107) estimate, documented in docs/mos.md. codec selects Ie/Bpl
 * (G.711 default); loss_pct 0..100; burst_ratio >= 1 (1 = random loss);
 * jitter_ms feeds a jitter-buffer model that turns jitter into delay and discards. */
double rtp_r_factor(const char *codec, double loss_pct, double burst_ratio, double jitter_ms);
double rtp_mos_from_r(double r);

#endif
