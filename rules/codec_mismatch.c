/*
 * codec_mismatch: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"enabled_answers", 1, 0, 1, "also check answers that share no codec with the offer"},
};

const struct detector detector_codec_mismatch = {
    .name = "codec_mismatch",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
