"""iocd's Suricata and Snort rules, checked by the real rule tooling:
idstools and suricataparser parse every rule with its options, sids are
unique, and suricata-check (Suricata rule linter) reports no issue of
severity ERROR on the Suricata file (warnings and info are printed only).

Reads ``*.suricata.rules`` and ``*.snort.rules`` in ``IOCD_EXPORT_DIR``.
"""

import os
import pathlib
import subprocess
import sys

import pytest

EXPORT_DIR = os.environ.get("IOCD_EXPORT_DIR")
pytestmark = pytest.mark.skipif(not EXPORT_DIR, reason="IOCD_EXPORT_DIR is not set")


def files(pattern):
    if not EXPORT_DIR:
        return []
    return sorted(pathlib.Path(EXPORT_DIR).glob(pattern))


def rule_lines(path):
    return [l for l in path.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]


@pytest.mark.parametrize("path", files("*.suricata.rules") + files("*.snort.rules"))
def test_idstools_and_suricataparser_parse_every_rule(path):
    from idstools import rule
    import suricataparser

    lines = rule_lines(path)
    assert lines, path
    parsed = rule.parse_file(str(path))
    assert len(parsed) == len(lines)
    for r in parsed:
        assert r.msg.startswith("iocd "), r.raw
        assert r.rev >= 1 and r.classtype == "trojan-activity", r.raw
        assert any(m.startswith("confidence ") for m in r.metadata), r.raw
    sids = [r.sid for r in parsed]
    assert len(set(sids)) == len(sids), "duplicate sids"
    for l in lines:
        sp = suricataparser.parse_rule(l)
        assert sp is not None and sp.sid == int(l.split("sid:")[1].split(";")[0]), l


@pytest.mark.parametrize("path", files("*.suricata.rules"))
def test_suricata_check_finds_no_error(path, tmp_path):
    out = tmp_path / "out"
    exe = pathlib.Path(sys.executable).with_name("suricata-check")
    subprocess.run(
        [str(exe), "-r", str(path), "-o", str(out), "--issue-severity", "ERROR", "--log-level", "ERROR"],
        check=True, capture_output=True, timeout=900,
    )
    import json
    counts = {}
    for line in (out / "suricata-check.jsonl").read_text(encoding="utf-8").splitlines():
        for issue in json.loads(line).get("issues", []):
            sev = str(issue.get("severity", "")).upper()
            counts[sev] = counts.get(sev, 0) + 1
    print(f"suricata-check on {path.name}: {len(rule_lines(path))} rules, issues by severity {counts}")
    assert not any("ERROR" in k or "CRITICAL" in k for k in counts), counts
