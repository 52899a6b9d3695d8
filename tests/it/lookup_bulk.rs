//! `POST /api/v1/lookup` (issue #14, item 5) through the binary: every
//! bulk result equals the single `GET` lookup of the same value, in the
//! body's order; invalid values are answered per item; limits, bodies and
//! the token cost.

use crate::common;
use common::{code, Server};
use serde_json::{json, Value};

fn post(
    s: &Server,
    path: &str,
    key: &str,
    ct: &str,
    body: impl Into<String>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = s
        .client
        .post(s.url(path))
        .bearer_auth(key)
        .header("content-type", ct)
        .body(body.into())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let v: Value = r.json().unwrap_or(Value::Null);
    (status, v, headers)
}

/// The single lookup of `value`, without its hunting queries (bulk leaves
/// them out unless asked).
fn single(s: &Server, key: &str, value: &str) -> Value {
    let q: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let mut v = s.json(&format!("/api/v1/lookup?value={q}"), key);
    v.as_object_mut().unwrap().remove("hunting_queries");
    v
}

fn seed(s: &Server) {
    let body = json!([
        {"value": "198.51.100.10", "confidence": 80, "tags": ["c2"], "techniques": ["T1071.001"]},
        {"value": "bulk-evil.example", "confidence": 60},
        {"value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        "hxxps://bulk-evil[.]example/payload.bin",
    ]);
    let r = s.post_json("/api/v1/iocs", &s.keys.admin, &body);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
}

#[test]
fn bulk_results_equal_single_lookups_in_order() {
    let s = Server::start();
    seed(&s);
    let values = [
        "198.51.100[.]10",
        "BULK-EVIL.example",
        "never-seen-bulk.example.org",
        "999.1.1.1",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "hxxps://bulk-evil[.]example/payload.bin",
        "198.51.100.10",
    ];
    let (st, v, h) = post(
        &s,
        "/api/v1/lookup",
        &s.keys.pro,
        "application/json",
        json!(values).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], values.len());
    assert_eq!(v["cost"], 1);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), values.len());
    let mut found = 0;
    for (raw, got) in values.iter().zip(results) {
        assert_eq!(got["query"], *raw);
        if *raw == "999.1.1.1" {
            assert_eq!(got["found"], false);
            assert_eq!(got["error"]["code"], "invalid_value");
            assert!(got["error"]["message"].as_str().unwrap().len() > 5, "{got}");
            // The single lookup refuses it as a whole.
            assert_eq!(
                s.get("/api/v1/lookup?value=999.1.1.1", &s.keys.pro)
                    .status(),
                400
            );
            continue;
        }
        let want = single(&s, &s.keys.pro, raw);
        assert_eq!(got, &want, "bulk and single differ for {raw}");
        found += usize::from(want["found"] == true);
    }
    // Computed from the single lookups: 5 of the 6 valid values are stored.
    assert_eq!(found, 5);
    assert_eq!(
        (v["found"].as_u64(), v["invalid"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(results[0]["ioc"]["id"], results[6]["ioc"]["id"]);
    assert_eq!(results[0]["mitre_techniques"][0]["id"], "T1071.001");
    assert!(results[0].get("hunting_queries").is_none());
    assert!(h.contains_key("x-ratelimit-remaining"));

    // {"values", "type", "hunting_queries"}: the hint applies to every
    // item; hunting queries equal the single lookup's.
    let (st, v, _) = post(
        &s,
        "/api/v1/lookup",
        &s.keys.pro,
        "application/json",
        json!({"values": ["198.51.100.10", "bulk-evil.example"], "type": "ipv4", "hunting_queries": true}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["results"][0]["found"], true);
    let full = s.json("/api/v1/lookup?value=198.51.100.10", &s.keys.pro);
    assert_eq!(v["results"][0]["hunting_queries"], full["hunting_queries"]);
    assert_eq!(v["results"][1]["error"]["code"], "invalid_value");
    assert_eq!(v["invalid"], 1);

    // Object items with their own type, and items that are not values.
    let (st, v, _) = post(
        &s,
        "/api/v1/lookup",
        &s.keys.pro,
        "application/json",
        json!([{"value": "bulk-evil.example", "type": "domain"}, 42, {"type": "domain"}, {"value": "x.example", "type": "nope"}]).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["results"][0]["found"], true);
    assert_eq!(v["results"][0]["type"], "domain");
    for i in 1..4 {
        assert_eq!(
            v["results"][i]["error"]["code"], "invalid_value",
            "{}",
            v["results"][i]
        );
    }
    assert_eq!(v["results"][1]["query"], "42");

    // text/plain: one per line, blank lines and comments skipped; the
    // query's type is the hint.
    let (st, v, _) = post(
        &s,
        "/api/v1/lookup?type=domain",
        &s.keys.pro,
        "text/plain",
        "# enrichment batch\n\nbulk-evil[.]example\r\n  never-seen-bulk.example.org  \n",
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], 2);
    assert_eq!(
        v["results"][0],
        single(&s, &s.keys.pro, "bulk-evil[.]example")
    );
    assert_eq!(v["results"][1]["query"], "never-seen-bulk.example.org");
    assert_eq!(v["results"][1]["found"], false);
}

#[test]
fn bulk_bodies_and_limits_are_refused_in_the_envelope() {
    let s = Server::start();
    let key = s.keys.pro.clone();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("application/json", "[]".into(), 400, "invalid_body"),
        (
            "application/json",
            "{\"values\": 3}".into(),
            400,
            "invalid_body",
        ),
        (
            "application/json",
            "[\"a.example\",".into(),
            400,
            "invalid_body",
        ),
        (
            "application/json",
            "\"a.example\"".into(),
            400,
            "invalid_body",
        ),
        (
            "application/json",
            "{\"values\": [\"a.example\"], \"type\": \"nope\"}".into(),
            400,
            "invalid_body",
        ),
        (
            "application/json",
            "{\"values\": [\"a.example\"], \"hunting_queries\": \"yes\"}".into(),
            400,
            "invalid_body",
        ),
        (
            "text/plain",
            "# only a comment\n\n".into(),
            400,
            "invalid_body",
        ),
        (
            "application/xml",
            "<a/>".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "text/plain",
            String::from_utf8_lossy(&[0x66, 0x6f, 0x6f]).into_owned() + "\u{0}",
            200,
            "",
        ),
    ];
    for (ct, body, status, want) in cases {
        let (st, v, h) = post(&s, "/api/v1/lookup", &key, ct, body.clone());
        assert_eq!(st, status, "{ct} {body:?}: {v}");
        if status != 200 {
            assert_eq!(code(&v), want, "{ct} {body:?}: {v}");
            assert!(v["error"]["request_id"]
                .as_str()
                .unwrap()
                .starts_with("req_"));
            assert!(h.contains_key("x-ratelimit-limit"));
        }
    }
    // Not UTF-8.
    let r = s
        .client
        .post(s.url("/api/v1/lookup"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body(vec![0xff, 0xfe, b'a'])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    // 1,001 values: refused whole, with the limit in details.
    let many: Vec<String> = (0..1001).map(|i| format!("h{i}.bulk.example")).collect();
    let (st, v, _) = post(
        &s,
        "/api/v1/lookup",
        &key,
        "application/json",
        json!(many).to_string(),
    );
    assert_eq!(st, 400, "{v}");
    assert_eq!(code(&v), "invalid_body");
    assert_eq!(v["error"]["details"]["max_values"], 1000);
    assert_eq!(v["error"]["details"]["values"], 1001);
    // 1,000 pass, in order.
    let (st, v, _) = post(
        &s,
        "/api/v1/lookup",
        &key,
        "application/json",
        json!(many[..1000]).to_string(),
    );
    assert_eq!(st, 200);
    assert_eq!(v["count"], 1000);
    assert_eq!(v["cost"], 10);
    assert_eq!(v["results"][999]["query"], "h999.bulk.example");
    assert_eq!(v["results"][999]["value"], "h999.bulk.example");
    // Scope: the stats-only key may not look up.
    let (st, v, _) = post(
        &s,
        "/api/v1/lookup",
        &s.keys.stats_only,
        "application/json",
        "[\"a.example\"]",
    );
    assert_eq!((st, code(&v)), (403, "insufficient_scope"));
    // No key.
    let r = s
        .client
        .post(s.url("/api/v1/lookup"))
        .body("[]")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A bulk lookup costs ceil(values / 100) tokens; the headers report what
/// is left after it; one that does not fit gets 429 and looks up nothing.
#[test]
fn bulk_lookup_costs_one_token_per_hundred_values() {
    let s = Server::start_with("", &[("bulkfree", "free", None)]);
    let key = s.extra("bulkfree").to_string();
    let free_per_minute = 10u64; // [tiers.free] requests_per_minute of the test config
    let vals = |n: usize| {
        json!((0..n)
            .map(|i| format!("c{i}.bulk.example"))
            .collect::<Vec<_>>())
        .to_string()
    };
    let remaining = |h: &reqwest::header::HeaderMap| -> u64 {
        h["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // 250 values: 3 tokens.
    let (st, v, h) = post(&s, "/api/v1/lookup", &key, "application/json", vals(250));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["cost"], 3);
    assert_eq!(h["x-ratelimit-limit"], free_per_minute.to_string().as_str());
    let after_first = remaining(&h);
    assert!(
        after_first <= free_per_minute - 3 && after_first >= free_per_minute - 4,
        "{after_first}"
    );
    // 100 values: 1 token, like any request.
    let (st, v, h) = post(&s, "/api/v1/lookup", &key, "application/json", vals(100));
    assert_eq!((st, v["cost"].as_u64()), (200, Some(1)));
    let after_second = remaining(&h);
    assert!(
        after_second < after_first,
        "{after_second} after {after_first}"
    );
    // 1,000 values need the whole minute (10): refused, nothing looked up.
    let (st, v, h) = post(&s, "/api/v1/lookup", &key, "application/json", vals(1000));
    assert_eq!(st, 429, "{v}");
    assert_eq!(code(&v), "rate_limit_exceeded");
    assert_eq!(v["error"]["details"]["cost"], 10);
    assert_eq!(v["error"]["details"]["tier"], "free");
    assert_eq!(v["error"]["details"]["window"], "minute");
    assert!(v["results"].is_null());
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(remaining(&h) < after_second);
}
