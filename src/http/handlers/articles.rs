//! `/api/v1/articles` (issue #14 item 1): the article listing, one article
//! with its IOCs resolved to stored records, and the bulk export. Scope
//! `read:articles`; the tier lookback bounds `published` (an article
//! published before the window is neither listed nor answered by id).
//! Design notes: docs/articles.md.

use super::{blocking, Ctx};
use crate::articles::Article;
use crate::export::json::IocRecord;
use crate::http::error::ApiError;
use crate::http::{bytes_response, json_response, Body};
use crate::ioc::indicator_id;
use crate::store::articles::{valid_cursor, ArticleQuery};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// Page size of the listing: default and most.
pub const LIST_DEFAULT: usize = 100;
pub const LIST_MAX: usize = 1000;
/// Page size of the export: default and most.
pub const EXPORT_DEFAULT: usize = 1000;
pub const EXPORT_MAX: usize = 10_000;
/// An export page ends early (with a cursor) once its body passes this
/// many bytes, so one request never holds more than about this much.
pub const EXPORT_PAGE_BYTES: usize = 32 * 1024 * 1024;
/// Articles read from the store per step of an export page (each up to
/// 1 MiB of text), so a page stops near [`EXPORT_PAGE_BYTES`].
const EXPORT_BATCH: usize = 50;
/// Most words `q` may hold.
pub const MAX_QUERY_WORDS: usize = 16;

/// The filters shared by the listing and the export: `q` (words that must
/// all occur in title or text, case-insensitive), `source`, `tag`,
/// `since`/`until` (on `published`; `since` clamped to the tier
/// lookback), `has_iocs`, `limit`, `cursor` (from `next_cursor` /
/// `X-Next-Cursor`). 400 `invalid_parameter` for a bad value.
fn article_query(ctx: &Ctx<'_>, default: usize, max: usize) -> Result<ArticleQuery, ApiError> {
    let p = ctx.params;
    let words: Vec<String> = p
        .text("q")
        .map(|q| {
            q.to_lowercase()
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if words.len() > MAX_QUERY_WORDS {
        return Err(ApiError::invalid_parameter(
            "q",
            format!("at most {MAX_QUERY_WORDS} words"),
        ));
    }
    let cursor = match p.text("cursor") {
        Some(c) => Some(
            URL_SAFE_NO_PAD
                .decode(c.as_bytes())
                .ok()
                .filter(|k| valid_cursor(k))
                .ok_or_else(|| {
                    ApiError::invalid_parameter("cursor", "not a cursor returned by this server")
                })?,
        ),
        None => None,
    };
    let has_iocs = match p.text("has_iocs") {
        Some(_) => Some(p.boolean("has_iocs", false)?),
        None => None,
    };
    Ok(ArticleQuery {
        since: Some(ctx.since_clamped()?),
        until: p.time("until")?,
        words,
        source: p.text("source"),
        tag: p.text("tag"),
        has_iocs,
        limit: p.limit("limit", default, max)?,
        cursor,
    })
}

/// An article as the listing shows it: everything but the full text, with
/// `ioc_count`.
fn summary_json(a: &Article) -> Value {
    json!({
        "id": a.id,
        "title": a.title,
        "link": a.link,
        "source": a.source,
        "published": ts(a.published),
        "added": ts(a.added),
        "summary": a.summary,
        "tags": a.tags,
        "kind": a.kind,
        "ioc_count": a.iocs.len(),
        "text_truncated": a.text_truncated,
    })
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn with_cursor(mut r: Response<Body>, next: Option<&str>) -> Response<Body> {
    if let Some(v) = next.and_then(|n| HeaderValue::from_str(n).ok()) {
        r.headers_mut().insert("x-next-cursor", v);
    }
    r
}

/// `GET /api/v1/articles`: `{"data":[article without text, with
/// ioc_count], "count", "next_cursor"}`, newest `published` first;
/// `limit` default 100, at most 1000.
pub async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let q = article_query(ctx, LIST_DEFAULT, LIST_MAX)?;
    let store = ctx.state.store.clone();
    let page = blocking(move || Ok(store.articles_page(&q)?)).await?;
    let next = page.next.map(|k| URL_SAFE_NO_PAD.encode(k));
    let data: Vec<Value> = page.items.iter().map(summary_json).collect();
    let body = json!({"data": data, "count": data.len(), "next_cursor": next});
    Ok(with_cursor(
        json_response(StatusCode::OK, &body),
        next.as_deref(),
    ))
}

/// `GET /api/v1/articles/{id}`: the article with its full text and its
/// IOCs, each `{"type","value","id","ioc"}` where `ioc` is the stored
/// record (null when deleted as a false positive or not held). 400 for
/// an id that is not a UUID, 404 unknown, 403 `outside_lookback` when
/// published before the tier's lookback window.
pub async fn get(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let raw = ctx.param.unwrap_or("");
    let id = Uuid::parse_str(raw.strip_prefix("article--").unwrap_or(raw)).map_err(|_| {
        ApiError::invalid_parameter("id", format!("'{raw}' is not an article id (a UUID)"))
    })?;
    let store = ctx.state.store.clone();
    let Some(a) = blocking(move || Ok(store.article(&id)?)).await? else {
        return Err(ApiError::not_found(format!("No article with id {id}")));
    };
    if a.published < ctx.lookback_start()? {
        let p = ctx.principal()?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_lookback",
            format!(
                "This article was published more than {} day(s) ago, outside the lookback window of your tier ({}).",
                p.limits.lookback_days, p.tier
            ),
        )
        .with_details(json!({"lookback_days": p.limits.lookback_days, "tier": p.tier})));
    }
    let store = ctx.state.store.clone();
    let ids: Vec<Uuid> = a
        .iocs
        .iter()
        .map(|i| indicator_id(i.ioc_type, &i.value))
        .collect();
    let records = blocking(move || {
        ids.iter()
            .map(|id| store.get(id).map_err(ApiError::from))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let (lifetimes, now) = (ctx.lifetimes(), chrono::Utc::now());
    let iocs: Vec<Value> = a
        .iocs
        .iter()
        .zip(&records)
        .map(|(i, r)| {
            json!({
                "type": i.ioc_type,
                "value": i.value,
                "id": indicator_id(i.ioc_type, &i.value),
                "ioc": r.as_ref().map(|rec| IocRecord::new(rec, None).with_expiry(rec, &lifetimes, now)),
            })
        })
        .collect();
    let mut body = summary_json(&a);
    body["text"] = json!(a.text);
    body["iocs"] = json!(iocs);
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /api/v1/articles/export?format=json|ndjson|csv` (default json):
/// the listing's filters, pages of up to 10,000 articles (default 1,000)
/// ending early past [`EXPORT_PAGE_BYTES`], full text included in JSON
/// and NDJSON; the next page's cursor in `X-Next-Cursor`. JSON: an array
/// of articles (the `GET /api/v1/articles/{id}` shape with `iocs` as
/// `{"type","value"}`); NDJSON: one article per line; CSV: `id,published,
/// source,title,link,tags,ioc_count,iocs` (tags `;`-joined, IOCs as
/// space-joined `type:value`).
pub async fn export(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let format = ctx
        .params
        .choice("format", &["json", "ndjson", "csv"], "json")?;
    let mut q = article_query(ctx, EXPORT_DEFAULT, EXPORT_MAX)?;
    let store = ctx.state.store.clone();
    let (out, next) = blocking(move || {
        let want = q.limit;
        q.limit = want.min(EXPORT_BATCH);
        let mut out = Vec::new();
        let mut csv = (format == "csv").then(|| {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_record([
                "id",
                "published",
                "source",
                "title",
                "link",
                "tags",
                "ioc_count",
                "iocs",
            ]);
            w
        });
        let mut n = 0usize;
        if format == "json" {
            out.push(b'[');
        }
        let next = loop {
            let page = store.articles_page(&q)?;
            for a in &page.items {
                if let Some(w) = csv.as_mut() {
                    let iocs: Vec<String> = a
                        .iocs
                        .iter()
                        .map(|i| format!("{}:{}", i.ioc_type.as_str(), i.value))
                        .collect();
                    w.write_record([
                        a.id.to_string(),
                        ts(a.published),
                        crate::export::csv::neutralize(&a.source).into_owned(),
                        crate::export::csv::neutralize(&a.title).into_owned(),
                        a.link.clone().unwrap_or_default(),
                        a.tags.join(";"),
                        a.iocs.len().to_string(),
                        iocs.join(" "),
                    ])
                    .map_err(ApiError::internal)?;
                } else {
                    let mut v = summary_json(a);
                    v["text"] = json!(a.text);
                    v["iocs"] = json!(a.iocs);
                    if format == "json" && n > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &v).map_err(ApiError::internal)?;
                    if format == "ndjson" {
                        out.push(b'\n');
                    }
                }
                n += 1;
            }
            let size = csv.as_ref().map(|w| w.get_ref().len()).unwrap_or(out.len());
            let full = n >= want || size >= EXPORT_PAGE_BYTES;
            match page.next {
                None => break None,
                Some(k) if full => break Some(k),
                Some(k) => q.cursor = Some(k),
            }
            q.limit = (want - n).min(EXPORT_BATCH);
        };
        if format == "json" {
            out.push(b']');
        }
        if let Some(w) = csv {
            out = w.into_inner().map_err(ApiError::internal)?;
        }
        Ok((out, next.map(|k| URL_SAFE_NO_PAD.encode(k))))
    })
    .await?;
    let ct = match format {
        "csv" => "text/csv; charset=utf-8",
        "ndjson" => "application/x-ndjson",
        _ => "application/json",
    };
    let mut r = bytes_response(StatusCode::OK, ct, out);
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"iocd-articles.{format}\""))
    {
        r.headers_mut().insert("content-disposition", v);
    }
    Ok(with_cursor(r, next.as_deref()))
}
