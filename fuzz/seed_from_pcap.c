/*
 * seed_from_pcap: turns a capture into fuzzer seeds in fuzz_pipeline's input
 * format (a link-type byte, then 2-byte length + frame, repeated): one seed
 * file per 32 consecutive frames, so the seeds hold whole SIP dialogs.
 *
 *   seed_from_pcap FILE.pcap OUTDIR
 */
#include <pcap/pcap.h>
#include <libgen.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 3) {
        fprintf(stderr, "usage: seed_from_pcap FILE.pcap OUTDIR\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "seed_from_pcap: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    FILE *out = NULL;
    unsigned frames = 0, seeds = 0;
    while (pcap_next_ex(p, &h, &d) == 1) {
        if (frames % 32 == 0) {
            if (out)
                fclose(out);
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s-%04u", argv[2], basename(argv[1]), seeds++);
            out = fopen(path, "wb");
            if (!out)
                return 1;
            fputc(0, out); /* Ethernet */
        }
        unsigned len = h->caplen > 65535 ? 65535 : h->caplen;
        fputc((int)(len >> 8), out);
        fputc((int)(len & 0xff), out);
        fwrite(d, 1, len, out);
        frames++;
    }
    if (out)
        fclose(out);
    pcap_close(p);
    fprintf(stderr, "seed_from_pcap: %u frames in %u seeds\n", frames, seeds);
    return 0;
}
