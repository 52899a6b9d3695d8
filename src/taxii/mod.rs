//! TAXII 2.1 (OASIS TAXII Version 2.1, 2021, sections 4 and 5) over the
//! store, under `/api/taxii2/`.
//!
//! ```text
//! /api/taxii2/                                    discovery            (discovery.rs)
//! /api/taxii2/iocs/                               the one API root     (discovery.rs)
//!   status/{id}/                                  add-objects status   (status.rs)
//!   collections/ , collections/{id}/              collections          (collections.rs)
//!   collections/{id}/objects/                     GET page, POST add   (objects.rs, status.rs)
//!   collections/{id}/objects/{object-id}/         GET, DELETE          (objects.rs)
//!   collections/{id}/objects/{object-id}/versions/                     (objects.rs)
//!   collections/{id}/manifest/                                         (manifest.rs)
//! ```
//!
//! The objects are the SDOs of `/api/v1/iocs/stix` (built by
//! [`crate::export::stix`], same ids), and a page is a cursor into the
//! store's time index (`page.rs`): its cost does not depend on its position
//! or on the collection's size; while a client pages, the following page
//! is rendered ahead (`readahead.rs`). TAXII's "date added" is the index time
//! (`Indicator.modified`): an IOC whose record changes is re-added at the
//! end, where pollers using `added_after` see it.
//!
//! This module is a way in and out, like `http/`: it reuses the HTTP
//! layer's authentication, rate limits, body limit and request log, and
//! only answers in TAXII's media type and error format (`error.rs`,
//! `media.rs`).

mod collections;
mod discovery;
pub mod error;
mod manifest;
pub mod media;
mod objects;
mod page;
pub mod readahead;
pub mod status;

pub use collections::{collection_id, collections, Collection, Members};
pub use status::StatusLog;

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::handlers::Ctx;
use crate::http::params::Params;
use crate::http::ratelimit::Decision;
use crate::http::router::match_path;
use crate::http::{AppState, Body};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Method, Response};
use std::net::IpAddr;

/// The TAXII 2.1 media type of every request and response body here.
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The media type of the objects inside (collections' `media_types`).
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";
/// Where TAXII lives; every path under it is answered in TAXII's format.
pub const PREFIX: &str = "/api/taxii2";
/// The one API root.
pub const API_ROOT: &str = "/api/taxii2/iocs/";

/// Server-wide TAXII state: the status resources of recent POSTs and the
/// pages rendered ahead for paging clients.
#[derive(Default)]
pub struct TaxiiState {
    pub statuses: StatusLog,
    pub readahead: readahead::ReadAhead,
}

/// Which resource a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Discovery,
    ApiRoot,
    Status,
    Collections,
    Collection,
    Objects,
    AddObjects,
    Object,
    DeleteObject,
    Versions,
    Manifest,
}

/// One TAXII route. A caller needs any one of `scopes`.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    /// Path with `{name}` segments, with TAXII's trailing slash (requests
    /// may omit it: taxii2-client polls `status/{id}` without one).
    pub pattern: &'static str,
    pub scopes: &'static [&'static str],
    pub endpoint: Endpoint,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

/// Reading objects.
const READ: &[&str] = &["read:taxii"];
/// Discovery, API root and collection descriptions: anyone who may read or
/// write over TAXII (a submit-only key must find the writable collection).
const META: &[&str] = &["read:taxii", "write:taxii", "write:iocs"];
/// Adding objects and reading one's own status resources.
const WRITE: &[&str] = &["write:taxii", "write:iocs"];
const ADMIN: &[&str] = &["admin"];

const fn r(
    method: Method,
    pattern: &'static str,
    scopes: &'static [&'static str],
    endpoint: Endpoint,
    summary: &'static str,
) -> Route {
    Route {
        method,
        pattern,
        scopes,
        endpoint,
        summary,
    }
}

/// Every TAXII route (the OpenAPI document lists each; a test checks it).
pub const ROUTES: &[Route] = &[
    r(Method::GET, "/api/taxii2/", META, Endpoint::Discovery, "TAXII 2.1 server discovery"),
    r(Method::GET, "/api/taxii2/iocs/", META, Endpoint::ApiRoot, "TAXII 2.1 API root information"),
    r(Method::GET, "/api/taxii2/iocs/status/{status-id}/", WRITE, Endpoint::Status, "Status of an add-objects request (the submitting key or an admin)"),
    r(Method::GET, "/api/taxii2/iocs/collections/", META, Endpoint::Collections, "TAXII collections: one per IOC type, all, and submissions"),
    r(Method::GET, "/api/taxii2/iocs/collections/{id}/", META, Endpoint::Collection, "One TAXII collection"),
    r(Method::GET, "/api/taxii2/iocs/collections/{id}/objects/", READ, Endpoint::Objects, "A page of STIX 2.1 objects (added_after, limit, next, match[id|type|version|spec_version])"),
    r(Method::POST, "/api/taxii2/iocs/collections/{id}/objects/", WRITE, Endpoint::AddObjects, "Add STIX objects (an envelope) to the submissions collection; answers a status resource"),
    r(Method::GET, "/api/taxii2/iocs/collections/{id}/objects/{object-id}/", READ, Endpoint::Object, "One object"),
    r(Method::DELETE, "/api/taxii2/iocs/collections/{id}/objects/{object-id}/", ADMIN, Endpoint::DeleteObject, "Delete an IOC as a false positive (tombstoned)"),
    r(Method::GET, "/api/taxii2/iocs/collections/{id}/objects/{object-id}/versions/", READ, Endpoint::Versions, "Versions of one object"),
    r(Method::GET, "/api/taxii2/iocs/collections/{id}/manifest/", READ, Endpoint::Manifest, "Manifest of a page of objects"),
];

/// Whether `path` belongs to TAXII (and so gets TAXII's error format).
pub fn owns(path: &str) -> bool {
    path == PREFIX || path.starts_with("/api/taxii2/")
}

enum Routed {
    Found(&'static Route, Vec<String>),
    WrongMethod(Vec<&'static str>),
    NotFound,
}

fn route(method: &Method, path: &str) -> Routed {
    let mut allowed = Vec::new();
    for rt in ROUTES {
        if let Some(params) = match_path(rt.pattern, path) {
            if rt.method == *method || (*method == Method::HEAD && rt.method == Method::GET) {
                return Routed::Found(rt, params);
            }
            allowed.push(rt.method.as_str());
        }
    }
    if allowed.is_empty() {
        Routed::NotFound
    } else {
        Routed::WrongMethod(allowed)
    }
}

/// What [`handle`] hands back to the HTTP layer's common tail (request id
/// header, rate-limit headers, log line).
pub struct Outcome {
    pub response: Response<Body>,
    /// The key id once the key is known (also on its 403 and 429), empty
    /// when authentication failed.
    pub key_id: String,
    pub decision: Option<Decision>,
}

/// Serves one request under `/api/taxii2/`. Order: route (404/405),
/// authenticate + rate limit + scope (401/429/403, as on v1), `Accept`
/// (406), then the endpoint (which checks `Content-Type`, 415, and the
/// body limit, 413). Every error is a TAXII error message.
pub async fn handle(
    state: &AppState,
    ip: IpAddr,
    rid: &str,
    path: &str,
    params: &Params,
    parts: &Parts,
    body: Incoming,
) -> Outcome {
    let mut key_id = String::new();
    let mut decision = None;
    let result: Result<Response<Body>, ApiError> = async {
        let (rt, segs) = match route(&parts.method, path) {
            Routed::NotFound => {
                (key_id, decision) = crate::http::gate_unrouted(state, parts, params, ip).await;
                return Err(error::not_found(format!(
                    "No TAXII endpoint at {path}. The discovery resource is {PREFIX}/ and the API root {API_ROOT}."
                )));
            }
            Routed::WrongMethod(allowed) => {
                (key_id, decision) = crate::http::gate_unrouted(state, parts, params, ip).await;
                return Err(ApiError::method_not_allowed(&allowed));
            }
            Routed::Found(rt, segs) => (rt, segs),
        };
        let principal: Principal = match crate::http::gate_any(state, parts, params, rt.scopes, ip).await {
            Ok((p, d)) => {
                key_id = p.key_id.clone();
                decision = Some(d);
                p
            }
            Err(denied) => {
                decision = denied.decision;
                key_id = denied.key_id;
                return Err(denied.error);
            }
        };
        media::check_accept(&parts.headers)?;
        let ctx = Ctx {
            state,
            principal: Some(&principal),
            params,
            param: None,
            parts,
        };
        dispatch(rt.endpoint, &ctx, &segs, body).await
    }
    .await;
    let response = match result {
        Ok(r) => r,
        Err(e) => error::response(e, rid),
    };
    Outcome {
        response,
        key_id,
        decision,
    }
}

async fn dispatch(
    endpoint: Endpoint,
    ctx: &Ctx<'_>,
    segs: &[String],
    body: Incoming,
) -> Result<Response<Body>, ApiError> {
    let seg = |i: usize| segs.get(i).map(String::as_str).unwrap_or("");
    match endpoint {
        Endpoint::Discovery => discovery::discovery(ctx),
        Endpoint::ApiRoot => discovery::api_root(ctx),
        Endpoint::Status => status::get(ctx, seg(0)),
        Endpoint::Collections => collections::list(ctx),
        Endpoint::Collection => collections::get(ctx, seg(0)),
        Endpoint::Objects => objects::list(ctx, seg(0)).await,
        Endpoint::AddObjects => status::add(ctx, seg(0), body).await,
        Endpoint::Object => objects::get(ctx, seg(0), seg(1)).await,
        Endpoint::DeleteObject => objects::delete(ctx, seg(0), seg(1)).await,
        Endpoint::Versions => objects::versions(ctx, seg(0), seg(1)).await,
        Endpoint::Manifest => manifest::list(ctx, seg(0)).await,
    }
}

/// A TAXII JSON response (`application/taxii+json;version=2.1`).
pub fn taxii_response(status: hyper::StatusCode, body: Vec<u8>) -> Response<Body> {
    crate::http::bytes_response(status, MEDIA_TAXII, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_trailing_slash() {
        let found = |m: Method, p: &str| match route(&m, p) {
            Routed::Found(r, s) => Some((r.endpoint, s)),
            _ => None,
        };
        assert_eq!(
            found(Method::GET, "/api/taxii2/"),
            Some((Endpoint::Discovery, vec![]))
        );
        assert_eq!(
            found(Method::GET, "/api/taxii2"),
            Some((Endpoint::Discovery, vec![]))
        );
        assert_eq!(
            found(Method::GET, "/api/taxii2/iocs/status/abc"),
            Some((Endpoint::Status, vec!["abc".into()]))
        );
        assert_eq!(
            found(
                Method::GET,
                "/api/taxii2/iocs/collections/c/objects/indicator--x/versions/"
            ),
            Some((Endpoint::Versions, vec!["c".into(), "indicator--x".into()]))
        );
        assert_eq!(
            found(Method::POST, "/api/taxii2/iocs/collections/c/objects/").map(|x| x.0),
            Some(Endpoint::AddObjects)
        );
        assert_eq!(
            found(Method::HEAD, "/api/taxii2/iocs/").map(|x| x.0),
            Some(Endpoint::ApiRoot)
        );
        assert!(
            matches!(route(&Method::PUT, "/api/taxii2/iocs/collections/c/objects/"), Routed::WrongMethod(m) if m == vec!["GET", "POST"])
        );
        assert!(matches!(
            route(&Method::GET, "/api/taxii2/other/"),
            Routed::NotFound
        ));
        assert!(matches!(
            route(&Method::GET, "/api/taxii2/iocs/collections//objects/"),
            Routed::NotFound
        ));
        assert!(owns("/api/taxii2") && owns("/api/taxii2/x") && !owns("/api/taxii2x"));
    }
}
