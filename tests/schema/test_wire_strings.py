#!/usr/bin/env python3
"""schema_wire_strings: a known gap, kept as a test that is expected to fail.

Strings siptapd copies from the wire into events (Call-ID, From and To
users, Request-URI user, User-Agent, reason phrases...) are left out of the
event when they are not valid UTF-8 (core/json_text's
json_text_member_wire_string; jansson's json_string returns NULL and the
member is not set). A call whose Call-ID or From user has a stray byte then
gives a call_start with no call_id and no from, and a call_end with no
call_id: fields the contract and docs/events.schema.json require, and
without which a consumer cannot tie the events of the call together.

This test replays one such INVITE and holds the events against the schema
with the tests' C validator. It fails today, and meson expects it to
(should_fail): when the producers write such strings (bytes replaced, or
hashed as an over-long Call-ID is), it passes, meson reports an unexpected
pass, and should_fail comes off.

Usage: test_wire_strings.py EVENT_SCHEMA_CLI
"""
import os
import subprocess
import sys
import tempfile

INVITE = (b"INVITE sip:bob@198.51.100.20 SIP/2.0\n"
          b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKutf1\n"
          b"From: <sip:al\xffice@203.0.113.10>;tag=1\n"
          b"To: <sip:bob@198.51.100.20>\n"
          b"Call-ID: utf8-\xc3-1\n"
          b"CSeq: 1 INVITE\n"
          b"User-Agent: phone\xfe\n"
          b"Max-Forwards: 70\n"
          b"Content-Length: 0\n")


def main():
    cli = sys.argv[1]
    root = os.environ["SIPTAP_SOURCE_ROOT"]
    with tempfile.TemporaryDirectory() as tmp:
        scn, pcap = os.path.join(tmp, "utf8.scn"), os.path.join(tmp, "utf8.pcap")
        with open(scn, "wb") as f:
            f.write(b"sip-udp t=0 src=203.0.113.10:5060 dst=198.51.100.20:5060\n" + INVITE + b".\n")
        subprocess.run([os.environ["PCAPGEN"], scn, pcap], check=True, stdout=subprocess.DEVNULL)
        events = subprocess.run([os.environ["SIPTAPD"], "-r", pcap], check=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    verdicts = subprocess.run([cli, root + "/docs/events.schema.json"], input=events,
                              check=True, stdout=subprocess.PIPE).stdout.decode().splitlines()
    bad = 0
    for line, verdict in zip(events.decode("ascii", "replace").splitlines(), verdicts):
        if verdict != "ok":
            bad += 1
            print("refused: %s\n  %s" % (verdict.split("\t", 1)[-1], line[:300]))
    print("%d of %d events refused" % (bad, len(verdicts)))
    return 1 if bad or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
