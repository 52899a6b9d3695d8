//! The documented error envelope (spec overview, "Error Handling"):
//! `{"error":{"code","message","details","request_id"}}`, mapped once from
//! [`ApiError`] with the right status.

use super::Body;
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// An error answered to a client. `code` is the stable machine-readable
/// name; `message` tells a person what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Extra response headers (Retry-After, Allow, rate-limit headers).
    pub headers: Vec<(&'static str, String)>,
    /// The rate decision to report in the `X-RateLimit-*` headers instead
    /// of the one taken at admission (a handler that charged more tokens).
    pub rate: Option<Box<super::ratelimit::Decision>>,
}

impl ApiError {
    /// A bare error with empty details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
            headers: Vec::new(),
            rate: None,
        }
    }

    /// Attaches `details`.
    pub fn with_details(mut self, d: Value) -> ApiError {
        self.details = d;
        self
    }

    /// Attaches a response header.
    pub fn with_header(mut self, name: &'static str, value: String) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// 400 `invalid_parameter` naming the parameter.
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> ApiError {
        let m = message.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("Invalid value for parameter '{name}': {m}"),
        )
        .with_details(json!({"parameter": name, "reason": m}))
    }

    /// 400 `invalid_body`.
    pub fn invalid_body(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }

    /// 401 `missing_api_key` (the spec's message).
    pub fn missing_key() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "API key is required. Include it in the Authorization header as \"Bearer sk_live_...\"",
        )
        .with_header(
            "www-authenticate",
            "Bearer realm=\"iocd\", Basic realm=\"iocd\"".into(),
        )
    }

    /// 401 `invalid_api_key`; `reason` is `malformed`, `unknown` or `revoked`.
    pub fn invalid_key(reason: &'static str) -> ApiError {
        let msg = match reason {
            "malformed" => "The API key is malformed: keys look like sk_live_<16 hex chars>_<32 letters/digits>.",
            "revoked" => "This API key has been revoked. Ask an administrator for a new one.",
            _ => "The API key is not valid.",
        };
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", msg)
            .with_details(json!({"reason": reason}))
            .with_header(
                "www-authenticate",
                "Bearer realm=\"iocd\", Basic realm=\"iocd\"".into(),
            )
    }

    /// 403 `insufficient_scope` with the spec's details.
    pub fn insufficient_scope(required: &str, yours: &[String], upgrade_url: &str) -> ApiError {
        let mut d = json!({"required_scope": required, "your_scopes": yours});
        if !upgrade_url.is_empty() {
            d["upgrade_url"] = json!(upgrade_url);
        }
        ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("This endpoint requires the \"{required}\" scope"),
        )
        .with_details(d)
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 405 `method_not_allowed` with an `Allow` header.
    pub fn method_not_allowed(allowed: &[&str]) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("Method not allowed here; use {}", allowed.join(", ")),
        )
        .with_details(json!({"allowed_methods": allowed}))
        .with_header("allow", allowed.join(", "))
    }

    /// 413 `payload_too_large`.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "The request body exceeds the {limit}-byte limit; split it into smaller batches."
            ),
        )
        .with_details(json!({"max_body_bytes": limit}))
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media(expected: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Unsupported Content-Type; send {expected}"),
        )
    }

    /// 500 `internal_error`; the cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error. The request id identifies it in the server log.",
        )
    }

    /// The response: envelope body, `application/json`, extra headers.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "request_id": request_id,
        }});
        let mut r = Response::new(Body::new(Bytes::from(body.to_string())));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        if let Some(d) = self.rate {
            r.extensions_mut().insert(*d);
        }
        r
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}
