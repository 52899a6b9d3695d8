//! TAXII 2.1 polling by `added_after` (§3.4: exclusive), the way Microsoft
//! Sentinel's and OpenCTI's TAXII connectors poll: each request asks for
//! objects added after the previous page's `X-TAXII-Date-Added-Last`. Every
//! object must arrive exactly once at any `limit`, also while writes run —
//! which needs every object's date added to be its own (objects committed
//! together used to share one, and a poll at `limit=1` then lost the rest
//! of the commit).

use crate::common;

use common::{iocd, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const TAXII: &str = "application/taxii+json;version=2.1";
const ALL: &str = "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4";
/// No demo IOCs; a tier that does not run out during thousands of polls.
const CONFIG: &str = "[demo]\nseed_when_empty = false\n\
    [tiers.pro]\nrequests_per_minute = 10000000\nrequests_per_day = 100000000\n";

/// `n` IOC values of five types, distinct from every other call's.
fn values(tag: &str, n: usize) -> Vec<String> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let base = NEXT.fetch_add(n, Ordering::SeqCst);
    (base..base + n)
        .map(|k| match k % 5 {
            0 => format!("{tag}-h{k}.poll.example"),
            1 => format!("45.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255),
            2 => format!("{:064x}", k + 0x5eed0000),
            3 => format!("CVE-2023-{}", 10_000 + k),
            _ => format!("https://{tag}.poll.example/p/{k}"),
        })
        .collect()
}

fn post(s: &Server, vals: &[String]) {
    let r = s
        .client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "text/plain")
        .body(vals.join("\n"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
}

/// Polls `objects/` from the start by `added_after` until a page comes
/// back empty; returns every object id received, in order, and the last
/// `X-TAXII-Date-Added-Last`.
fn poll(s: &Server, limit: usize, mut after: Option<String>) -> (Vec<String>, Option<String>) {
    let mut got = Vec::new();
    for _ in 0..200_000 {
        let mut url = format!("{ALL}/objects/?limit={limit}");
        if let Some(a) = &after {
            url.push_str(&format!("&added_after={a}"));
        }
        let r = s
            .client
            .get(s.url(&url))
            .bearer_auth(&s.keys.pro)
            .header("accept", TAXII)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let last = r
            .headers()
            .get("x-taxii-date-added-last")
            .map(|v| v.to_str().unwrap().to_string());
        let env: Value = r.json().unwrap();
        let objs = env["objects"].as_array().cloned().unwrap_or_default();
        if objs.is_empty() {
            assert!(last.is_none(), "an empty page names no date added");
            return (got, after);
        }
        assert!(objs.len() <= limit);
        got.extend(objs.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        let last = last.expect("a page with objects names its last date added");
        if let Some(prev) = &after {
            assert!(&last > prev, "dates added increase: {last} after {prev}");
        }
        after = Some(last);
    }
    panic!("polling did not end");
}

fn exactly_once(ids: &[String]) -> HashMap<&str, usize> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for i in ids {
        *seen.entry(i.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "received more than once: {twice:?}");
    seen
}

#[test]
fn added_after_polling_at_any_limit_loses_nothing_while_writes_run() {
    let s = Arc::new(Server::start_with(CONFIG, &[]));
    // One commit: before per-object dates, these 2,000 shared a handful.
    post(&s, &values("base", 2000));
    let mut written = 2000;
    for (round, limit) in [1usize, 7, 1000].into_iter().enumerate() {
        // Writers add new IOCs (one commit per POST) while the client polls.
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (s, stop) = (s.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 40 {
                    post(&s, &values(&format!("w{round}-{n}"), 25));
                    n += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                n
            })
        };
        let (mut ids, after) = poll(&s, limit, None);
        stop.store(true, Ordering::Relaxed);
        let batches = writer.join().unwrap();
        // What the writers added after the client caught up comes next.
        let (rest, _) = poll(&s, limit, after);
        ids.extend(rest);
        let seen = exactly_once(&ids);
        written += 25 * batches;
        // identity + 5 marking definitions + every IOC's object.
        assert_eq!(seen.len(), 6 + written, "limit {limit}");
        // The same set as paging with `next` from the start.
        let (all, _) = poll(&s, 1000, None);
        assert_eq!(all.len(), seen.len(), "limit {limit}");
    }
}

/// The ESET import (17k objects in a few commits), polled at `limit=1`:
/// every object arrives once. Without the real data: SKIP.
#[test]
fn eset_import_polled_at_limit_1_by_added_after() {
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/eset");
    if !real.is_dir() {
        println!("SKIP: real data not found at {}", real.display());
        return;
    }
    let mut s = Server::start_with(CONFIG, &[]);
    s.stop();
    let data = s.dir.path().join("data");
    let (code, _, err) = iocd(&[
        "import",
        real.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "import crashed: {err}");
    s.spawn();
    let stats = s.json("/api/v1/stats", &s.keys.admin);
    let total = stats["total"].as_u64().expect("stats total");
    assert!(total > 10_000, "{stats}");
    let (ids, _) = poll(&s, 1, None);
    let seen = exactly_once(&ids);
    let (paged, _) = poll(&s, 1000, None);
    assert_eq!(seen.len(), paged.len());
    // identity + markings + one object per IOC.
    assert_eq!(seen.len() as u64, 6 + total);
}
