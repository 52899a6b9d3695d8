//! TAXII error messages (TAXII 2.1 §3.6.1) for every error on a TAXII
//! route, including those raised by the shared HTTP layer (authentication,
//! scopes, rate limits, body limit).
//!
//! An [`ApiError`] maps field by field, so v1 and TAXII clients see the
//! same codes and reasons:
//!
//! | TAXII field | from |
//! |---|---|
//! | `title` | the HTTP reason phrase ("Unauthorized") |
//! | `description` | `message`: what happened and what to do |
//! | `error_id` | the request id (also `X-Request-Id` and the log line) |
//! | `error_code` | `code` (`missing_api_key`, `insufficient_scope` ...) |
//! | `http_status` | the status, as a string (the spec's type) |
//! | `external_details` | the TAXII 2.1 specification (§1.6.8), for 406/415 only |
//! | `details` | `details` plus `request_id` |

use super::{taxii_response, MEDIA_TAXII};
use crate::http::error::ApiError;
use crate::http::Body;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The TAXII 2.1 specification (media types: §1.6.8), for
/// `external_details` on media-type errors.
const SPEC_MEDIA_TYPES: &str = "https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html";

/// The response for `e`: TAXII error message body and media type, plus
/// the error's extra headers (`WWW-Authenticate`, `Retry-After`, `Allow`).
pub fn response(e: ApiError, request_id: &str) -> Response<Body> {
    let mut details = match e.details {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        other => {
            let mut m = serde_json::Map::new();
            m.insert("detail".into(), other);
            m
        }
    };
    details.insert("request_id".into(), json!(request_id));
    let mut body = json!({
        "title": e.status.canonical_reason().unwrap_or("Error"),
        "description": e.message,
        "error_id": request_id,
        "error_code": e.code,
        "http_status": e.status.as_u16().to_string(),
        "details": details,
    });
    if matches!(
        e.status,
        StatusCode::NOT_ACCEPTABLE | StatusCode::UNSUPPORTED_MEDIA_TYPE
    ) {
        body["external_details"] = json!(SPEC_MEDIA_TYPES);
    }
    let mut r = taxii_response(e.status, body.to_string().into_bytes());
    for (k, v) in e.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// 404 `not_found`.
pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::not_found(message)
}

/// 403 `forbidden` (a collection that cannot be read or written, a
/// status resource of another key is 404 instead).
pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// 406 `not_acceptable`.
pub fn not_acceptable(got: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not_acceptable",
        format!("This TAXII 2.1 server only answers {MEDIA_TAXII}; send it in the Accept header (got '{got}')."),
    )
    .with_details(json!({"accept": got, "supported": [MEDIA_TAXII]}))
}

/// 415 `unsupported_media_type`.
pub fn unsupported_media(got: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("Send the envelope as Content-Type: {MEDIA_TAXII} (got '{got}')."),
    )
    .with_details(json!({"content_type": got, "supported": [MEDIA_TAXII]}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn maps_the_envelope_fields() {
        let e = ApiError::insufficient_scope("read:taxii", &["read:iocs".to_string()], "");
        let r = response(e, "req_0123456789abcdef");
        assert_eq!(r.status(), 403);
        assert_eq!(r.headers()["content-type"], MEDIA_TAXII);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["title"], "Forbidden");
        assert_eq!(v["http_status"], "403");
        assert_eq!(v["error_code"], "insufficient_scope");
        assert_eq!(v["error_id"], "req_0123456789abcdef");
        assert_eq!(v["details"]["request_id"], "req_0123456789abcdef");
        assert_eq!(v["details"]["required_scope"], "read:taxii");
        assert!(v["description"].as_str().unwrap().contains("read:taxii"));
        assert!(v.get("external_details").is_none());
        let r = response(not_acceptable("application/json"), "req_x");
        assert_eq!(r.headers()["content-type"], MEDIA_TAXII);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["http_status"], "406");
        assert!(v["external_details"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
    }
}
