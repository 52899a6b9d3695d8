//! `GET /api/v1/stats/timeline` (issue #14, item 4) through the binary:
//! counts of IOCs added per bucket and type equal what was posted, zero
//! buckets included, hour and day agree, re-sightings add nothing, the
//! counts survive a restart, and bad parameters get the envelope.

use crate::common;

use chrono::{DateTime, Timelike, Utc};
use common::{code, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const IPS: usize = 7;
const DOMAINS: usize = 4;

fn values() -> Vec<String> {
    (0..IPS)
        .map(|i| format!("198.51.100.{}", i + 1))
        .chain((0..DOMAINS).map(|i| format!("d{i}.timeline-test.example")))
        .collect()
}

fn post(s: &Server) {
    let body = Value::Array(values().iter().map(|v| json!({ "value": v })).collect());
    let r = s.post_json("/api/v1/iocs", &s.keys.admin, &body);
    assert_eq!(r.status(), 200);
}

fn t(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Per type: the sum over all buckets; checks each bucket's total is the
/// sum of its `by_type` and the buckets are consecutive.
fn sums(v: &Value, step_hours: i64) -> BTreeMap<String, u64> {
    let buckets = v["buckets"].as_array().unwrap();
    let mut out = BTreeMap::new();
    for (n, b) in buckets.iter().enumerate() {
        let by: u64 = b["by_type"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, c)| {
                *out.entry(k.clone()).or_insert(0) += c.as_u64().unwrap();
                c.as_u64().unwrap()
            })
            .sum();
        assert_eq!(b["total"].as_u64().unwrap(), by, "{b}");
        if n > 0 {
            let gap = t(&b["start"]) - t(&buckets[n - 1]["start"]);
            assert_eq!(gap.num_hours(), step_hours, "{v}");
        }
    }
    out
}

#[test]
fn timeline_counts_what_was_added() {
    let mut s = Server::start_with("[demo]\nseed_when_empty = false\n", &[]);
    post(&s);
    let k = s.keys.pro.clone();
    let check = |s: &Server| {
        let h = s.json("/api/v1/stats/timeline?interval=hour", &k);
        assert_eq!(h["interval"], "hour");
        let buckets = h["buckets"].as_array().unwrap();
        assert!(buckets.len() >= 48, "{}", buckets.len());
        let sum = sums(&h, 1);
        assert_eq!(sum.get("ipv4").copied(), Some(IPS as u64), "{sum:?}");
        assert_eq!(sum.get("domain").copied(), Some(DOMAINS as u64), "{sum:?}");
        assert_eq!(sum.values().sum::<u64>(), (IPS + DOMAINS) as u64);
        // Everything was added in the last hour or two: the older buckets
        // are there, with zeros.
        let now = Utc::now();
        for b in buckets {
            if (now - t(&b["start"])).num_hours() >= 2 {
                assert_eq!(b["total"], 0, "{b}");
            }
        }
        let last = t(&buckets.last().unwrap()["start"]);
        assert_eq!(last.minute(), 0);
        assert!(now - last < chrono::Duration::hours(1));
        // Days: the same sums, day-aligned buckets.
        let d = s.json("/api/v1/stats/timeline", &k);
        assert_eq!(d["interval"], "day");
        assert_eq!(sums(&d, 24), sum);
        let db = d["buckets"].as_array().unwrap();
        assert!(db.len() >= 29);
        assert!(db.iter().all(|b| t(&b["start"]).hour() == 0));
        // One type.
        let dom = s.json("/api/v1/stats/timeline?type=domain", &k);
        let only = sums(&dom, 24);
        assert_eq!(only.values().sum::<u64>(), DOMAINS as u64, "{only:?}");
        assert!(only.keys().all(|k| k == "domain"), "{only:?}");
    };
    check(&s);
    // Re-sightings add no IOC.
    post(&s);
    check(&s);
    // The counters are stored.
    s.stop();
    s.spawn();
    check(&s);
}

#[test]
fn bad_timeline_parameters_get_the_envelope() {
    let s = Server::start_with("[demo]\nseed_when_empty = false\n", &[]);
    for q in [
        "interval=week",
        "type=ipv5",
        "since=yesterday",
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
    ] {
        let r = s.get(&format!("/api/v1/stats/timeline?{q}"), &s.keys.pro);
        assert_eq!(r.status(), 400, "{q}");
        let v: Value = r.json().unwrap();
        assert_eq!(code(&v), "invalid_parameter", "{q}: {v}");
    }
    let r = s.get("/api/v1/stats/timeline", "sk_live_nope_nope");
    assert_eq!(r.status(), 401);
}
