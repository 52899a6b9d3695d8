"""iocd's /api/openapi.json, checked by openapi-spec-validator (the
reference OpenAPI 3.0 validator) and for the contract SIEM tooling reads:
operation ids, tags, the shared error responses.

Reads the document from the file named by ``IOCD_OPENAPI``.
"""

import json
import os

import pytest

PATH = os.environ.get("IOCD_OPENAPI")
pytestmark = pytest.mark.skipif(not PATH, reason="IOCD_OPENAPI is not set")


def doc():
    with open(PATH, encoding="utf-8") as f:
        return json.load(f)


def test_the_document_is_valid_openapi_3():
    from openapi_spec_validator import validate

    validate(doc())


def test_every_operation_has_a_unique_id_and_a_declared_tag():
    d = doc()
    declared = {t["name"] for t in d["tags"]}
    ids = []
    for path, item in d["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            assert op["tags"], (method, path)
            assert set(op["tags"]) <= declared, (method, path, op["tags"])
    assert len(ids) == len(set(ids))
    assert {"exportSTIX", "exportMISP"} <= set(ids)
    assert d["servers"][0]["url"].startswith("https://")
