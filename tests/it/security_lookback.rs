//! Issue #11 item 7: the tier lookback holds on every read route, through
//! the real binary. Records are aged by rewriting the stopped server's
//! store (block keys and the records' index times moved 30 days back), so
//! the store holds what a month-old appliance holds: the same layout, the
//! same index times the listing compares.

use crate::common;

use common::{code, Server};
use serde_json::{json, Value};
use std::path::Path;

const TAXII: &str = "application/taxii+json;version=2.1";
const ALL: &str = "/api/taxii2/iocs/collections/all";
/// `short`: one day of lookback but every read scope, so each route can
/// be asked.
const CONFIG: &str = "[demo]\nseed_when_empty = false\n[tiers.short]\nrequests_per_minute = 1000\nrequests_per_day = 100000\nlookback_days = 1\nscopes = [\"read:iocs\", \"read:stix\", \"read:misp\", \"read:cef\", \"read:openioc\", \"read:rules\", \"read:taxii\", \"read:stats\"]\n";

/// Moves every record block of the store in `data` (server stopped)
/// `days` back: block, header and patch keys get the earlier time, and the
/// records their `modified` / `added_at`, as if stored that long ago.
fn age_store(data: &Path, days: i64) {
    use iocd::store::block::{encode_block, BlockView};
    let shift = days * 86_400 * 1_000_000;
    let db = sled::Config::new()
        .path(data.join("store"))
        .open()
        .expect("open the stopped server's store");
    let tree = db.open_tree("iocs").unwrap();
    let mut batch = sled::Batch::default();
    for kv in tree.iter() {
        let (k, v) = kv.unwrap();
        if k[0] == b'X' {
            // A tombstone: deleted that long ago.
            let mut t: iocd::store::Tombstone = iocd::store::codec::decode(&v).unwrap();
            t.deleted_at -= shift;
            batch.insert(k, iocd::store::codec::encode(&t));
            continue;
        }
        if k.len() != 10 || !matches!(k[0], b'B' | b'H' | b'P') {
            continue;
        }
        let t = u64::from_be_bytes(k[2..10].try_into().unwrap()) as i64;
        let mut nk = k.to_vec();
        nk[2..10].copy_from_slice(&((t - shift) as u64).to_be_bytes());
        let nv = if k[0] == b'B' {
            let view = BlockView::parse(&v).unwrap();
            let mut recs: Vec<_> = (0..view.len())
                .map(|i| {
                    let mut r = view.record(i).unwrap();
                    r.modified -= chrono::Duration::microseconds(shift);
                    r.added_at -= chrono::Duration::microseconds(shift);
                    r
                })
                .collect();
            encode_block(&mut recs)
        } else {
            v.to_vec()
        };
        batch.remove(k);
        batch.insert(nk, nv);
    }
    tree.apply_batch(batch).unwrap();
    db.flush().unwrap();
}

fn taxii_get(s: &Server, path: &str, key: &str) -> common::Response {
    s.client
        .get(s.url(path))
        .bearer_auth(key)
        .header("accept", TAXII)
        .send()
        .unwrap()
}

fn text(s: &Server, path: &str, key: &str) -> String {
    let r = s.get(path, key);
    assert_eq!(r.status(), 200, "{path}");
    r.text().unwrap()
}

/// A server whose store holds `old-N.example` (30 days old, source
/// `old-feed`) and `new-N.example` (just stored).
fn aged_server() -> Server {
    let mut s = Server::start_with(CONFIG, &[("short", "short", None)]);
    let old: Vec<Value> = (1..=3)
        .map(|i| json!({"value": format!("old-{i}.example"), "source": "old-feed", "confidence": 90, "tags": ["oldtag"]}))
        .collect();
    let r = s.post_json("/api/v1/iocs", &s.keys.admin, &json!(old));
    assert_eq!(r.status(), 200);
    // old-3 is deleted as a false positive, 30 days ago too.
    let id = s.json("/api/v1/lookup?value=old-3.example", &s.keys.admin)["ioc"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/iocs/{id}?reason=fp")))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.stop(), Some(0));
    age_store(&s.dir.path().join("data"), 30);
    s.spawn();
    let new: Vec<Value> = (1..=2)
        .map(|i| json!({"value": format!("new-{i}.example"), "source": "new-feed"}))
        .collect();
    let r = s.post_json("/api/v1/iocs", &s.keys.admin, &json!(new));
    assert_eq!(r.status(), 200);
    s
}

#[test]
fn every_read_route_clamps_to_the_tier_lookback() {
    let s = aged_server();
    let short = s.extra("short").to_string();
    let pro = s.keys.pro.clone();

    // The aged records are there: the pro tier (365 days) sees them whole.
    let v = s.json("/api/v1/lookup?value=old-1.example", &pro);
    assert_eq!(v["found"], true);
    assert_eq!(v["outside_lookback"], false);
    assert_eq!(v["ioc"]["value"], "old-1.example");
    let old_id = v["ioc"]["id"].as_str().unwrap().to_string();
    let modified = chrono::DateTime::parse_from_rfc3339(v["ioc"]["modified"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(chrono::Utc::now() - modified > chrono::Duration::days(29));
    let v = s.json(&format!("/api/v1/iocs/{old_id}"), &pro);
    assert_eq!(v["value"], "old-1.example");
    let v = s.json("/api/v1/iocs?since=2020-01-01T00:00:00Z", &pro);
    assert_eq!(v["count"], 4);
    let new_id = s.json("/api/v1/lookup?value=new-1.example", &pro)["ioc"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Listing and CSV.
    let v = s.json("/api/v1/iocs?since=2020-01-01T00:00:00Z", &short);
    let values: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{values:?}");
    assert!(values.iter().all(|x| x.starts_with("new-")), "{values:?}");
    // Every export route: the new records, nothing of the old ones.
    for path in [
        "/api/v1/iocs/csv?since=2020-01-01T00:00:00Z",
        "/api/v1/iocs?format=csv",
        "/api/v1/iocs/stix?since=2020-01-01T00:00:00Z",
        "/api/v1/iocs/misp?since=2020-01-01T00:00:00Z",
        "/api/v1/iocs/cef?since=2020-01-01T00:00:00Z",
        "/api/v1/iocs/openioc?since=2020-01-01T00:00:00Z",
        "/api/v1/rules/sigma?since=2020-01-01T00:00:00Z",
    ] {
        let body = text(&s, path, &short);
        assert!(body.contains("new-1.example"), "{path}: {body}");
        assert!(!body.contains("old-"), "{path} shows an old record: {body}");
        assert!(!body.contains("old-feed"), "{path}");
    }

    // One IOC by id: 403 outside_lookback, in the envelope, nothing of it.
    let r = s.get(&format!("/api/v1/iocs/{old_id}"), &short);
    assert_eq!(r.status(), 403);
    let body = r.text().unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code(&v), "outside_lookback");
    assert_eq!(v["error"]["details"]["lookback_days"], 1);
    assert_eq!(v["error"]["details"]["tier"], "short");
    assert!(v["error"]["request_id"].is_string());
    assert!(
        !body.contains("old-1") && !body.contains("old-feed"),
        "{body}"
    );
    let r = s.get(&format!("/api/v1/iocs/indicator--{old_id}"), &short);
    assert_eq!(r.status(), 403);
    assert_eq!(
        s.json(&format!("/api/v1/iocs/{new_id}"), &short)["value"],
        "new-1.example"
    );

    // Lookup: known, outside the window, no details of the record.
    let r = s.get("/api/v1/lookup?value=old-1[.]example", &short);
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["found"], true);
    assert_eq!(v["outside_lookback"], true);
    assert_eq!(v["value"], "old-1.example");
    assert_eq!(v["ioc"], Value::Null);
    assert_eq!(v["sources"], json!([]));
    assert_eq!(v["risk"], Value::Null);
    assert_eq!(v["mitre_techniques"], json!([]));
    assert!(
        !body.contains("old-feed") && !body.contains("oldtag"),
        "{body}"
    );
    let v = s.json("/api/v1/lookup?value=new-1.example", &short);
    assert_eq!(
        (v["found"].clone(), v["outside_lookback"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(v["ioc"]["value"], "new-1.example");
    let v = s.json("/api/v1/lookup?value=never-seen.example", &short);
    assert_eq!(
        (v["found"].clone(), v["outside_lookback"].clone()),
        (json!(false), json!(false))
    );

    // TAXII: objects, one object, its versions, the manifest.
    let r = taxii_get(&s, &format!("{ALL}/objects/?limit=1000"), &short);
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    assert!(
        body.contains("new-1.example") && !body.contains("old-"),
        "{body}"
    );
    let r = taxii_get(&s, &format!("{ALL}/manifest/"), &short);
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    assert!(body.contains(&new_id) && !body.contains(&old_id), "{body}");
    for path in [
        format!("{ALL}/objects/indicator--{old_id}/"),
        format!("{ALL}/objects/indicator--{old_id}/versions/"),
    ] {
        let r = taxii_get(&s, &path, &short);
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().unwrap().contains("old-1"), "{path}");
        // The pro tier sees it.
        assert_eq!(taxii_get(&s, &path, &pro).status(), 200, "{path}");
    }
    assert_eq!(
        taxii_get(&s, &format!("{ALL}/objects/indicator--{new_id}/"), &short).status(),
        200
    );

    // Statistics are aggregate counts over the whole store (a documented
    // exception): no record, no value.
    let body = text(&s, "/api/v1/stats", &short);
    assert!(!body.contains("old-"), "{body}");
}

#[test]
fn a_tombstone_outside_the_lookback_keeps_its_value_to_itself() {
    let s = aged_server();
    let short = s.extra("short").to_string();
    // Deleted 30 days ago: the short tier learns it is gone, not what it was.
    let id = iocd::ioc::indicator_id(iocd::ioc::IocType::Domain, "old-3.example");
    let r = s.get(&format!("/api/v1/iocs/{id}"), &short);
    assert_eq!(r.status(), 410);
    let body = r.text().unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code(&v), "ioc_deleted");
    assert!(!body.contains("old-3"), "{body}");
    // The pro tier (365 days) gets the details.
    let r = s.get(&format!("/api/v1/iocs/{id}"), &s.keys.pro);
    assert_eq!(r.status(), 410);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["details"]["value"], "old-3.example");
    assert_eq!(v["error"]["details"]["reason"], "fp");
}
