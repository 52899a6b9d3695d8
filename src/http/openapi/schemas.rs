//! `components.schemas` of the OpenAPI document: the shape of every JSON
//! answer iocd gives, with an example each. Route entries point here with
//! `$ref` (see [`reference`]); `tests/it/common/conformance.rs` validates every
//! response the integration suite receives against them, so a field that
//! changes type or goes missing fails a test.
//!
//! OpenAPI 3.0.3 Schema Objects: `nullable: true` marks fields that are
//! `null` when unknown; objects stay open (new fields may be added in a
//! minor version, as clients of the seed API expect).

use serde_json::{json, Value};

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn string() -> Value {
    json!({"type": "string"})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable(mut s: Value) -> Value {
    s["nullable"] = json!(true);
    s
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn ioc_type() -> Value {
    let v: Vec<&str> = crate::ioc::IocType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    json!({"type": "string", "enum": v})
}

fn by_type() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}})
}

/// `{"type": "object", "required": [..], "properties": {..}}` plus `example`.
/// OpenAPI 3.0 forbids an empty `required`, so none is written then.
fn object(required: &[&str], properties: Value, example: Value) -> Value {
    let mut o = json!({"type": "object", "properties": properties, "example": example});
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

fn ioc_example() -> Value {
    json!({
        "id": "0054cfe8-03e5-5aa9-b947-a51bcccccf05", "type": "ipv4", "value": "203.0.113.16",
        "confidence": 55, "confidence_level": "medium", "tlp": "amber", "tags": ["ransomware"],
        "sources": [{"name": "abuse-feed", "reference": "https://feed.example/2026-12-03"}],
        "techniques": ["T1547.001"], "first_seen": "2026-12-03T05:53:00.281Z",
        "last_seen": "2026-12-03T05:53:00.281Z", "added_at": "2026-12-03T15:53:00.283Z",
        "modified": "2026-12-03T15:53:00.283Z", "to_ids": true, "reserved": true,
        "description": "C2 of the campaign", "expires_at": "2027-01-02T05:53:00.281Z", "expired": false
    })
}

fn ioc() -> Value {
    object(
        &[
            "id",
            "type",
            "value",
            "confidence",
            "confidence_level",
            "tlp",
            "tags",
            "sources",
            "techniques",
            "first_seen",
            "last_seen",
            "added_at",
            "modified",
            "to_ids",
            "expires_at",
            "expired",
        ],
        json!({
            "id": {"type": "string", "format": "uuid", "description": "UUIDv5 of type and normalized value"},
            "type": ioc_type(),
            "value": {"type": "string", "description": "Normalized (refanged, lower-cased where the type is case-insensitive)"},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
            "confidence_level": {"type": "string", "enum": ["low", "medium", "high"]},
            "tlp": {"type": "string", "enum": ["clear", "green", "amber", "amber+strict", "red"]},
            "tags": strings(),
            "sources": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "name": string(), "reference": nullable(string())
            }}},
            "techniques": {"type": "array", "items": {"type": "string", "pattern": "^T[0-9]{4}(\\.[0-9]{3})?$"}},
            "first_seen": time(), "last_seen": time(), "added_at": time(), "modified": time(),
            "to_ids": {"type": "boolean"},
            "reserved": {"type": "boolean", "description": "A documentation, private or otherwise reserved address or name (RFC 5737, 2606, ...)"},
            "description": nullable(string()),
            "expires_at": nullable(time()),
            "expired": {"type": "boolean"}
        }),
        ioc_example(),
    )
}

fn technique() -> Value {
    object(
        &["id", "name", "tactics", "url"],
        json!({"id": string(), "name": string(), "tactics": strings(), "url": string()}),
        json!({"id": "T1547.001", "name": "Registry Run Keys / Startup Folder", "tactics": ["persistence"], "url": "https://attack.mitre.org/techniques/T1547/001"}),
    )
}

fn lookup_example() -> Value {
    json!({
        "query": "203.0.113[.]16", "found": true, "type": "ipv4", "value": "203.0.113.16",
        "deleted": false, "expired": false, "expires_at": "2027-01-02T05:53:00.281Z",
        "outside_lookback": false, "reserved": true,
        "risk": {"score": 55, "level": "medium", "basis": "confidence plus 5 per corroborating source"},
        "sources": [{"name": "abuse-feed", "reference": "https://feed.example/2026-12-03"}],
        "mitre_techniques": [{"id": "T1547.001", "name": "Registry Run Keys / Startup Folder", "tactics": ["persistence"], "url": "https://attack.mitre.org/techniques/T1547/001"}],
        "hunting_queries": {"splunk": "index=* (src_ip=\"203.0.113.16\" OR dest_ip=\"203.0.113.16\")"},
        "ioc": ioc_example()
    })
}

fn lookup() -> Value {
    object(
        &[
            "query",
            "found",
            "type",
            "value",
            "deleted",
            "outside_lookback",
            "sources",
            "mitre_techniques",
            "ioc",
        ],
        json!({
            "query": {"type": "string", "description": "The value as sent"},
            "found": {"type": "boolean"},
            "type": ioc_type(),
            "value": {"type": "string", "description": "The normalized value"},
            "deleted": {"type": "boolean", "description": "Deleted as a false positive (tombstone)"},
            "expired": nullable(json!({"type": "boolean"})),
            "expires_at": nullable(time()),
            "outside_lookback": {"type": "boolean"},
            "reserved": {"type": "boolean"},
            "risk": nullable(json!({"type": "object", "required": ["score", "level"], "properties": {
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "level": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                "basis": string()
            }})),
            "sources": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": string(), "reference": nullable(string())}}},
            "mitre_techniques": {"type": "array", "items": reference("Technique")},
            "hunting_queries": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Query per SIEM (splunk, sentinel_kql, elastic_kql, ...)"},
            "ioc": {"allOf": [reference("IOC")], "nullable": true}
        }),
        lookup_example(),
    )
}

fn bulk_lookup() -> Value {
    let failed = json!({"type": "object", "required": ["query", "found", "error"], "properties": {
        "query": string(), "found": {"type": "boolean", "enum": [false]},
        "error": {"type": "object", "required": ["code", "message"], "properties": {"code": string(), "message": string()}}
    }});
    object(
        &["count", "found", "invalid", "cost", "results"],
        json!({
            "count": count(), "found": count(), "invalid": count(),
            "cost": {"type": "integer", "minimum": 1, "description": "Rate-limit tokens charged"},
            "results": {"type": "array", "items": {"anyOf": [reference("LookupResult"), failed]}}
        }),
        json!({"count": 2, "found": 1, "invalid": 1, "cost": 1, "results": [lookup_example(),
            {"query": "not an ioc", "found": false, "error": {"code": "invalid_value", "message": "'not an ioc' is not a recognizable IOC"}}]}),
    )
}

fn page(item: &str, example: Value) -> Value {
    object(
        &["data", "count", "next_cursor"],
        json!({
            "data": {"type": "array", "items": reference(item)},
            "count": count(),
            "next_cursor": nullable(json!({"type": "string", "description": "Pass as cursor for the next page; null on the last"}))
        }),
        json!({"data": [example], "count": 1, "next_cursor": null}),
    )
}

fn submit_result() -> Value {
    object(
        &[
            "new",
            "updated",
            "unchanged",
            "suppressed",
            "rejected",
            "errors",
        ],
        json!({
            "new": count(), "updated": count(), "unchanged": count(),
            "suppressed": {"type": "integer", "minimum": 0, "description": "Deleted earlier as false positives (tombstoned): not stored again"},
            "rejected": count(),
            "errors": {"type": "array", "items": {"type": "object", "required": ["reason"], "properties": {
                "index": {"type": "integer", "minimum": 0, "description": "Position in a JSON body (0-based)"},
                "line": {"type": "integer", "minimum": 1, "description": "Line of a text/plain body (1-based)"},
                "value": string(), "reason": string()
            }}}
        }),
        json!({"new": 1, "updated": 0, "unchanged": 0, "suppressed": 0, "rejected": 1,
            "errors": [{"index": 1, "value": "bad", "reason": "'bad' is not a recognizable IOC"}]}),
    )
}

fn api_key_example() -> Value {
    json!({"id": "f26fe1e7c6f51d1f", "name": "splunk-es", "tier": "pro", "scopes": ["read:iocs", "read:stix"],
        "created": "2026-12-03T15:52:56.669Z", "last_used": null, "revoked": null, "source_name": null})
}

fn api_key_properties() -> Value {
    json!({
        "id": {"type": "string", "description": "Public part of the key (sk_live_<id>_...)"},
        "name": string(),
        "tier": string(),
        "scopes": strings(),
        "created": time(),
        "last_used": nullable(time()),
        "revoked": nullable(time()),
        "source_name": nullable(string())
    })
}

fn api_key() -> Value {
    object(
        &["id", "name", "tier", "scopes", "created", "revoked"],
        api_key_properties(),
        api_key_example(),
    )
}

fn api_key_created() -> Value {
    let mut props = api_key_properties();
    props["key"] = json!({"type": "string", "pattern": "^sk_live_", "description": "The secret, shown only in this answer"});
    let mut ex = api_key_example();
    ex["key"] = json!("sk_live_f26fe1e7c6f51d1f_GYFASoNVZdxg0HmqBBYCFueyl2z18HHe");
    object(
        &["id", "name", "tier", "scopes", "created", "key"],
        props,
        ex,
    )
}

fn stats() -> Value {
    object(
        &["total", "by_type", "deleted", "store_bytes"],
        json!({
            "total": count(), "by_type": by_type(),
            "deleted": {"type": "integer", "minimum": 0, "description": "Tombstones (false positives)"},
            "oldest_modified": nullable(time()), "newest_modified": nullable(time()),
            "store_bytes": {"type": "integer", "minimum": 0, "description": "Size of the store on disk, bytes"}
        }),
        json!({"total": 413, "by_type": {"ipv4": 80, "domain": 40, "cve": 5}, "deleted": 0,
            "oldest_modified": "2026-12-01T08:00:00.000Z", "newest_modified": "2026-12-03T15:53:00.283Z", "store_bytes": 524287}),
    )
}

fn timeline() -> Value {
    object(
        &["interval", "since", "until", "type", "buckets"],
        json!({
            "interval": {"type": "string", "enum": ["hour", "day"]},
            "since": time(), "until": time(),
            "type": {"allOf": [ioc_type()], "nullable": true},
            "buckets": {"type": "array", "items": {"type": "object", "required": ["start", "total", "by_type"], "properties": {
                "start": time(), "total": count(), "by_type": by_type()
            }}}
        }),
        json!({"interval": "day", "since": "2026-12-02T00:00:00Z", "until": "2026-12-03T15:53:07Z", "type": null,
            "buckets": [{"start": "2026-12-02T00:00:00Z", "total": 0, "by_type": {"ipv4": 0}}, {"start": "2026-12-03T00:00:00Z", "total": 80, "by_type": {"ipv4": 80}}]}),
    )
}

fn health() -> Value {
    object(
        &["status", "version", "uptime_seconds"],
        json!({"status": {"type": "string", "enum": ["ok"]}, "version": string(), "uptime_seconds": count()}),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "uptime_seconds": 6}),
    )
}

fn feed() -> Value {
    let status = json!({"type": "object", "required": ["last_result", "consecutive_failures", "running"], "properties": {
        "last_run": nullable(time()), "last_success": nullable(time()), "duration_ms": count(),
        "last_result": {"type": "string", "enum": ["never", "ok", "not_modified", "failed"]},
        "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "last_error": nullable(string()), "consecutive_failures": count(), "runs": count(),
        "next_run": nullable(time()), "running": {"type": "boolean"}
    }});
    object(
        &["name", "format", "enabled", "status"],
        json!({"name": string(), "url": nullable(string()), "format": string(), "enabled": {"type": "boolean"}, "status": status}),
        json!({"name": "abuse-feed", "url": "https://feed.example/iocs.csv", "format": "csv", "enabled": true, "interval": "1h",
            "status": {"last_run": "2026-12-03T15:00:00Z", "last_success": "2026-12-03T15:00:00Z", "duration_ms": 840, "last_result": "ok",
                "counts": {"files": 1, "bytes": 20480, "observations": 512, "new": 12, "updated": 3, "unchanged": 497, "rejected": 0},
                "last_error": null, "consecutive_failures": 0, "runs": 30, "next_run": "2026-12-03T16:00:00Z", "running": false}}),
    )
}

fn list(item: &str) -> Value {
    json!({"type": "object", "required": ["data", "count"], "properties": {
        "data": {"type": "array", "items": reference(item)}, "count": count()
    }})
}

fn article_properties() -> Value {
    json!({
        "id": {"type": "string", "format": "uuid"}, "title": string(), "link": nullable(string()),
        "source": string(), "published": time(), "added": time(), "summary": nullable(string()),
        "tags": strings(), "kind": string(), "ioc_count": count(), "text_truncated": {"type": "boolean"}
    })
}

fn article_example() -> Value {
    json!({"id": "c287624b-3041-5db5-9c5d-4b72359c86f0", "title": "Report on X", "link": "https://blog.example/x",
        "source": "vendor-blog", "published": "2026-12-03T15:53:31Z", "added": "2026-12-03T15:53:31Z", "summary": null,
        "tags": [], "kind": "rss", "ioc_count": 1, "text_truncated": false})
}

const ARTICLE_REQUIRED: [&str; 9] = [
    "id",
    "title",
    "source",
    "published",
    "added",
    "tags",
    "kind",
    "ioc_count",
    "text_truncated",
];

fn article_summary() -> Value {
    object(&ARTICLE_REQUIRED, article_properties(), article_example())
}

/// The article with its text; `resolved` adds each IOC's stored record
/// (`GET /api/v1/articles/{id}`), the bulk export lists type and value.
fn article_full(resolved: bool) -> Value {
    let mut props = article_properties();
    props["text"] = string();
    let mut item = json!({"type": "object", "required": ["type", "value"], "properties": {"type": ioc_type(), "value": string()}});
    let mut ex = article_example();
    ex["text"] = json!("The actor used evil[.]example[.]org.");
    ex["iocs"] = json!([{"type": "domain", "value": "evil.example.org"}]);
    if resolved {
        item["properties"]["id"] = json!({"type": "string", "format": "uuid"});
        item["properties"]["ioc"] = json!({"allOf": [reference("IOC")], "nullable": true});
        ex["iocs"][0]["id"] = json!("f4127975-089e-575d-9289-fb2fdbed40e0");
        ex["iocs"][0]["ioc"] = json!(null);
    }
    props["iocs"] = json!({"type": "array", "items": item});
    let mut required = ARTICLE_REQUIRED.to_vec();
    required.extend(["text", "iocs"]);
    object(&required, props, ex)
}

fn stix_object() -> Value {
    json!({"type": "object", "required": ["type", "id"], "properties": {
        "type": string(), "id": {"type": "string", "pattern": "^[a-z0-9-]+--[0-9a-f-]{36}$"},
        "spec_version": {"type": "string", "enum": ["2.1"]}, "created": time(), "modified": time()
    }, "description": "A STIX 2.1 object (STIX 2.1 §3-§7): indicator, vulnerability, attack-pattern, identity or marking-definition"})
}

fn stix_example() -> Value {
    json!({"type": "bundle", "id": "bundle--48280669-e5e9-42e2-9900-6636fc00fbe7", "objects": [
        {"type": "identity", "spec_version": "2.1", "id": "identity--29f875cd-9b33-5a0e-9bb4-f9495c3ccffb",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z", "name": "iocd", "identity_class": "organization"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--0054cfe8-03e5-5aa9-b947-a51bcccccf05",
            "created": "2026-12-03T15:53:00.283Z", "modified": "2026-12-03T15:53:00.283Z",
            "created_by_ref": "identity--29f875cd-9b33-5a0e-9bb4-f9495c3ccffb",
            "name": "Malicious IPv4 Address - 203.0.113.16", "indicator_types": ["malicious-activity"],
            "pattern": "[ipv4-addr:value = '203.0.113.16']", "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": "2026-12-03T05:53:00.281Z", "confidence": 55, "labels": ["ransomware"]}
    ]})
}

fn stix_bundle() -> Value {
    json!({"type": "object", "required": ["type", "id", "objects"], "properties": {
        "type": {"type": "string", "enum": ["bundle"]},
        "id": {"type": "string", "pattern": "^bundle--[0-9a-f-]+$"},
        "objects": {"type": "array", "items": reference("STIXObject")}
    }, "description": "STIX 2.1 bundle (STIX 2.1 §8)", "example": stix_example()})
}

fn misp_event() -> Value {
    let attribute = json!({"type": "object", "required": ["uuid", "type", "category", "value", "to_ids", "timestamp"], "properties": {
        "uuid": {"type": "string", "format": "uuid"}, "type": string(), "category": string(), "value": string(),
        "to_ids": {"type": "boolean"}, "comment": string(), "timestamp": {"type": "string", "pattern": "^[0-9]+$"},
        "first_seen": time(), "last_seen": time(),
        "Tag": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": string()}}}
    }});
    json!({"type": "object", "required": ["Event"], "description": "MISP core format event (draft-dulaunoy-misp-core-format)", "properties": {
        "Event": {"type": "object", "required": ["info", "date", "threat_level_id", "analysis", "uuid", "Attribute"], "properties": {
            "info": string(), "date": {"type": "string", "format": "date"},
            "threat_level_id": {"type": "string", "enum": ["1", "2", "3", "4"]},
            "analysis": {"type": "string", "enum": ["0", "1", "2"]},
            "distribution": {"type": "string", "enum": ["0", "1", "2", "3", "4", "5"]},
            "published": {"type": "boolean"}, "uuid": {"type": "string", "format": "uuid"},
            "timestamp": {"type": "string", "pattern": "^[0-9]+$"}, "publish_timestamp": {"type": "string", "pattern": "^[0-9]+$"},
            "Attribute": {"type": "array", "items": attribute},
            "Tag": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": string()}}}
        }}
    }, "example": {"Event": {"info": "iocd IOCs — 2026-12-03 to 2026-12-03", "date": "2026-12-03", "threat_level_id": "2",
        "analysis": "2", "distribution": "3", "published": false, "uuid": "af7bb5b6-bb65-5eb8-987b-63c42e922683",
        "timestamp": "1796313180", "publish_timestamp": "1796313180", "Tag": [{"name": "tlp:amber"}],
        "Attribute": [{"uuid": "0054cfe8-03e5-5aa9-b947-a51bcccccf05", "type": "ip-src", "category": "Network activity",
            "value": "203.0.113.16", "to_ids": true, "comment": "C2 of the campaign", "timestamp": "1796313180",
            "Tag": [{"name": "tlp:amber"}]}]}}})
}

/// TAXII 2.1 resources (TAXII 2.1 §4-§5).
fn taxii() -> Vec<(&'static str, Value)> {
    let collection = object(
        &["id", "title", "can_read", "can_write"],
        json!({"id": {"type": "string", "format": "uuid"}, "title": string(), "description": string(), "alias": string(),
            "can_read": {"type": "boolean"}, "can_write": {"type": "boolean"}, "media_types": strings()}),
        json!({"id": "39a9ab30-ada1-57e5-85e7-9ccb8327b7eb", "title": "IPv4 addresses", "alias": "ipv4",
            "can_read": true, "can_write": false, "media_types": ["application/stix+json;version=2.1"]}),
    );
    let paging = |items: &str, item: Value, ex: Value| {
        object(
            &[],
            json!({"more": {"type": "boolean"}, "next": string(), items: {"type": "array", "items": item}}),
            ex,
        )
    };
    vec![
        (
            "TaxiiDiscovery",
            object(
                &["title"],
                json!({"title": string(), "description": string(), "contact": string(),
            "default": string(), "api_roots": strings()}),
                json!({"title": "iocd TAXII 2.1 server", "default": "/api/taxii2/iocs/", "api_roots": ["/api/taxii2/iocs/"]}),
            ),
        ),
        (
            "TaxiiApiRoot",
            object(
                &["title", "versions", "max_content_length"],
                json!({"title": string(), "description": string(),
            "versions": strings(), "max_content_length": count()}),
                json!({"title": "iocd IOCs", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 10485760}),
            ),
        ),
        ("TaxiiCollection", collection),
        (
            "TaxiiCollections",
            object(
                &[],
                json!({"collections": {"type": "array", "items": reference("TaxiiCollection")}}),
                json!({"collections": [{"id": "39a9ab30-ada1-57e5-85e7-9ccb8327b7eb", "title": "IPv4 addresses", "can_read": true, "can_write": false}]}),
            ),
        ),
        (
            "TaxiiEnvelope",
            paging(
                "objects",
                reference("STIXObject"),
                json!({"more": true, "next": "AAYqmboMYAAp-HXNmzNaDpu0-UlcPM_7", "objects": [stix_example()["objects"][1].clone()]}),
            ),
        ),
        (
            "TaxiiManifest",
            paging(
                "objects",
                json!({"type": "object", "required": ["id", "date_added", "version"], "properties": {
                "id": string(), "date_added": time(), "version": string(), "media_type": string()}}),
                json!({"more": false, "objects": [{"id": "indicator--0054cfe8-03e5-5aa9-b947-a51bcccccf05", "date_added": "2026-12-03T15:53:00.283000Z",
                "version": "2026-12-03T15:53:00.283Z", "media_type": "application/stix+json;version=2.1"}]}),
            ),
        ),
        (
            "TaxiiVersions",
            paging(
                "versions",
                string(),
                json!({"more": false, "versions": ["2026-12-03T15:53:00.283Z"]}),
            ),
        ),
        (
            "TaxiiStatus",
            object(
                &[
                    "id",
                    "status",
                    "total_count",
                    "success_count",
                    "failure_count",
                    "pending_count",
                ],
                json!({
                    "id": string(), "status": {"type": "string", "enum": ["pending", "complete"]}, "request_timestamp": time(),
                    "total_count": count(), "success_count": count(), "failure_count": count(), "pending_count": count(),
                    "successes": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": string(), "version": string(), "message": string()}}},
                    "failures": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": string(), "version": string(), "message": string()}}},
                    "pendings": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {"id": string(), "version": string(), "message": string()}}}
                }),
                json!({"id": "ab531500-e069-4ec5-8c36-c9535e63110c", "status": "complete", "request_timestamp": "2026-12-03T15:53:31.897Z",
            "total_count": 1, "success_count": 1, "failure_count": 0, "pending_count": 0,
            "successes": [{"id": "indicator--11111111-1111-4111-8111-111111111111", "version": "2026-01-01T00:00:00Z"}]}),
            ),
        ),
    ]
}

fn error() -> Value {
    json!({
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message", "request_id"], "properties": {
            "code": {"type": "string", "description": "Error code for programmatic handling"},
            "message": {"type": "string", "description": "Human-readable error message"},
            "details": {"type": "object", "description": "Additional error details"},
            "request_id": {"type": "string", "description": "Unique request identifier (also X-Request-Id)"}
        }}},
        "example": {"error": {"code": "invalid_parameter", "message": "limit must be an integer from 1 to 1000", "details": {"parameter": "limit"}, "request_id": "req_3f9c0c3d6a1e4b2f"}}
    })
}

fn taxii_error() -> Value {
    json!({
        "type": "object", "required": ["title"],
        "description": "TAXII 2.1 error message (TAXII 2.1 §3.6.1), on every /api/taxii2/ route.",
        "properties": {
            "title": {"type": "string"}, "description": {"type": "string"}, "error_id": {"type": "string"},
            "error_code": {"type": "string"}, "http_status": {"type": "string"}, "external_details": {"type": "string"},
            "details": {"type": "object"}
        },
        "example": {"title": "Collection not found", "http_status": "404", "error_code": "not_found"}
    })
}

/// Every component schema, by name.
pub fn schemas() -> Value {
    let mut m = serde_json::Map::new();
    let mut put = |name: &str, v: Value| {
        m.insert(name.to_string(), v);
    };
    put("Error", error());
    put("TaxiiError", taxii_error());
    put("IOC", ioc());
    put("IOCList", page("IOC", ioc_example()));
    put("SubmitResult", submit_result());
    put(
        "DeletedIOC",
        object(
            &["deleted", "id", "type", "value"],
            json!({"deleted": {"type": "boolean"}, "id": {"type": "string", "format": "uuid"}, "type": ioc_type(), "value": string()}),
            json!({"deleted": true, "id": "230bda80-78de-552e-a4c5-3c016ffa6f50", "type": "domain", "value": "evil.example.com"}),
        ),
    );
    put("Technique", technique());
    put("LookupResult", lookup());
    put("BulkLookupResult", bulk_lookup());
    put("Stats", stats());
    put("Timeline", timeline());
    put("Health", health());
    put("ApiKey", api_key());
    put("ApiKeyList", list("ApiKey"));
    put("ApiKeyCreated", api_key_created());
    put("Feed", feed());
    put("FeedList", list("Feed"));
    put("ArticleSummary", article_summary());
    put("ArticleList", page("ArticleSummary", article_example()));
    put("Article", article_full(true));
    put("ArticleExport", article_full(false));
    put("STIXObject", stix_object());
    put("STIXBundle", stix_bundle());
    put("MISPEvent", misp_event());
    for (name, v) in taxii() {
        put(name, v);
    }
    Value::Object(m)
}
