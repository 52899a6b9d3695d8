//! Issue #11 item 8: per-day quotas survive a restart, through the real
//! binary (`iocd serve` saves the buckets at shutdown and each minute, and
//! loads them before it listens).

use crate::common;

use common::{code, Server};
use serde_json::Value;

#[test]
fn a_spent_daily_quota_stays_spent_across_a_restart() {
    let mut s = Server::start_with(
        "[demo]\nseed_when_empty = false\n[tiers.daily]\nrequests_per_minute = 100\nrequests_per_day = 3\nlookback_days = 1\nscopes = [\"read:iocs\"]\n",
        &[("daily", "daily", None), ("other", "daily", None)],
    );
    let key = s.extra("daily").to_string();
    for i in 0..3 {
        assert_eq!(
            s.get("/api/v1/iocs?limit=1", &key).status(),
            200,
            "request {i}"
        );
    }
    let r = s.get("/api/v1/iocs?limit=1", &key);
    assert_eq!(r.status(), 429);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["details"]["window"], "day");
    // One request of the other key: partly used, not spent.
    assert_eq!(
        s.get("/api/v1/iocs?limit=1", s.extra("other")).status(),
        200
    );

    assert_eq!(s.stop(), Some(0));
    s.spawn();

    let r = s.get("/api/v1/iocs?limit=1", &key);
    assert_eq!(r.status(), 429, "the daily quota was reset by the restart");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One token of a 3/day bucket takes 8 hours to come back.
    assert!(retry > 3600, "retry-after {retry}");
    let v: Value = r.json().unwrap();
    assert_eq!(code(&v), "rate_limit_exceeded");
    assert_eq!(v["error"]["details"]["window"], "day");
    assert_eq!(v["error"]["details"]["limit"], 3);
    // The other key kept its count too: two left, then 429.
    let other = s.extra("other").to_string();
    assert_eq!(s.get("/api/v1/iocs?limit=1", &other).status(), 200);
    assert_eq!(s.get("/api/v1/iocs?limit=1", &other).status(), 200);
    assert_eq!(s.get("/api/v1/iocs?limit=1", &other).status(), 429);
}
