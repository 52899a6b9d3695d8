//! Server discovery (TAXII 2.1 §4.1) and the API root information (§4.2).
//!
//! URLs are relative (`/api/taxii2/iocs/`), as §4.1.1 allows: they stay
//! right behind a reverse proxy or a NAT address that iocd cannot know.

use super::{taxii_response, API_ROOT, MEDIA_TAXII};
use crate::http::error::ApiError;
use crate::http::handlers::Ctx;
use crate::http::Body;
use hyper::{Response, StatusCode};
use serde_json::json;

/// `GET /api/taxii2/`.
pub fn discovery(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let name = &ctx.state.config().server.identity_name;
    let body = json!({
        "title": format!("{name} TAXII 2.1 server"),
        "description": "Threat-intelligence IOCs of this iocd appliance as STIX 2.1 objects: one collection per IOC type, one with everything, and a writable submissions collection.",
        "contact": format!("The administrators of {name}"),
        "default": API_ROOT,
        "api_roots": [API_ROOT],
    });
    Ok(taxii_response(
        StatusCode::OK,
        body.to_string().into_bytes(),
    ))
}

/// `GET /api/taxii2/iocs/`: `max_content_length` is the server's body
/// limit (`server.max_body_bytes`), beyond which a POST gets 413.
pub fn api_root(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let body = json!({
        "title": "iocd IOCs",
        "description": "IOCs as STIX 2.1 indicators, vulnerabilities and attack patterns, with the producer identity and TLP 2.0 marking definitions.",
        "versions": [MEDIA_TAXII],
        "max_content_length": ctx.state.config().server.max_body_bytes,
    });
    Ok(taxii_response(
        StatusCode::OK,
        body.to_string().into_bytes(),
    ))
}
