/*
 * rtp_quality: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"max_loss_pct", 5, 0, 100, "loss above this percentage raises rtp_quality"},
    {"max_jitter_ms", 30, 0, 10000, "mean jitter above this raises rtp_quality"},
    {"min_mos", 3.5, 1, 4.5, "MOS below this raises rtp_quality"},
};

const struct detector detector_rtp_quality = {
    .name = "rtp_quality",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
