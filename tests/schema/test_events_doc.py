#!/usr/bin/env python3
"""schema_docs: docs/events.md and docs/events.schema.json say the same.

The schema is what the tests hold every event against; events.md is what
people read. Neither is generated from the other (the prose and the JSON
types would not survive the trip), so this test reads the markdown tables
and compares, both ways:

  * the event types: the schema's, the sections of events.md, the list in
    rules/rules.c (`event_types`, what [severity] accepts) and the man page's;
  * per type, the fields named in the first column of its section's tables
    against the type's schema properties (the fields every event has are in
    their own table, and every type's schema has them);
  * the streams entry's table against $defs/stream, and the output kinds'
    figures against $defs/output_<kind>;
  * nested objects (a stream's rtcp, stats' capture, sip_scan's methods...):
    each member the schema has is named in the field's row;
  * each closed set written in a type's schema (reasons, causes, hints,
    phases): each value is named in the field's row; the shared sets ($defs)
    are named somewhere in events.md.

No python module beyond the standard library is needed.
"""
import json
import os
import re
import sys

ROOT = os.environ.get("SIPTAP_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
failures = []


def fail(msg):
    failures.append(msg)


def ticks(text):
    return re.findall(r"`([^`]*)`", text)


def parse_sections(md):
    """{heading: [rows]} for the tables of each section whose first column
    is headed "field" (the others, "output kind" for one, are in
    sections[heading + " | " + that header]); a row is its cells."""
    sections, heading, table, in_table = {}, None, None, False
    for line in md.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            sections.setdefault(heading, [])
        if not line.startswith("|") or heading is None:
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not in_table:  # the header row
            in_table = True
            table = heading if cells[0] == "field" else heading + " | " + cells[0]
            sections.setdefault(table, [])
        elif not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
            sections[table].append(cells)
    return sections


def rows_by_field(rows):
    """{field: meaning cell} for a table whose first column names fields."""
    out = {}
    for cells in rows:
        for name in ticks(cells[0]):
            out[name] = cells[-1]
    return out


def resolve(schema, node):
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node


def enum_of(schema, node):
    """The closed set of a property written in place (not a shared $def)."""
    if "$ref" in node:
        return None
    values = node.get("enum")
    return [v for v in values if isinstance(v, str)] if values else None


def check_nested(schema, where, prop, node, meaning):
    node = resolve(schema, node)
    for sub in node.get("properties", {}):
        if not re.search(r"(?<![A-Za-z0-9_])" + re.escape(sub) + r"(?![A-Za-z0-9_])", meaning):
            fail("%s: `%s` has member `%s` in the schema, not named in its row of events.md"
                 % (where, prop, sub))


def check_fields(schema, where, props, doc_rows, common):
    schema_fields = set(props) - common
    doc_fields = set(doc_rows) - common
    for f in sorted(schema_fields - doc_fields):
        fail("%s: field `%s` is in the schema, not in events.md" % (where, f))
    for f in sorted(doc_fields - schema_fields):
        fail("%s: field `%s` is in events.md, not in the schema" % (where, f))
    for f in sorted(schema_fields & doc_fields):
        node = props[f]
        values = enum_of(schema, node)
        for v in values or []:
            if v not in ticks(doc_rows[f]):
                fail("%s: `%s` value `%s` is in the schema, not in its row of events.md"
                     % (where, f, v))
        # A stream is checked against its own table.
        if "properties" in resolve(schema, node) and node.get("$ref") != "#/$defs/stream":
            check_nested(schema, where, f, node, doc_rows[f])


def main():
    with open(os.path.join(ROOT, "docs", "events.schema.json")) as f:
        schema = json.load(f)
    with open(os.path.join(ROOT, "docs", "events.md")) as f:
        md = f.read()
    sections = parse_sections(md)
    defs = schema["$defs"]
    types = schema["properties"]["type"]["enum"]

    # The types, four ways.
    type_sections = {}
    for heading, rows in sections.items():
        if " | " in heading:
            continue
        named = [t for t in ticks(heading) if t in types or re.fullmatch(r"[a-z_]+", t)]
        if named and all(IDENT.match(t) for t in named) and rows and "(" in heading:
            for t in named:
                type_sections.setdefault(t, []).extend(rows)
    for t in sorted(set(types) - set(type_sections)):
        fail("type `%s` is in the schema, has no section in events.md" % t)
    for t in sorted(set(type_sections) - set(types)):
        fail("events.md has a section for `%s`, which the schema does not have" % t)
    for t in types:
        branch = [b for b in schema["allOf"]
                  if b["if"]["properties"]["type"].get("const") == t]
        if len(branch) != 1 or branch[0]["then"]["$ref"] != "#/$defs/" + t:
            fail("type `%s`: the schema's allOf has no if/then for it" % t)
    with open(os.path.join(ROOT, "rules", "rules.c")) as f:
        rules = f.read()
    m = re.search(r"event_types\[\]\s*=\s*\{(.*?)\};", rules, re.S)
    rules_types = re.findall(r'"([a-z_]+)"', m.group(1)) if m else []
    if sorted(rules_types) != sorted(types):
        fail("rules/rules.c event_types %s != the schema's types %s"
             % (sorted(rules_types), sorted(types)))
    with open(os.path.join(ROOT, "docs", "siptapd.8")) as f:
        man = f.read()
    m = re.search(r"Types:\n(.*?)\.\n", man, re.S)
    man_types = re.findall(r"^\.BR (\w+)", m.group(1), re.M) if m else []
    if sorted(man_types) != sorted(types):
        fail("docs/siptapd.8's list of types %s != the schema's %s"
             % (sorted(man_types), sorted(types)))

    # The fields every event has: their own table, and in every type.
    common_rows = rows_by_field(sections.get("Fields every event has", []))
    common = set(common_rows)
    head = set(schema["required"])
    call_extra = {"call_id", "capture_path", "capture_loss", "capture_lost_packets", "agent"}
    union = set()
    for t in types:
        props = defs[t]["properties"]
        union |= set(props) & (head | call_extra)
        for f in sorted(head - set(props)):
            fail("type `%s`: the schema lacks the common field `%s`" % (t, f))
        if "call_id" in props:
            for f in sorted(call_extra - set(props)):
                fail("type `%s` has call_id but not the call field `%s`" % (t, f))
    if union != common:
        fail("the fields every event has: schema %s, events.md %s"
             % (sorted(union), sorted(common)))
    for f in ("severity",):
        for v in defs[f]["enum"]:
            if v not in ticks(common_rows.get(f, "")):
                fail("`severity` value `%s` is not in its row of events.md" % v)

    # Each type's own fields.
    for t in types:
        if t in type_sections:
            check_fields(schema, t, defs[t]["properties"], rows_by_field(type_sections[t]), common)

    # A streams entry, and the outputs' figures in stats.
    check_fields(schema, "streams entry", defs["stream"]["properties"],
                 rows_by_field(sections.get("Endpoint and stream objects", [])), set())
    base = set(defs["output_other"]["properties"])
    kinds = {}
    for cells in sections.get("`stats` (info) | output kind", []):
        if len(cells) == 2 and ticks(cells[0]) and IDENT.match(ticks(cells[0])[0]):
            # The figures are named outside parentheses; inside are values
            # and asides (`udp` or `tcp`, `max_size`).
            figures = cells[1]
            while re.search(r"\([^()]*\)", figures):
                figures = re.sub(r"\([^()]*\)", "", figures)
            kinds[ticks(cells[0])[0]] = {w for w in ticks(figures) if IDENT.match(w)}
    for kind in ("jsonl", "redis", "kafka", "syslog", "hep"):
        want = set(defs["output_" + kind]["properties"]) - base
        got = kinds.get(kind)
        if got is None:
            fail("output kind `%s` has no row in events.md's stats section" % kind)
            continue
        for f in sorted(want - got):
            fail("output `%s`: `%s` is in the schema, not in events.md" % (kind, f))
        for f in sorted(got - want):
            fail("output `%s`: `%s` is in events.md, not in the schema" % (kind, f))

    # The shared closed sets are named somewhere.
    everywhere = set(ticks(md))
    for name, node in defs.items():
        for v in node.get("enum", []):
            if isinstance(v, str) and v not in everywhere:
                fail("$defs/%s value `%s` is named nowhere in events.md" % (name, v))

    for f in failures:
        print("FAIL: " + f)
    print("%d types, %d checks failed" % (len(types), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
