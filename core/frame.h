/*
 * frame: one captured frame as libpcap gives it, its header and bytes. The
 * capture (daemon/capture) hands them over in batches; the engine
 * (engine/engine.h) analyses them. Who made the batch owns the bytes.
 */
#ifndef SIPTAP_CORE_FRAME_H
#define SIPTAP_CORE_FRAME_H

#include <pcap/pcap.h>
#include <stdint.h>

struct capture_frame {
    struct pcap_pkthdr hdr;
    const uint8_t *data;
};

#endif
