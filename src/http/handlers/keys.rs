//! `/api/v1/keys`: create, list and revoke API keys (scope `admin`).

use super::{blocking, read_body, Ctx};
use crate::apikeys::{check_scopes_for_tier, check_source_name, new_key};
use crate::http::error::ApiError;
use crate::http::{json_response, Body};
use crate::store::keys::ApiKeyRecord;
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

fn micros_rfc3339(m: Option<i64>) -> Value {
    match m.and_then(chrono::DateTime::from_timestamp_micros) {
        Some(t) => json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => Value::Null,
    }
}

/// The public view of a key record (never the hash).
pub fn key_json(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "tier": k.tier,
        "scopes": k.scopes,
        "created": micros_rfc3339(Some(k.created)),
        "last_used": micros_rfc3339(k.last_used),
        "revoked": micros_rfc3339(k.revoked),
        "source_name": k.source_name,
    })
}

/// `GET /api/v1/keys` → `{"data":[key...],"count":n}`.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let store = ctx.state.store.clone();
    let keys = blocking(move || Ok(store.list_keys()?)).await?;
    let data: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"data": data, "count": data.len()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default = "default_tier")]
    tier: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Source name of the IOCs the key writes (default: `api` / `taxii`).
    #[serde(default)]
    source_name: Option<String>,
}

fn default_tier() -> String {
    "free".into()
}

/// `POST /api/v1/keys` with `{"name","tier","scopes","source_name"}` → 201
/// with the key (shown once) and its record. Scopes default to the tier's
/// scopes; `source_name` (1-100 printable characters) is the source the
/// IOCs written with this key carry, default `api` (`taxii` over TAXII).
pub async fn create(ctx: &Ctx<'_>, body: Incoming) -> Result<Response<Body>, ApiError> {
    let bytes = read_body(ctx, body).await?;
    let b: CreateBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid_body(format!(
            "expected {{\"name\": ..., \"tier\": ..., \"scopes\": [...], \"source_name\": ...}}: {e}"
        ))
    })?;
    let config = ctx.state.config();
    let Some(tier) = config.tiers.get(&b.tier) else {
        let names: Vec<&String> = config.tiers.keys().collect();
        return Err(ApiError::invalid_body(format!(
            "unknown tier '{}'; configured tiers: {names:?}",
            b.tier
        )));
    };
    let scopes = check_scopes_for_tier(
        &b.scopes.unwrap_or_else(|| tier.scopes.clone()),
        &b.tier,
        &tier.scopes,
    )
    .map_err(|e| ApiError::invalid_body(e.to_string()))?;
    let source_name = b
        .source_name
        .as_deref()
        .map(check_source_name)
        .transpose()
        .map_err(|e| ApiError::invalid_body(e.to_string()))?;
    let (key, mut rec) = {
        let (name, tier) = (b.name.clone(), b.tier.clone());
        blocking(move || {
            new_key(&name, &tier, scopes).map_err(|e| ApiError::invalid_body(e.to_string()))
        })
        .await?
    };
    rec.source_name = source_name;
    let store = ctx.state.store.clone();
    let r2 = rec.clone();
    blocking(move || Ok(store.put_key(&r2)?)).await?;
    let mut v = key_json(&rec);
    v["key"] = json!(key);
    tracing::info!(key_id = %rec.id, name = %rec.name, tier = %rec.tier, "API key created");
    Ok(json_response(StatusCode::CREATED, &v))
}

/// `DELETE /api/v1/keys/{id}` → the revoked record; takes effect at once.
pub async fn revoke(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let id = ctx.param.unwrap_or("").to_string();
    let store = ctx.state.store.clone();
    let rec = blocking(move || {
        let Some(mut k) = store.get_key(&id)? else {
            return Ok(None);
        };
        if k.revoked.is_none() {
            k.revoked = Some(chrono::Utc::now().timestamp_micros());
            store.put_key(&k)?;
        }
        Ok(Some(k))
    })
    .await?;
    let Some(rec) = rec else {
        return Err(ApiError::not_found(format!(
            "No API key with id '{}'",
            ctx.param.unwrap_or("")
        )));
    };
    ctx.state.auth.forget(&rec.id);
    ctx.state.limiter.forget(&rec.id);
    tracing::info!(key_id = %rec.id, "API key revoked");
    Ok(json_response(StatusCode::OK, &key_json(&rec)))
}
