//! Invalid-key flood (issue #11, item 1): a valid client's latency idle and
//! while hostile clients flood the server with wrong secrets for a known
//! key id, over HTTP/2 on loopback.
//!
//! The valid client sends one request at a time (`GET
//! /api/v1/iocs?limit=10`, its key verified and cached) for `SECS` seconds
//! idle, then again while `ADDRS` attacker addresses (127.0.0.2, ...) each
//! keep `STREAMS` concurrent HTTP/2 streams of wrong secrets going. Several
//! addresses each bring their own failed-auth budget, so the flood reaches
//! the argon2 cap too, not only the per-address 429s. Prints p50/p99 of the
//! valid client in both phases, the flood's answers by status and the
//! server's peak memory and threads. Everything is bounded in time and
//! stops by itself; only loopback addresses are used.
//!
//! usage: `cargo bench --bench auth_flood` (env `SECS`, default 5; `ADDRS`,
//! default 4; `STREAMS`, default 64) or `benches/auth_flood.sh`.

#[path = "../tests/it/common/mod.rs"]
mod common;

use common::Server;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sequential requests of the valid client until `until`; latencies in ms.
fn valid_client(s: &Server, key: &str, until: Instant) -> Vec<f64> {
    let url = s.url("/api/v1/iocs?limit=10");
    let mut lat = Vec::new();
    while Instant::now() < until {
        let t0 = Instant::now();
        let r = s.client.get(&url).bearer_auth(key).send();
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        match r {
            Ok(r) if r.status() == 200 => {
                let _ = r.bytes();
                lat.push(ms);
            }
            Ok(r) => panic!("valid client got {}", r.status()),
            Err(e) => panic!("valid client failed: {e}"),
        }
    }
    lat
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// (VmRSS MiB, threads) of a process.
fn sample(pid: u32) -> (u64, u64) {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        st.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") / 1024, field("Threads:"))
}

/// The flood: `addrs` source addresses × `streams` concurrent streams of
/// wrong secrets until `until`. Returns answers by status.
fn flood(s: &Server, bad: &str, addrs: u64, streams: u64, until: Instant) -> BTreeMap<u16, u64> {
    let ca = std::fs::read(s.ca()).unwrap();
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = s.url("/api/v1/iocs?limit=10");
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for a in 0..addrs {
            let ip: IpAddr = format!("127.0.0.{}", 2 + a).parse().unwrap();
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .http2_prior_knowledge()
                .local_address(ip)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            for _ in 0..streams {
                let (c, u, k, counts) =
                    (client.clone(), url.clone(), bad.to_string(), counts.clone());
                set.spawn(async move {
                    while Instant::now() < until {
                        let st = match c.get(&u).bearer_auth(&k).send().await {
                            Ok(r) => {
                                let st = r.status().as_u16();
                                let _ = r.bytes().await;
                                st
                            }
                            Err(_) => 0,
                        };
                        *counts.lock().unwrap().entry(st).or_insert(0) += 1;
                    }
                });
            }
        }
        while set.join_next().await.is_some() {}
    });
    let mut out = BTreeMap::new();
    out.append(&mut counts.lock().unwrap());
    out
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let secs = env_num("SECS", 5);
    let addrs = env_num("ADDRS", 4).clamp(1, 200);
    let streams = env_num("STREAMS", 64).clamp(1, 1000);
    let s = Server::start_with(
        "[tiers.bench]\nrequests_per_minute = 100000000\nrequests_per_day = 1000000000\nlookback_days = 3650\nscopes = [\"admin\"]\n",
        &[("bench", "bench", Some("admin"))],
    );
    let key = s.extra("bench").to_string();
    let pid = s.child.as_ref().unwrap().id();
    let id = key.split('_').nth(2).unwrap();
    let bad = format!("sk_live_{id}_{}", "W".repeat(32));
    // Warm up: verify (cache) the key, fill the response cache.
    valid_client(&s, &key, Instant::now() + Duration::from_millis(500));
    let (rss0, threads0) = sample(pid);
    let mut idle = valid_client(&s, &key, Instant::now() + Duration::from_secs(secs));

    let until = Instant::now() + Duration::from_secs(secs);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut rss, mut thr) = sample(pid);
            while !stop.load(Ordering::SeqCst) {
                let (r, t) = sample(pid);
                rss = rss.max(r);
                thr = thr.max(t);
                std::thread::sleep(Duration::from_millis(20));
            }
            (rss, thr)
        })
    };
    let (mut during, answers) = std::thread::scope(|sc| {
        let f = sc.spawn(|| flood(&s, &bad, addrs, streams, until));
        // Let the flood open its connections first.
        std::thread::sleep(Duration::from_millis(200));
        let v = valid_client(&s, &key, until);
        (v, f.join().unwrap())
    });
    stop.store(true, Ordering::SeqCst);
    let (rss, threads) = sampler.join().unwrap();
    let health = s.get("/api/v1/health", "").status();

    let (i50, i99) = (pct(&mut idle, 0.5), pct(&mut idle, 0.99));
    let (d50, d99) = (pct(&mut during, 0.5), pct(&mut during, 0.99));
    println!(
        "valid client, GET /api/v1/iocs?limit=10 one at a time over HTTPS/1.1 keep-alive, {secs} s per phase"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "phase", "requests", "p50 ms", "p99 ms"
    );
    println!("{:<28} {:>9} {:>9.2} {:>9.2}", "idle", idle.len(), i50, i99);
    println!(
        "{:<28} {:>9} {:>9.2} {:>9.2}",
        format!("flood {addrs} addr x {streams} streams"),
        during.len(),
        d50,
        d99
    );
    println!("p99 during / idle: {:.2}x", d99 / i99);
    let total: u64 = answers.values().sum();
    let by: Vec<String> = answers.iter().map(|(k, v)| format!("{v} x {k}")).collect();
    println!(
        "flood answers: {total} ({}, {:.0}/s); 401 = argon2 verifications",
        by.join(", "),
        total as f64 / secs as f64
    );
    println!(
        "server: {rss0} MiB / {threads0} threads idle, peak {rss} MiB / {threads} threads during the flood; health after: {health}"
    );
}
