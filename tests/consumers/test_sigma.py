"""iocd's Sigma rules, checked by pySigma (the reference Sigma library) and
converted to Splunk SPL by its Splunk backend, as a SIEM engineer would.

Reads ``*.sigma.yml`` files in the directory named by ``IOCD_EXPORT_DIR``.
"""

import os
import pathlib

import pytest
import yaml

EXPORT_DIR = os.environ.get("IOCD_EXPORT_DIR")
pytestmark = pytest.mark.skipif(not EXPORT_DIR, reason="IOCD_EXPORT_DIR is not set")


def rule_files():
    if not EXPORT_DIR:
        return []
    return sorted(pathlib.Path(EXPORT_DIR).glob("*.sigma.yml"))


@pytest.mark.parametrize("path", rule_files())
def test_pysigma_parses_every_rule_without_errors(path):
    from sigma.collection import SigmaCollection

    text = path.read_text(encoding="utf-8")
    coll = SigmaCollection.from_yaml(text, collect_errors=True)
    errors = [str(e) for r in coll.rules for e in r.errors]
    assert not errors, errors
    assert len(coll.rules) >= 1
    cats = {r.logsource.category for r in coll.rules}
    assert cats <= {"network_connection", "dns", "proxy", "process_creation"}, cats


@pytest.mark.parametrize("path", rule_files())
def test_pysigma_validators_find_no_issue(path):
    from sigma.collection import SigmaCollection
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator

    coll = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
    plugins = InstalledSigmaPlugins.autodiscover()
    # attacktag and d3_fendtag download MITRE data at run time: not on an
    # air-gapped machine. iocd's ATT&CK tags come from its embedded table.
    offline = {k: v for k, v in plugins.validators.items() if k not in ("attacktag", "d3_fendtag")}
    assert len(offline) >= 25, sorted(offline)
    validator = SigmaValidator(offline.values())
    issues = validator.validate_rules(coll)
    for i in issues:
        print("issue:", i)
    # A URL IOC may hold a literal `?` or `*` (`/gate.php?id=1`): iocd must
    # escape it so it is not a wildcard, and the validator then asks to
    # "make sure the escape is intentional". It is, when the escaped string
    # is exactly one of the IOC values in the rules; any other issue fails.
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    values = {v for d in docs for vs in d["detection"]["selection"].values() for v in vs}
    from sigma.validators.core.values import EscapedWildcardIssue

    def unescaped(v):
        return v.replace("\\?", "?").replace("\\*", "*")

    # The rule's own (escaped) values, by their literal text.
    literal = {unescaped(v): v for v in values}

    def intended(i):
        if not isinstance(i, EscapedWildcardIssue):
            return False
        text = unescaped(str(i.string))
        rule_value = literal.get(text, "")
        return ("\\?" in rule_value or "\\*" in rule_value) and ("?" in text or "*" in text)

    real = [i for i in issues if not intended(i)]
    assert not real, [str(i) for i in real]


@pytest.mark.parametrize("path", rule_files())
def test_splunk_backend_converts_and_values_survive(path):
    from sigma.backends.splunk import SplunkBackend
    from sigma.collection import SigmaCollection

    text = path.read_text(encoding="utf-8")
    coll = SigmaCollection.from_yaml(text)
    queries = SplunkBackend().convert(coll)
    assert len(queries) == len(coll.rules)
    # Every value listed in the YAML appears in some query (wildcard
    # characters were escaped, so nothing became a pattern).
    docs = [d for d in yaml.safe_load_all(text) if d]
    joined = "\n".join(queries)
    for d in docs:
        for field, values in d["detection"]["selection"].items():
            for v in values:
                needle = v.replace("\\", "\\\\").replace('"', '\\"') if "?" not in v and "*" not in v else v.split("*")[0].split("?")[0]
                assert needle[:20] in joined, (field, v)
