//! The TAXII 2.1 part of the OpenAPI document: one operation per row of
//! [`crate::taxii::ROUTES`] with its parameters, media type, success schema
//! and TAXII error messages (TAXII 2.1 §3.6.1).

use super::schemas::reference;
use super::{include_expired, q};
use serde_json::{json, Map, Value};

/// The TAXII 2.1 routes ([`crate::taxii::ROUTES`]): parameters, media
/// types and TAXII error messages. `x-required-scope` is the first scope
/// that opens the route, `x-accepted-scopes` all of them.
pub(super) fn taxii_paths(paths: &mut Map<String, Value>) {
    use crate::taxii::{Endpoint, MEDIA_TAXII};
    let path_param = |name: &str, desc: &str| json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string"}});
    let text = |name: &str, desc: &str| q(name, desc, json!({"type": "string"}));
    let paging = || {
        vec![
            q("added_after", "Only objects added (or last changed) strictly after this time; clamped to the tier lookback. Resume with X-TAXII-Date-Added-Last.", json!({"type": "string", "format": "date-time"})),
            q("limit", "Objects per page (default and maximum 1000).", json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000})),
            text("next", "The next value of the previous page (an opaque cursor)."),
            text("match[version]", "last (default), first, all, or comma-separated timestamps (each object has one version: its modified)."),
            text("match[spec_version]", "Comma-separated STIX versions; objects are 2.1."),
            include_expired(),
        ]
    };
    for r in crate::taxii::ROUTES {
        let mut params: Vec<Value> = Vec::new();
        if r.pattern.contains("{status-id}") {
            params.push(path_param(
                "status-id",
                "The id of the status resource a POST returned.",
            ));
        }
        if r.pattern.contains("{id}") {
            params.push(path_param(
                "id",
                "Collection id (a fixed UUIDv5) or alias (all, ipv4, ..., submissions).",
            ));
        }
        if r.pattern.contains("{object-id}") {
            params.push(path_param(
                "object-id",
                "A STIX id such as indicator--<uuid>.",
            ));
        }
        match r.endpoint {
            Endpoint::Objects | Endpoint::Manifest => {
                params.extend(paging());
                params.push(text("match[id]", "Comma-separated STIX ids."));
                params.push(text("match[type]", "Comma-separated STIX types: indicator, vulnerability, attack-pattern, identity, marking-definition."));
            }
            Endpoint::Object | Endpoint::Versions => params.extend(paging()),
            Endpoint::DeleteObject => params.push(text(
                "reason",
                "Why it was deleted (kept in the tombstone).",
            )),
            _ => {}
        }
        let ok = if r.endpoint == Endpoint::AddObjects {
            "202"
        } else {
            "200"
        };
        let schema = match r.endpoint {
            Endpoint::Discovery => Some("TaxiiDiscovery"),
            Endpoint::ApiRoot => Some("TaxiiApiRoot"),
            Endpoint::Status | Endpoint::AddObjects => Some("TaxiiStatus"),
            Endpoint::Collections => Some("TaxiiCollections"),
            Endpoint::Collection => Some("TaxiiCollection"),
            Endpoint::Objects | Endpoint::Object => Some("TaxiiEnvelope"),
            Endpoint::Versions => Some("TaxiiVersions"),
            Endpoint::Manifest => Some("TaxiiManifest"),
            Endpoint::DeleteObject => None,
        };
        let mut ok_resp = json!({"description": r.summary});
        if let Some(name) = schema {
            ok_resp["content"] = json!({MEDIA_TAXII: {"schema": reference(name)}});
        }
        if matches!(
            r.endpoint,
            Endpoint::Objects | Endpoint::Manifest | Endpoint::Object | Endpoint::Versions
        ) {
            ok_resp["headers"] = json!({
                "X-TAXII-Date-Added-First": {"description": "date_added of the first object of the page (TAXII 2.1 §3.4.2)", "schema": {"type": "string", "format": "date-time"}},
                "X-TAXII-Date-Added-Last": {"description": "date_added of the last object of the page; pass as added_after to resume", "schema": {"type": "string", "format": "date-time"}}
            });
        }
        let mut responses = json!({ok: ok_resp});
        let mut errors = vec![
            ("400", "TaxiiBadRequest"),
            ("401", "TaxiiUnauthorized"),
            ("403", "TaxiiForbidden"),
            ("404", "TaxiiNotFound"),
            ("406", "TaxiiNotAcceptable"),
            ("429", "TaxiiRateLimitExceeded"),
            ("503", "TaxiiServerBusy"),
        ];
        if r.endpoint == Endpoint::AddObjects {
            errors.extend([
                ("408", "TaxiiRequestTimeout"),
                ("413", "TaxiiPayloadTooLarge"),
                ("415", "TaxiiUnsupportedMediaType"),
            ]);
        }
        for (code, name) in errors {
            responses[code] = json!({"$ref": format!("#/components/responses/{name}")});
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("taxii{:?}", r.endpoint),
            "tags": ["TAXII"],
            "parameters": params,
            "responses": responses,
            "security": [{"BasicAuth": []}, {"BearerAuth": []}, {"ApiKeyAuth": []}, {"ApiKeyQuery": []}],
            "x-required-scope": r.scopes.first().copied().unwrap_or("admin"),
            "x-accepted-scopes": r.scopes,
        });
        if r.endpoint == Endpoint::AddObjects {
            op["requestBody"] = json!({"required": true, "content": {MEDIA_TAXII: {"schema": {"type": "object", "properties": {"objects": {"type": "array", "items": {"type": "object"}}}}}}});
        }
        let entry = paths
            .entry(r.pattern.to_string())
            .or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
}
