//! TAXII 2.1 under `/api/taxii2/` through the real binary (issue #6):
//! resources and headers, paging while IOCs arrive, `added_after`, every
//! `match[...]`, TAXII error messages, adding objects and their status, and
//! the OASIS client (`taxii2-client`) in `tests/consumers/test_taxii.py`.

use crate::common;

use common::Response;
use common::Server;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

const TAXII: &str = "application/taxii+json;version=2.1";
const ALL: &str = "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4";
const SUBMISSIONS: &str = "/api/taxii2/iocs/collections/01ca3e00-a807-5d8d-bf1d-de1e9f80e62d";
/// No demo IOCs, a roomy failed-auth budget.
const BASE_CONFIG: &str =
    "[demo]\nseed_when_empty = false\n[auth]\nfailed_attempts_per_minute = 100000\n";

fn start(extra_config: &str, keys: &[(&str, &str, Option<&str>)]) -> Server {
    Server::start_with(&format!("{BASE_CONFIG}{extra_config}"), keys)
}

fn get(s: &Server, path: &str, key: &str) -> Response {
    s.client
        .get(s.url(path))
        .bearer_auth(key)
        .header("accept", TAXII)
        .send()
        .unwrap()
}

/// A 200 TAXII answer: its JSON and headers.
fn ok(s: &Server, path: &str, key: &str) -> (Value, reqwest::header::HeaderMap) {
    let r = get(s, path, key);
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], TAXII, "{path}");
    let h = r.headers().clone();
    (r.json().unwrap(), h)
}

fn ids(env: &Value) -> Vec<String> {
    env["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h[name].to_str().unwrap().to_string()
}

/// `n` IOC values of mixed types (domain, IPv4, SHA-256, CVE, URL in
/// turn), distinct from every other call's in this process.
fn iocs(batch: &str, n: usize) -> Vec<String> {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let base = NEXT.fetch_add(n, Ordering::SeqCst);
    (0..n)
        .map(|i| {
            let k = base + i;
            match i % 5 {
                0 => format!("{batch}-host{k}.evil.example"),
                1 => format!("45.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255),
                2 => format!("{k:064x}"),
                3 => format!("CVE-2024-{}", 10_000 + k),
                _ => format!("https://{batch}.evil.example/p/{k}"),
            }
        })
        .collect()
}

/// POSTs IOCs over the v1 API (text/plain, one per line).
fn load(s: &Server, values: &[String]) {
    let r = s
        .client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "text/plain")
        .body(values.join("\n"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
}

/// Every page of `path` (objects or manifest) with `limit`, calling
/// `between` after each page. Returns the pages.
fn pages(
    s: &Server,
    path: &str,
    key: &str,
    limit: usize,
    mut between: impl FnMut(usize),
) -> Vec<(Value, reqwest::header::HeaderMap)> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(n) => format!("{path}{sep}limit={limit}&next={n}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let (v, h) = ok(s, &url, key);
        let more = v["more"].as_bool().unwrap();
        assert_eq!(
            more,
            v.get("next").is_some(),
            "next is present exactly when more is true"
        );
        next = v["next"].as_str().map(str::to_string);
        out.push((v, h));
        between(out.len());
        if !more {
            return out;
        }
        assert!(out.len() < 10_000, "paging does not end");
    }
}

fn is_taxii_time(t: &str) -> bool {
    // 2026-11-29T23:22:18.397445Z
    t.len() == 27 && t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.as_bytes()[19] == b'.'
}

/// Checks a TAXII error message (TAXII 2.1 §3.6.1) and returns it.
fn taxii_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"],
        TAXII,
        "error {status} media type"
    );
    let rid = header(r.headers(), "x-request-id");
    let v: Value = r.json().unwrap();
    assert_eq!(v["http_status"], status.to_string(), "{v}");
    assert_eq!(v["error_code"], code, "{v}");
    assert!(!v["title"].as_str().unwrap().is_empty());
    assert!(!v["description"].as_str().unwrap().is_empty());
    assert_eq!(v["error_id"], rid);
    assert_eq!(v["details"]["request_id"], rid);
    v
}

#[test]
fn discovery_api_root_and_collections() {
    let s = start(
        "[server]\nmax_body_bytes = 65536\n",
        &[("submit-only", "pro", Some("write:taxii"))],
    );
    let k = &s.keys.pro;
    let (d, _) = ok(&s, "/api/taxii2/", k);
    assert_eq!(d["default"], "/api/taxii2/iocs/");
    assert_eq!(d["api_roots"], json!(["/api/taxii2/iocs/"]));
    assert!(d["title"].is_string() && d["description"].is_string() && d["contact"].is_string());
    // Without the trailing slash too.
    assert_eq!(ok(&s, "/api/taxii2", k).0, d);

    let (root, _) = ok(&s, "/api/taxii2/iocs/", k);
    assert_eq!(root["versions"], json!([TAXII]));
    assert_eq!(root["max_content_length"], 65536);
    assert!(root["title"].is_string());

    let (c, _) = ok(&s, "/api/taxii2/iocs/collections/", k);
    let list = c["collections"].as_array().unwrap();
    assert_eq!(list.len(), 13);
    let by_alias: HashMap<&str, &Value> = list
        .iter()
        .map(|c| (c["alias"].as_str().unwrap(), c))
        .collect();
    assert_eq!(
        by_alias["all"]["id"],
        "57dce6a1-9cbf-52cf-89a5-7fecd7501cb4"
    );
    assert_eq!(
        by_alias["submissions"]["id"],
        "01ca3e00-a807-5d8d-bf1d-de1e9f80e62d"
    );
    for c in list {
        let write = c["alias"] == "submissions";
        assert_eq!(c["can_write"], write, "{c}");
        assert_eq!(c["can_read"], !write, "{c}");
        assert_eq!(
            c["media_types"],
            json!(["application/stix+json;version=2.1"])
        );
        let id = c["id"].as_str().unwrap();
        assert_eq!(
            &ok(&s, &format!("/api/taxii2/iocs/collections/{id}/"), k).0,
            c
        );
    }
    assert_eq!(by_alias.len(), 13, "aliases are distinct");
    // The alias works in place of the id.
    assert_eq!(
        &ok(&s, "/api/taxii2/iocs/collections/ipv4/", k).0,
        by_alias["ipv4"]
    );
    // A submit-only key can discover the writable collection but not read objects.
    let w = s.extra("submit-only");
    assert_eq!(get(&s, "/api/taxii2/iocs/collections/", w).status(), 200);
    taxii_error(
        get(&s, &format!("{ALL}/objects/"), w),
        403,
        "insufficient_scope",
    );
}

#[test]
fn headers_and_paging_under_concurrent_ingest() {
    let s = start("", &[]);
    let k = &s.keys.pro;
    let first = iocs("first", 2000);
    load(&s, &first);
    let mut added = 0usize;
    let mut round = 0usize;
    let pages = pages(&s, &format!("{ALL}/objects/"), k, 250, |_| {
        // New IOCs arrive between pages (each POST is a later batch).
        if round < 6 {
            round += 1;
            load(&s, &iocs(&format!("later{round}"), 30));
            added += 30;
        }
    });
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last_added = String::new();
    for (i, (env, h)) in pages.iter().enumerate() {
        let objs = env["objects"].as_array().unwrap();
        assert!(objs.len() <= 250);
        if env["more"] == true {
            assert_eq!(objs.len(), 250, "page {i} is full");
        }
        let f = header(h, "x-taxii-date-added-first");
        let l = header(h, "x-taxii-date-added-last");
        assert!(is_taxii_time(&f) && is_taxii_time(&l), "{f} {l}");
        assert!(f <= l);
        assert!(f >= last_added, "pages are in date-added order");
        last_added = l;
        for id in ids(env) {
            *seen.entry(id).or_default() += 1;
        }
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "repeated across pages: {repeated:?}");
    assert_eq!(
        seen.len(),
        6 + first.len() + added,
        "identity + 5 markings + every IOC exactly once"
    );
    assert_eq!(added, 180);
    // The identity and the markings open the first page.
    let p1 = ids(&pages[0].0);
    assert!(p1[0].starts_with("identity--"));
    assert!(p1[1..6]
        .iter()
        .all(|i| i.starts_with("marking-definition--")));
    assert_eq!(
        header(&pages[0].1, "x-taxii-date-added-first"),
        "2025-01-01T00:00:00.000000Z"
    );

    // The manifest pages the same objects in the same order, and its
    // date_added values are what the headers said.
    let manifest = self::pages(&s, &format!("{ALL}/manifest/"), k, 1000, |_| {});
    let records: Vec<&Value> = manifest
        .iter()
        .flat_map(|(v, _)| v["objects"].as_array().unwrap().iter())
        .collect();
    assert_eq!(records.len(), seen.len());
    assert_eq!(
        header(&manifest[0].1, "x-taxii-date-added-first"),
        records[0]["date_added"].as_str().unwrap()
    );
    assert_eq!(
        header(&manifest.last().unwrap().1, "x-taxii-date-added-last"),
        records.last().unwrap()["date_added"].as_str().unwrap()
    );
    for r in &records {
        assert_eq!(r["media_type"], "application/stix+json;version=2.1");
        assert!(is_taxii_time(r["date_added"].as_str().unwrap()));
        assert!(r["version"].as_str().unwrap().ends_with('Z'));
    }
    let all_ids: Vec<String> = pages.iter().flat_map(|(v, _)| ids(v)).collect();
    let manifest_ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(all_ids, manifest_ids);

    // Objects are the /api/v1/iocs/stix SDOs, byte for byte.
    let bundle: Value = s
        .client
        .get(s.url("/api/v1/iocs/stix?limit=1000"))
        .bearer_auth(k)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let by_id: HashMap<&str, &Value> = pages
        .iter()
        .flat_map(|(v, _)| v["objects"].as_array().unwrap().iter())
        .map(|o| (o["id"].as_str().unwrap(), o))
        .collect();
    let mut compared = 0;
    for o in bundle["objects"].as_array().unwrap() {
        if let Some(t) = by_id.get(o["id"].as_str().unwrap()) {
            assert_eq!(*t, o);
            compared += 1;
        }
    }
    assert!(compared > 900, "{compared}");
}

#[test]
fn added_after_resumes_and_sees_updates() {
    let s = start("", &[]);
    let k = &s.keys.pro;
    let first = iocs("a", 100);
    load(&s, &first);
    let all = pages(&s, &format!("{ALL}/objects/"), k, 1000, |_| {});
    assert_eq!(all.len(), 1);
    let last = header(&all[0].1, "x-taxii-date-added-last");
    // Nothing new yet.
    let (v, h) = ok(&s, &format!("{ALL}/objects/?added_after={last}"), k);
    assert_eq!(v, json!({"more": false}));
    assert!(h.get("x-taxii-date-added-first").is_none());
    // New IOCs and one changed IOC (a new tag): exactly those come back.
    load(&s, &iocs("b", 20));
    let changed = first[0].as_str();
    let r = s.post_json(
        "/api/v1/iocs",
        &s.keys.admin,
        &json!([{"value": changed, "tags": ["retagged"]}]),
    );
    assert_eq!(r.status(), 200);
    let (v, _) = ok(&s, &format!("{ALL}/objects/?added_after={last}"), k);
    let got = ids(&v);
    assert_eq!(got.len(), 21, "{got:?}");
    let newest = v["objects"].as_array().unwrap().last().unwrap();
    assert_eq!(newest["name"], format!("Malicious Domain - {changed}"));
    assert_eq!(newest["labels"], json!(["retagged"]));
    assert!(newest["modified"].as_str().unwrap() > newest["created"].as_str().unwrap());
    // added_after far in the past: everything, identity and markings included.
    let (v, _) = ok(
        &s,
        &format!("{ALL}/objects/?added_after=2000-01-01T00:00:00Z"),
        k,
    );
    assert_eq!(ids(&v).len(), 6 + 120);
    taxii_error(
        get(&s, &format!("{ALL}/objects/?added_after=yesterday"), k),
        400,
        "invalid_parameter",
    );
}

#[test]
fn match_filters() {
    let s = start("", &[]);
    let k = &s.keys.pro;
    load(&s, &iocs("m", 50));
    load(&s, &["T1071".to_string(), "T1059.001".to_string()]);
    let count = |q: &str| ids(&ok(&s, &format!("{ALL}/objects/?{q}"), k).0).len();
    let types = |q: &str| -> HashSet<String> {
        ok(&s, &format!("{ALL}/objects/?{q}"), k).0["objects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| o["type"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(count(""), 6 + 52);
    // match[type]
    assert_eq!(
        types("match[type]=vulnerability"),
        HashSet::from(["vulnerability".to_string()])
    );
    assert_eq!(count("match[type]=vulnerability"), 10);
    assert_eq!(count("match[type]=attack-pattern"), 2);
    assert_eq!(count("match[type]=indicator"), 40);
    assert_eq!(count("match[type]=indicator,vulnerability"), 50);
    assert_eq!(count("match[type]=identity"), 1);
    assert_eq!(count("match[type]=marking-definition"), 5);
    assert_eq!(count("match[type]=malware"), 0);
    assert_eq!(
        ids(&ok(
            &s,
            "/api/taxii2/iocs/collections/cve/objects/?match[type]=indicator",
            k
        )
        .0)
        .len(),
        0
    );
    // A type collection holds that type (plus identity and markings).
    let (v, _) = ok(&s, "/api/taxii2/iocs/collections/ipv4/objects/", k);
    let objs = v["objects"].as_array().unwrap();
    assert_eq!(objs.len(), 6 + 10);
    assert!(objs[6..].iter().all(|o| o["pattern"]
        .as_str()
        .unwrap()
        .starts_with("[ipv4-addr:value")));
    // match[id]
    let (all, _) = ok(&s, &format!("{ALL}/objects/"), k);
    let a = all["objects"][10]["id"].as_str().unwrap().to_string();
    let b = all["objects"][20]["id"].as_str().unwrap().to_string();
    let (v, _) = ok(
        &s,
        &format!(
            "{ALL}/objects/?match[id]={a},{b},indicator--00000000-0000-0000-0000-000000000000"
        ),
        k,
    );
    assert_eq!(ids(&v), vec![a.clone(), b.clone()]);
    // match[id] + match[type] combine (AND).
    assert_eq!(
        ids(&ok(
            &s,
            &format!("{ALL}/objects/?match[id]={a}&match[type]=identity"),
            k
        )
        .0)
        .len(),
        0
    );
    // match[version]: one version per object.
    for q in [
        "match[version]=last",
        "match[version]=first",
        "match[version]=all",
        "match[version]=first,last",
    ] {
        assert_eq!(count(q), 6 + 52, "{q}");
    }
    let modified = all["objects"][10]["modified"].as_str().unwrap().to_string();
    let same_batch = all["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["modified"] == modified.as_str())
        .count();
    assert_eq!(count(&format!("match[version]={modified}")), same_batch);
    assert_eq!(
        count("match[version]=2025-01-01T00:00:00.000Z"),
        1,
        "the identity's version"
    );
    assert_eq!(
        count("match[version]=2022-10-01T00:00:00.000Z"),
        5,
        "the markings' version"
    );
    assert_eq!(count("match[version]=2001-01-01T00:00:00Z"), 0);
    taxii_error(
        get(&s, &format!("{ALL}/objects/?match[version]=newest"), k),
        400,
        "invalid_parameter",
    );
    // match[spec_version]
    assert_eq!(count("match[spec_version]=2.1"), 6 + 52);
    assert_eq!(count("match[spec_version]=2.0,2.1"), 6 + 52);
    assert_eq!(count("match[spec_version]=2.0"), 0);
    // One object, its versions; 404 outside its collection.
    let (v, h) = ok(&s, &format!("{ALL}/objects/{a}/"), k);
    assert_eq!(ids(&v), vec![a.clone()]);
    assert!(is_taxii_time(&header(&h, "x-taxii-date-added-first")));
    let (v, _) = ok(&s, &format!("{ALL}/objects/{a}/versions/"), k);
    assert_eq!(v["versions"], json!([all["objects"][10]["modified"]]));
    assert_eq!(v["more"], false);
    let (v, _) = ok(
        &s,
        &format!("{ALL}/objects/{a}/?match[version]=2001-01-01T00:00:00Z"),
        k,
    );
    assert_eq!(v, json!({"more": false}));
    let other = if a.starts_with("vulnerability--") {
        "ipv4"
    } else {
        "cve"
    };
    taxii_error(
        get(
            &s,
            &format!("/api/taxii2/iocs/collections/{other}/objects/{a}/"),
            k,
        ),
        404,
        "not_found",
    );
    taxii_error(
        get(
            &s,
            &format!("{ALL}/objects/indicator--00000000-0000-0000-0000-000000000000/"),
            k,
        ),
        404,
        "not_found",
    );
    // limit
    assert_eq!(count("limit=3"), 3);
    assert_eq!(count("limit=5000"), 6 + 52, "capped at 1000, not refused");
    taxii_error(
        get(&s, &format!("{ALL}/objects/?limit=0"), k),
        400,
        "invalid_parameter",
    );
    taxii_error(
        get(&s, &format!("{ALL}/objects/?next=12"), k),
        400,
        "invalid_parameter",
    );
}

#[test]
fn errors_are_taxii_messages() {
    let s = start(
        "[server]\nmax_body_bytes = 4096\n[tiers.tiny]\nrequests_per_minute = 3\nrequests_per_day = 1000\nlookback_days = 1\nscopes = [\"read:taxii\"]\n",
        &[("tiny", "tiny", None), ("reader", "pro", Some("read:taxii"))],
    );
    let k = &s.keys.pro;
    let coll = format!("{ALL}/objects/");
    // 401: no key, malformed key, unknown key; Basic too.
    let r = s
        .client
        .get(s.url(&coll))
        .header("accept", TAXII)
        .send()
        .unwrap();
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("Basic"));
    taxii_error(r, 401, "missing_api_key");
    taxii_error(
        get(&s, &coll, "sk_live_nothex_short"),
        401,
        "invalid_api_key",
    );
    let r = s
        .client
        .get(s.url(&coll))
        .basic_auth(
            "sentinel",
            Some("sk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )
        .send()
        .unwrap();
    let v = taxii_error(r, 401, "invalid_api_key");
    assert_eq!(v["details"]["reason"], "unknown");
    // 403: a key without read:taxii (the free tier has none).
    let v = taxii_error(get(&s, &coll, &s.keys.free), 403, "insufficient_scope");
    assert_eq!(v["details"]["required_scope"], "read:taxii");
    // 403: POST to a read-only collection; reading the write-only one.
    let r = s
        .client
        .post(s.url(&coll))
        .bearer_auth(k)
        .header("accept", TAXII)
        .header("content-type", TAXII)
        .body("{\"objects\":[]}")
        .send()
        .unwrap();
    taxii_error(r, 403, "forbidden");
    taxii_error(
        get(&s, &format!("{SUBMISSIONS}/objects/"), k),
        403,
        "forbidden",
    );
    // 403: POST without a write scope; DELETE without admin.
    let reader = s.extra("reader");
    let r = s
        .client
        .post(s.url(&format!("{SUBMISSIONS}/objects/")))
        .bearer_auth(reader)
        .header("content-type", TAXII)
        .body("{}")
        .send()
        .unwrap();
    let v = taxii_error(r, 403, "insufficient_scope");
    assert_eq!(
        v["details"]["accepted_scopes"],
        json!(["write:taxii", "write:iocs"])
    );
    let r = s
        .client
        .delete(s.url(&format!(
            "{ALL}/objects/indicator--00000000-0000-0000-0000-000000000000/"
        )))
        .bearer_auth(reader)
        .send()
        .unwrap();
    taxii_error(r, 403, "insufficient_scope");
    // 404: unknown collection, unknown path.
    taxii_error(
        get(&s, "/api/taxii2/iocs/collections/nope/objects/", k),
        404,
        "not_found",
    );
    taxii_error(get(&s, "/api/taxii2/other/", k), 404, "not_found");
    // 405 with Allow.
    let r = s.client.put(s.url(&coll)).bearer_auth(k).send().unwrap();
    assert_eq!(r.headers()["allow"], "GET, POST");
    taxii_error(r, 405, "method_not_allowed");
    // 406: Accept that admits no TAXII 2.1.
    for accept in [
        "application/json",
        "application/taxii+json;version=2.0",
        "application/stix+json;version=2.1",
        "application/taxii+json;version=2.1;q=0",
    ] {
        let r = s
            .client
            .get(s.url(&coll))
            .bearer_auth(k)
            .header("accept", accept)
            .send()
            .unwrap();
        taxii_error(r, 406, "not_acceptable");
    }
    for accept in [
        "application/taxii+json",
        "*/*",
        "application/taxii+json; version=\"2.1\"",
        "text/html, application/taxii+json;version=2.1",
    ] {
        let r = s
            .client
            .get(s.url(&coll))
            .bearer_auth(k)
            .header("accept", accept)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{accept}");
    }
    // 415: POST body not declared as TAXII 2.1.
    for ct in [
        None,
        Some("application/json"),
        Some("application/taxii+json;version=2.0"),
    ] {
        let mut rb = s
            .client
            .post(s.url(&format!("{SUBMISSIONS}/objects/")))
            .bearer_auth(k)
            .header("accept", TAXII)
            .body("{\"objects\":[]}");
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        taxii_error(rb.send().unwrap(), 415, "unsupported_media_type");
    }
    // 413 beyond max_content_length; 400 for a body that is not an envelope.
    let big = format!("{{\"objects\":[{}]}}", vec!["{}"; 3000].join(","));
    let r = s
        .client
        .post(s.url(&format!("{SUBMISSIONS}/objects/")))
        .bearer_auth(k)
        .header("content-type", TAXII)
        .body(big)
        .send()
        .unwrap();
    taxii_error(r, 413, "payload_too_large");
    let r = s
        .client
        .post(s.url(&format!("{SUBMISSIONS}/objects/")))
        .bearer_auth(k)
        .header("content-type", TAXII)
        .body("[1,2]")
        .send()
        .unwrap();
    taxii_error(r, 400, "invalid_body");
    // 429 with Retry-After and the rate-limit headers, as on v1.
    let tiny = s.extra("tiny");
    let mut last = None;
    for _ in 0..6 {
        let r = get(&s, "/api/taxii2/iocs/", tiny);
        assert!(r.headers().contains_key("x-ratelimit-remaining"));
        if r.status() == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("no 429");
    assert!(r.headers().contains_key("retry-after"));
    taxii_error(r, 429, "rate_limit_exceeded");
}

#[test]
fn add_objects_status_and_delete() {
    let s = start(
        "",
        &[
            ("submitter", "pro", Some("write:taxii")),
            ("iocs-writer", "pro", Some("write:iocs")),
            ("reader", "pro", Some("read:taxii")),
        ],
    );
    let submitter = s.extra("submitter").to_string();
    let marking_green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    let envelope = json!({"objects": [
        {"type": "identity", "spec_version": "2.1", "id": "identity--aaaaaaaa-1111-4111-8111-111111111111", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "ACME CERT", "identity_class": "organization"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--bbbbbbbb-1111-4111-8111-111111111111", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
         "created_by_ref": "identity--aaaaaaaa-1111-4111-8111-111111111111", "object_marking_refs": [marking_green], "confidence": 90,
         "pattern": "[ipv4-addr:value = '203.0.113.9'] OR [domain-name:value = 'submitted.evil.example']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"},
        {"type": "vulnerability", "spec_version": "2.1", "id": "vulnerability--cccccccc-1111-4111-8111-111111111111", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "CVE-2025-12345"},
        {"type": "malware", "spec_version": "2.1", "id": "malware--dddddddd-1111-4111-8111-111111111111", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "x", "is_family": false},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--eeeeeeee-1111-4111-8111-111111111111", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "pattern": "[ipv4-addr:value = '999.1.1.1']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"},
    ]});
    // HTTP Basic with the key as password, as the Sentinel connector sends it.
    let r = s
        .client
        .post(s.url(&format!("{SUBMISSIONS}/objects/")))
        .basic_auth("anything", Some(&submitter))
        .header("accept", TAXII)
        .header("content-type", TAXII)
        .body(envelope.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["content-type"], TAXII);
    let st: Value = r.json().unwrap();
    assert_eq!(st["status"], "complete");
    assert_eq!(
        (
            st["total_count"].as_u64(),
            st["success_count"].as_u64(),
            st["failure_count"].as_u64(),
            st["pending_count"].as_u64()
        ),
        (Some(5), Some(3), Some(2), Some(0))
    );
    let failed: HashSet<&str> = st["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        HashSet::from([
            "malware--dddddddd-1111-4111-8111-111111111111",
            "indicator--eeeeeeee-1111-4111-8111-111111111111"
        ])
    );
    for d in st["successes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(st["failures"].as_array().unwrap())
    {
        assert!(d["version"].is_string() && d["message"].is_string(), "{d}");
    }
    let ind = st["successes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "indicator--bbbbbbbb-1111-4111-8111-111111111111")
        .unwrap();
    assert_eq!(ind["version"], "2026-01-02T00:00:00.000Z");
    let msg = ind["message"].as_str().unwrap();
    let served: Vec<&str> = msg.trim_start_matches("stored as ").split(", ").collect();
    assert_eq!(served.len(), 2, "{msg}");
    // The status resource, also without the trailing slash (taxii2-client
    // polls it so); only the submitter and admins see it.
    let id = st["id"].as_str().unwrap();
    let path = format!("/api/taxii2/iocs/status/{id}");
    let r = s
        .client
        .get(s.url(&path))
        .basic_auth("x", Some(&submitter))
        .header("accept", TAXII)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap(), st);
    assert_eq!(ok(&s, &format!("{path}/"), &s.keys.admin).0, st);
    taxii_error(get(&s, &path, s.extra("iocs-writer")), 404, "not_found");
    taxii_error(
        get(
            &s,
            "/api/taxii2/iocs/status/00000000-0000-4000-8000-000000000000/",
            &submitter,
        ),
        404,
        "not_found",
    );
    // The IOCs are served, with the submission's metadata.
    let (v, _) = ok(
        &s,
        &format!("{ALL}/objects/?match[id]={}", served.join(",")),
        s.extra("reader"),
    );
    let objs = v["objects"].as_array().unwrap();
    assert_eq!(objs.len(), 2);
    for o in objs {
        assert_eq!(o["confidence"], 90);
        assert_eq!(o["object_marking_refs"], json!([marking_green]));
    }
    let (v, _) = ok(
        &s,
        &format!("{ALL}/objects/?match[type]=vulnerability"),
        s.extra("reader"),
    );
    assert_eq!(v["objects"][0]["name"], "CVE-2025-12345");
    // write:iocs may submit too; an empty envelope is a complete no-op.
    let r = s
        .client
        .post(s.url(&format!("{SUBMISSIONS}/objects/")))
        .bearer_auth(s.extra("iocs-writer"))
        .header("content-type", TAXII)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().unwrap()["total_count"], 0);

    // DELETE (admin): tombstoned, then 404; a re-submission is refused.
    let victim = served[0];
    let r = s
        .client
        .delete(s.url(&format!("{ALL}/objects/{victim}/")))
        .bearer_auth(&s.keys.admin)
        .header("accept", TAXII)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    taxii_error(
        get(&s, &format!("{ALL}/objects/{victim}/"), &s.keys.admin),
        404,
        "not_found",
    );
    let r = s
        .client
        .delete(s.url(&format!("{SUBMISSIONS}/objects/{victim}/")))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    taxii_error(r, 404, "not_found");
    let r = s
        .client
        .delete(s.url(&format!(
            "{ALL}/objects/identity--00000000-0000-4000-8000-000000000000/"
        )))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    taxii_error(r, 403, "forbidden");
    let again = json!({"objects": [envelope["objects"][1]]});
    let r = s
        .client
        .post(s.url(&format!("{SUBMISSIONS}/objects/")))
        .bearer_auth(&submitter)
        .header("content-type", TAXII)
        .body(again.to_string())
        .send()
        .unwrap();
    let st: Value = r.json().unwrap();
    let m = st["successes"][0]["message"].as_str().unwrap();
    assert!(m.contains("1 deleted as false positives"), "{m}");
    let r = s
        .client
        .get(s.url(&format!(
            "/api/v1/iocs/{}",
            victim.split("--").nth(1).unwrap()
        )))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 410);
}

/// Runs `tests/consumers/test_taxii.py` (taxii2-client, the OASIS client)
/// against a server holding a few thousand IOCs. Prints `SKIP: …` when
/// `tests/.venv` is missing (build it with `python3 -m venv tests/.venv &&
/// tests/.venv/bin/pip install -r tests/requirements.txt`).
#[test]
fn taxii2_client_consumes_the_server() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/.venv/bin/python");
    if !python.exists() {
        println!(
            "SKIP: no tests/.venv ({} not found); the taxii2-client checks did not run",
            python.display()
        );
        return;
    }
    let s = start("", &[]);
    let n = 3000;
    load(&s, &iocs("py", n));
    let out = std::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"])
        .arg(root.join("tests/consumers/test_taxii.py"))
        .env("IOCD_TAXII_BASE", &s.base)
        .env("IOCD_TAXII_CA", s.ca())
        .env("IOCD_TAXII_KEY", &s.keys.pro)
        .env("IOCD_TAXII_IOCS", n.to_string())
        // requests would let these override the client's CA file.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the taxii2-client checks failed");
}
