//! Crash safety (issue #15, item 3): writers ingest through
//! `POST /api/v1/iocs` and the TAXII `POST .../objects/` while the server
//! is SIGKILLed at random moments, again and again. After every kill
//! `iocd verify` must find the store clean, and after every restart each
//! IOC of every acknowledged batch (200 / 202 with its objects stored)
//! must be there. The promise under test is README "Reliability":
//! acknowledged means durable.
//!
//! `IOCD_CRASH_ROUNDS` (default 20) sets the number of kills;
//! `IOCD_CRASH_SEED` the random moments (printed, to replay a failure).

use crate::common::{self, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TAXII: &str = "application/taxii+json;version=2.1";

/// Between two batches of one writer: keeps the store small enough that
/// 20 rounds of checks stay quick, while a kill still lands mid-batch.
const PAUSE: Duration = Duration::from_millis(5);

/// A small deterministic generator (xorshift64*): the kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// What the writers got acknowledged: (type, value).
type Acked = Arc<Mutex<Vec<(&'static str, String)>>>;

/// One writer: which route it posts to and how a batch looks.
#[derive(Clone, Copy)]
enum Route {
    /// `POST /api/v1/iocs`, batches of 50 new domains, acknowledged by 200
    /// with all 50 new.
    V1,
    /// TAXII `POST .../collections/submissions/objects/`, envelopes of 20
    /// URL indicators, acknowledged by 202 with all 20 successes.
    Taxii,
}

impl Route {
    /// The batch's values, the request for them, the status and the
    /// answer's count that acknowledge it, and the IOC type.
    fn batch(
        self,
        client: &common::Client,
        base: &str,
        round: usize,
        batch: usize,
    ) -> (
        Vec<String>,
        common::client::RequestBuilder,
        u16,
        &'static str,
        &'static str,
    ) {
        match self {
            Route::V1 => {
                let values: Vec<String> = (0..50)
                    .map(|i| format!("r{round}b{batch}i{i}.crash-v1.example"))
                    .collect();
                let req = client
                    .post(format!("{base}/api/v1/iocs"))
                    .json(&json!(values));
                (values, req, 200, "new", "domain")
            }
            Route::Taxii => {
                let coll = iocd::taxii::collection_id("submissions");
                let values: Vec<String> = (0..20)
                    .map(|i| format!("http://r{round}b{batch}i{i}.crash-taxii.example/p"))
                    .collect();
                let objects: Vec<Value> = values
                    .iter()
                    .enumerate()
                    .map(|(i, u)| {
                        let id = uuid::Uuid::new_v5(
                            &uuid::Uuid::NAMESPACE_URL,
                            format!("{round}/{batch}/{i}").as_bytes(),
                        );
                        json!({
                            "type": "indicator",
                            "spec_version": "2.1",
                            "id": format!("indicator--{id}"),
                            "created": "2026-11-01T00:00:00.000Z",
                            "modified": "2026-11-01T00:00:00.000Z",
                            "pattern": format!("[url:value = '{u}']"),
                            "pattern_type": "stix",
                            "valid_from": "2026-11-01T00:00:00.000Z"
                        })
                    })
                    .collect();
                let req = client
                    .post(format!(
                        "{base}/api/taxii2/iocs/collections/{coll}/objects/"
                    ))
                    .header("Content-Type", TAXII)
                    .header("Accept", TAXII)
                    .body(serde_json::to_vec(&json!({ "objects": objects })).unwrap());
                (values, req, 202, "success_count", "url")
            }
        }
    }
}

/// Posts batches on `route` until `stop` or the server goes away and
/// records each acknowledged batch in `acked`. True when a request failed
/// (refused or cut off by the kill), false when told to stop.
fn writer(
    route: Route,
    client: common::Client,
    base: String,
    key: String,
    round: usize,
    stop: Arc<AtomicBool>,
    acked: Acked,
) -> bool {
    let mut batch = 0;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(PAUSE);
        let (values, req, ok, count, ty) = route.batch(&client, &base, round, batch);
        batch += 1;
        let r = req
            .bearer_auth(&key)
            .timeout(Duration::from_secs(10))
            .send();
        let Ok(r) = r else { return true };
        if r.status() != ok {
            continue;
        }
        let Ok(v) = r.json::<Value>() else {
            return true;
        };
        assert_eq!(v[count], values.len(), "every IOC of a fresh batch: {v}");
        acked
            .lock()
            .unwrap()
            .extend(values.into_iter().map(|d| (ty, d)));
    }
    false
}

/// Every value of `ty` in the store, by cursor paging.
fn stored(s: &Server, ty: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut cursor = String::new();
    loop {
        let v = s.json(
            &format!("/api/v1/iocs?type={ty}&limit=10000{cursor}"),
            &s.keys.admin,
        );
        for d in v["data"].as_array().expect("a listing") {
            out.insert(d["value"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let rounds: usize = std::env::var("IOCD_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("IOCD_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash safety: {rounds} SIGKILLs, IOCD_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let mut s = Server::start();
    let acked: Acked = Default::default();
    let cfg = s.config.to_str().unwrap().to_string();
    let t0 = Instant::now();
    let mut phases = [0f64; 3];
    // Writers that ended on a failed request (cut off or refused).
    let mut cut = 0;
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = [Route::V1, Route::Taxii].map(|route| {
            let (c, b, k, st, a) = (
                s.client.clone(),
                s.base.clone(),
                s.keys.admin.clone(),
                stop.clone(),
                acked.clone(),
            );
            std::thread::spawn(move || writer(route, c, b, k, round, st, a))
        });
        // Kill at a random moment 100–900 ms into the writes.
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 800));
        let mut child = s.child.take().expect("a running server");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            cut += usize::from(w.join().expect("a writer panicked"));
        }
        let t = Instant::now();
        let (code, out, err) = common::iocd(&["verify", "--config", &cfg]);
        phases[0] += t.elapsed().as_secs_f64();
        assert_eq!(
            code, 0,
            "round {round}: verify after SIGKILL:\n{out}\n{err}"
        );
        let t = Instant::now();
        s.spawn();
        phases[1] += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let want = acked.lock().unwrap().clone();
        let (domains, urls) = (stored(&s, "domain"), stored(&s, "url"));
        let missing: Vec<&(&str, String)> = want
            .iter()
            .filter(|(t, v)| !if *t == "domain" { &domains } else { &urls }.contains(v))
            .collect();
        phases[2] += t.elapsed().as_secs_f64();
        assert!(
            missing.is_empty(),
            "round {round} (IOCD_CRASH_SEED={seed}): {} of {} acknowledged IOCs lost, e.g. {:?}",
            missing.len(),
            want.len(),
            &missing[..missing.len().min(5)]
        );
    }
    let n = acked.lock().unwrap().len();
    println!(
        "crash safety: {rounds} SIGKILLs ({cut} of {} writers ended on a refused or cut-off request) in {:.1} s (verify {:.1} s, restarts {:.1} s, checks {:.1} s), {n} acknowledged IOCs all present, verify clean each time",
        2 * rounds,
        t0.elapsed().as_secs_f64(),
        phases[0],
        phases[1],
        phases[2]
    );
    assert!(n > 0, "no batch was acknowledged in {rounds} rounds");
}
