//! `Accept` negotiation for the v1 routes (RFC 9110 §12.5.1): a request
//! whose `Accept` admits none of the media types a route produces gets 406
//! `not_acceptable` with the envelope, listing what the route serves.
//!
//! Rules: a missing or empty header admits everything; a range matches by
//! `type/subtype`, `type/*` or `*/*` (case-insensitive; parameters other
//! than `q` are ignored); a range with `q=0` admits nothing. The TAXII
//! routes have their own, stricter rule ([`crate::taxii::media`]), built on
//! the same parser.

use super::error::ApiError;
use super::router::Handler;
use hyper::header::{HeaderMap, ACCEPT};
use hyper::StatusCode;
use serde_json::json;

/// One media range, split: `(type/subtype, [(param, value)])`, lower-cased,
/// quotes stripped from values.
pub(crate) fn parse(range: &str) -> (String, Vec<(String, String)>) {
    let mut parts = range.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_ascii_lowercase(),
            ))
        })
        .collect();
    (essence, params)
}

/// The value of parameter `name` of a parsed range.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether a range carries `q=0` (explicitly refused).
pub(crate) fn refused(params: &[(String, String)]) -> bool {
    param(params, "q")
        .and_then(|q| q.parse::<f32>().ok())
        .is_some_and(|q| q <= 0.0)
}

/// Whether an `Accept` value admits one of `produces` (essences such as
/// `application/json`).
pub fn admits(value: Option<&str>, produces: &[&str]) -> bool {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return true;
    };
    v.split(',').any(|range| {
        let (essence, params) = parse(range);
        if refused(&params) {
            return false;
        }
        let Some((ty, sub)) = essence.split_once('/') else {
            return false;
        };
        produces.iter().any(|p| {
            let (pt, ps) = p.split_once('/').unwrap_or((p, ""));
            (ty == "*" && sub == "*") || (ty == pt && (sub == "*" || sub == ps))
        })
    })
}

/// The media types a v1 route answers with (its 2xx bodies). STIX also
/// answers clients that ask for `application/json`; Sigma YAML and the
/// rule files are text, so `text/plain` readers get them too.
pub fn produces(h: Handler) -> &'static [&'static str] {
    use Handler::*;
    match h {
        ListIocs => &["application/json", "text/csv"],
        ListIocsCsv => &["text/csv"],
        Stix => &["application/stix+json", "application/json"],
        Cef | Suricata | Snort => &["text/plain"],
        OpenIoc => &["application/xml", "text/xml"],
        Sigma => &[
            "application/yaml",
            "application/x-yaml",
            "text/yaml",
            "text/plain",
        ],
        Metrics => &["text/plain", "application/openmetrics-text"],
        ExportArticles => &["application/json", "application/x-ndjson", "text/csv"],
        Health | OpenApi | GetIoc | PostIocs | DeleteIoc | Misp | Stats | Lookup | BulkLookup
        | ListKeys | CreateKey | RevokeKey | Feeds | StatsTimeline | ListArticles | GetArticle => {
            &["application/json"]
        }
    }
}

/// 406 `not_acceptable` unless the request's `Accept` admits what `h`
/// produces.
pub fn check(h: Handler, headers: &HeaderMap) -> Result<(), ApiError> {
    let v = headers.get(ACCEPT).map(|v| v.to_str().unwrap_or("\u{0}"));
    let ok = produces(h);
    if admits(v, ok) {
        return Ok(());
    }
    let got = v.unwrap_or("");
    Err(ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "not_acceptable",
        format!(
            "This endpoint answers {}; the Accept header admits none of them (got '{got}').",
            ok.join(", ")
        ),
    )
    .with_details(json!({"accept": got, "supported": ok})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_wildcards_and_q_zero() {
        let json = &["application/json"];
        for ok in [
            None,
            Some(""),
            Some("*/*"),
            Some("application/*"),
            Some("Application/JSON; charset=utf-8"),
            Some("text/html, application/xhtml+xml, */*;q=0.8"),
            Some("text/csv, application/json;q=0.5"),
        ] {
            assert!(admits(ok, json), "{ok:?}");
        }
        for bad in [
            Some("text/csv"),
            Some("image/png"),
            Some("application/json;q=0"),
            Some("text/*"),
            Some("garbage"),
            Some("application/json;q=0, text/plain"),
        ] {
            assert!(!admits(bad, json), "{bad:?}");
        }
        assert!(admits(Some("text/*"), produces(Handler::Cef)));
        assert!(admits(Some("application/json"), produces(Handler::Stix)));
        assert!(!admits(Some("text/csv"), produces(Handler::Stix)));
    }

    #[test]
    fn refusal_is_the_envelope_with_the_supported_list() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, "image/png".parse().unwrap());
        let e = check(Handler::Stix, &h).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(e.code, "not_acceptable");
        assert_eq!(
            e.details["supported"],
            json!(["application/stix+json", "application/json"])
        );
        h.insert(ACCEPT, "application/stix+json;version=2.1".parse().unwrap());
        assert!(check(Handler::Stix, &h).is_ok());
    }
}
