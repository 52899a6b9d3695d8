//! The export endpoints: `/api/v1/iocs/{stix,misp,cef,openioc}`. Each reads
//! one page with the shared listing query, then hands it to its exporter in
//! `crate::export`. Formats are gated by scope (and so by tier: the Free
//! tier's scopes hold no export scope → 403 `insufficient_scope`).
//!
//! Every endpoint leaves out IOCs past their type's lifetime (`[expiry]`)
//! unless `include_expired=true`; the shared listing query carries that
//! filter, so pages and `X-Next-Cursor` behave as for the listing.

use super::iocs::listing_query;
use super::{blocking, Ctx};
use crate::export::{self, Format, StixFormat};
use crate::http::error::ApiError;
use crate::http::{bytes_response, Body};
use crate::ioc::{Indicator, IocType};
use crate::store::Query;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

/// The types the MISP export can filter on: those with a MISP attribute
/// type in the shared mapping (the spec's enum: no `mitre_attack`).
fn misp_types() -> Vec<IocType> {
    IocType::ALL
        .into_iter()
        .filter(|t| export::mapping::mapping(*t).misp.is_some())
        .collect()
}

/// Reads one page and renders it with `render`, both on the blocking pool
/// (sled reads and serializing up to 1,000 records stay off the async
/// workers). Returns the body and the next-page cursor.
pub(super) async fn render_page<F>(
    ctx: &Ctx<'_>,
    q: Query,
    render: F,
) -> Result<(Vec<u8>, Option<String>), ApiError>
where
    F: FnOnce(&[Indicator], Option<&str>, &mut Vec<u8>) -> std::io::Result<()> + Send + 'static,
{
    let store = ctx.state.store.clone();
    let work = move || {
        let p = store.page(&q)?;
        let next = p.next.map(|c| c.encode());
        let mut out = Vec::with_capacity(p.items.len() * 512 + 1024);
        render(&p.items, next.as_deref(), &mut out).map_err(ApiError::internal)?;
        Ok((out, next))
    };
    blocking(work).await
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
/// `format=bundle|objects`, `include_identity`, `include_tlp_markings`, `tlp`,
/// `include_expired`. Indicators of a type with a lifetime carry
/// `valid_until` = `last_seen + lifetime`.
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
        identity_name: ctx.state.config().server.identity_name.clone(),
        lifetimes: ctx.lifetimes(),
    };
    let q = listing_query(ctx, None)?;
    let (out, next) = render_page(ctx, q, move |items, _, out| {
        export::write_stix(out, items, &opts).map(|_| ())
    })
    .await?;
    Ok(respond(Format::Stix, out, next))
}

/// `GET /api/v1/iocs/misp` (`read:misp`): one MISP Event; `type`, `since`,
/// `limit`, `tlp`.
pub async fn misp(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let mut q = listing_query(ctx, Some(&misp_types()))?;
    // `limit` is "max attributes in the event" (spec): ATT&CK technique
    // records would be event tags, so they are not paged here; the
    // techniques the attributes carry still tag the event.
    q.exclude_type = Some(IocType::MitreAttack);
    let opts = export::MispOptions {
        tlp: ctx.params.tlp("tlp")?,
        // The event's date range names the asked-for `since` (clamped);
        // without one, the oldest exported IOC's time.
        since: ctx.params.time("since")?.and(q.since),
        until: Some(q.until.unwrap_or_else(chrono::Utc::now)),
        info_prefix: format!("{} IOCs", ctx.state.config().server.identity_name),
        event_uuid: None,
    };
    let (out, next) = render_page(ctx, q, move |items, _, out| {
        export::write_misp(out, items, &opts).map(|_| ())
    })
    .await?;
    Ok(respond(Format::Misp, out, next))
}

/// `GET /api/v1/iocs/cef` (`read:cef`): one CEF line per IOC.
pub async fn cef(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let opts = export::CefOptions {
        tlp: ctx.params.tlp("tlp")?,
        ..Default::default()
    };
    let q = listing_query(ctx, None)?;
    let (out, next) = render_page(ctx, q, move |items, _, out| {
        export::write_cef(out, items, &opts).map(|_| ())
    })
    .await?;
    Ok(respond(Format::Cef, out, next))
}

/// `GET /api/v1/iocs/openioc` (`read:openioc`): an OpenIOC 1.1 document.
pub async fn openioc(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let q = listing_query(ctx, None)?;
    let (out, next) = render_page(ctx, q, |items, _, out| {
        export::write_openioc(out, items, &export::OpenIocOptions::default()).map(|_| ())
    })
    .await?;
    Ok(respond(Format::OpenIoc, out, next))
}

/// `GET /api/v1/rules/sigma` (`read:rules`): Sigma rules (multi-document
/// YAML) for the IOCs of one listing page: `type`, `since`, `limit`,
/// `min_confidence`, `source`, `tag`.
pub async fn sigma(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let q = listing_query(ctx, None)?;
    let opts = export::sigma::SigmaOptions {
        author: ctx.state.config().server.identity_name.clone(),
        now: None,
    };
    let (out, next) = render_page(ctx, q, move |items, _, out| {
        export::sigma::write_sigma(out, items, &opts).map(|_| ())
    })
    .await?;
    let mut r = bytes_response(StatusCode::OK, export::sigma::CONTENT_TYPE, out);
    if let Some(n) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        r.headers_mut().insert("x-next-cursor", n);
    }
    Ok(r)
}

/// `GET /api/v1/rules/suricata` and `/api/v1/rules/snort` (`read:rules`):
/// one rule per line for the IOCs of one listing page (`type` limited to
/// ipv4, ipv6, domain, url; `since`, `limit`, `min_confidence`, `source`,
/// `tag`, `cursor`, `include_expired` as the listing), sids from
/// `[rules] sid_base` (README, "Suricata and Snort rules").
pub async fn ids_rules(ctx: &Ctx<'_>, format: Format) -> Result<Response<Body>, ApiError> {
    let q = listing_query(ctx, Some(&export::ids_rules::rule_types()))?;
    let opts = export::ids_rules::IdsOptions {
        sid_base: ctx.state.config().rules.sid_base,
    };
    let (out, next) = render_page(ctx, q, move |items, _, out| {
        match format {
            Format::Snort => export::snort::write_snort(out, items, &opts),
            _ => export::suricata::write_suricata(out, items, &opts),
        }
        .map(|_| ())
    })
    .await?;
    Ok(respond(format, out, next))
}
