//! Media-type negotiation (TAXII 2.1 §1.6.8).
//!
//! Rules, the same for `Accept` and for a POST's `Content-Type`:
//! - `application/taxii+json;version=2.1` is accepted (whitespace around
//!   `;`, quoted `"2.1"`, any case, extra parameters such as `charset`);
//! - `application/taxii+json` without `version` is accepted too: the IANA
//!   registration makes `version` optional, and the only version served
//!   here is 2.1;
//! - any other version (2.0) or type (`application/json`,
//!   `application/stix+json`) is refused: 406 for `Accept`, 415 for
//!   `Content-Type`.
//!
//! For `Accept` only: a missing header, `*/*` and `application/*` are
//! accepted (curl and browsers send `*/*`), and an entry with `q=0` does not
//! count. Responses always carry `application/taxii+json;version=2.1`.

use super::error;
use crate::http::accept::{param, parse, refused};
use crate::http::error::ApiError;
use hyper::header::{HeaderMap, ACCEPT, CONTENT_TYPE};

/// Whether a TAXII media type of version 2.1 (or unversioned) is named.
fn is_taxii21(essence: &str, params: &[(String, String)]) -> bool {
    essence == "application/taxii+json" && matches!(param(params, "version"), None | Some("2.1"))
}

/// Whether an `Accept` header value admits our responses.
pub fn accept_ok(value: Option<&str>) -> bool {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return true;
    };
    v.split(',').any(|range| {
        let (essence, params) = parse(range);
        !refused(&params)
            && (essence == "*/*" || essence == "application/*" || is_taxii21(&essence, &params))
    })
}

/// Whether a request `Content-Type` is TAXII 2.1.
pub fn content_type_ok(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let (essence, params) = parse(v);
        is_taxii21(&essence, &params)
    })
}

/// 406 unless `Accept` admits `application/taxii+json;version=2.1`.
pub fn check_accept(h: &HeaderMap) -> Result<(), ApiError> {
    let v = h.get(ACCEPT).map(|v| v.to_str().unwrap_or("\u{0}"));
    if accept_ok(v) {
        Ok(())
    } else {
        Err(error::not_acceptable(v.unwrap_or("")))
    }
}

/// 415 unless the body is declared `application/taxii+json;version=2.1`.
pub fn check_content_type(h: &HeaderMap) -> Result<(), ApiError> {
    let v = h.get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("\u{0}"));
    if content_type_ok(v) {
        Ok(())
    } else {
        Err(error::unsupported_media(v.unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rules() {
        for ok in [
            None,
            Some(""),
            Some("application/taxii+json;version=2.1"),
            Some("application/taxii+json; version=\"2.1\""),
            Some("Application/TAXII+JSON;Version=2.1"),
            Some("application/taxii+json"),
            Some("*/*"),
            Some("application/*"),
            Some("application/json, application/taxii+json;version=2.1;q=0.5"),
        ] {
            assert!(accept_ok(ok), "{ok:?}");
        }
        for bad in [
            Some("application/json"),
            Some("application/taxii+json;version=2.0"),
            Some("application/vnd.oasis.taxii+json; version=2.0"),
            Some("application/stix+json;version=2.1"),
            Some("text/html"),
            Some("application/taxii+json;version=2.1;q=0"),
        ] {
            assert!(!accept_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn content_type_rules() {
        assert!(content_type_ok(Some("application/taxii+json;version=2.1")));
        assert!(content_type_ok(Some(
            "application/taxii+json; version=2.1; charset=utf-8"
        )));
        assert!(content_type_ok(Some("application/taxii+json")));
        assert!(!content_type_ok(None));
        assert!(!content_type_ok(Some("application/json")));
        assert!(!content_type_ok(Some("application/stix+json;version=2.1")));
        assert!(!content_type_ok(Some("application/taxii+json;version=2.0")));
        assert!(!content_type_ok(Some("*/*")));
    }
}
