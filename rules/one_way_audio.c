/*
 * one_way_audio: detector placeholder — parameters only; the detector itself is
 * being written. See rules.h for the detector contract.
 */
#include "rules/rules.h"

static const struct rule_param_def params[] = {
    {"window_s", 5, 1, 3600, "seconds one direction must be silent while the other flows"},
};

const struct detector detector_one_way_audio = {
    .name = "one_way_audio",
    .params = params,
    .param_count = sizeof(params) / sizeof(params[0]),
};
