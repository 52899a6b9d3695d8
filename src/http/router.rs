//! The route table: one row per endpoint with its method, path pattern and
//! required scope. Dispatch, the OpenAPI document test and the auth matrix
//! test all read this one table.

use hyper::Method;

/// Which handler serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Health,
    OpenApi,
    ListIocs,
    ListIocsCsv,
    GetIoc,
    PostIocs,
    DeleteIoc,
    Stix,
    Misp,
    Cef,
    OpenIoc,
    Sigma,
    Suricata,
    Snort,
    Stats,
    Lookup,
    BulkLookup,
    ListKeys,
    CreateKey,
    RevokeKey,
    Feeds,
    Metrics,
    StatsTimeline,
    ListArticles,
    GetArticle,
    ExportArticles,
}

/// One endpoint. `scope: None` means no authentication (health, OpenAPI).
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    /// Path with `{name}` segments.
    pub pattern: &'static str,
    pub scope: Option<&'static str>,
    pub handler: Handler,
}

const fn r(
    method: Method,
    pattern: &'static str,
    scope: Option<&'static str>,
    handler: Handler,
) -> Route {
    Route {
        method,
        pattern,
        scope,
        handler,
    }
}

/// Every route iocd serves (TAXII routes live in their own table).
pub const ROUTES: &[Route] = &[
    r(Method::GET, "/api/v1/health", None, Handler::Health),
    r(Method::GET, "/api/openapi.json", None, Handler::OpenApi),
    r(
        Method::GET,
        "/api/v1/iocs",
        Some("read:iocs"),
        Handler::ListIocs,
    ),
    r(
        Method::POST,
        "/api/v1/iocs",
        Some("write:iocs"),
        Handler::PostIocs,
    ),
    r(
        Method::GET,
        "/api/v1/iocs/csv",
        Some("read:iocs"),
        Handler::ListIocsCsv,
    ),
    r(
        Method::GET,
        "/api/v1/iocs/stix",
        Some("read:stix"),
        Handler::Stix,
    ),
    r(
        Method::GET,
        "/api/v1/iocs/misp",
        Some("read:misp"),
        Handler::Misp,
    ),
    r(
        Method::GET,
        "/api/v1/iocs/cef",
        Some("read:cef"),
        Handler::Cef,
    ),
    r(
        Method::GET,
        "/api/v1/iocs/openioc",
        Some("read:openioc"),
        Handler::OpenIoc,
    ),
    r(
        Method::GET,
        "/api/v1/rules/sigma",
        Some("read:rules"),
        Handler::Sigma,
    ),
    r(
        Method::GET,
        "/api/v1/rules/suricata",
        Some("read:rules"),
        Handler::Suricata,
    ),
    r(
        Method::GET,
        "/api/v1/rules/snort",
        Some("read:rules"),
        Handler::Snort,
    ),
    r(
        Method::GET,
        "/api/v1/iocs/{id}",
        Some("read:iocs"),
        Handler::GetIoc,
    ),
    r(
        Method::DELETE,
        "/api/v1/iocs/{id}",
        Some("admin"),
        Handler::DeleteIoc,
    ),
    r(
        Method::GET,
        "/api/v1/stats",
        Some("read:stats"),
        Handler::Stats,
    ),
    r(
        Method::GET,
        "/api/v1/stats/timeline",
        Some("read:stats"),
        Handler::StatsTimeline,
    ),
    r(
        Method::GET,
        "/api/v1/lookup",
        Some("read:iocs"),
        Handler::Lookup,
    ),
    r(
        Method::POST,
        "/api/v1/lookup",
        Some("read:iocs"),
        Handler::BulkLookup,
    ),
    r(
        Method::GET,
        "/api/v1/keys",
        Some("admin"),
        Handler::ListKeys,
    ),
    r(
        Method::POST,
        "/api/v1/keys",
        Some("admin"),
        Handler::CreateKey,
    ),
    r(
        Method::DELETE,
        "/api/v1/keys/{id}",
        Some("admin"),
        Handler::RevokeKey,
    ),
    r(
        Method::GET,
        "/api/v1/articles",
        Some("read:articles"),
        Handler::ListArticles,
    ),
    r(
        Method::GET,
        "/api/v1/articles/export",
        Some("read:articles"),
        Handler::ExportArticles,
    ),
    r(
        Method::GET,
        "/api/v1/articles/{id}",
        Some("read:articles"),
        Handler::GetArticle,
    ),
    r(Method::GET, "/api/v1/feeds", Some("admin"), Handler::Feeds),
    r(
        Method::GET,
        "/metrics",
        Some("read:stats"),
        Handler::Metrics,
    ),
];

/// Matches `path` against `pattern` (trailing slashes ignored on both);
/// returns the `{param}` segments, percent-decoded, in order. Shared by the
/// v1 and the TAXII route tables.
pub fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut pi = pattern.trim_end_matches('/').split('/');
    let mut xi = path.trim_end_matches('/').split('/');
    loop {
        match (pi.next(), xi.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(x)) => {
                if p.starts_with('{') {
                    if x.is_empty() {
                        return None;
                    }
                    params.push(percent_decode(x));
                } else if p != x {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The outcome of routing a request.
pub enum Routed {
    Found(&'static Route, Option<String>),
    /// Path known, method not: the allowed methods.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

/// Finds the route for `method` + `path` (a trailing slash is ignored).
/// Literal segments win over `{param}` ones because literal rows come first.
pub fn route(method: &Method, path: &str) -> Routed {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut allowed = Vec::new();
    let mut matched_literal: Option<&str> = None;
    for rt in ROUTES {
        if let Some(param) = match_path(rt.pattern, path).map(|v| v.into_iter().next()) {
            // A literal route (e.g. /iocs/stix) shadows /iocs/{id} for every method.
            if param.is_some() && matched_literal.is_some() {
                continue;
            }
            if param.is_none() {
                matched_literal = Some(rt.pattern);
            }
            if rt.method == *method || (*method == Method::HEAD && rt.method == Method::GET) {
                return Routed::Found(rt, param);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_literals_before_params() {
        match route(&Method::GET, "/api/v1/iocs/stix") {
            Routed::Found(r, p) => assert_eq!((r.handler, p), (Handler::Stix, None)),
            _ => panic!(),
        }
        match route(&Method::GET, "/api/v1/iocs/abc/") {
            Routed::Found(r, p) => {
                assert_eq!((r.handler, p.as_deref()), (Handler::GetIoc, Some("abc")))
            }
            _ => panic!(),
        }
        match route(&Method::PUT, "/api/v1/iocs") {
            Routed::WrongMethod(m) => assert_eq!(m, vec!["GET", "POST"]),
            _ => panic!(),
        }
        match route(&Method::DELETE, "/api/v1/iocs/stix") {
            Routed::WrongMethod(m) => assert_eq!(m, vec!["GET"]),
            _ => panic!(),
        }
        assert!(matches!(route(&Method::GET, "/nope"), Routed::NotFound));
        assert!(matches!(
            route(&Method::GET, "/api/v1/iocs/a/b"),
            Routed::NotFound
        ));
    }
}
