#!/usr/bin/env python3
"""schema_wire_strings: strings from the wire that are not valid UTF-8.

Strings siptapd copies from the wire into events (Call-ID, From and To
users, Request-URI user, User-Agent, reason phrases...) were left out of
the event when they were not valid UTF-8 (jansson's json_string returns
NULL), so a call whose Call-ID or From user had a stray byte gave a
call_start with no call_id and no from, and a call_end with no call_id:
fields the contract requires, without which a consumer cannot tie the
events of the call together. Each stray byte is now written as U+FFFD.

This test replays one such INVITE, answered by a 404 whose reason phrase
has a stray byte too, holds the events against the schema with the tests'
C validator, and checks the call's events (call_fail included) name it
with the replacement characters where the stray bytes were.

Usage: test_wire_strings.py EVENT_SCHEMA_CLI
"""
import json
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
NOT_FOUND = (b"SIP/2.0 404 Not F\xffound\n"
             b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKutf1\n"
             b"From: <sip:al\xffice@203.0.113.10>;tag=1\n"
             b"To: <sip:bob@198.51.100.20>;tag=2\n"
             b"Call-ID: utf8-\xc3-1\n"
             b"CSeq: 1 INVITE\n"
             b"Content-Length: 0\n")


def main():
    cli = sys.argv[1]
    root = os.environ["SIPTAP_SOURCE_ROOT"]
    with tempfile.TemporaryDirectory() as tmp:
        scn, pcap = os.path.join(tmp, "utf8.scn"), os.path.join(tmp, "utf8.pcap")
        with open(scn, "wb") as f:
            f.write(b"sip-udp t=0 src=203.0.113.10:5060 dst=198.51.100.20:5060\n" + INVITE + b".\n")
            f.write(b"sip-udp t=0.1 src=198.51.100.20:5060 dst=203.0.113.10:5060\n" + NOT_FOUND +
                    b".\n")
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
    parsed = [json.loads(line) for line in events.decode("utf-8").splitlines()]
    calls = [e for e in parsed if e["type"] in ("call_start", "call_end")]
    named = [e for e in calls if e.get("call_id") == "utf8-\ufffd-1"]
    if len(calls) != 2 or len(named) != 2:
        print("call_start and call_end must both name utf8-\\ufffd-1: %s" % calls)
        bad += 1
    start = next((e for e in calls if e["type"] == "call_start"), {})
    if start.get("from") != "al\ufffdice":
        print("call_start.from must be al\\ufffdice: %s" % start)
        bad += 1
    fail = next((e for e in parsed if e["type"] == "call_fail"), {})
    if fail.get("from") != "al\ufffdice" or fail.get("reason") != "Not F\ufffdound":
        print("call_fail must carry from al\\ufffdice and reason Not F\\ufffdound: %s" % fail)
        bad += 1
    return 1 if bad or not verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
