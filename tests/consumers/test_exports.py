"""iocd's exports, checked by the real consumers (issue 5).

Reads the export files in the directory named by ``IOCD_EXPORT_DIR`` (as
written by ``iocd export`` or by ``tests/it/export_formats.rs``) and checks
each with the library a SIEM or TIP integration would use:

- ``*.stix.json``: ``stix2.parse(..., allow_custom=False)``; the OASIS
  ``stix2-validator`` reports no errors (warnings are printed); every
  indicator pattern passes ``stix2-patterns`` and compares exactly the value
  its name announces.
- ``*.misp.json``: ``pymisp.MISPEvent().load()``; every attribute type is in
  PyMISP's describeTypes and allowed in its category.
- ``*.ioc``: well-formed OpenIOC 1.1 (lxml), one IndicatorItem per value.
- ``*.cef``: every line splits into exactly 8 unescaped-``|`` fields.
- Across formats: STIX, MISP, CEF, JSON and CSV name the same IOCs.

File names: ``<anything>.stix.json``, ``.misp.json``, ``.ioc``, ``.cef``,
``.json`` (listing), ``.csv``. Run: ``IOCD_EXPORT_DIR=dir pytest tests/consumers``.
"""

import csv
import json
import os
import pathlib

import pytest

EXPORT_DIR = os.environ.get("IOCD_EXPORT_DIR")

pytestmark = pytest.mark.skipif(not EXPORT_DIR, reason="IOCD_EXPORT_DIR is not set")

OPENIOC_NS = "http://openioc.org/schemas/OpenIOC_1.1"


def found(suffix, exclude=()):
    """Export files with this suffix (none without IOCD_EXPORT_DIR); for
    parametrize, where an empty list reports the test as skipped."""
    if not EXPORT_DIR:
        return []
    return sorted(
        p for p in pathlib.Path(EXPORT_DIR).glob("*" + suffix)
        if not any(p.name.endswith(x) for x in exclude)
    )


def export_files(suffix, exclude=()):
    out = found(suffix, exclude)
    if not out:
        pytest.skip(f"no *{suffix} file in {EXPORT_DIR}")
    return out


def listing_file():
    return export_files(".json", exclude=(".stix.json", ".misp.json"))[0]


def listing_records():
    """Every IOC record of the JSON listing export."""
    return json.loads(listing_file().read_text(encoding="utf-8"))


def listing_values():
    """(type, value) of every IOC in the JSON listing export."""
    return {(r["type"], r["value"]) for r in listing_records()}


# --- STIX 2.1 -------------------------------------------------------------

def flatten_results(results):
    """stix2-validator returns one result, a list, or nested object results."""
    if isinstance(results, list):
        for r in results:
            yield from flatten_results(r)
        return
    inner = getattr(results, "object_results", None)
    if isinstance(inner, list):
        yield from flatten_results(inner)
    else:
        yield results


@pytest.mark.parametrize("path", found(".stix.json"))
def test_stix_parses_with_stix2_strict(path):
    import stix2

    bundle = stix2.parse(path.read_text(encoding="utf-8"), allow_custom=False)
    assert bundle.type == "bundle"
    assert any(o.type == "indicator" for o in bundle.objects)


@pytest.mark.parametrize("path", found(".stix.json"))
def test_stix_validator_reports_no_errors(path):
    from stix2validator import ValidationOptions, validate_string

    results = validate_string(
        path.read_text(encoding="utf-8"), ValidationOptions(version="2.1")
    )
    errors, warnings = [], []
    for r in flatten_results(results):
        errors += [str(e) for e in (r.errors or [])]
        warnings += [str(w) for w in (r.warnings or [])]
    # Warnings are advice (e.g. {103} non-v4 ids: ours are deterministic
    # UUIDv5 by design); show a summary by code.
    codes = {}
    for w in warnings:
        code = w.split("{", 1)[-1].split("}", 1)[0] if "{" in w else "?"
        codes.setdefault(code, w)
    for code, example in sorted(codes.items()):
        print(f"stix2-validator warning {{{code}}} e.g.: {example}")
    assert not errors, errors


def pattern_value(pattern):
    """The single comparison of an iocd pattern: (object, path, value)."""
    from stix2patterns.v21.pattern import Pattern

    comparisons = Pattern(pattern).inspect().comparisons
    assert len(comparisons) == 1, comparisons
    (obj, comps), = comparisons.items()
    assert len(comps) == 1, comps
    path, op, literal = comps[0]
    assert op == "="
    assert literal.startswith("'") and literal.endswith("'")
    value = literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return obj, path, value


@pytest.mark.parametrize("path", found(".stix.json"))
def test_stix_patterns_parse_and_name_the_value(path):
    from stix2patterns.validator import run_validator

    objects = json.loads(path.read_text(encoding="utf-8"))
    objects = objects["objects"] if isinstance(objects, dict) else objects
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert indicators
    for ind in indicators:
        errs = run_validator(ind["pattern"], stix_version="2.1")
        assert not errs, (ind["pattern"], errs)
        obj, prop, value = pattern_value(ind["pattern"])
        assert ind["name"].endswith(" - " + value), (ind["name"], value)
        assert obj in {"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file"}
        assert prop[0] in {"value", "hashes"}


def stix_values(path):
    objects = json.loads(path.read_text(encoding="utf-8"))
    objects = objects["objects"] if isinstance(objects, dict) else objects
    types = {
        "ipv4-addr": "ipv4", "ipv6-addr": "ipv6", "domain-name": "domain",
        "url": "url", "email-addr": "email",
    }
    hashes = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
    out = set()
    for o in objects:
        if o["type"] == "indicator":
            obj, prop, value = pattern_value(o["pattern"])
            out.add((hashes[prop[1]] if obj == "file" else types[obj], value))
        elif o["type"] == "vulnerability":
            out.add(("cve", o["name"]))
        elif o["type"] == "attack-pattern":
            ref = [r for r in o["external_references"] if r["source_name"] == "mitre-attack"]
            out.add(("mitre_attack", ref[0]["external_id"]))
    return out


# --- MISP -----------------------------------------------------------------

@pytest.mark.parametrize("path", found(".misp.json"))
def test_misp_event_loads_in_pymisp(path):
    from pymisp import MISPEvent

    event = MISPEvent()
    with open(path, encoding="utf-8") as f:
        event.load(f)
    describe = event.describe_types
    assert event.attributes, "no attributes"
    assert event.info.startswith("iocd IOCs")
    assert any(t.name.startswith("tlp:") for t in event.tags)
    for a in event.attributes:
        assert a.type in describe["types"], a.type
        assert a.type in describe["category_type_mappings"][a.category], (a.category, a.type)


@pytest.mark.parametrize("path", found(".misp.json"))
def test_misp_attribute_types_follow_the_spec_table(path):
    table = {
        "ipv4": "ip-src", "ipv6": "ip-src", "domain": "domain", "url": "url",
        "md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512",
        "email": "email-src", "cve": "vulnerability",
    }
    # A direction a source stated (a MISP import's ip-dst / email-dst) is
    # kept: the first source that states one decides.
    dst = {"ipv4": "ip-dst", "ipv6": "ip-dst", "email": "email-dst"}
    attrs = json.loads(path.read_text(encoding="utf-8"))["Event"]["Attribute"]
    by_value = {a["value"]: a["type"] for a in attrs}
    try:
        listing = listing_records()
    except pytest.skip.Exception:
        return
    for r in listing:
        ioc_type, value = r["type"], r["value"]
        if ioc_type == "mitre_attack":
            assert value not in by_value
            continue
        stated = next((s["direction"] for s in r["sources"] if s.get("direction")), None)
        want = dst[ioc_type] if stated == "dst" and ioc_type in dst else table[ioc_type]
        assert by_value.get(value) == want, (ioc_type, value, stated)


# --- OpenIOC --------------------------------------------------------------

@pytest.mark.parametrize("path", found(".ioc"))
def test_openioc_is_well_formed(path):
    from lxml import etree

    root = etree.parse(str(path)).getroot()
    assert root.tag == f"{{{OPENIOC_NS}}}OpenIOC"
    for attr in ("id", "last-modified", "published-date"):
        assert root.get(attr), attr
    ns = {"o": OPENIOC_NS}
    assert root.find("o:metadata/o:authored_date", ns) is not None
    items = root.findall("o:criteria/o:Indicator/o:IndicatorItem", ns)
    assert items
    for item in items:
        ctx = item.find("o:Context", ns)
        content = item.find("o:Content", ns)
        assert ctx.get("search").startswith(ctx.get("document") + "/")
        assert content.text
        assert item.get("condition") == "is"


# --- CEF ------------------------------------------------------------------

def cef_split(line):
    """Splits at unescaped '|' into at most 8 fields (the 8th is the
    extension, where '|' needs no escape)."""
    fields, cur, i = [], "", 0
    while i < len(line):
        c = line[i]
        if len(fields) == 7:
            cur += line[i:]
            break
        if c == "\\" and i + 1 < len(line):
            cur += line[i:i + 2]
            i += 2
            continue
        if c == "|":
            fields.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    fields.append(cur)
    return fields


def cef_unescape_header(s):
    return s.replace("\\|", "|").replace("\\\\", "\\")


@pytest.mark.parametrize("path", found(".cef"))
def test_cef_lines_have_eight_header_fields(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines
    for line in lines:
        f = cef_split(line)
        assert len(f) == 8, line
        assert f[0] == "CEF:0"
        assert 0 <= int(f[6]) <= 10
        assert cef_unescape_header(f[5]).startswith(("Malicious", "Exploited", "ATT&CK"))
        assert " cn1Label=confidence " in f[7]


# --- Across formats -------------------------------------------------------

def test_formats_name_the_same_iocs():
    listing = listing_values()
    with open(export_files(".csv")[0], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["type"], r["value"]) for r in rows} == listing
    for path in export_files(".stix.json"):
        assert stix_values(path) == listing, path.name
    misp = json.loads(export_files(".misp.json")[0].read_text(encoding="utf-8"))
    misp_values = {a["value"] for a in misp["Event"]["Attribute"]}
    assert misp_values == {v for t, v in listing if t != "mitre_attack"}
    cef_ids = set()
    for line in export_files(".cef")[0].read_text(encoding="utf-8").splitlines():
        ext = cef_split(line)[7]
        cef_ids.add(ext.split(" externalId=", 1)[1].split(" ", 1)[0])
    records = json.loads(listing_file().read_text(encoding="utf-8"))
    assert cef_ids == {r["id"] for r in records}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-v", "-s"]))
