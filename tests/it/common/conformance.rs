//! OpenAPI conformance of every response the integration suite receives.
//!
//! [`check`] finds the operation of a request in iocd's own document
//! (`iocd::http::openapi::document()`, the same one `/api/openapi.json`
//! serves), then requires that the answer's status is documented for it,
//! its media type is one the status declares, and a JSON body validates
//! against the declared schema (formats such as `date-time` and `uuid`
//! included). A request to no documented route must still answer the
//! error envelope (v1) or a TAXII error message (`/api/taxii2/`).
//!
//! The harness client ([`super::Client`]) calls it on every response, so
//! a shape that drifts from the document fails whichever test met it.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

struct Contract {
    doc: Value,
    /// Converted `components` (OpenAPI 3.0 `nullable` → JSON Schema).
    components: Value,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        let doc = iocd::http::openapi::document();
        let components = to_json_schema(&doc["components"]);
        Contract {
            doc,
            components,
            compiled: Mutex::new(HashMap::new()),
        }
    })
}

/// OpenAPI 3.0 Schema Object → JSON Schema 2020-12: `nullable: true`
/// becomes `anyOf [schema, null]`; everything else is kept.
fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            let mut nullable = false;
            for (k, x) in m {
                if k == "nullable" {
                    nullable = x == &json!(true);
                } else {
                    out.insert(k.clone(), to_json_schema(x));
                }
            }
            if nullable {
                json!({"anyOf": [Value::Object(out), {"type": "null"}]})
            } else {
                Value::Object(out)
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

fn segments_match(template: &str, path: &str) -> Option<usize> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = 0;
    for (a, b) in t.iter().zip(&p) {
        if a.starts_with('{') && a.ends_with('}') {
            if b.is_empty() {
                return None;
            }
            params += 1;
        } else if a != b {
            return None;
        }
    }
    Some(params)
}

/// The path item for `path`: literal templates win over templated ones
/// (`/api/v1/iocs/stix` before `/api/v1/iocs/{id}`).
fn path_item<'a>(doc: &'a Value, path: &str) -> Option<(&'a str, &'a Value)> {
    doc["paths"]
        .as_object()?
        .iter()
        .filter_map(|(t, item)| segments_match(t, path).map(|n| (n, t.as_str(), item)))
        .min_by_key(|(n, _, _)| *n)
        .map(|(_, t, item)| (t, item))
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or(&Value::Null),
        None => v,
    }
}

fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn validate(key: &str, schema: &Value, body: &Value) -> Result<(), String> {
    let c = contract();
    let validator = {
        let mut cache = c.compiled.lock().unwrap();
        match cache.get(key) {
            Some(v) => v.clone(),
            None => {
                let wrapper =
                    json!({"components": c.components, "allOf": [to_json_schema(schema)]});
                let v = Arc::new(
                    jsonschema::options()
                        .should_validate_formats(true)
                        .build(&wrapper)
                        .map_err(|e| format!("schema of {key} does not compile: {e}"))?,
                );
                cache.insert(key.to_string(), v.clone());
                v
            }
        }
    };
    let errors: Vec<String> = validator
        .iter_errors(body)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn parse(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

/// Checks one exchange. `path` is the URL path (no query), `content_type`
/// and `content_encoding` the answer's headers. Err names the mismatch.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let c = contract();
    let doc = &c.doc;
    let encoded = content_encoding.is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
    // TAXII routes answer with or without their trailing slash.
    let slashed = format!("{path}/");
    let path = if path.starts_with("/api/taxii2") && !path.ends_with('/') {
        slashed.as_str()
    } else {
        path
    };
    let op = path_item(doc, path)
        .and_then(|(t, item)| item.get(method.to_ascii_lowercase()).map(|op| (t, op)));
    let Some((template, op)) = op else {
        if status < 400 {
            return Err(format!(
                "{method} {path} answered {status} but is not in the OpenAPI document"
            ));
        }
        if method == "HEAD" || encoded || body.is_empty() {
            return Ok(());
        }
        let name = if path.starts_with("/api/taxii2/") {
            "TaxiiError"
        } else {
            "Error"
        };
        let v = parse(body)?;
        return validate(
            name,
            &json!({"$ref": format!("#/components/schemas/{name}")}),
            &v,
        )
        .map_err(|e| format!("{method} {path} {status}: not the {name} envelope: {e}"));
    };
    let code = status.to_string();
    let Some(resp) = op["responses"].get(&code) else {
        return Err(format!(
            "{method} {template}: status {status} is not documented"
        ));
    };
    let resp = resolve(doc, resp);
    let Some(content) = resp.get("content").and_then(Value::as_object) else {
        return if body.is_empty() || method == "HEAD" {
            Ok(())
        } else {
            Err(format!(
                "{method} {template} {status}: documented without a body, got {} bytes",
                body.len()
            ))
        };
    };
    if method == "HEAD" {
        return Ok(());
    }
    let ct = content_type.map(essence).unwrap_or_default();
    let Some((media, entry)) = content.iter().find(|(k, _)| essence(k) == ct) else {
        return Err(format!(
            "{method} {template} {status}: Content-Type {ct:?} is not among {:?}",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if encoded || !(ct.ends_with("json")) || ct == "application/x-ndjson" {
        return Ok(());
    }
    let v = parse(body).map_err(|e| format!("{method} {template} {status}: {e}"))?;
    let key = format!("{method} {template} {status} {media}");
    validate(&key, &entry["schema"], &v).map_err(|e| format!("{key}: {e}"))
}

/// A response that does not conform. Panics (failing the test) unless
/// `IOCD_CONFORMANCE=report`, which appends the mismatch to the file named
/// by `IOCD_CONFORMANCE_LOG` (default `target/openapi-mismatches.txt`) and
/// lets the test go on; `tests/run` prints that file's count at the end.
pub fn mismatch(msg: &str) {
    if std::env::var("IOCD_CONFORMANCE").as_deref() != Ok("report") {
        panic!("{msg}");
    }
    let path = std::env::var("IOCD_CONFORMANCE_LOG").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/openapi-mismatches.txt").to_string()
    });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(
            f,
            "{}: {}",
            std::env::args().next().unwrap_or_default(),
            msg.replace('\n', " | ")
        );
    }
}
