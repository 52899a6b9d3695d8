//! The OpenAPI 3.0 document of everything iocd serves, built from the route
//! table so a route cannot be served without being documented (a test
//! checks every row).

mod schemas;
mod taxii;

use super::router::{Handler, ROUTES};
use schemas::reference;
use serde_json::{json, Map, Value};

fn q(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "description": desc, "schema": schema})
}

fn types(with_attack: bool) -> Value {
    let mut v: Vec<&str> = crate::ioc::IocType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    if !with_attack {
        v.retain(|t| *t != "mitre_attack");
    }
    json!({"type": "string", "enum": v})
}

fn listing_params(with_attack: bool) -> Vec<Value> {
    vec![
        q("type", "Filter by IOC type.", types(with_attack)),
        q("since", "Lower time bound (ISO 8601) on when the IOC was added or last changed. Clamped to the tier lookback.", json!({"type": "string", "format": "date-time"})),
        q("limit", "Maximum items. Capped at 1000 per request.", json!({"type": "integer", "default": 100, "maximum": 1000, "minimum": 1})),
        include_expired(),
    ]
}

/// `include_expired` of every read route that lists IOCs (listings,
/// exports, rules, TAXII objects and manifest).
fn include_expired() -> Value {
    q(
        "include_expired",
        "Also return IOCs past their type's lifetime ([expiry] in the config: now >= last_seen + lifetime). Default false: expired IOCs are kept but left out.",
        json!({"type": "boolean", "default": false}),
    )
}

fn operation(h: Handler) -> (String, String, Vec<Value>, Value) {
    let ok_json = |d: &str| json!({"200": {"description": d, "content": {"application/json": {"schema": {"type": "object"}}}}});
    let ok_ref = |d: &str, name: &str| json!({"200": {"description": d, "content": {"application/json": {"schema": reference(name)}}}});
    let ok_ct = |d: &str, ct: &str| json!({"200": {"description": d, "content": {ct: {"schema": {"type": "string"}}}}});
    let mut full = listing_params(true);
    full.extend([
        q(
            "until",
            "Upper time bound (exclusive, ISO 8601).",
            json!({"type": "string", "format": "date-time"}),
        ),
        q(
            "source",
            "Only IOCs reported by this source.",
            json!({"type": "string"}),
        ),
        q(
            "tag",
            "Only IOCs carrying this tag.",
            json!({"type": "string"}),
        ),
        q(
            "min_confidence",
            "Only IOCs with at least this confidence (0-100).",
            json!({"type": "integer", "minimum": 0, "maximum": 100}),
        ),
        q(
            "cursor",
            "Resume after the previous page (its next_cursor).",
            json!({"type": "string"}),
        ),
    ]);
    let tlp = q(
        "tlp",
        "Force a TLP level on every IOC.",
        json!({"type": "string", "enum": ["clear", "green", "amber", "amber+strict", "red"]}),
    );
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    match h {
        Handler::Health => ("Health check (no authentication)".into(), "Meta".into(), vec![], ok_ref("Service status", "Health")),
        Handler::OpenApi => ("This OpenAPI document".into(), "Meta".into(), vec![], ok_json("OpenAPI 3 document")),
        Handler::ListIocs => {
            let mut p = full.clone();
            p.push(q("format", "json (default) or csv.", json!({"type": "string", "enum": ["json", "csv"], "default": "json"})));
            ("List IOCs".into(), "IOCs".into(), p, json!({"200": {"description": "One page of IOCs (format=csv: the CSV of GET /api/v1/iocs/csv)", "content": {"application/json": {"schema": reference("IOCList")}, "text/csv": {"schema": {"type": "string"}}}}}))
        }
        Handler::ListIocsCsv => ("List IOCs as CSV (RFC 4180, formula injection neutralized)".into(), "IOCs".into(), full.clone(), ok_ct("CSV", "text/csv")),
        Handler::GetIoc => ("One IOC by id".into(), "IOCs".into(), vec![id.clone()], ok_ref("The IOC, with expires_at (null: its type never expires) and expired (403 outside_lookback when it was last changed before the tier's lookback window)", "IOC")),
        Handler::PostIocs => (
            "Submit IOCs: a JSON array (strings or objects with value, type, confidence, tlp, tags, source, reference, description, techniques, to_ids, first_seen) or text/plain, one per line".into(),
            "IOCs".into(),
            vec![],
            ok_ref("Counts new/updated/unchanged/suppressed/rejected with reasons; answered after the batch is durable", "SubmitResult"),
        ),
        Handler::DeleteIoc => ("Delete a false positive (kept as a tombstone so re-imports skip it)".into(), "IOCs".into(), vec![id.clone(), q("reason", "Why it was deleted.", json!({"type": "string"}))], ok_ref("The deleted IOC", "DeletedIOC")),
        Handler::Stix => {
            let mut p = listing_params(true);
            p.extend([
                q("format", "bundle wraps objects in a STIX Bundle; objects returns just the array.", json!({"type": "string", "enum": ["bundle", "objects"], "default": "bundle"})),
                q("include_identity", "Include the identity SDO that indicators reference via created_by_ref.", json!({"type": "boolean", "default": true})),
                q("include_tlp_markings", "Include the TLP marking-definition objects.", json!({"type": "boolean", "default": false})),
                tlp.clone(),
            ]);
            ("Export IOCs as a STIX 2.1 bundle".into(), "Export Formats".into(), p, json!({"200": {"description": "STIX 2.1 bundle (format=objects: the objects array alone)", "content": {"application/stix+json;version=2.1": {"schema": {"oneOf": [reference("STIXBundle"), {"type": "array", "items": reference("STIXObject")}]}}}}}))
        }
        Handler::Misp => {
            let mut p = listing_params(false);
            p.push(tlp.clone());
            ("Export IOCs as a MISP JSON event".into(), "Export Formats".into(), p, ok_ref("MISP event", "MISPEvent"))
        }
        Handler::Cef => ("Export IOCs as CEF lines".into(), "Export Formats".into(), listing_params(true), ok_ct("One CEF:0 line per IOC", "text/plain")),
        Handler::OpenIoc => ("Export IOCs as an OpenIOC 1.1 document".into(), "Export Formats".into(), listing_params(true), ok_ct("OpenIOC 1.1 XML", "application/xml")),
        Handler::Sigma => {
            (
                "Sigma detection rules (multi-document YAML: network_connection, dns, proxy, process_creation) for the selected IOCs".into(),
                "Detection Rules".into(),
                full.clone(),
                // A YAML stream: one document per rule, none when no IOC
                // matches. Not one YAML value, so no schema.
                json!({"200": {"description": "Sigma rules: YAML documents separated by `---`; an empty body when no IOC matches", "content": {"application/yaml": {"schema": {}}}}}),
            )
        }
        Handler::Suricata | Handler::Snort => {
            let (name, syntax) = if matches!(h, Handler::Suricata) {
                ("Suricata", "Suricata 5+ rules: dns.query, tls.sni, http.host, http.uri sticky buffers")
            } else {
                ("Snort", "Snort 2.9 rules: DNS wire-format name, TLS SNI entry, Host header and http_uri contents")
            };
            (
                format!("{syntax}, one per line, for the IPs (both directions), domains (DNS, TLS, HTTP) and URLs of the selected IOCs; other types get no rule. sid = [rules] sid_base + hash(IOC id, rule variant) mod 100000000, stable across exports; rev = seconds from 2020-01-01 to the IOC's last change; metadata confidence, tlp, first_seen, last_seen, ioc_id. type accepts ipv4, ipv6, domain, url."),
                "Detection Rules".into(),
                {
                    let mut p = full.clone();
                    p[0] = q("type", "Filter by IOC type (only types that get rules).", json!({"type": "string", "enum": crate::export::ids_rules::rule_types().iter().map(|t| t.as_str()).collect::<Vec<_>>()}));
                    p
                },
                ok_ct(&format!("{name} rules"), "text/plain; charset=utf-8"),
            )
        }
        Handler::Stats => ("IOC statistics".into(), "Statistics".into(), vec![], ok_ref("Totals by type", "Stats")),
        Handler::Lookup => (
            "Look up one IOC (type auto-detected)".into(),
            "Lookup".into(),
            vec![q("value", "The IOC (defanged forms accepted).", json!({"type": "string"})), q("type", "Force a type.", types(true))],
            ok_ref("Whether iocd knows it, and its record; expired (true once now >= last_seen + lifetime of its type; expired IOCs are always answered) and expires_at (null when its type never expires); both null when no record is shown (outside the tier's lookback window: found and outside_lookback true, no record)", "LookupResult"),
        ),
        Handler::BulkLookup => (
            format!("Look up to {} values at once (SIEM enrichment). Body: a JSON array of strings (or {{\"value\", \"type\"}} objects), {{\"values\": [...], \"type\", \"hunting_queries\"}}, or text/plain with one value per line. Costs ceil(values / {}) rate-limit tokens (429 with nothing looked up when fewer are left).", crate::http::handlers::MAX_BULK_VALUES, crate::http::handlers::VALUES_PER_TOKEN),
            "Lookup".into(),
            vec![
                q("type", "Default type hint for values without one.", types(true)),
                q("hunting_queries", "Add each item's hunting queries.", json!({"type": "boolean", "default": false})),
            ],
            ok_ref("One result per value in order, each the GET lookup answer, or {\"query\", \"found\": false, \"error\": {\"code\": \"invalid_value\", \"message\"}}", "BulkLookupResult"),
        ),
        Handler::ListKeys => ("List API keys".into(), "API Keys".into(), vec![], ok_ref("Key records (never secrets)", "ApiKeyList")),
        Handler::CreateKey => ("Create an API key: {\"name\", \"tier\", \"scopes\"}".into(), "API Keys".into(), vec![], json!({"201": {"description": "The key (shown once) and its record", "content": {"application/json": {"schema": reference("ApiKeyCreated")}}}})),
        Handler::RevokeKey => ("Revoke an API key (immediate)".into(), "API Keys".into(), vec![id], ok_ref("The revoked key record", "ApiKey")),
        Handler::Feeds => ("Scheduled feeds: each feed's config (never secrets) and status (last_run, last_success, duration_ms, last_result, counts {files, bytes, observations, new, updated, unchanged, rejected}, last_error, consecutive_failures, next_run, running)".into(), "Feeds".into(), vec![], ok_ref("Every configured feed with its status", "FeedList")),
        Handler::StatsTimeline => (
            "IOCs added per hour or day and type, from maintained counters (deletes do not decrement; see docs/store.md)".into(),
            "Statistics".into(),
            vec![
                q("interval", "Bucket size (UTC hours or days).", json!({"type": "string", "enum": ["hour", "day"], "default": "day"})),
                q("since", "First bucket holds this time (ISO 8601); default 30 days / 48 hours before until; clamped to the tier lookback.", json!({"type": "string", "format": "date-time"})),
                q("until", "Last bucket holds this time (ISO 8601); default now.", json!({"type": "string", "format": "date-time"})),
                q("type", "Count only this IOC type.", types(true)),
            ],
            ok_ref("Every bucket (zeros included), at most 10000 (400 invalid_parameter beyond)", "Timeline"),
        ),
        Handler::ListArticles | Handler::ExportArticles => {
            let mut ps = vec![
                q("q", "Words that must all occur in the title or full text (case-insensitive, at most 16).", json!({"type": "string"})),
                q("source", "Only articles from this source.", json!({"type": "string"})),
                q("tag", "Only articles carrying this tag.", json!({"type": "string"})),
                q("since", "Published at or after (ISO 8601); clamped to the tier lookback.", json!({"type": "string", "format": "date-time"})),
                q("until", "Published at or before (ISO 8601).", json!({"type": "string", "format": "date-time"})),
                q("has_iocs", "Only articles with (true) or without (false) extracted IOCs.", json!({"type": "boolean"})),
                q("cursor", "Resume after the previous page (its next_cursor / X-Next-Cursor).", json!({"type": "string"})),
            ];
            if matches!(h, Handler::ListArticles) {
                ps.push(q("limit", "Page size.", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})));
                ("List articles, newest published first (no full text; ioc_count)".into(), "Articles".into(), ps, ok_ref("One page of articles", "ArticleList"))
            } else {
                ps.push(q("limit", "Articles per page.", json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000})));
                ps.push(q("format", "Output format.", json!({"type": "string", "enum": ["json", "ndjson", "csv"], "default": "json"})));
                ("Bulk export of articles with full text and IOCs (a page ends early past 32 MiB; X-Next-Cursor for the rest)".into(), "Articles".into(), ps, json!({"200": {"description": "Articles", "content": {"application/json": {"schema": {"type": "array", "items": reference("ArticleExport")}}, "application/x-ndjson": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}}}}))
            }
        }
        Handler::GetArticle => ("One article with its full text and its IOCs resolved to stored records (403 outside_lookback when published before the tier's lookback window)".into(), "Articles".into(), vec![id.clone()], ok_ref("The article with its full text and IOCs", "Article")),
        Handler::Metrics => ("Prometheus metrics (text format 0.0.4): requests by route and status, latency histogram, IOCs by type, store size, rate-limit rejections".into(), "Meta".into(), vec![], ok_ct("Prometheus text exposition", "text/plain; version=0.0.4")),
    }
}

/// The `operationId` of a v1 route: the seed's names for its two
/// documented exports (`exportSTIX`, `exportMISP`), the same pattern for
/// the other exports and rules, lower camel case of the handler otherwise.
fn operation_id(h: Handler) -> String {
    match h {
        Handler::Stix => "exportSTIX".into(),
        Handler::Misp => "exportMISP".into(),
        Handler::Cef => "exportCEF".into(),
        Handler::OpenIoc => "exportOpenIOC".into(),
        Handler::Sigma => "exportSigmaRules".into(),
        Handler::Suricata => "exportSuricataRules".into(),
        Handler::Snort => "exportSnortRules".into(),
        Handler::ListIocsCsv => "listIocsCsv".into(),
        other => lower_camel(&format!("{other:?}")),
    }
}

fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Routes whose 200 answer can carry `X-Next-Cursor` (one page of a
/// longer result).
fn pages(h: Handler) -> bool {
    matches!(
        h,
        Handler::ListIocs
            | Handler::ListIocsCsv
            | Handler::Stix
            | Handler::Misp
            | Handler::Cef
            | Handler::OpenIoc
            | Handler::Sigma
            | Handler::Suricata
            | Handler::Snort
            | Handler::ListArticles
            | Handler::ExportArticles
    )
}

/// The API overview (`info.description`): authentication, rate limits,
/// errors, STIX/TAXII, as the seed's documents open.
const OVERVIEW: &str = "SOC Defenders Threat Intelligence API, served on-prem by iocd: IOC listing (JSON/CSV), STIX 2.1 / MISP / CEF / OpenIOC exports, Sigma, Suricata and Snort rules, single and bulk lookup, statistics, articles, API keys and TAXII 2.1.\n\n## Authentication\nSend the API key as `Authorization: Bearer sk_live_...`, `X-API-Key: sk_live_...`, `?api_key=sk_live_...`, or HTTP Basic with the key as password (TAXII clients). Each key has a tier (limits, lookback window) and scopes; a route names its scope in `x-required-scope`.\n\n## Rate limiting\nToken buckets per key, per minute and per day. Every response to a request with a valid key carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix seconds); a 429 adds `Retry-After` and `details` `limit`, `window`, `reset_at`, `tier`. Failed authentication is limited per client address (429 with `tier` `unauthenticated`).\n\n## Errors\nEvery error is `{\"error\": {\"code\", \"message\", \"details\", \"request_id\"}}`; the request id is also in `X-Request-Id` and the server log. Enum values are case-insensitive and `tlp=white` means `clear`; other values are 400 `invalid_parameter` with the allowed list. An `Accept` the route cannot serve is 406 `not_acceptable`.\n\n## STIX and TAXII\nSTIX 2.1 bundles with deterministic ids (UUIDv5 of type and value), TLP marking definitions, valid_until from the expiry rules. TAXII 2.1 under `/api/taxii2/` (discovery, the `iocs` API root, collections per IOC type, objects with `added_after` / `next` paging, manifest, versions, a `submissions` collection for POST).";

/// The request body of the v1 routes that take one.
fn request_body(h: Handler) -> Option<Value> {
    let text = json!({"type": "string", "description": "One value per line; blank lines and # comments skipped."});
    match h {
        Handler::PostIocs => Some(json!({"required": true, "content": {
            "application/json": {"schema": {"oneOf": [
                {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}}]}},
                {"type": "object", "required": ["iocs"], "properties": {"iocs": {"type": "array"}}}
            ]}},
            "text/plain": {"schema": text},
        }})),
        Handler::BulkLookup => {
            let item = json!({"oneOf": [
                {"type": "string"},
                {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}, "type": types(true)}}
            ]});
            let max = crate::http::handlers::MAX_BULK_VALUES;
            Some(json!({"required": true, "content": {
                "application/json": {"schema": {"oneOf": [
                    {"type": "array", "minItems": 1, "maxItems": max, "items": item},
                    {"type": "object", "required": ["values"], "properties": {
                        "values": {"type": "array", "minItems": 1, "maxItems": max, "items": item},
                        "type": types(true),
                        "hunting_queries": {"type": "boolean", "default": false}
                    }}
                ]}, "example": ["185.220.101[.]1", "hxxps://evil.example/x", "not an ioc"]},
                "text/plain": {"schema": text},
            }}))
        }
        Handler::CreateKey => Some(
            json!({"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "tier": {"type": "string", "default": "free"}, "scopes": {"type": "array", "items": {"type": "string"}}, "source_name": {"type": "string"}}
            }}}}),
        ),
        _ => None,
    }
}

/// The document. Error responses and security schemes follow the spec
/// overview (envelope, Bearer / X-API-Key / api_key, Basic for TAXII).
/// `server_url` (the `https://host:port` the request reached) fills
/// `servers`; without it the document has none (relative to where it was
/// fetched).
pub fn document_for(server_url: Option<&str>) -> Value {
    let mut d = document();
    if let Some(u) = server_url {
        d["servers"] = json!([{"url": u, "description": "this iocd"}]);
    }
    d
}

/// [`document_for`] without `servers`.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in ROUTES {
        let (summary, tag, params, mut responses) = operation(r.handler);
        if let Some(obj) = responses.as_object_mut() {
            for (code, name) in [
                ("400", "BadRequest"),
                ("401", "Unauthorized"),
                ("403", "Forbidden"),
                ("429", "RateLimitExceeded"),
                ("503", "ServerBusy"),
            ] {
                if r.scope.is_some() || code == "400" {
                    obj.insert(
                        code.into(),
                        json!({"$ref": format!("#/components/responses/{name}")}),
                    );
                }
            }
        }
        if let Some(obj) = responses.as_object_mut() {
            if r.method != hyper::Method::POST && r.method != hyper::Method::DELETE {
                obj.insert(
                    "406".into(),
                    json!({"$ref": "#/components/responses/NotAcceptable"}),
                );
            }
            if r.pattern.contains("{id}") {
                obj.insert(
                    "404".into(),
                    json!({"$ref": "#/components/responses/NotFound"}),
                );
            }
            if r.pattern == "/api/v1/iocs/{id}" {
                obj.insert("410".into(), json!({"$ref": "#/components/responses/Gone"}));
            }
            if r.method == hyper::Method::POST {
                for (code, name) in [
                    ("408", "RequestTimeout"),
                    ("413", "PayloadTooLarge"),
                    ("415", "UnsupportedMediaType"),
                ] {
                    obj.insert(
                        code.into(),
                        json!({"$ref": format!("#/components/responses/{name}")}),
                    );
                }
            }
            if crate::http::cache::cacheable(r.handler) {
                obj.insert(
                    "304".into(),
                    json!({"$ref": "#/components/responses/NotModified"}),
                );
            }
            if pages(r.handler) {
                if let Some(ok) = obj.get_mut("200") {
                    ok["headers"] =
                        json!({"X-Next-Cursor": {"$ref": "#/components/headers/X-Next-Cursor"}});
                }
            }
            if r.scope.is_some() {
                for (code, resp) in obj.iter_mut() {
                    if code.starts_with('2') {
                        let h = resp.as_object_mut().and_then(|o| {
                            o.entry("headers")
                                .or_insert_with(|| json!({}))
                                .as_object_mut()
                        });
                        if let Some(h) = h {
                            for name in [
                                "X-RateLimit-Limit",
                                "X-RateLimit-Remaining",
                                "X-RateLimit-Reset",
                            ] {
                                h.insert(
                                    name.into(),
                                    json!({"$ref": format!("#/components/headers/{name}")}),
                                );
                            }
                        }
                    }
                }
            }
        }
        let mut op = json!({"summary": summary, "operationId": operation_id(r.handler), "tags": [tag], "parameters": params, "responses": responses});
        match r.scope {
            Some(s) => {
                op["security"] = json!([{"BearerAuth": []}, {"ApiKeyAuth": []}, {"ApiKeyQuery": []}, {"BasicAuth": []}]);
                op["x-required-scope"] = json!(s);
            }
            None => op["security"] = json!([]),
        }
        if let Some(body) = request_body(r.handler) {
            op["requestBody"] = body;
        }
        let entry = paths
            .entry(r.pattern.to_string())
            .or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    taxii::taxii_paths(&mut paths);
    let err = json!({"$ref": "#/components/schemas/Error"});
    let resp =
        |d: &str| json!({"description": d, "content": {"application/json": {"schema": err}}});
    let taxii_err = json!({"$ref": "#/components/schemas/TaxiiError"});
    let taxii_resp = |d: &str| json!({"description": d, "content": {crate::taxii::MEDIA_TAXII: {"schema": taxii_err}}});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "SOC Defenders Threat Intelligence API (iocd on-prem)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": OVERVIEW
        },
        "tags": [
            {"name": "IOCs", "description": "Listing, one IOC, submission and false-positive removal"},
            {"name": "Export Formats", "description": "STIX 2.1, MISP, CEF and OpenIOC exports of the same selection"},
            {"name": "Detection Rules", "description": "Sigma, Suricata and Snort rules for the selected IOCs"},
            {"name": "Lookup", "description": "One value or up to 1000, with risk, techniques and hunting queries"},
            {"name": "Statistics", "description": "Totals and the timeline of additions"},
            {"name": "Articles", "description": "Feeds and reports with their extracted IOCs"},
            {"name": "API Keys", "description": "Create, list and revoke keys (admin)"},
            {"name": "Feeds", "description": "Scheduled feeds and their status (admin)"},
            {"name": "TAXII", "description": "TAXII 2.1 discovery, API root, collections, objects, manifest, status"},
            {"name": "Meta", "description": "Health, metrics and this document"}
        ],
        "paths": paths,
        "components": {
            "schemas": schemas::schemas(),
            "responses": {
                "BadRequest": resp("Invalid parameter or body (code invalid_parameter / invalid_body)"),
                "Unauthorized": resp("Authentication required or invalid (missing_api_key / invalid_api_key)"),
                "Forbidden": resp("Insufficient scope (insufficient_scope)"),
                "RateLimitExceeded": {
                    "description": "Rate limit exceeded (rate_limit_exceeded); details limit, window, reset_at, tier",
                    "content": {"application/json": {"schema": err, "example": {"error": {
                        "code": "rate_limit_exceeded", "message": "Rate limit exceeded. Please wait before making more requests.",
                        "details": {"limit": 10, "window": "minute", "reset_at": "2026-05-15T12:01:00Z", "tier": "free"},
                        "request_id": "req_3f9c0c3d6a1e4b2f"}}}},
                    "headers": {
                        "Retry-After": {"$ref": "#/components/headers/Retry-After"},
                        "X-RateLimit-Limit": {"$ref": "#/components/headers/X-RateLimit-Limit"},
                        "X-RateLimit-Remaining": {"$ref": "#/components/headers/X-RateLimit-Remaining"},
                        "X-RateLimit-Reset": {"$ref": "#/components/headers/X-RateLimit-Reset"}
                    }
                },
                "RequestTimeout": resp("The body did not arrive within the server's body timeout (request_timeout); the connection closes"),
                "Gone": resp("The IOC was deleted as a false positive (ioc_deleted; details type, value, reason)"),
                "NotFound": resp("No such IOC, key or article (not_found)"),
                "PayloadTooLarge": resp("Body beyond the route's limit (payload_too_large; details.limit_bytes)"),
                "UnsupportedMediaType": resp("Content-Type the route cannot read (unsupported_media_type)"),
                "NotModified": {"description": "If-None-Match matched the current ETag: no body"},
                "NotAcceptable": resp("The Accept header admits none of the route's media types (not_acceptable; details.supported lists them)"),
                "ServerBusy": resp("Every API key verification slot is busy (server_busy); retry after Retry-After. Keys already verified are not affected"),
                "TaxiiBadRequest": taxii_resp("Invalid parameter or body"),
                "TaxiiUnauthorized": taxii_resp("Authentication required or invalid"),
                "TaxiiForbidden": taxii_resp("Insufficient scope, or a collection that cannot be read / written"),
                "TaxiiNotFound": taxii_resp("Unknown collection, object or status resource"),
                "TaxiiNotAcceptable": taxii_resp("Accept admits no application/taxii+json;version=2.1"),
                "TaxiiRequestTimeout": taxii_resp("The body did not arrive in time"),
                "TaxiiPayloadTooLarge": taxii_resp("Body beyond max_content_length"),
                "TaxiiUnsupportedMediaType": taxii_resp("Content-Type is not application/taxii+json;version=2.1"),
                "TaxiiRateLimitExceeded": taxii_resp("Rate limit exceeded; see Retry-After"),
                "TaxiiServerBusy": taxii_resp("Every API key verification slot is busy; retry after Retry-After"),
            },
            "headers": {
                "X-RateLimit-Limit": {"description": "Requests per minute of the key's tier", "schema": {"type": "integer"}},
                "X-RateLimit-Remaining": {"description": "Requests left in the current minute", "schema": {"type": "integer"}},
                "X-RateLimit-Reset": {"description": "Unix time (seconds) when the minute bucket is full again", "schema": {"type": "integer"}},
                "Retry-After": {"description": "Seconds to wait before the next request", "schema": {"type": "integer"}},
                "X-Next-Cursor": {"description": "Cursor of the next page (pass as cursor); absent on the last page", "schema": {"type": "string"}}
            },
            "securitySchemes": {
                "BearerAuth": {"type": "http", "scheme": "bearer"},
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
                "BasicAuth": {"type": "http", "scheme": "basic", "description": "Password = API key (TAXII clients)"}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented() {
        let d = document();
        for r in ROUTES {
            let op = &d["paths"][r.pattern][r.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.method, r.pattern);
            assert_eq!(op["x-required-scope"].as_str(), r.scope, "{}", r.pattern);
        }
    }

    #[test]
    fn operation_ids_are_unique_and_tags_declared() {
        let d = document_for(Some("https://iocd.soc.lan:8443"));
        assert_eq!(d["servers"][0]["url"], "https://iocd.soc.lan:8443");
        let declared: std::collections::BTreeSet<&str> = d["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let mut ids = std::collections::BTreeSet::new();
        let mut n = 0;
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                n += 1;
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}"));
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
                for t in op["tags"].as_array().unwrap() {
                    assert!(declared.contains(t.as_str().unwrap()), "{path}: tag {t}");
                }
            }
        }
        assert_eq!(n, ROUTES.len() + crate::taxii::ROUTES.len());
        assert!(ids.contains("exportSTIX") && ids.contains("exportMISP"));
        let r429 = &d["components"]["responses"]["RateLimitExceeded"]["headers"];
        for h in [
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ] {
            assert!(r429[h].is_object(), "{h}");
        }
        let list = &d["paths"]["/api/v1/iocs"]["get"]["responses"];
        assert!(list["200"]["headers"]["X-Next-Cursor"].is_object());
        assert!(list["406"].is_object());
    }

    #[test]
    fn every_taxii_route_is_documented() {
        let d = document();
        for r in crate::taxii::ROUTES {
            let op = &d["paths"][r.pattern][r.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", r.method, r.pattern);
            assert_eq!(op["tags"][0], "TAXII", "{}", r.pattern);
            assert_eq!(op["x-accepted-scopes"], json!(r.scopes), "{}", r.pattern);
            for p in r.pattern.split('/').filter(|s| s.starts_with('{')) {
                let name = p.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x["name"] == name && x["in"] == "path"),
                    "{} {name}",
                    r.pattern
                );
            }
            for code in ["401", "403", "406"] {
                assert!(op["responses"][code].is_object(), "{} {code}", r.pattern);
            }
        }
        assert!(d["components"]["schemas"]["TaxiiError"].is_object());
    }
}
