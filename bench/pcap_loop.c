/*
 * pcap_loop: the baseline — a bare libpcap read loop over a file that only
 * counts packets and bytes. siptapd's throughput is reported as a ratio to
 * this, so the figure says what the analysis costs beyond reading.
 *
 *   pcap_loop FILE     prints "packets bytes seconds packets_per_second"
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <time.h>

struct tally {
    unsigned long long packets, bytes;
};

static void count(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    struct tally *t = (struct tally *)user;
    (void)data;
    t->packets++;
    t->bytes += h->caplen;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: pcap_loop FILE\n");
        return 2;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "pcap_loop: %s\n", err);
        return 1;
    }
    struct tally t = {0, 0};
    while (pcap_dispatch(p, 512, count, (u_char *)&t) > 0)
        ;
    pcap_close(p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%llu %llu %.3f %.0f\n", t.packets, t.bytes, s, (double)t.packets / s);
    return 0;
}
