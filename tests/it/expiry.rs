//! Issue #13, item 4, through the binary over HTTPS: per-type lifetimes
//! (`[expiry]`) counted from `last_seen`. Expired IOCs are kept, left out
//! of listings, every export, Sigma rules and TAXII unless
//! `include_expired=true`, shown by lookup with `expired`/`expires_at`,
//! carried by STIX as `valid_until`, and revived by a new sighting.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::{iocd, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// The lifetimes under test (the built-in defaults, spelled out).
const LIFETIMES: &str =
    "[expiry]\nipv4 = 30\nipv6 = 30\ndomain = 90\nurl = 60\nemail = 90\nmd5 = 0\nsha256 = 0\ncve = 0\n";
const TAG: &str = "exp-test";
const OLD: &str = "2020-01-01T00:00:00Z";

/// (value, type, lifetime in days) of the IOCs last seen in 2020 whose
/// type has a lifetime: all expired.
const EXPIRED: [(&str, &str, i64); 5] = [
    ("203.0.113.77", "ipv4", 30),
    ("2001:db8::dead", "ipv6", 30),
    ("stale-domain.example", "domain", 90),
    ("http://stale-url.example/p", "url", 60),
    ("stale@mail.example", "email", 90),
];
/// Seen now: live.
const FRESH: [&str; 5] = [
    "198.51.100.2",
    "2001:db8::beef",
    "fresh-domain.example",
    "http://fresh-url.example/p",
    "fresh@mail.example",
];
/// Seen in 2020, but of types that never expire: live.
const OLD_LIVE: [&str; 3] = [
    "44d88612fea8a8f36de82e1278abb02f",
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
    "CVE-2021-44228",
];

fn items(values: &[&str], first_seen: Option<&str>) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| {
                let mut o = json!({"value": v, "tags": [TAG]});
                if let Some(t) = first_seen {
                    o["first_seen"] = json!(t);
                }
                o
            })
            .collect(),
    )
}

/// A server with `config`, loaded with fresh IOCs, then the expired run
/// (one batch: contiguous in the index), then the old hashes and CVE.
/// No demo data: the TAXII manifest counts are exact.
fn loaded(config: &str) -> Server {
    let s = Server::start_with(&format!("[demo]\nseed_when_empty = false\n{config}"), &[]);
    let k = s.keys.admin.clone();
    let expired: Vec<&str> = EXPIRED.iter().map(|e| e.0).collect();
    for body in [
        items(&FRESH[..2], None),
        items(&expired, Some(OLD)),
        items(&OLD_LIVE, Some(OLD)),
        items(&FRESH[2..], None),
    ] {
        let r = s.post_json("/api/v1/iocs", &k, &body);
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        assert_eq!(v["rejected"], 0, "{v}");
    }
    s
}

/// The live values (as stored: these are already in normal form).
fn live() -> BTreeSet<String> {
    FRESH
        .iter()
        .chain(OLD_LIVE.iter())
        .map(|v| v.to_string())
        .collect()
}

fn all() -> BTreeSet<String> {
    let mut a = live();
    a.extend(EXPIRED.iter().map(|e| e.0.to_string()));
    a
}

/// The values of one listing page of the test's IOCs.
fn listed(s: &Server, extra: &str) -> (BTreeSet<String>, Value) {
    let v = s.json(
        &format!("/api/v1/iocs?tag={TAG}&limit=1000{extra}"),
        &s.keys.pro,
    );
    let set = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    (set, v)
}

fn body(s: &Server, path: &str) -> String {
    let r = s.get(path, &s.keys.pro);
    assert_eq!(r.status(), 200, "{path}");
    r.text().unwrap()
}

fn t(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn listing_and_every_export_leave_expired_iocs_out_unless_asked() {
    let s = loaded(LIFETIMES);
    let (got, v) = listed(&s, "");
    assert_eq!(got, live());
    assert_eq!(v["count"], 8);
    for r in v["data"].as_array().unwrap() {
        assert_eq!(r["expired"], false, "{r}");
    }
    let (got, v) = listed(&s, "&include_expired=true");
    assert_eq!(got, all());
    assert_eq!(v["count"], 13);
    let expired: BTreeSet<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["expired"] == true)
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(expired, EXPIRED.iter().map(|e| e.0).collect());
    assert_eq!(
        s.get("/api/v1/iocs?include_expired=maybe", &s.keys.pro)
            .status(),
        400
    );

    // Every export format, and the rules: live values in, expired out;
    // with include_expired the expired ones are in.
    for path in [
        "/api/v1/iocs/csv",
        "/api/v1/iocs/stix",
        "/api/v1/iocs/misp",
        "/api/v1/iocs/cef",
        "/api/v1/iocs/openioc",
        "/api/v1/rules/sigma",
    ] {
        let sep = format!("{path}?tag={TAG}&limit=1000");
        let text = body(&s, &sep);
        // None of these values holds a character any format escapes.
        let shown = |text: &str, v: &str| text.contains(v);
        for (e, _, _) in EXPIRED {
            assert!(!shown(&text, e), "{path} shows expired {e}");
        }
        for v in [
            "198.51.100.2",
            "fresh-domain.example",
            "44d88612fea8a8f36de82e1278abb02f",
        ] {
            assert!(shown(&text, v), "{path} lacks live {v}");
        }
        let text = body(&s, &format!("{sep}&include_expired=true"));
        for (e, ty, _) in EXPIRED {
            // Sigma has no rule kind for e-mail addresses.
            if !(path.ends_with("sigma") && ty == "email") {
                assert!(shown(&text, e), "{path} with include_expired lacks {e}");
            }
        }
    }
}

#[test]
fn stix_valid_until_is_the_expiry_and_validates() {
    let s = loaded(LIFETIMES);
    let text = body(
        &s,
        &format!("/api/v1/iocs/stix?tag={TAG}&limit=1000&include_expired=true"),
    );
    let bundle: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for o in bundle["objects"].as_array().unwrap() {
        if o["type"] != "indicator" {
            continue;
        }
        let pattern = o["pattern"].as_str().unwrap();
        let from = t(&o["valid_from"]);
        if let Some((_, _, days)) = EXPIRED.iter().find(|e| pattern.contains(e.0)) {
            let old = DateTime::parse_from_rfc3339(OLD)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(t(&o["valid_until"]), old + Duration::days(*days), "{o}");
            assert!(t(&o["valid_until"]) > from);
            checked += 1;
        } else if pattern.contains("file:hashes") {
            assert!(o.get("valid_until").is_none(), "hash with valid_until: {o}");
        } else {
            // Fresh: valid_until in the future, after valid_from.
            assert!(t(&o["valid_until"]) > Utc::now(), "{o}");
            assert!(t(&o["valid_until"]) > from);
        }
    }
    assert_eq!(checked, 5);

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/.venv/bin/python");
    if !python.exists() {
        println!(
            "SKIP: {} not found; stix2-validator did not run",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys, stix2validator as v\n\
             r = v.validate_file(sys.argv[1], v.ValidationOptions(strict=False))\n\
             v.print_results(r)\n\
             sys.exit(0 if r.is_valid else 1)",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stix2-validator rejected the bundle:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const TAXII: &str = "application/taxii+json;version=2.1";

fn taxii(s: &Server, path: &str) -> (Value, reqwest::header::HeaderMap) {
    let r = s
        .client
        .get(s.url(path))
        .bearer_auth(&s.keys.pro)
        .header("Accept", TAXII)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let h = r.headers().clone();
    (r.json().unwrap(), h)
}

/// Pages `objects/` (or `manifest/`) of the all-IOCs collection at
/// `limit`, following `next`; returns each page's entries in order.
fn page_all(s: &Server, what: &str, limit: usize, extra: &str) -> Vec<Value> {
    let base = format!(
        "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4/{what}/?limit={limit}{extra}"
    );
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..1000 {
        let path = match &next {
            Some(n) => format!("{base}&next={n}"),
            None => base.clone(),
        };
        let (v, h) = taxii(s, &path);
        let page = v["objects"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= limit);
        if v["more"] == true {
            assert_eq!(page.len(), limit, "a short page with more: {v}");
        }
        if !page.is_empty() {
            assert!(h.contains_key("x-taxii-date-added-first"));
            assert!(h.contains_key("x-taxii-date-added-last"));
        }
        out.extend(page);
        match v["next"].as_str() {
            Some(n) if v["more"] == true => next = Some(n.to_string()),
            _ => return out,
        }
    }
    panic!("paging did not end");
}

/// The IOC values of TAXII objects (indicator patterns, CVE names).
fn values_of(objects: &[Value]) -> Vec<String> {
    let known = all();
    objects
        .iter()
        .filter(|o| {
            o["labels"]
                .as_array()
                .is_some_and(|l| l.iter().any(|t| t == TAG))
        })
        .filter_map(|o| {
            let text = o["pattern"].as_str().or(o["name"].as_str())?;
            known.iter().find(|v| text.contains(v.as_str())).cloned()
        })
        .collect()
}

#[test]
fn taxii_objects_and_manifest_skip_expired_runs_without_losing_pages() {
    let s = loaded(LIFETIMES);
    for limit in [1, 2, 1000] {
        let got = values_of(&page_all(&s, "objects", limit, ""));
        let set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got.len(), set.len(), "repeated at limit {limit}: {got:?}");
        assert_eq!(set, live(), "limit {limit}");
    }
    let got = values_of(&page_all(&s, "objects", 1, "&include_expired=true"));
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), all());
    // The manifest lists the same members: 6 fixed objects + 8 live.
    let m = page_all(&s, "manifest", 1, "");
    assert_eq!(m.len(), 6 + 8);
    let m = page_all(&s, "manifest", 1000, "&include_expired=true");
    assert_eq!(m.len(), 6 + 13);
    // Polling by added_after at limit 1 (resuming with
    // X-TAXII-Date-Added-Last) crosses the expired run too.
    let (got, _) = poll_after(&s, 1, None);
    assert_eq!(got.len(), 8, "{got:?}");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), live());
}

#[test]
fn lookup_answers_expired_iocs_and_a_new_sighting_revives_them() {
    let s = loaded(LIFETIMES);
    let k = s.keys.pro.clone();
    let v = s.json("/api/v1/lookup?value=203.0.113.77", &k);
    assert_eq!(v["found"], true);
    assert_eq!(v["expired"], true);
    assert_eq!(v["expires_at"], "2020-01-31T00:00:00.000Z");
    assert_eq!(v["ioc"]["expired"], true);
    let v = s.json("/api/v1/lookup?value=198.51.100.2", &k);
    assert_eq!(v["expired"], false);
    assert!(t(&v["expires_at"]) > Utc::now() + Duration::days(29));
    let v = s.json("/api/v1/lookup?value=44d88612fea8a8f36de82e1278abb02f", &k);
    assert_eq!(v["expired"], false);
    assert_eq!(v["expires_at"], Value::Null);
    let v = s.json("/api/v1/lookup?value=192.0.2.200", &k);
    assert_eq!(v["found"], false);
    assert_eq!(v["expired"], Value::Null);

    // A TAXII poller that has read everything up to now.
    let (seen_all, mark) = poll_after(&s, 2, None);
    assert_eq!(seen_all.into_iter().collect::<BTreeSet<_>>(), live());
    let before = s.json("/api/v1/lookup?value=203.0.113.77", &k)["ioc"]["modified"].clone();

    // Re-sighting: the expired value again, seen now, and a live one again
    // (only a later last_seen: patched in place, not re-sent).
    let r = s.post_json(
        "/api/v1/iocs",
        &s.keys.admin,
        &items(&["203.0.113.77", FRESH[0]], None),
    );
    assert_eq!(r.status(), 200);
    let v = s.json("/api/v1/lookup?value=203.0.113.77", &k);
    assert_eq!(v["expired"], false);
    assert!(t(&v["ioc"]["modified"]) > t(&before), "{v}");
    let (got, _) = listed(&s, "");
    assert!(got.contains("203.0.113.77"));
    assert_eq!(got.len(), 9);
    // The revived IOC is re-indexed: the poller receives it on its next
    // poll (it passed it while it was expired), and nothing else.
    let (next, _) = poll_after(&s, 2, mark.as_deref());
    assert_eq!(next, vec!["203.0.113.77".to_string()]);
    // So does a `since=` poller of the listing.
    let v = s.json(
        &format!(
            "/api/v1/iocs?tag={TAG}&limit=1000&since={}",
            before.as_str().unwrap()
        ),
        &s.keys.pro,
    );
    let vals: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert!(vals.contains(&"203.0.113.77"), "{v}");
}

/// Polls TAXII `objects/` of the all-IOCs collection by `added_after`
/// (`limit`, resuming from each page's `X-TAXII-Date-Added-Last`), from
/// `after` to the end. Returns the test's IOC values received, in order,
/// and the last `X-TAXII-Date-Added-Last` (the mark to resume from).
fn poll_after(s: &Server, limit: usize, after: Option<&str>) -> (Vec<String>, Option<String>) {
    let base = format!(
        "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4/objects/?limit={limit}"
    );
    let mut polled = Vec::new();
    let mut after = after.map(str::to_string);
    for _ in 0..100 {
        let path = match &after {
            Some(a) => format!("{base}&added_after={a}"),
            None => base.clone(),
        };
        let (v, h) = taxii(s, &path);
        let page = v["objects"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return (values_of(&polled), after);
        }
        polled.extend(page);
        after = Some(h["x-taxii-date-added-last"].to_str().unwrap().to_string());
    }
    panic!("polling did not end");
}

#[test]
fn lifetime_zero_never_expires() {
    // The test servers' default: every lifetime 0.
    let s = loaded("");
    assert_eq!(listed(&s, "").0, all());
    // Only ipv4 made never-expiring: its old IOC is back, the rest stay out.
    let s = loaded(&LIFETIMES.replace("ipv4 = 30", "ipv4 = 0"));
    let (got, _) = listed(&s, "");
    let mut want = live();
    want.insert("203.0.113.77".into());
    assert_eq!(got, want);
    let v = s.json("/api/v1/lookup?value=203.0.113.77", &s.keys.pro);
    assert_eq!(v["expires_at"], Value::Null);
}

#[test]
fn iocd_export_leaves_expired_out_unless_include_expired() {
    let mut s = loaded(LIFETIMES);
    s.stop();
    let config = s.config.to_str().unwrap().to_string();
    let export = |extra: &[&str]| -> (BTreeSet<String>, String) {
        let mut args = vec!["export", "--config", &config, "--format", "json"];
        args.extend_from_slice(extra);
        let (code, out, err) = iocd(&args);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let set = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["tags"].as_array().unwrap().iter().any(|t| t == TAG))
            .map(|r| r["value"].as_str().unwrap().to_string())
            .collect();
        (set, err)
    };
    let (got, err) = export(&[]);
    assert_eq!(got, live());
    assert!(err.contains("left out 5 expired IOCs"), "{err}");
    let (got, err) = export(&["--include-expired"]);
    assert_eq!(got, all());
    assert!(!err.contains("left out"), "{err}");
    // `iocd stats` counts them per type.
    let (code, out, err) = iocd(&["stats", "--config", &config, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    for (_, ty, _) in EXPIRED {
        assert!(v["expired_by_type"][ty].as_u64().unwrap() >= 1, "{v}");
    }
    assert!(v["expired_by_type"].get("sha256").is_none(), "{v}");
}
