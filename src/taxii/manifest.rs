//! Object manifests (TAXII 2.1 §5.6): the same selection and paging as
//! `objects/` (read-ahead included), one
//! `{"id","date_added","version","media_type"}` record per object instead
//! of the object.

use super::collections;
use super::objects::write_head;
use super::page::{added_text, Producer, Selected, Selection};
use super::readahead::{self, Kind};
use super::MEDIA_STIX;
use crate::http::error::ApiError;
use crate::http::handlers::Ctx;
use crate::http::Body;
use hyper::Response;
use serde::Serialize;

/// A manifest record (§5.6.1).
#[derive(Serialize)]
struct Record<'a> {
    id: String,
    date_added: String,
    version: String,
    media_type: &'a str,
}

/// The manifest envelope of a page: `{"more","next","objects":[records]}`.
pub(super) fn render(page: &Selected, p: &Producer) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(64 + page.entries.len() * 160);
    write_head(&mut out, page);
    if !page.entries.is_empty() {
        out.extend_from_slice(b",\"objects\":[");
        for (n, e) in page.entries.iter().enumerate() {
            out.extend_from_slice(if n == 0 { b"\n" } else { b",\n" });
            let rec = Record {
                id: e.stix_id(p),
                date_added: added_text(e.date_added(p)),
                version: e.version(),
                media_type: MEDIA_STIX,
            };
            serde_json::to_writer(&mut out, &rec).map_err(ApiError::internal)?;
        }
        out.extend_from_slice(b"\n]");
    }
    out.push(b'}');
    Ok(out)
}

/// `GET collections/{id}/manifest/`.
pub async fn list(ctx: &Ctx<'_>, seg: &str) -> Result<Response<Body>, ApiError> {
    let coll = collections::readable(seg)?;
    let sel = Selection::for_list(ctx, coll)?;
    readahead::serve(ctx, coll, sel, Kind::Manifest).await
}
