//! `GET /api/v1/stats/timeline` (issue #14, item 4): IOCs added per hour
//! or day bucket and type, read from the store's timeline counters
//! ([`crate::store::timeline`]; no record scan).

use super::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::{bytes_response, Body};
use crate::ioc::IocType;
use crate::store::timeline::hour_of;
use chrono::{DateTime, Duration, TimeZone, Utc};
use hyper::{Response, StatusCode};
use serde::ser::SerializeMap;
use serde::Serialize;
use serde_json::json;

/// Most buckets one request may ask for (400 `invalid_parameter` beyond).
pub const MAX_BUCKETS: u64 = 10_000;

/// `interval=hour|day` (default day), `since`/`until` (ISO 8601; default
/// the last 30 days / 48 hours; `since` clamped to the tier lookback),
/// `type` (one IOC type). Answer: `{"interval","since","until","type",
/// "buckets":[{"start","total","by_type":{type:n}}]}` with every bucket
/// from the one holding `since` to the one holding `until`, zero ones
/// included. Errors: 400 `invalid_parameter` for a bad interval, type or
/// time, `since` after `until`, or more than [`MAX_BUCKETS`] buckets.
pub async fn timeline(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let hours_per: u32 = match ctx.params.text("interval").as_deref() {
        None | Some("day") => 24,
        Some("hour") => 1,
        Some(v) => {
            return Err(ApiError::invalid_parameter(
                "interval",
                format!("'{v}' is not one of hour, day"),
            ))
        }
    };
    let ty = ctx.params.ioc_type("type", None)?;
    let now = Utc::now();
    let until = ctx.params.time("until")?.unwrap_or(now).min(now);
    let default_since = if hours_per == 24 {
        until - Duration::days(29)
    } else {
        until - Duration::hours(47)
    };
    let floor = ctx.lookback_start()?;
    let since = ctx
        .params
        .time("since")?
        .unwrap_or(default_since)
        .max(floor);
    if since > until {
        return Err(ApiError::invalid_parameter(
            "since",
            "must not be after until (since is clamped to your tier's lookback window)",
        ));
    }
    let (h0, h1) = (hour_of(since), hour_of(until));
    let (b0, b1) = (h0 / hours_per, h1 / hours_per);
    if u64::from(b1 - b0) + 1 > MAX_BUCKETS {
        return Err(ApiError::invalid_parameter(
            "since",
            format!(
                "more than {MAX_BUCKETS} buckets asked for; narrow since/until or use interval=day"
            ),
        )
        .with_details(json!({"parameter": "since", "max_buckets": MAX_BUCKETS})));
    }
    let types: Vec<IocType> = match ty {
        Some(t) => vec![t],
        None => IocType::ALL.to_vec(),
    };
    let store = ctx.state.store.clone();
    let tys = types.clone();
    let rows = blocking(move || {
        Ok(store.timeline_hours(b0 * hours_per, b1 * hours_per + hours_per - 1, &tys)?)
    })
    .await?;
    let mut buckets = Vec::with_capacity((b1 - b0 + 1) as usize);
    for b in b0..=b1 {
        let lo = b * hours_per;
        let mut counts = [0u64; IocType::ALL.len()];
        for (_, row) in rows.range(lo..lo + hours_per) {
            for (s, n) in counts.iter_mut().zip(row) {
                *s += n;
            }
        }
        buckets.push(Bucket {
            start: ts(Utc
                .timestamp_opt(i64::from(lo) * 3600, 0)
                .single()
                .unwrap_or(since)),
            total: counts.iter().sum(),
            by_type: ByType {
                types: &types,
                counts,
            },
        });
    }
    let answer = Answer {
        interval: if hours_per == 24 { "day" } else { "hour" },
        since: ts(since),
        until: ts(until),
        r#type: ty.map(|t| t.as_str()),
        buckets,
    };
    // Serialized straight from these structs: a 720-bucket answer built as
    // a serde_json::Value tree spent most of its time in map inserts.
    let body = serde_json::to_vec(&answer).map_err(ApiError::internal)?;
    Ok(bytes_response(StatusCode::OK, "application/json", body))
}

/// The answer's shape (field order as documented above).
#[derive(Serialize)]
struct Answer<'a> {
    interval: &'static str,
    since: String,
    until: String,
    r#type: Option<&'static str>,
    buckets: Vec<Bucket<'a>>,
}

#[derive(Serialize)]
struct Bucket<'a> {
    start: String,
    total: u64,
    by_type: ByType<'a>,
}

/// `{type: count}` for the requested types, in `IocType::ALL` order.
struct ByType<'a> {
    types: &'a [IocType],
    counts: [u64; IocType::ALL.len()],
}

impl Serialize for ByType<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.types.len()))?;
        for t in self.types {
            m.serialize_entry(t.as_str(), &self.counts[t.code() as usize])?;
        }
        m.end()
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
