//! `/api/v1/lookup`: one value (`GET`) or up to [`MAX_BULK_VALUES`] at once
//! (`POST`, SIEM enrichment), each answered with the same record: whether
//! iocd knows the value, its record, sources, risk, ATT&CK techniques and
//! hunting queries.

use super::{blocking, read_body, Ctx};
use crate::export::json::IocRecord;
use crate::http::error::ApiError;
use crate::http::{json_response, Body};
use crate::ioc::expiry::Lifetimes;
use crate::ioc::{indicator_id, normalize, Indicator, IocType, Normalized};
use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// Most values one `POST /api/v1/lookup` may carry (400 `invalid_body`
/// beyond, with `details.max_values`).
pub const MAX_BULK_VALUES: usize = 1000;

/// Values per rate-limit token of a bulk lookup: a request costs
/// `ceil(values / 100)` tokens of both the minute and the day bucket (the
/// first taken at admission like any request), capped at the bucket's
/// capacity so every request can pass once the buckets are full.
pub const VALUES_PER_TOKEN: usize = 100;

/// Longest query echoed back in an item that could not be parsed
/// (characters).
const ECHO_CHARS: usize = 200;

/// What the store holds for one id: the record and whether a tombstone
/// (deleted false positive) exists.
type Held = (Option<Indicator>, bool);

/// The lookup answer for one parsed value (shared by `GET` and each item
/// of `POST`):
/// `{"query","type","value","reserved","found","outside_lookback",
/// "deleted","expired","expires_at","ioc","sources","risk",
/// "mitre_techniques"[,"hunting_queries"]}`.
///
/// A record last changed before the tier's lookback window is answered as
/// `found: true, outside_lookback: true` with `ioc: null`, no sources, no
/// risk and only the techniques the query itself names: the caller learns
/// that the value is known, not what iocd knows of it. Expired IOCs are
/// always answered: `expired` is true once `now >= last_seen +
/// lifetime(type)`, `expires_at` is that time (`null` when the type never
/// expires); both `null` when no record is shown.
fn answer(
    ctx: &Ctx<'_>,
    raw: &str,
    n: &Normalized,
    held: Held,
    hunting: bool,
    lifetimes: &Lifetimes,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let (rec, deleted) = held;
    let outside = match &rec {
        Some(i) => !ctx.within_lookback(i)?,
        None => false,
    };
    let found = rec.is_some();
    let rec = if outside { None } else { rec };
    let expired = rec.as_ref().map(|i| lifetimes.is_expired(i, now));
    let expires_at = rec
        .as_ref()
        .and_then(|i| lifetimes.expires_at(i))
        .map(crate::export::mapping::Timestamp);
    // Risk: the stored confidence, raised 5 points per extra reporting
    // source (corroboration), capped at 100; levels as for confidence.
    let risk = rec.as_ref().map(|i| {
        let score = (u32::from(i.confidence) + 5 * (i.sources.len().saturating_sub(1) as u32)).min(100) as u8;
        json!({"score": score, "level": crate::ioc::ConfidenceLevel::of(score).as_str(), "basis": "confidence plus 5 per corroborating source"})
    });
    let mut techniques: Vec<String> = rec
        .as_ref()
        .map(|i| i.techniques.clone())
        .unwrap_or_default();
    if n.ioc_type == IocType::MitreAttack {
        techniques.push(n.value.clone());
    }
    let techniques: Vec<Value> = techniques
        .iter()
        .map(|t| match crate::ioc::attack::technique(t) {
            Some(x) => json!({"id": t, "name": x.name, "tactics": x.tactics, "url": x.url}),
            None => {
                json!({"id": t, "name": null, "tactics": [], "url": crate::ioc::attack::url_for(t)})
            }
        })
        .collect();
    let mut out = json!({
        "query": raw,
        "type": n.ioc_type,
        "value": n.value,
        "reserved": n.reserved,
        "found": found,
        "outside_lookback": outside,
        "deleted": deleted,
        "expired": expired,
        "expires_at": expires_at,
        "ioc": rec.as_ref().map(|i| IocRecord::new(i, None).with_expiry(i, lifetimes, now)),
        "sources": rec.as_ref().map(|i| i.sources.clone()).unwrap_or_default(),
        "risk": risk,
        "mitre_techniques": techniques,
    });
    if hunting {
        out["hunting_queries"] = json!(crate::export::hunting::hunting_queries(
            n.ioc_type, &n.value
        ));
    }
    Ok(out)
}

/// Reads the record and tombstone of each id, in one blocking task.
async fn read_all(ctx: &Ctx<'_>, ids: Vec<Uuid>) -> Result<HashMap<Uuid, Held>, ApiError> {
    let store = ctx.state.store.clone();
    blocking(move || {
        let mut m = HashMap::with_capacity(ids.len());
        for id in ids {
            if m.contains_key(&id) {
                continue;
            }
            let held = (store.get(&id)?, store.tombstone(&id)?.is_some());
            m.insert(id, held);
        }
        Ok(m)
    })
    .await
}

/// `GET /api/v1/lookup?value=X[&type=T]`: detects and normalizes the value
/// (defanged forms accepted) and answers with [`answer`], hunting queries
/// for Splunk, Sentinel and Elastic included (also for values iocd does
/// not know). Errors: 400 `invalid_parameter` when `value` is missing or
/// is not an IOC (of type `T`).
pub async fn lookup(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let raw = ctx
        .params
        .text("value")
        .ok_or_else(|| ApiError::invalid_parameter("value", "required: the IOC to look up"))?;
    let hint = ctx.params.ioc_type("type", None)?;
    let n =
        normalize(&raw, hint).map_err(|e| ApiError::invalid_parameter("value", e.to_string()))?;
    let id = indicator_id(n.ioc_type, &n.value);
    let mut held = read_all(ctx, vec![id]).await?;
    let h = held.remove(&id).unwrap_or((None, false));
    let out = answer(ctx, &raw, &n, h, true, &ctx.lifetimes(), Utc::now())?;
    Ok(json_response(StatusCode::OK, &out))
}

/// One value of a bulk body: the query text and its type hint.
struct Item {
    raw: String,
    hint: Option<IocType>,
    /// Why the item itself is unusable (not a string, bad `type`).
    bad: Option<String>,
}

/// Parses a bulk body: a JSON array (strings, or objects `{"value",
/// "type"}`), a JSON object `{"values": [...], "type", "hunting_queries"}`,
/// or `text/plain` with one value per line (blank lines and `#` comments
/// skipped). Returns the items and the body's `hunting_queries` choice.
fn parse_items(
    ct: &str,
    body: &[u8],
    default_hint: Option<IocType>,
) -> Result<(Vec<Item>, Option<bool>), ApiError> {
    let type_of = |v: &Value| -> Result<Option<IocType>, String> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => s
                .parse::<IocType>()
                .map(Some)
                .map_err(|_| format!("unknown type '{s}'")),
            _ => Err("type must be a string".to_string()),
        }
    };
    match ct {
        "application/json" | "" => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::invalid_body(format!("the body is not valid JSON: {e}")))?;
            let shape = "expected a JSON array of values, or {\"values\": [...]}";
            let (values, hint, hunting) = match v {
                Value::Array(a) => (a, default_hint, None),
                Value::Object(mut o) => {
                    let values = match o.remove("values") {
                        Some(Value::Array(a)) => a,
                        _ => return Err(ApiError::invalid_body(shape)),
                    };
                    let hint = match o.get("type") {
                        None => default_hint,
                        Some(t) => type_of(t)
                            .map_err(|e| ApiError::invalid_body(format!("\"type\": {e}")))?,
                    };
                    let hunting = match o.get("hunting_queries") {
                        None => None,
                        Some(Value::Bool(b)) => Some(*b),
                        Some(_) => {
                            return Err(ApiError::invalid_body(
                                "\"hunting_queries\" must be true or false",
                            ))
                        }
                    };
                    (values, hint, hunting)
                }
                _ => return Err(ApiError::invalid_body(shape)),
            };
            let items = values
                .into_iter()
                .map(|v| match v {
                    Value::String(raw) => Item {
                        raw,
                        hint,
                        bad: None,
                    },
                    Value::Object(o) => {
                        let raw = match o.get("value") {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        let (hint, bad) = match o.get("type").map(type_of) {
                            None => (hint, None),
                            Some(Ok(t)) => (t.or(hint), None),
                            Some(Err(e)) => (None, Some(e)),
                        };
                        let bad = bad.or_else(|| match o.get("value") {
                            Some(Value::String(_)) => None,
                            _ => Some("an object item needs a string \"value\"".to_string()),
                        });
                        Item { raw, hint, bad }
                    }
                    other => Item {
                        raw: other.to_string(),
                        hint: None,
                        bad: Some("expected a string or {\"value\", \"type\"}".to_string()),
                    },
                })
                .collect();
            Ok((items, hunting))
        }
        "text/plain" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::invalid_body("the text body is not UTF-8"))?;
            let items = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| Item {
                    raw: l.to_string(),
                    hint: default_hint,
                    bad: None,
                })
                .collect();
            Ok((items, None))
        }
        _ => Err(ApiError::unsupported_media(
            "application/json or text/plain",
        )),
    }
}

/// `POST /api/v1/lookup`: up to [`MAX_BULK_VALUES`] values in one request
/// (body: see [`parse_items`]; query `type` is the default type hint,
/// `hunting_queries=true` adds each item's hunting queries, default
/// false). Answer: `{"count","found","invalid","cost","results":[...]}`,
/// one result per value in the body's order: the [`answer`] of `GET`, or
/// `{"query","found":false,"error":{"code":"invalid_value","message"}}`
/// for a value that is not an IOC. Costs `ceil(count / 100)` rate-limit
/// tokens ([`VALUES_PER_TOKEN`]); when the buckets hold fewer, 429
/// `rate_limit_exceeded` with nothing looked up. Errors: 400
/// `invalid_body` (malformed, empty, or more than 1,000 values), 415 for
/// another content type.
pub async fn bulk(ctx: &Ctx<'_>, body: Incoming) -> Result<Response<Body>, ApiError> {
    let default_hint = ctx.params.ioc_type("type", None)?;
    let ct = ctx.content_type();
    let bytes = read_body(ctx, body).await?;
    let (items, body_hunting) = parse_items(&ct, &bytes, default_hint)?;
    let hunting = match body_hunting {
        Some(b) => b,
        None => ctx.params.boolean("hunting_queries", false)?,
    };
    if items.is_empty() {
        return Err(ApiError::invalid_body("no values to look up"));
    }
    if items.len() > MAX_BULK_VALUES {
        return Err(ApiError::invalid_body(format!(
            "{} values in one request; the limit is {MAX_BULK_VALUES}",
            items.len()
        ))
        .with_details(json!({"max_values": MAX_BULK_VALUES, "values": items.len()})));
    }
    let cost = items.len().div_ceil(VALUES_PER_TOKEN);
    let later = if cost > 1 {
        let p = ctx.principal()?;
        let d = ctx.state.limiter.charge_extra(
            &p.key_id,
            (cost - 1) as u32,
            p.limits.requests_per_minute,
            p.limits.requests_per_day,
            std::time::Instant::now(),
        );
        if !d.allowed {
            let mut e = crate::http::rate_limited(ctx.state, p, &d);
            e.message = format!(
                "Rate limit exceeded: a lookup of {} values costs {cost} requests. Please wait or send fewer values.",
                items.len()
            );
            e.details["cost"] = json!(cost);
            e.rate = Some(Box::new(d));
            return Err(e);
        }
        Some(d)
    } else {
        None
    };
    let parsed: Vec<Result<Normalized, String>> = items
        .iter()
        .map(|it| match &it.bad {
            Some(b) => Err(b.clone()),
            None => normalize(&it.raw, it.hint).map_err(|e| e.to_string()),
        })
        .collect();
    let ids: Vec<Uuid> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|n| indicator_id(n.ioc_type, &n.value))
        .collect();
    let held = read_all(ctx, ids).await?;
    let (lifetimes, now) = (ctx.lifetimes(), Utc::now());
    let (mut found, mut invalid) = (0usize, 0usize);
    let mut results = Vec::with_capacity(items.len());
    for (it, p) in items.iter().zip(parsed) {
        match p {
            Ok(n) => {
                let id = indicator_id(n.ioc_type, &n.value);
                let h = held.get(&id).cloned().unwrap_or((None, false));
                found += usize::from(h.0.is_some());
                results.push(answer(ctx, &it.raw, &n, h, hunting, &lifetimes, now)?);
            }
            Err(message) => {
                invalid += 1;
                let shown: String = it.raw.chars().take(ECHO_CHARS).collect();
                results.push(json!({
                    "query": shown,
                    "found": false,
                    "error": {"code": "invalid_value", "message": message},
                }));
            }
        }
    }
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "count": results.len(),
            "found": found,
            "invalid": invalid,
            "cost": cost,
            "results": results,
        }),
    );
    if let Some(d) = later {
        r.extensions_mut().insert(d);
    }
    Ok(r)
}
