//! Objects (TAXII 2.1 §5.3, §5.5, §5.7, §5.8): a page of a collection, one
//! object, its versions, and deleting one (admins).
//!
//! Bodies are written by hand around the SDO serializer, with `more` and
//! `next` first: the envelope of a 1,000-object page is one buffer with no
//! intermediate `serde_json::Value`.

use super::collections::{self, Members};
use super::page::{added_text, lookup, select, Entry, Producer, Selected, Selection};
use super::readahead::{self, Kind};
use super::{error, taxii_response};
use crate::http::error::ApiError;
use crate::http::handlers::{blocking, Ctx};
use crate::http::Body;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use uuid::Uuid;

/// Writes `{"more":…[,"next":"…"]` (no closing brace).
pub(super) fn write_head(out: &mut Vec<u8>, page: &Selected) {
    match page.next {
        Some(c) => {
            out.extend_from_slice(b"{\"more\":true,\"next\":\"");
            out.extend_from_slice(c.encode().as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"{\"more\":false"),
    }
}

/// The `X-TAXII-Date-Added-First` / `-Last` values of a page.
pub(super) fn added_range(page: &Selected, p: &Producer) -> Option<(u64, u64)> {
    Some((
        page.entries.first()?.date_added(p),
        page.entries.last()?.date_added(p),
    ))
}

/// A 200 TAXII response with the date-added headers (absent on an empty
/// page).
pub(super) fn page_response(body: Bytes, range: Option<(u64, u64)>) -> Response<Body> {
    let mut r = Response::new(Body::new(body));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(super::MEDIA_TAXII));
    if let Some((first, last)) = range {
        for (name, t) in [
            ("x-taxii-date-added-first", first),
            ("x-taxii-date-added-last", last),
        ] {
            if let Ok(v) = HeaderValue::from_str(&added_text(t)) {
                h.insert(name, v);
            }
        }
    }
    r
}

/// The envelope (§3.7) of a page: `{"more","next","objects":[…]}`, objects
/// omitted when there are none.
pub(super) fn envelope(page: &Selected, p: &Producer) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(64 + page.entries.len() * 900);
    write_head(&mut out, page);
    if !page.entries.is_empty() {
        out.extend_from_slice(b",\"objects\":[");
        for (n, e) in page.entries.iter().enumerate() {
            out.extend_from_slice(if n == 0 { b"\n" } else { b",\n" });
            e.write_json(&mut out, p).map_err(ApiError::internal)?;
        }
        out.extend_from_slice(b"\n]");
    }
    out.push(b'}');
    Ok(out)
}

/// `GET collections/{id}/objects/`.
pub async fn list(ctx: &Ctx<'_>, seg: &str) -> Result<Response<Body>, ApiError> {
    let coll = collections::readable(seg)?;
    let sel = Selection::for_list(ctx, coll)?;
    readahead::serve(ctx, coll, sel, Kind::Objects).await
}

fn no_object(oid: &str, alias: &str) -> ApiError {
    error::not_found(format!("No object {oid} in the {alias} collection."))
}

/// The shared part of the single-object routes: resolve the collection,
/// 404 unless it holds `oid`, select its (filtered) page, and render it with
/// `render` on the blocking pool.
async fn one_object<F>(
    ctx: &Ctx<'_>,
    seg: &str,
    oid: &str,
    render: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce(&Selected, &Producer) -> Result<Vec<u8>, ApiError> + Send + 'static,
{
    let coll = collections::readable(seg)?;
    let sel = Selection::for_object(ctx, coll, oid)?;
    let p = Producer::from_ctx(ctx);
    let store = ctx.state.store.clone();
    let oid = oid.to_string();
    let (body, range) = blocking(move || {
        if lookup(&store, coll, &p, &oid, sel.floor())?.is_none() {
            return Err(no_object(&oid, coll.alias));
        }
        let page = select(&store, &sel, &p, coll)?;
        Ok((render(&page, &p)?, added_range(&page, &p)))
    })
    .await?;
    Ok(page_response(Bytes::from(body), range))
}

/// `GET collections/{id}/objects/{object-id}/`: an envelope with the
/// object (404 when the collection does not hold it; an empty envelope
/// when it does but the filters exclude it).
pub async fn get(ctx: &Ctx<'_>, seg: &str, oid: &str) -> Result<Response<Body>, ApiError> {
    one_object(ctx, seg, oid, envelope).await
}

/// `GET collections/{id}/objects/{object-id}/versions/`:
/// `{"more","versions":[…]}` (one version per object, see `page.rs`).
pub async fn versions(ctx: &Ctx<'_>, seg: &str, oid: &str) -> Result<Response<Body>, ApiError> {
    one_object(ctx, seg, oid, |page, _| {
        let mut out = Vec::with_capacity(128);
        write_head(&mut out, page);
        if !page.entries.is_empty() {
            let v: Vec<String> = page.entries.iter().map(Entry::version).collect();
            out.extend_from_slice(b",\"versions\":");
            serde_json::to_writer(&mut out, &v).map_err(ApiError::internal)?;
        }
        out.push(b'}');
        Ok(out)
    })
    .await
}

/// `DELETE collections/{id}/objects/{object-id}/` (`admin`): deletes the
/// IOC as a false positive, exactly as `DELETE /api/v1/iocs/{id}` (a
/// tombstone keeps re-imports from re-adding it). Allowed on any
/// collection holding the object and on `submissions` (the writable one,
/// where taxii2-client allows deletes). The identity and the marking
/// definitions cannot be deleted (403). `match[version]` /
/// `match[spec_version]` must admit the current version, else 404.
/// Answers 200 with an empty body.
pub async fn delete(ctx: &Ctx<'_>, seg: &str, oid: &str) -> Result<Response<Body>, ApiError> {
    let coll = collections::find(seg)?;
    let view = if coll.members == Members::Submissions {
        collections::find("all")?
    } else {
        coll
    };
    if oid.starts_with("identity--") || oid.starts_with("marking-definition--") {
        return Err(error::forbidden(
            "The identity and the TLP marking definitions are built in and cannot be deleted.",
        ));
    }
    let sel = Selection::for_object(ctx, view, oid)?;
    let p = Producer::from_ctx(ctx);
    let who = ctx.principal()?;
    let reason = ctx
        .params
        .text("reason")
        .unwrap_or_else(|| format!("deleted over TAXII ({})", who.source_name_or("taxii")));
    let store = ctx.state.store.clone();
    let oid_owned = oid.to_string();
    let alias = coll.alias;
    let removed = blocking(move || {
        let Some(e) = lookup(&store, view, &p, &oid_owned, 0)?.filter(|e| sel.matches_version(e))
        else {
            return Err(no_object(&oid_owned, alias));
        };
        let id: Uuid = match e {
            Entry::Ioc(i) => i.id,
            _ => return Err(no_object(&oid_owned, alias)),
        };
        Ok(store.delete(&id, Some(reason))?)
    })
    .await?;
    match removed {
        Some(i) => {
            tracing::info!(ioc = %i.id, value = %i.value, "IOC deleted as false positive over TAXII");
            Ok(taxii_response(StatusCode::OK, Vec::new()))
        }
        None => Err(no_object(oid, coll.alias)),
    }
}
