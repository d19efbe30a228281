/*
 * fuzz_callcap: libFuzzer target for what call captures take from the wire:
 * the capture file name made from a Call-ID (callcap_sanitise) and the
 * masking of credentials in a kept SIP frame (daemon/redact.c).
 *
 * The input's first byte picks a link type; the rest is both a Call-ID
 * (cut at its first NUL) and a frame. The name must be a single safe path
 * component: not empty, within its buffer, only letters, digits and
 * "-_.@", not starting with a dot. Masking must keep the frame's length
 * and change no byte but to 'x', except the transport checksum (at most
 * four bytes).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/callcap.h"
#include "daemon/redact.h"

static const int link_types[] = {1, 113, 276, 101, 0, 108, 228, 229, 12, 14, 197};

static void check_name(const uint8_t *data, size_t size)
{
    static char id[1024];
    char name[160];
    size_t n = size < sizeof(id) - 1 ? size : sizeof(id) - 1;
    memcpy(id, data, n);
    id[n] = '\0';
    memset(name, 0x55, sizeof(name));
    callcap_sanitise(id, name, sizeof(name));
    size_t len = strnlen(name, sizeof(name));
    if (len == 0 || len == sizeof(name) || name[0] == '.')
        abort();
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '@'))
            abort();
    }
}

static void check_redaction(int linktype, const uint8_t *data, size_t size)
{
    static uint8_t frame[65536];
    uint32_t n = size < sizeof(frame) ? (uint32_t)size : (uint32_t)sizeof(frame);
    memcpy(frame, data, n);
    (void)redact_credentials(frame, n, n, linktype);
    unsigned other = 0;
    for (uint32_t i = 0; i < n; i++)
        other += frame[i] != data[i] && frame[i] != 'x';
    if (other > 4)
        abort();
    memcpy(frame, data, n);
    (void)redact_credentials(frame, n, n + 1, linktype); /* a cut frame: text only */
    for (uint32_t i = 0; i < n; i++)
        if (frame[i] != data[i] && frame[i] != 'x')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    check_name(data + 1, size - 1);
    check_redaction(link_types[data[0] % (sizeof(link_types) / sizeof(link_types[0]))], data + 1,
                    size - 1);
    return 0;
}
