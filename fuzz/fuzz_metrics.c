/*
 * fuzz_metrics: libFuzzer target for the metrics listener's request
 * parsing: the head as the connection reads it (at most METRICS_REQUEST_MAX
 * - 1 bytes, NUL-terminated, whatever bytes came), classified by
 * metrics_request_parse(); and the listen address parser of [metrics]
 * listen and --check-config. The answer must be one of the four, and only
 * a request for exactly /metrics by GET or HEAD is served.
 *
 * The input's first byte says which: even, a request head; odd, a listen
 * address.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"

static void check_request(const char *req)
{
    enum metrics_request r = metrics_request_parse(req);
    bool served = r == METRICS_REQUEST_GET || r == METRICS_REQUEST_HEAD;
    if (!served && r != METRICS_REQUEST_NOT_FOUND && r != METRICS_REQUEST_BAD_METHOD)
        abort();
    const char *path = strchr(req, ' ');
    if (served && (!path || strncmp(path + 1, "/metrics", 8) != 0 ||
                   (path[9] != '\0' && !strchr(" \r\n?", path[9]))))
        abort();
}

static void check_listen(const char *address)
{
    char host[128], port[16];
    memset(host, 0x55, sizeof(host));
    memset(port, 0x55, sizeof(port));
    if (metrics_listen_parse(address, host, sizeof(host), port, sizeof(port)) &&
        (!memchr(host, '\0', sizeof(host)) || !memchr(port, '\0', sizeof(port))))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[4096];
    if (size < 1)
        return 0;
    size_t n = size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    if (data[0] & 1)
        check_listen(text);
    else
        check_request(text);
    return 0;
}
