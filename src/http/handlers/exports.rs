//! The export endpoints: `/api/v1/iocs/{stix,misp,cef,openioc}`. Each reads
//! one page with the shared listing query, then hands it to its exporter in
//! `crate::export`. Formats are gated by scope (and so by tier: the Free
//! tier's scopes hold no export scope → 403 `insufficient_scope`).

use super::iocs::listing_query;
use super::{blocking, Ctx};
use crate::export::{self, Format, StixFormat};
use crate::http::error::ApiError;
use crate::http::{bytes_response, Body};
use crate::ioc::{Indicator, IocType};
use crate::store::Query;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

/// MISP's `type` parameter enum has no `mitre_attack` (spec).
const MISP_TYPES: [IocType; 10] = [
    IocType::Ipv4,
    IocType::Ipv6,
    IocType::Domain,
    IocType::Url,
    IocType::Md5,
    IocType::Sha1,
    IocType::Sha256,
    IocType::Sha512,
    IocType::Email,
    IocType::Cve,
];

async fn page(ctx: &Ctx<'_>, q: Query) -> Result<(Vec<Indicator>, Option<String>), ApiError> {
    let store = ctx.state.store.clone();
    let p = blocking(move || Ok(store.page(&q)?)).await?;
    Ok((p.items, p.next.map(|c| c.encode())))
}

fn respond(format: Format, body: Vec<u8>, next: Option<String>) -> Response<Body> {
    let mut r = bytes_response(StatusCode::OK, format.content_type(), body);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"iocd-export.{}\"",
        format.extension()
    )) {
        h.insert("content-disposition", v);
    }
    if let Some(n) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        h.insert("x-next-cursor", n);
    }
    r
}

/// `GET /api/v1/iocs/stix` (`read:stix`): `type`, `since`, `limit`,
/// `format=bundle|objects`, `include_identity`, `include_tlp_markings`, `tlp`.
pub async fn stix(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let p = ctx.params;
    let opts = export::StixOptions {
        format: match p.choice("format", &["bundle", "objects"], "bundle")? {
            "objects" => StixFormat::Objects,
            _ => StixFormat::Bundle,
        },
        include_identity: p.boolean("include_identity", true)?,
        include_tlp_markings: p.boolean("include_tlp_markings", false)?,
        tlp: p.tlp("tlp")?,
        identity_name: ctx.state.config.server.identity_name.clone(),
    };
    let q = listing_query(ctx, None)?;
    let (items, next) = page(ctx, q).await?;
    let mut out = Vec::with_capacity(items.len() * 900 + 1024);
    export::write_stix(&mut out, &items, &opts).map_err(ApiError::internal)?;
    Ok(respond(Format::Stix, out, next))
}

/// `GET /api/v1/iocs/misp` (`read:misp`): one MISP Event; `type`, `since`,
/// `limit`, `tlp`.
pub async fn misp(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let q = listing_query(ctx, Some(&MISP_TYPES))?;
    let opts = export::MispOptions {
        tlp: ctx.params.tlp("tlp")?,
        // The event's date range names the asked-for `since` (clamped);
        // without one, the oldest exported IOC's time.
        since: ctx.params.time("since")?.and(q.since),
        until: Some(q.until.unwrap_or_else(chrono::Utc::now)),
        info_prefix: format!("{} IOCs", ctx.state.config.server.identity_name),
        event_uuid: None,
    };
    let (items, next) = page(ctx, q).await?;
    let mut out = Vec::with_capacity(items.len() * 400 + 1024);
    export::write_misp(&mut out, &items, &opts).map_err(ApiError::internal)?;
    Ok(respond(Format::Misp, out, next))
}

/// `GET /api/v1/iocs/cef` (`read:cef`): one CEF line per IOC.
pub async fn cef(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let opts = export::CefOptions {
        tlp: ctx.params.tlp("tlp")?,
        ..Default::default()
    };
    let q = listing_query(ctx, None)?;
    let (items, next) = page(ctx, q).await?;
    let mut out = Vec::with_capacity(items.len() * 300);
    export::write_cef(&mut out, &items, &opts).map_err(ApiError::internal)?;
    Ok(respond(Format::Cef, out, next))
}

/// `GET /api/v1/iocs/openioc` (`read:openioc`): an OpenIOC 1.1 document.
pub async fn openioc(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let q = listing_query(ctx, None)?;
    let (items, next) = page(ctx, q).await?;
    let mut out = Vec::with_capacity(items.len() * 300 + 1024);
    export::write_openioc(&mut out, &items, &export::OpenIocOptions::default())
        .map_err(ApiError::internal)?;
    Ok(respond(Format::OpenIoc, out, next))
}

/// `GET /api/v1/rules/sigma` (`read:rules`): Sigma rules (multi-document
/// YAML) for the IOCs of one listing page: `type`, `since`, `limit`,
/// `min_confidence`, `source`, `tag`.
pub async fn sigma(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let q = listing_query(ctx, None)?;
    let (items, next) = page(ctx, q).await?;
    let mut out = Vec::with_capacity(items.len() * 80 + 1024);
    let opts = export::sigma::SigmaOptions {
        author: ctx.state.config.server.identity_name.clone(),
        now: None,
    };
    export::sigma::write_sigma(&mut out, &items, &opts).map_err(ApiError::internal)?;
    let mut r = bytes_response(StatusCode::OK, export::sigma::CONTENT_TYPE, out);
    if let Some(n) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        r.headers_mut().insert("x-next-cursor", n);
    }
    Ok(r)
}
