//! Adding objects (TAXII 2.1 §5.4) and the status resources (§4.3).
//!
//! A POST to `submissions` goes through the normal import path: the
//! envelope's objects become one STIX bundle for [`crate::import`] (so
//! `created_by_ref`, TLP markings, reports and `indicates` relationships
//! apply across objects, as in `iocd import`), and the observations go to
//! [`crate::store::Store::ingest`], which returns once they are durable.
//! The work is done before the answer, so the 202's status resource is
//! already `complete` (§4.3.1 allows it); `pending_count` is always 0.
//!
//! Per-object results: each object is also parsed alone (IOC values do not
//! depend on the other objects) to say which objects gave IOCs. An object
//! succeeds when it yields at least one stored IOC (the message names the
//! ids iocd serves it under: ids are derived from type and value, so they
//! differ from the submitted id) or is context iocd uses (identity,
//! marking-definition, relationship, report, extension-definition). It
//! fails when it is malformed, carries no IOC iocd stores, or only IOCs
//! deleted as false positives.
//!
//! Status resources live in memory only: the last [`MAX_STATUSES`] (and at
//! most [`MAX_STATUS_BYTES`] of them), readable by the key that submitted
//! and by admins; a restart forgets them (the IOCs are in the store).

use super::collections::{self, collection_id};
use super::page::stix_type;
use super::{error, media, taxii_response};
use crate::apikeys::grants;
use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::handlers::{blocking, read_body, Ctx};
use crate::http::Body;
use crate::import::{parse_bytes, Format, ImportDefaults};
use crate::ioc::{indicator_id, IocType, Observation};
use crate::store::Store;
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use uuid::Uuid;

/// Status resources kept (oldest dropped first).
pub const MAX_STATUSES: usize = 1000;
/// Bytes of status resources kept (a 10 MiB envelope can have a large one).
pub const MAX_STATUS_BYTES: usize = 64 * 1024 * 1024;
/// Objects per envelope.
const MAX_OBJECTS: usize = 100_000;
/// IOC ids named in one success message.
const MAX_IDS_SHOWN: usize = 10;
/// Object types iocd reads for context rather than as IOCs.
const CONTEXT_TYPES: &[&str] = &[
    "identity",
    "marking-definition",
    "relationship",
    "report",
    "extension-definition",
];

struct Stored {
    /// Key id of the submitter.
    owner: String,
    body: Bytes,
}

#[derive(Default)]
struct Inner {
    order: VecDeque<Uuid>,
    map: HashMap<Uuid, Stored>,
    bytes: usize,
}

/// The recent status resources. A std `Mutex`: held for a map operation,
/// never across an await.
#[derive(Default)]
pub struct StatusLog {
    inner: Mutex<Inner>,
}

impl StatusLog {
    /// Keeps a status resource, dropping the oldest beyond the bounds.
    pub fn insert(&self, id: Uuid, owner: &str, body: Bytes) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.bytes += body.len();
        g.order.push_back(id);
        g.map.insert(
            id,
            Stored {
                owner: owner.to_string(),
                body,
            },
        );
        while g.order.len() > MAX_STATUSES || (g.bytes > MAX_STATUS_BYTES && g.order.len() > 1) {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some(s) = g.map.remove(&old) {
                g.bytes -= s.body.len();
            }
        }
    }

    /// The resource, if kept and `who` submitted it or is an admin.
    pub fn get(&self, id: &Uuid, who: &Principal) -> Option<Bytes> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.map
            .get(id)
            .filter(|s| s.owner == who.key_id || grants(&who.scopes, "admin"))
            .map(|s| s.body.clone())
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .order
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `GET status/{status-id}/`.
pub fn get(ctx: &Ctx<'_>, seg: &str) -> Result<Response<Body>, ApiError> {
    let missing = || {
        error::not_found(format!(
            "No status resource {seg} for this key. iocd keeps the last {MAX_STATUSES} in memory; they do not survive a restart."
        ))
    };
    let id = Uuid::parse_str(seg).map_err(|_| missing())?;
    let body = ctx
        .state
        .taxii
        .statuses
        .get(&id, ctx.principal()?)
        .ok_or_else(missing)?;
    Ok(taxii_response(StatusCode::OK, body.to_vec()))
}

/// `POST collections/{id}/objects/` (`write:taxii` or `write:iocs`): 403 on
/// a read-only collection, 415 unless `Content-Type` is TAXII 2.1, 413
/// beyond `max_content_length`, 400 for a body that is not an envelope;
/// else 202 with the (complete) status resource.
pub async fn add(ctx: &Ctx<'_>, seg: &str, body: Incoming) -> Result<Response<Body>, ApiError> {
    let coll = collections::find(seg)?;
    if !coll.can_write() {
        return Err(error::forbidden(format!(
            "The {} collection is read-only; POST envelopes to the submissions collection ({}).",
            coll.alias,
            collection_id("submissions")
        )));
    }
    media::check_content_type(&ctx.parts.headers)?;
    let bytes = read_body(ctx, body).await?;
    let who = ctx.principal()?.clone();
    let id = Uuid::new_v4();
    let store = ctx.state.store.clone();
    let owner = who.key_id.clone();
    let body = blocking(move || process(&store, &bytes, id, &who)).await?;
    let body = Bytes::from(body);
    ctx.state.taxii.statuses.insert(id, &owner, body.clone());
    Ok(taxii_response(StatusCode::ACCEPTED, body.to_vec()))
}

/// What became of one submitted object.
struct ObjectResult {
    id: String,
    version: String,
    ok: bool,
    message: String,
}

fn clip(s: &str) -> String {
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Parses one object alone: its IOCs (type, id) or why it has none.
fn classify(
    o: &Value,
    requested: &str,
    file_name: &str,
    defaults: &ImportDefaults,
    store: &Store,
) -> Result<ObjectResult, ApiError> {
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let id = s("id").unwrap_or("").to_string();
    let version = s("modified")
        .or(s("created"))
        .unwrap_or(requested)
        .to_string();
    let fail = |message: String| ObjectResult {
        id: if id.is_empty() {
            "(no id)".into()
        } else {
            id.clone()
        },
        version: version.clone(),
        ok: false,
        message: clip(&message),
    };
    let ty = s("type").unwrap_or("");
    if id.is_empty() || ty.is_empty() || !o.is_object() {
        return Ok(fail("not a STIX object: it needs a type and an id".into()));
    }
    let bytes = serde_json::to_vec(o).map_err(ApiError::internal)?;
    let parsed = match parse_bytes(&bytes, file_name, Format::Stix, defaults) {
        Ok(p) => p,
        Err(e) => return Ok(fail(e.to_string())),
    };
    let reasons: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| {
            e.reason
                .strip_prefix(&format!("{id}: "))
                .unwrap_or(&e.reason)
                .to_string()
        })
        .collect();
    if parsed.observations.is_empty() {
        return Ok(if !reasons.is_empty() {
            fail(reasons.join("; "))
        } else if CONTEXT_TYPES.contains(&ty) {
            ObjectResult {
                message: format!("accepted as context ({ty}): read for the other objects' source, TLP and techniques, not stored as an IOC"),
                ok: true,
                ..fail(String::new())
            }
        } else {
            fail(format!(
                "no IOC iocd stores: iocd keeps indicators with STIX patterns on IP addresses, domains, URLs, email addresses and file hashes, those observables, vulnerabilities with a CVE id and ATT&CK attack patterns (got a {ty})"
            ))
        });
    }
    let mut ids: Vec<(IocType, Uuid)> = parsed
        .observations
        .iter()
        .map(|o: &Observation| (o.ioc_type, indicator_id(o.ioc_type, &o.value)))
        .collect();
    ids.sort();
    ids.dedup();
    let mut stored = Vec::new();
    for (t, uuid) in &ids {
        if store.tombstone(uuid)?.is_none() {
            stored.push(format!("{}--{uuid}", stix_type(*t)));
        }
    }
    if stored.is_empty() {
        return Ok(fail(
            "its IOCs were deleted as false positives and are not re-added".into(),
        ));
    }
    let n = stored.len();
    let mut message = format!(
        "stored as {}",
        stored
            .iter()
            .take(MAX_IDS_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    if n > MAX_IDS_SHOWN {
        message.push_str(&format!(" and {} more", n - MAX_IDS_SHOWN));
    }
    if n < ids.len() {
        message.push_str(&format!(
            "; {} deleted as false positives, not re-added",
            ids.len() - n
        ));
    }
    if !reasons.is_empty() {
        message.push_str(&format!("; skipped: {}", reasons.join("; ")));
    }
    Ok(ObjectResult {
        id,
        version,
        ok: true,
        message: clip(&message),
    })
}

/// Imports a TAXII 2.1 envelope (§3.7, `{"objects": [...]}`) submitted by
/// `who` into `store` and returns the body of its status resource (§4.3,
/// `status: complete`, one success or failure per object). Blocking.
///
/// Errors: 400 `invalid_body` for a body that is not an envelope (not
/// JSON, not an object, `objects` not a list, more than 100,000 objects);
/// 500 only when the store fails.
pub fn process(
    store: &Store,
    bytes: &[u8],
    id: Uuid,
    who: &Principal,
) -> Result<Vec<u8>, ApiError> {
    let requested = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let shape = "Send a TAXII envelope: {\"objects\": [STIX 2.1 objects]}.";
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid_body(format!("The body is not valid JSON ({e}). {shape}"))
    })?;
    let Value::Object(mut env) = v else {
        return Err(ApiError::invalid_body(format!(
            "The body is not a JSON object. {shape}"
        )));
    };
    let objects = match env.remove("objects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::invalid_body(format!(
                "\"objects\" is not a list. {shape}"
            )))
        }
    };
    if objects.len() > MAX_OBJECTS {
        return Err(ApiError::invalid_body(format!(
            "{} objects in one envelope; the limit is {MAX_OBJECTS}.",
            objects.len()
        )));
    }
    // The key's neutral source name; the reference names the submission
    // (its status resource), never the key's id or name (issue #11, item 5).
    let defaults = ImportDefaults {
        source: Some(who.source_name_or("taxii")),
        confidence: None,
        tags: Vec::new(),
        columns: Vec::new(),
        feed: None,
    };
    let file_name = format!("TAXII submission {id}");
    let mut results = Vec::with_capacity(objects.len());
    for o in &objects {
        results.push(classify(o, &requested, &file_name, &defaults, store)?);
    }
    let total = objects.len();
    let bundle = json!({"type": "bundle", "id": format!("bundle--{id}"), "objects": objects});
    let bundle = serde_json::to_vec(&bundle).map_err(ApiError::internal)?;
    let observations = match parse_bytes(&bundle, &file_name, Format::Stix, &defaults) {
        Ok(p) => p.observations,
        Err(e) => {
            return Err(ApiError::invalid_body(format!(
                "The envelope could not be imported: {e}"
            )))
        }
    };
    let report = if observations.is_empty() {
        Default::default()
    } else {
        store.ingest(observations)?
    };
    tracing::info!(status = %id, key_id = %who.key_id, objects = total, new = report.new, updated = report.updated, "TAXII objects added");
    let details = |ok: bool| -> Vec<Value> {
        results
            .iter()
            .filter(|r| r.ok == ok)
            .map(|r| json!({"id": r.id, "version": r.version, "message": r.message}))
            .collect()
    };
    let successes = details(true);
    let failures = details(false);
    let mut status = json!({
        "id": id.to_string(),
        "status": "complete",
        "request_timestamp": requested,
        "total_count": total,
        "success_count": successes.len(),
        "failure_count": failures.len(),
        "pending_count": 0,
    });
    if !successes.is_empty() {
        status["successes"] = Value::Array(successes);
    }
    if !failures.is_empty() {
        status["failures"] = Value::Array(failures);
    }
    serde_json::to_vec(&status).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded_and_owned() {
        let log = StatusLog::default();
        let who = |k: &str, admin: bool| Principal {
            key_id: k.into(),
            name: k.into(),
            tier: "pro".into(),
            scopes: if admin {
                vec!["admin".into()]
            } else {
                vec!["write:taxii".into()]
            },
            limits: crate::config::default_tiers()["pro"].clone(),
            source_name: None,
        };
        let first = Uuid::new_v4();
        log.insert(first, "a", Bytes::from_static(b"{}"));
        assert!(log.get(&first, &who("a", false)).is_some());
        assert!(log.get(&first, &who("b", false)).is_none());
        assert!(log.get(&first, &who("b", true)).is_some());
        for _ in 0..MAX_STATUSES {
            log.insert(Uuid::new_v4(), "a", Bytes::from_static(b"{}"));
        }
        assert_eq!(log.len(), MAX_STATUSES);
        assert!(log.get(&first, &who("a", false)).is_none());
    }
}
