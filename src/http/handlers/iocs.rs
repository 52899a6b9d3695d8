//! `/api/v1/iocs`: listing (JSON, CSV), one IOC, ingest, false-positive
//! deletion.

use super::{blocking, read_body, Ctx};
use crate::export::json::IocRecord;
use crate::http::error::ApiError;
use crate::http::{bytes_response, json_response, Body};
use crate::ioc::{normalize, IocType, Observation, Source, Tlp};
use crate::store::{Cursor, Query};
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// Builds the store query shared by listings and exports: `type`, `since`
/// (clamped to the lookback), `until`, `source`, `tag`, `min_confidence`,
/// `limit` (default 100, max 1000), `cursor`, `include_expired` (default
/// false: IOCs past their type's lifetime are left out).
pub fn listing_query(ctx: &Ctx<'_>, allowed_types: Option<&[IocType]>) -> Result<Query, ApiError> {
    let p = ctx.params;
    let after = match p.text("cursor") {
        Some(c) => Some(Cursor::decode(&c).ok_or_else(|| {
            ApiError::invalid_parameter("cursor", "not a cursor returned by this server")
        })?),
        None => None,
    };
    Ok(Query {
        ioc_type: p.ioc_type("type", allowed_types)?,
        since: Some(ctx.since_clamped()?),
        until: p.time("until")?,
        after,
        limit: p.limit("limit", 100, 1000)?,
        source: p.text("source"),
        tag: p.text("tag"),
        min_confidence: p.int_in("min_confidence", 0, 100)?.map(|n| n as u8),
        unexpired: ctx.unexpired_filter()?,
        exclude_type: None,
    })
}

/// `GET /api/v1/iocs` (JSON `{"data","count","next_cursor"}`, or CSV with
/// `format=csv`) and `GET /api/v1/iocs/csv`.
pub async fn list(ctx: &Ctx<'_>, csv: bool) -> Result<Response<Body>, ApiError> {
    let csv = csv || ctx.params.choice("format", &["json", "csv"], "json")? == "csv";
    let q = listing_query(ctx, None)?;
    if csv {
        let (out, next) = super::exports::render_page(ctx, q, |items, _, out| {
            crate::export::csv::write_csv(out, items, &crate::export::CsvOptions::default())
                .map(|_| ())
        })
        .await?;
        let mut r = bytes_response(StatusCode::OK, "text/csv; charset=utf-8", out);
        if let Some(n) = next.and_then(|n| hyper::header::HeaderValue::from_str(&n).ok()) {
            r.headers_mut().insert("x-next-cursor", n);
        }
        return Ok(r);
    }
    let (lifetimes, now) = (ctx.lifetimes(), chrono::Utc::now());
    let (out, _) = super::exports::render_page(ctx, q, move |items, next, out| {
        #[derive(serde::Serialize)]
        struct Listing<'a> {
            data: Vec<IocRecord<'a>>,
            count: usize,
            next_cursor: Option<&'a str>,
        }
        let data: Vec<IocRecord> = items
            .iter()
            .map(|i| IocRecord::new(i, None).with_expiry(i, &lifetimes, now))
            .collect();
        let body = Listing {
            count: data.len(),
            data,
            next_cursor: next,
        };
        serde_json::to_writer(out, &body).map_err(std::io::Error::from)
    })
    .await?;
    Ok(bytes_response(StatusCode::OK, "application/json", out))
}

/// Parses an IOC id: a UUID, optionally as `indicator--<uuid>`.
fn parse_id(s: &str) -> Result<Uuid, ApiError> {
    let raw = s.strip_prefix("indicator--").unwrap_or(s);
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::invalid_parameter("id", format!("'{s}' is not an IOC id (a UUID)")))
}

/// `GET /api/v1/iocs/{id}`: the record; 404 unknown; 410 deleted (with
/// its type, value and reason only when deleted inside the caller's
/// lookback window); 403 `outside_lookback` when the record was last
/// changed before the tier's lookback window (the listing would not show
/// it either). An expired IOC is answered (with `"expired": true`): the
/// caller asked for it by id.
pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let id = parse_id(ctx.param.unwrap_or(""))?;
    let store = ctx.state.store.clone();
    let (rec, tomb) = blocking(move || Ok((store.get(&id)?, store.tombstone(&id)?))).await?;
    match (rec, tomb) {
        (Some(i), _) if !ctx.within_lookback(&i)? => Err(ctx.outside_lookback()?),
        (Some(i), _) => Ok(json_response(
            StatusCode::OK,
            &json!(IocRecord::new(&i, None).with_expiry(&i, &ctx.lifetimes(), chrono::Utc::now())),
        )),
        (None, Some(t)) => {
            let e = ApiError::new(
                StatusCode::GONE,
                "ioc_deleted",
                "This IOC was deleted as a false positive.",
            );
            let recent = t.deleted_at >= ctx.lookback_start()?.timestamp_micros();
            Err(if recent {
                e.with_details(json!({"type": t.ioc_type, "value": t.value, "reason": t.reason}))
            } else {
                e
            })
        }
        (None, None) => Err(ApiError::not_found(format!("No IOC with id {id}"))),
    }
}

/// One IOC in a `POST /api/v1/iocs` JSON body: a bare string (type
/// detected) or an object.
enum PostItem {
    Value(String),
    Full(PostIoc),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostIoc {
    value: String,
    #[serde(rename = "type", default)]
    ioc_type: Option<String>,
    #[serde(default)]
    confidence: Option<u8>,
    #[serde(default)]
    tlp: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    to_ids: Option<bool>,
    #[serde(default)]
    first_seen: Option<String>,
}

/// Items per POST, beyond which the client should split the batch.
const MAX_POST_ITEMS: usize = 100_000;

fn observation_from(item: PostItem, default_source: &Source) -> Result<Observation, String> {
    let (raw, extra) = match item {
        PostItem::Value(v) => (v, None),
        PostItem::Full(p) => (p.value.clone(), Some(p)),
    };
    let hint = match extra.as_ref().and_then(|p| p.ioc_type.as_deref()) {
        Some(t) => Some(t.parse::<IocType>()?),
        None => None,
    };
    let n = normalize(&raw, hint).map_err(|e| e.to_string())?;
    let mut o = Observation::new(n);
    o.source = Some(default_source.clone());
    if let Some(p) = extra {
        if let Some(c) = p.confidence {
            if c > 100 {
                return Err(format!("confidence {c} is above 100"));
            }
            o.confidence = Some(c);
        }
        if let Some(t) = p.tlp {
            o.tlp = Some(t.parse::<Tlp>()?);
        }
        o.tags = p
            .tags
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(name) = p.source {
            o.source = Some(Source {
                name,
                reference: p.reference,
                direction: None,
            });
        } else if p.reference.is_some() {
            o.source = Some(Source {
                name: default_source.name.clone(),
                reference: p.reference,
                direction: None,
            });
        }
        o.description = p.description;
        for t in p.techniques {
            let n = normalize(&t, Some(IocType::MitreAttack)).map_err(|e| e.to_string())?;
            o.techniques.push(n.value);
        }
        if let Some(b) = p.to_ids {
            o.to_ids = b;
        }
        if let Some(s) = p.first_seen {
            o.seen = Some(
                crate::http::params::parse_time(&s)
                    .ok_or_else(|| format!("first_seen '{s}' is not an ISO 8601 time"))?,
            );
        }
    }
    Ok(o)
}

/// `POST /api/v1/iocs` (`write:iocs`): a JSON array (strings or objects),
/// or `text/plain` with one IOC per line. Answers 200 with
/// `{"new","updated","unchanged","suppressed","rejected","errors":[...]}`
/// only after the batch is durable.
pub async fn post(ctx: &Ctx<'_>, body: Incoming) -> Result<Response<Body>, ApiError> {
    let ct = ctx.content_type();
    let bytes = read_body(ctx, body).await?;
    let who = ctx.principal()?;
    // The key's neutral source name, never its id or name: readers of
    // every tier see sources (issue #11, item 5).
    let source = Source {
        name: who.source_name_or("api"),
        reference: None,
        direction: None,
    };
    let mut errors: Vec<Value> = Vec::new();
    let mut obs = Vec::new();
    match ct.as_str() {
        "application/json" | "" => {
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::invalid_body(format!("the body is not valid JSON: {e}")))?;
            let items = match v {
                Value::Array(a) => a,
                Value::Object(mut o) => match o.remove("iocs") {
                    Some(Value::Array(a)) => a,
                    _ => {
                        return Err(ApiError::invalid_body(
                            "expected a JSON array of IOCs, or {\"iocs\": [...]}",
                        ))
                    }
                },
                _ => {
                    return Err(ApiError::invalid_body(
                        "expected a JSON array of IOCs, or {\"iocs\": [...]}",
                    ))
                }
            };
            if items.len() > MAX_POST_ITEMS {
                return Err(ApiError::invalid_body(format!(
                    "{} IOCs in one request; the limit is {MAX_POST_ITEMS}",
                    items.len()
                )));
            }
            for (idx, it) in items.into_iter().enumerate() {
                // Echo at most 200 characters of a rejected value.
                let short = |v: &str| v.chars().take(200).collect::<String>();
                let shown = match &it {
                    Value::String(s) => json!(short(s)),
                    Value::Object(o) => match o.get("value") {
                        Some(Value::String(v)) => json!(short(v)),
                        Some(other) => json!(short(&other.to_string())),
                        None => Value::Null,
                    },
                    other => json!(short(&other.to_string())),
                };
                let parsed = match it {
                    Value::String(v) => observation_from(PostItem::Value(v), &source),
                    Value::Object(_) => serde_json::from_value::<PostIoc>(it)
                        .map_err(|e| format!("invalid IOC object: {e}"))
                        .and_then(|p| observation_from(PostItem::Full(p), &source)),
                    _ => Err("expected an IOC string or an object with a \"value\"".to_string()),
                };
                match parsed {
                    Ok(o) => obs.push(o),
                    // An object without a value gets no `value` (the
                    // OpenAPI `SubmitResult` has it as a string when present).
                    Err(reason) if shown.is_null() => {
                        errors.push(json!({"index": idx, "reason": reason}))
                    }
                    Err(reason) => {
                        errors.push(json!({"index": idx, "value": shown, "reason": reason}))
                    }
                }
            }
        }
        "text/plain" => {
            let defaults = crate::import::ImportDefaults {
                source: Some(source.name.clone()),
                confidence: None,
                tags: Vec::new(),
                columns: Vec::new(),
                feed: None,
            };
            let parsed = crate::import::parse_bytes(
                &bytes,
                "request body",
                crate::import::Format::Text,
                &defaults,
            )
            .map_err(|e| ApiError::invalid_body(e.to_string()))?;
            for e in parsed.errors {
                errors.push(json!({"line": e.line, "reason": e.reason}));
            }
            obs = parsed.observations;
            for o in &mut obs {
                o.source = Some(source.clone());
            }
        }
        _ => {
            return Err(ApiError::unsupported_media(
                "application/json or text/plain",
            ))
        }
    }
    let rejected = errors.len();
    errors.truncate(100);
    let store = ctx.state.store.clone();
    let report = blocking(move || Ok(store.ingest(obs)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "new": report.new,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "suppressed": report.suppressed,
            "rejected": rejected,
            "errors": errors,
        }),
    ))
}

/// `DELETE /api/v1/iocs/{id}` (admin): removes a false positive and keeps a
/// tombstone (optional `reason` query parameter).
pub async fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let id = parse_id(ctx.param.unwrap_or(""))?;
    let reason = ctx.params.text("reason");
    let store = ctx.state.store.clone();
    let removed = blocking(move || Ok(store.delete(&id, reason)?)).await?;
    match removed {
        Some(i) => {
            tracing::info!(ioc = %i.id, value = %i.value, "IOC deleted as false positive");
            Ok(json_response(
                StatusCode::OK,
                &json!({"id": i.id, "type": i.ioc_type, "value": i.value, "deleted": true}),
            ))
        }
        None => {
            let store = ctx.state.store.clone();
            match blocking(move || Ok(store.tombstone(&id)?)).await? {
                Some(_) => Err(ApiError::new(
                    StatusCode::GONE,
                    "ioc_deleted",
                    "This IOC was already deleted as a false positive.",
                )),
                None => Err(ApiError::not_found(format!("No IOC with id {id}"))),
            }
        }
    }
}
