"""iocd's TAXII 2.1 server, consumed by taxii2-client (the OASIS
cti-taxii-client, as OpenCTI and MISP's TAXII pull use it) — issue 6.

The server must already hold ``IOCD_TAXII_IOCS`` IOCs loaded in one batch
(``tests/it/taxii.rs`` starts it and loads them). Environment:

- ``IOCD_TAXII_BASE``: ``https://127.0.0.1:PORT``
- ``IOCD_TAXII_CA``: the CA file the server's certificate chains to
- ``IOCD_TAXII_KEY``: an API key with ``read:taxii`` and ``write:taxii``
- ``IOCD_TAXII_IOCS``: how many IOCs the server holds

The client authenticates with HTTP Basic, user name anything and the API key
as password, as Microsoft Sentinel's TAXII connector does. Tests run in file
order: the add-objects test comes last.
"""

import collections
import json
import os
import uuid

import pytest
import requests
import stix2
from taxii2client.v21 import Collection, Server, Status, as_pages

BASE = os.environ.get("IOCD_TAXII_BASE")
CA = os.environ.get("IOCD_TAXII_CA")
KEY = os.environ.get("IOCD_TAXII_KEY")
N = int(os.environ.get("IOCD_TAXII_IOCS", "0"))

pytestmark = pytest.mark.skipif(not BASE, reason="IOCD_TAXII_BASE is not set")

# requests lets these override a Session's ``verify`` (the CA that
# taxii2-client passes on), so drop them: the server's CA is IOCD_TAXII_CA.
for _var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_var, None)

TAXII = "application/taxii+json;version=2.1"
# iocd's id namespace; collection ids are UUIDv5("taxii-collection:<alias>").
NAMESPACE = uuid.UUID("6f1c2d1e-8a3b-5c47-9e0d-4b2a7c61d0e5")
IOC_TYPES = ["ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256",
             "sha512", "email", "cve", "mitre_attack"]
SDO_TYPES = ("indicator", "vulnerability", "attack-pattern")


def collection_id(alias):
    return str(uuid.uuid5(NAMESPACE, f"taxii-collection:{alias}"))


def auth():
    return {"user": "sentinel", "password": KEY, "verify": CA}


@pytest.fixture(scope="module")
def server():
    return Server(f"{BASE}/api/taxii2/", **auth())


@pytest.fixture(scope="module")
def root(server):
    return server.default


@pytest.fixture(scope="module")
def collections_by_id(root):
    return {c.id: c for c in root.collections}


@pytest.fixture(scope="module")
def everything(collections_by_id):
    return collections_by_id[collection_id("all")]


def page_all(func, per_request, **filters):
    """Every object (or manifest record) of ``func`` through as_pages."""
    out = []
    for envelope in as_pages(func, per_request=per_request, **filters):
        out.extend(envelope.get("objects", []))
    return out


def test_discovery(server):
    assert server.title
    assert server.contact
    assert len(server.api_roots) == 1
    root = server.default
    assert root is server.api_roots[0]
    assert root.url == f"{BASE}/api/taxii2/iocs/"
    assert root.title
    assert root.versions == [TAXII]
    assert root.max_content_length > 0


def test_collections(collections_by_id):
    assert len(collections_by_id) == 13
    for alias in ["all", "submissions", *IOC_TYPES]:
        c = collections_by_id[collection_id(alias)]
        assert c.title
        assert c.media_types == ["application/stix+json;version=2.1"]
        assert c.can_write == (alias == "submissions")
        assert c.can_read == (alias != "submissions")


def test_as_pages_delivers_every_object_exactly_once(everything):
    objects = page_all(everything.get_objects, 500)
    counts = collections.Counter(o["id"] for o in objects)
    assert [i for i, n in counts.items() if n > 1] == []
    types = collections.Counter(o["type"] for o in objects)
    assert types["identity"] == 1
    assert types["marking-definition"] == 5
    assert sum(types[t] for t in SDO_TYPES) == N
    # The manifest pages the same objects in the same order.
    manifest = page_all(everything.get_manifest, 1000)
    assert [m["id"] for m in manifest] == [o["id"] for o in objects]
    assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest)
    # Every object indicator's refs resolve inside the collection.
    ids = set(counts)
    for o in objects:
        if o["type"] in SDO_TYPES:
            assert o["created_by_ref"] in ids
            assert set(o["object_marking_refs"]) <= ids


def test_objects_are_valid_stix(everything):
    envelope = everything.get_objects(limit=300)
    assert envelope["more"] is True
    for o in envelope["objects"]:
        stix2.parse(o, allow_custom=False)


def test_type_collections_partition_all(collections_by_id):
    total = 0
    for alias in IOC_TYPES:
        objects = page_all(collections_by_id[collection_id(alias)].get_objects, 1000)
        iocs = [o for o in objects if o["type"] in SDO_TYPES]
        if alias == "cve":
            assert {o["type"] for o in iocs} <= {"vulnerability"}
        elif alias == "mitre_attack":
            assert {o["type"] for o in iocs} <= {"attack-pattern"}
        else:
            assert {o["type"] for o in iocs} <= {"indicator"}
        total += len(iocs)
    assert total == N


def test_added_after(everything):
    manifest = page_all(everything.get_manifest, 1000)
    last = max(m["date_added"] for m in manifest)
    assert everything.get_objects(added_after=last).get("objects", []) == []
    # After the identity and the five markings (dates added 2025-01-01, one
    # microsecond apart): the IOCs only.
    iocs = page_all(everything.get_objects, 1000, added_after="2025-01-01T00:00:00.000005Z")
    assert len(iocs) == N
    assert {o["type"] for o in iocs} <= set(SDO_TYPES)


def test_polling_by_added_after_meets_every_object_once(everything):
    """Sentinel/OpenCTI-style polling: each request asks for what was added
    after the last date added the previous page showed (TAXII 2.1 §3.4,
    exclusive). Objects committed together must not hide each other."""
    for limit in (7, 1000):
        got, after = [], None
        while True:
            filters = {"limit": limit}
            if after:
                filters["added_after"] = after
            records = everything.get_manifest(**filters).get("objects", [])
            if not records:
                break
            assert len(records) <= limit
            dates = [r["date_added"] for r in records]
            assert dates == sorted(dates) and len(set(dates)) == len(dates)
            assert after is None or dates[0] > after
            got.extend(r["id"] for r in records)
            after = dates[-1]
        assert len(got) == len(set(got)) == N + 6, limit


def test_match_filters(everything):
    vulns = page_all(everything.get_objects, 1000, type="vulnerability")
    assert vulns and {o["type"] for o in vulns} == {"vulnerability"}
    both = page_all(everything.get_objects, 1000, type=["vulnerability", "identity"])
    assert len(both) == len(vulns) + 1
    assert everything.get_objects(type="marking-definition")["objects"][0]["type"] == "marking-definition"
    some = everything.get_objects(limit=20, added_after="2025-01-01T00:00:00.000005Z")["objects"]
    picked = [some[3]["id"], some[17]["id"]]
    assert [o["id"] for o in everything.get_objects(id=picked)["objects"]] == picked
    for version in ["first", "last", "all"]:
        got = everything.get_objects(id=picked, version=version)["objects"]
        assert [o["id"] for o in got] == picked, version
    got = everything.get_objects(id=picked, version=some[3]["modified"])["objects"]
    assert some[3]["id"] in [o["id"] for o in got]
    assert everything.get_objects(id=picked, version="2001-01-01T00:00:00.000Z").get("objects", []) == []
    assert everything.get_objects(id=picked, spec_version="2.0").get("objects", []) == []
    assert len(everything.get_objects(id=picked, spec_version="2.1")["objects"]) == 2
    one = everything.get_object(picked[0])
    assert [o["id"] for o in one["objects"]] == [picked[0]]
    versions = everything.object_versions(picked[0])
    assert versions["versions"] == [some[3]["modified"]]


def test_headers_with_bearer(everything):
    r = requests.get(everything.url + "objects/", params={"limit": 7},
                     headers={"Accept": TAXII, "Authorization": f"Bearer {KEY}"}, verify=CA)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == TAXII
    assert r.headers["X-TAXII-Date-Added-First"] == "2025-01-01T00:00:00.000000Z"
    assert r.headers["X-TAXII-Date-Added-Last"].endswith("Z")
    assert int(r.headers["X-RateLimit-Remaining"]) >= 0


def test_bad_accept_is_406(everything):
    with pytest.raises(requests.exceptions.HTTPError) as e:
        everything.get_objects(accept="application/json")
    r = e.value.response
    assert r.status_code == 406
    body = r.json()
    assert body["http_status"] == "406"
    assert body["error_id"] == r.headers["X-Request-Id"]


def test_add_objects_and_poll_status(root, everything):
    before = max(m["date_added"] for m in page_all(everything.get_manifest, 1000))
    submissions = Collection(f"{root.url}collections/{collection_id('submissions')}/", **auth())
    assert submissions.can_write
    indicator = stix2.Indicator(
        pattern="[ipv4-addr:value = '46.200.1.2']", pattern_type="stix",
        valid_from="2026-01-01T00:00:00Z", confidence=80, labels=["from-python"])
    malware = stix2.Malware(name="not an IOC", is_family=False)
    envelope = {"objects": [json.loads(indicator.serialize()), json.loads(malware.serialize())]}
    status = submissions.add_objects(envelope, wait_for_completion=True, poll_interval=0.2, timeout=10)
    assert status.status == "complete"
    assert (status.total_count, status.success_count, status.failure_count, status.pending_count) == (2, 1, 1, 0)
    assert status.successes[0]["id"] == indicator.id
    assert status.failures[0]["id"] == malware.id
    # Poll it again through its own URL, as a client that kept the id would.
    polled = Status(f"{root.url}status/{status.id}/", **auth())
    assert polled.status == "complete" and polled.success_count == 1
    # The indicator is served, after everything that was there before.
    new = everything.get_objects(added_after=before)["objects"]
    assert len(new) == 1
    assert new[0]["pattern"] == "[ipv4-addr:value = '46.200.1.2']"
    assert new[0]["labels"] == ["from-python"]
    assert new[0]["confidence"] == 80
