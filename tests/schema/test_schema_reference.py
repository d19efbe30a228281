#!/usr/bin/env python3
"""schema_reference: the tests' C validator agrees with a reference one.

Every end-to-end test holds the events it reads against
docs/events.schema.json with a small C validator (tests/support/json_schema).
This test holds that validator against python3-jsonschema, the reference
implementation of JSON Schema draft 2020-12:

  (a) the schema itself is a valid 2020-12 schema;
  (b) every event of siptapd's runs on the demo capture, on the pcapgen
      scenarios (tools/pcapgen/examples/features.scn and mix.scn here, which
      has every event type) and on the public captures when present, is
      accepted by both validators;
  (c) events broken the ways producers break them (a field nobody
      documented, a required field removed, a wrong JSON type, a value
      outside a closed set, a bad streams entry) are refused by both, and on
      every broken event the two give the same verdict.

Usage: test_schema_reference.py EVENT_SCHEMA_CLI (meson passes the C
validator's command-line filter). Exits 77, meson's "skipped", saying why,
when python3-jsonschema is not installed.
"""
import copy
import glob
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77


def fail(msg):
    print("FAIL: " + msg)
    return 1


def siptapd_events(args):
    """The events of one siptapd run, as parsed objects."""
    out = subprocess.run([os.environ["SIPTAPD"], "-n", "ref"] + args, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return [json.loads(line) for line in out.decode().splitlines() if line]


def collect_runs(root, tmp):
    """Events of every run this test replays, by run name."""
    runs = {"demo": siptapd_events(["-c", root + "/samples/demo.conf",
                                    "-r", root + "/samples/demo.pcap"])}
    here = os.path.dirname(os.path.abspath(__file__))
    for name, scn, conf in [
            ("features", root + "/tools/pcapgen/examples/features.scn", None),
            ("mix", here + "/mix.scn", here + "/mix.conf")]:
        pcap = os.path.join(tmp, name + ".pcap")
        subprocess.run([os.environ["PCAPGEN"], scn, pcap], check=True,
                       stdout=subprocess.DEVNULL)
        runs[name] = siptapd_events((["-c", conf] if conf else []) + ["-r", pcap])
    public = os.environ.get("SIPTAP_PUBLIC_PCAPS", "")
    captures = sorted(glob.glob(public + "/*.pcap*")) if public else []
    captures = [p for p in captures if not p.endswith(".txt")]
    if not captures:
        print("note: no public captures in %r: only the demo and pcapgen runs" % public)
    for p in captures:
        runs[os.path.basename(p)] = siptapd_events(["-r", p])
    return runs


def c_verdicts(cli, schema_path, instances):
    """The C validator's verdict on each instance: None (accepted) or why."""
    text = "".join(json.dumps(i) + "\n" for i in instances)
    out = subprocess.run([cli, schema_path], input=text.encode(), check=True,
                         stdout=subprocess.PIPE).stdout.decode().splitlines()
    if len(out) != len(instances):
        raise RuntimeError("the C validator judged %d of %d" % (len(out), len(instances)))
    return [None if line == "ok" else line.split("\t", 1)[-1] for line in out]


def py_verdict(validator, instance):
    err = next(iter(validator.iter_errors(instance)), None)
    if err is None:
        return None
    return "/" + "/".join(str(p) for p in err.absolute_path) + ": " + err.message


OTHER_TYPE = {str: 12345, int: "12345", float: "1.5", bool: "true", type(None): {"x_retyped": 1},
              list: "x", dict: "x"}


def mutants(ev, schema):
    """(what, event, must_refuse) for one event: each field retyped, each
    required field dropped, each string field out of its set, an undocumented
    field, and the first streams entry broken."""
    out = [("undocumented field", dict(ev, x_undocumented=1), True)]
    required = set(schema["$defs"][ev["type"]]["required"])
    for key, value in ev.items():
        broken = dict(ev)
        broken[key] = OTHER_TYPE[type(value)]
        out.append(("%s retyped" % key, broken, True))
        if key in required:
            out.append(("%s removed" % key, {k: v for k, v in ev.items() if k != key}, True))
        if isinstance(value, str):
            # Refused where the field has a closed set or a pattern; the two
            # validators must agree either way.
            out.append(("%s out of its set" % key, dict(ev, **{key: "zz-not-a-value"}), None))
    for key in ("seq", "v"):
        # JSON Schema's integer is a value: 3.0 is one, 3.5 is not.
        out.append(("%s as an integral real" % key, dict(ev, **{key: float(ev[key])}), False))
        out.append(("%s as a fraction" % key, dict(ev, **{key: ev[key] + 0.5}), True))
    streams = ev.get("streams") or []
    if streams:
        for key in list(streams[0]):
            broken = copy.deepcopy(ev)
            del broken["streams"][0][key]
            must = key not in ("rtcp", "rtcp_xr")
            out.append(("streams[0].%s removed" % key, broken, must))
        broken = copy.deepcopy(ev)
        broken["streams"][0]["ssrc"] = broken["streams"][0]["ssrc"].lower() + "g"
        out.append(("streams[0].ssrc not hex", broken, True))
        broken = copy.deepcopy(ev)
        broken["streams"][0]["x_undocumented"] = 0
        out.append(("streams[0] undocumented field", broken, True))
    return out


def main():
    try:
        import jsonschema
    except ImportError:
        print("SKIP: python3-jsonschema is not installed (Debian package python3-jsonschema, "
              "listed in tools/debian-packages.txt); the C validator is not checked against it")
        return SKIP
    if not hasattr(jsonschema, "Draft202012Validator"):
        print("SKIP: this python3-jsonschema (%s) predates draft 2020-12"
              % getattr(jsonschema, "__version__", "?"))
        return SKIP
    if len(sys.argv) != 2:
        print("usage: test_schema_reference.py EVENT_SCHEMA_CLI")
        return 2
    cli = sys.argv[1]
    root = os.environ["SIPTAP_SOURCE_ROOT"]
    schema_path = os.environ.get("SIPTAP_EVENTS_SCHEMA") or root + "/docs/events.schema.json"
    with open(schema_path) as f:
        schema = json.load(f)
    failures = 0

    # (a) a valid 2020-12 schema.
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        failures += fail("$schema is not draft 2020-12: %r" % schema.get("$schema"))
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        return fail("not a valid 2020-12 schema: %s" % e.message)
    validator = jsonschema.Draft202012Validator(schema)

    # (b) every event of every run accepted by both.
    with tempfile.TemporaryDirectory() as tmp:
        runs = collect_runs(root, tmp)
    events, seen_types = [], set()
    for name, evs in runs.items():
        for ev in evs:
            events.append((name, ev))
            seen_types.add(ev["type"])
    verdicts = c_verdicts(cli, schema_path, [ev for _, ev in events])
    for (name, ev), c in zip(events, verdicts):
        p = py_verdict(validator, ev)
        if p or c:
            failures += fail("%s: a %s event refused (python: %s; C: %s): %s"
                             % (name, ev["type"], p, c, json.dumps(ev)[:400]))
    types = set(schema["properties"]["type"]["enum"])
    if seen_types != types:
        failures += fail("the runs do not give every type: missing %s"
                         % sorted(types - seen_types))
    print("%d events of %d runs, %d types: accepted by both" % (len(events), len(runs),
                                                                len(seen_types)))

    # (c) broken events refused by both; the same verdict on each.
    samples, per_type = [], {}
    for _, ev in events:
        if per_type.get(ev["type"], 0) < 3:
            per_type[ev["type"]] = per_type.get(ev["type"], 0) + 1
            samples.append(ev)
    cases = [m for ev in samples for m in mutants(ev, schema)]
    verdicts = c_verdicts(cli, schema_path, [m[1] for m in cases])
    refused = 0
    for (what, ev, must), c in zip(cases, verdicts):
        p = py_verdict(validator, ev)
        if (p is None) != (c is None):
            failures += fail("%s of a %s event: python says %s, C says %s"
                             % (what, ev["type"], p or "valid", c or "valid"))
        elif must is True and p is None:
            failures += fail("%s of a %s event: accepted by both" % (what, ev["type"]))
        elif must is False and p is not None:
            failures += fail("%s of a %s event: refused by both (%s)" % (what, ev["type"], p))
        refused += p is not None
    print("%d broken events, %d refused by both, the same verdict on each" % (len(cases), refused))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
