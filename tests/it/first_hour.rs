//! Spec fidelity and the first hour (issue #16, items 2-4) through the
//! binary: rate-limit headers on every answer to an authenticated request,
//! the failed-authentication 429, `Accept` negotiation (406), the enum
//! rule, MISP `limit` and a future `since`, and the newcomer traps (a
//! mistyped data directory, demo data in a managed install and its
//! removal, a busy port, `--listen localhost`, `iocd import -`, skipped
//! files named, the key id on a 403 log line).

use crate::common;

use common::{code, iocd, Server, BIN};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

const NO_DEMO: &str = "[demo]\nseed_when_empty = false\n";

fn rate_headers(r: &common::Response) -> Option<(u64, u64, u64)> {
    let h = r.headers();
    let n = |k: &str| h.get(k)?.to_str().ok()?.parse::<u64>().ok();
    Some((
        n("x-ratelimit-limit")?,
        n("x-ratelimit-remaining")?,
        n("x-ratelimit-reset")?,
    ))
}

#[test]
fn rate_limit_headers_on_404_405_and_4xx_of_authenticated_requests() {
    let s = Server::start();
    let key = &s.keys.free;
    // The free tier's limit per minute, from the config the test wrote.
    let limit = s.json("/api/v1/iocs?limit=1", key);
    assert!(limit["data"].is_array());
    let first = rate_headers(&s.get("/api/v1/iocs?limit=1", key)).expect("200 carries them");

    // Unknown path: 404 envelope, with the key's headers, and charged.
    let r = s.get("/api/v1/no-such-endpoint", key);
    assert_eq!(r.status(), 404);
    let (l, rem, _) = rate_headers(&r).expect("404 carries X-RateLimit-*");
    assert_eq!(l, first.0);
    assert!(rem < first.1, "the 404 is charged: {rem} !< {}", first.1);
    assert_eq!(code(&r.json().unwrap()), "not_found");

    // Wrong method: 405 with Allow and the headers.
    let r = s
        .client
        .delete(s.url("/api/v1/stats"))
        .bearer_auth(key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    assert!(rate_headers(&r).is_some(), "405 carries X-RateLimit-*");

    // A bad parameter (400) and an unknown IOC id (404) after the gate.
    let r = s.get("/api/v1/iocs?limit=nope", key);
    assert_eq!(r.status(), 400);
    assert!(rate_headers(&r).is_some());
    let r = s.get("/api/v1/iocs/00000000-0000-4000-8000-000000000000", key);
    assert_eq!(r.status(), 404);
    assert!(rate_headers(&r).is_some());

    // TAXII: an unknown path under the prefix too.
    let r = s
        .client
        .get(s.url("/api/taxii2/nope/"))
        .basic_auth("taxii", Some(key))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        rate_headers(&r).is_some(),
        "TAXII 404 carries X-RateLimit-*"
    );

    // Without a key a 404 stays a plain 404 (no headers, not a 401).
    let r = s
        .client
        .get(s.url("/api/v1/no-such-endpoint"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(rate_headers(&r).is_none());
}

#[test]
fn failed_auth_429_has_retry_after_headers_and_details() {
    let s = Server::start_with("[auth]\nfailed_attempts_per_minute = 2\n", &[]);
    let bad = "sk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..2 {
        assert_eq!(s.get("/api/v1/iocs", bad).status(), 401);
    }
    let before = chrono::Utc::now().timestamp() as u64;
    let r = s.get("/api/v1/iocs", bad);
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let (limit, remaining, reset) = rate_headers(&r).expect("X-RateLimit-* on the 429");
    assert_eq!((limit, remaining), (2, 0));
    assert!(
        reset >= before && reset <= before + 61,
        "{reset} vs {before}"
    );
    let v: Value = r.json().unwrap();
    assert_eq!(code(&v), "rate_limit_exceeded");
    let d = &v["error"]["details"];
    assert_eq!(d["limit"], 2);
    assert_eq!(d["window"], "minute");
    assert_eq!(d["tier"], "unauthenticated");
    assert_eq!(d["reason"], "failed_authentication");
    let reset_at = chrono::DateTime::parse_from_rfc3339(d["reset_at"].as_str().unwrap()).unwrap();
    assert_eq!(reset_at.timestamp() as u64, reset);
}

#[test]
fn accept_the_route_cannot_serve_is_406_with_the_envelope() {
    let s = Server::start();
    let get = |path: &str, accept: &str| {
        s.client
            .get(s.url(path))
            .bearer_auth(&s.keys.admin)
            .header("accept", accept)
            .send()
            .unwrap()
    };
    let r = get("/api/v1/iocs/stix?limit=1", "text/csv");
    assert_eq!(r.status(), 406);
    assert!(rate_headers(&r).is_some());
    let v: Value = r.json().unwrap();
    assert_eq!(code(&v), "not_acceptable");
    assert_eq!(
        v["error"]["details"]["supported"],
        serde_json::json!(["application/stix+json", "application/json"])
    );
    assert!(v["error"]["request_id"]
        .as_str()
        .unwrap()
        .starts_with("req_"));
    assert_eq!(get("/api/v1/iocs", "image/png").status(), 406);
    assert_eq!(get("/api/v1/iocs", "application/json;q=0").status(), 406);
    // What clients send.
    for (path, accept) in [
        (
            "/api/v1/iocs/stix?limit=1",
            "application/stix+json;version=2.1",
        ),
        ("/api/v1/iocs/stix?limit=1", "application/json"),
        (
            "/api/v1/iocs?limit=1",
            "text/html,application/xhtml+xml,*/*;q=0.8",
        ),
        ("/api/v1/iocs/csv?limit=1", "text/csv"),
        ("/api/v1/iocs/cef?limit=1", "text/*"),
        ("/api/v1/iocs/openioc?limit=1", "application/xml"),
        ("/api/v1/rules/sigma?limit=1", "application/yaml"),
        ("/api/v1/stats", "application/*"),
    ] {
        assert_eq!(get(path, accept).status(), 200, "{path} {accept}");
    }
}

#[test]
fn enum_values_are_case_insensitive_and_tlp_white_is_clear() {
    let s = Server::start();
    let k = &s.keys.admin;
    let upper = s.json("/api/v1/iocs?type=IPV4&limit=1000", k);
    let lower = s.json("/api/v1/iocs?type=ipv4&limit=1000", k);
    assert!(upper["count"].as_u64().unwrap() > 0);
    assert_eq!(upper["count"], lower["count"]);
    // tlp=white (TLP 1.0) forces the same marking as tlp=clear.
    let white = s.json("/api/v1/iocs/misp?limit=5&tlp=white", k);
    let clear = s.json("/api/v1/iocs/misp?limit=5&tlp=CLEAR", k);
    let tags = |v: &Value| v["Event"]["Tag"].clone();
    assert_eq!(tags(&white), tags(&clear));
    assert_eq!(tags(&white)[0]["name"], "tlp:clear");
    // Outside the enums: 400 with the allowed list.
    let r = s.get("/api/v1/iocs?type=ip", k);
    assert_eq!(r.status(), 400);
    let msg = r.json::<Value>().unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("ipv4, ipv6"), "{msg}");
    let r = s.get("/api/v1/iocs/stix?tlp=purple", k);
    assert_eq!(r.status(), 400);
}

#[test]
fn misp_limit_counts_attributes_and_a_future_since_is_an_empty_event() {
    let s = Server::start();
    let k = &s.keys.admin;
    // The demo data has mitre_attack IOCs; they are event tags, not
    // attributes, and must not use up the limit.
    let stats = s.json("/api/v1/stats", k);
    let attack = stats["by_type"]["mitre_attack"].as_u64().unwrap();
    assert!(attack > 0);
    let total = stats["total"].as_u64().unwrap();
    let wanted = total - attack;
    let v = s.json("/api/v1/iocs/misp?limit=1000", k);
    assert_eq!(
        v["Event"]["Attribute"].as_array().unwrap().len() as u64,
        wanted
    );
    let v = s.json("/api/v1/iocs/misp?limit=7", k);
    assert_eq!(v["Event"]["Attribute"].as_array().unwrap().len(), 7);

    let next_year = chrono::Utc::now() + chrono::Duration::days(365);
    let since = next_year.format("%Y-%m-%dT00:00:00Z").to_string();
    let v = s.json(&format!("/api/v1/iocs/misp?since={since}"), k);
    assert_eq!(v["Event"]["Attribute"].as_array().unwrap().len(), 0);
    let info = v["Event"]["info"].as_str().unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        info.contains(&format!("none since {}", &since[..10])) && info.contains(&today),
        "{info}"
    );
    assert!(!info.contains(&format!("{} to", &since[..10])), "{info}");
}

#[test]
fn cli_export_count_is_what_it_wrote() {
    let mut s = Server::start();
    s.stop();
    let cfg = s.config.to_str().unwrap().to_string();
    let out = s.dir.path().join("e.misp.json");
    let (c, _, err) = iocd(&[
        "export",
        "--config",
        &cfg,
        "--format",
        "misp",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let n = v["Event"]["Attribute"].as_array().unwrap().len();
    assert!(err.contains(&format!("exported {n} IOCs as misp")), "{err}");
}

#[test]
fn a_mistyped_data_dir_is_refused_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let wrong = tmp.path().join("iocd-dta");
    let file = tmp.path().join("a.txt");
    std::fs::write(&file, "evil.example.com\n198.51.100.23\n").unwrap();
    let w = wrong.to_str().unwrap();
    for args in [
        vec!["stats", "--data-dir", w],
        vec!["export", "--data-dir", w, "--format", "json"],
        vec!["keys", "--data-dir", w, "list"],
        vec!["import", file.to_str().unwrap(), "--data-dir", w],
        vec![
            "backup",
            "--data-dir",
            w,
            "--to",
            "/tmp/iocd-first-hour-never.iocdbak",
        ],
        vec!["verify", "--data-dir", w],
        vec!["purge", "--source", "x", "--data-dir", w],
    ] {
        let (c, _, err) = iocd(&args);
        assert_ne!(c, 0, "{args:?} succeeded on a missing store");
        assert!(
            err.contains("does not exist") || err.contains("no store"),
            "{args:?}: {err}"
        );
        assert!(!wrong.exists(), "{args:?} created {w}");
    }
    // An existing directory without a store is refused too.
    std::fs::create_dir(&wrong).unwrap();
    let (c, _, err) = iocd(&["stats", "--data-dir", w]);
    assert_eq!(c, 1);
    assert!(
        err.contains("holds no iocd store") && err.contains("iocd init"),
        "{err}"
    );
    assert!(!wrong.join("store").exists());
    // import --create makes one.
    let (c, _, err) = iocd(&[
        "import",
        "--create",
        file.to_str().unwrap(),
        "--data-dir",
        w,
        "--json",
    ]);
    assert_eq!(c, 0, "{err}");
    let (c, out, _) = iocd(&["stats", "--data-dir", w, "--json"]);
    assert_eq!(c, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 2);
}

#[test]
fn init_without_demo_loads_none_and_purge_removes_demo_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("iocd.toml");
    let (c, _, err) = iocd(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("\nseed_when_empty = false"),
        "init wrote: {text}"
    );
    let (c, _, err) = iocd(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");

    // A server on it loads no demo data.
    let mut s = Server::start_with(NO_DEMO, &[]);
    assert_eq!(s.json("/api/v1/stats", &s.keys.admin)["total"], 0);
    s.stop();

    // With demo data (the harness inits with --demo): purge it, live.
    let mut s = Server::start();
    let k = s.keys.admin.clone();
    let before = s.json("/api/v1/stats", &k)["total"].as_u64().unwrap();
    assert!(before > 100);
    // One IOC from a real source: the purge keeps it.
    let r = s.post_json(
        "/api/v1/iocs",
        &k,
        &serde_json::json!([{"value": "evil-real.example.net", "source": "vendor-x"}]),
    );
    assert_eq!(r.status(), 200);
    let cfgp = s.config.to_str().unwrap().to_string();
    let (c, out, err) = iocd(&[
        "purge",
        "--source",
        "iocd-demo",
        "--config",
        &cfgp,
        "--json",
    ]);
    assert_eq!(c, 0, "{err}");
    let rep: Value = serde_json::from_str(out.trim()).unwrap();
    let removed: u64 = rep["removed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(removed, before);
    let stats = s.json("/api/v1/stats", &k);
    assert_eq!(stats["total"], 1);
    let left = s.json("/api/v1/iocs?limit=10", &k);
    assert_eq!(left["data"][0]["value"], "evil-real.example.net");
    // The listing cache saw the change; the store is consistent.
    s.stop();
    let (c, out, err) = iocd(&["verify", "--config", &cfgp]);
    assert_eq!(c, 0, "{out}{err}");
    // Offline a second purge finds nothing, and says so.
    let (c, out, _) = iocd(&["purge", "--source", "iocd-demo", "--config", &cfgp]);
    assert_eq!(c, 0);
    assert!(
        out.contains("0 IOCs removed") && out.contains("no IOC has the source"),
        "{out}"
    );
}

#[test]
fn busy_port_and_listen_forms_say_what_to_do() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    let port = s.base.rsplit(':').next().unwrap().to_string();
    let cfg = s.config.to_str().unwrap().to_string();
    // A second server on the same data directory would fail on the store
    // lock first: use a fresh one on the busy port.
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("d");
    let busy = format!("127.0.0.1:{port}");
    let out = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            other.to_str().unwrap(),
            "--listen",
            &busy,
            "--no-demo",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{err}"
    );
    assert!(err.contains("--listen 127.0.0.1:PORT"), "{err}");

    let (c, _, err) = iocd(&["serve", "--config", &cfg, "--listen", "iocd.soc.lan:8443"]);
    assert_eq!(c, 2, "{err}");
    assert!(
        err.contains("not an IP address") && err.contains("localhost:8443"),
        "{err}"
    );
    // localhost:PORT is accepted: the running server answers on it.
    s.stop();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", &cfg, "--listen", "localhost:0"])
        .env("IOCD_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let line = std::io::BufRead::lines(std::io::BufReader::new(stderr))
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("https://127.0.0.1:"), "{line}");
}

#[test]
fn import_dash_reads_stdin_and_skipped_files_are_named() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    s.stop();
    let cfg = s.config.to_str().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args([
            "import", "-", "--config", &cfg, "--source", "pipe", "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hxxp://bad[.]example/x\n203.0.113.99\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sum: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(sum["new"], 2);

    // 25 skipped files: 20 named, then where the rest are.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..25 {
        std::fs::write(dir.path().join(format!("notes{i:02}.md")), "# notes\n").unwrap();
    }
    std::fs::write(dir.path().join("iocs.txt"), "198.51.100.77\n").unwrap();
    let (c, out, err) = iocd(&[
        "import",
        dir.path().to_str().unwrap(),
        "--config",
        &cfg,
        "--json",
    ]);
    assert_eq!(c, 0, "{err}");
    let named = err
        .lines()
        .filter(|l| l.starts_with("skipped ") && l.contains("notes"))
        .count();
    assert_eq!(named, 20, "{err}");
    assert!(
        err.contains("... and 5 more skipped files: run with --json"),
        "{err}"
    );
    let sum: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(sum["skipped_files"].as_array().unwrap().len(), 25);
}

#[test]
fn a_403_log_line_names_the_key() {
    let mut s = Server::start();
    s.stop();
    s.log_level = "info";
    s.spawn();
    let r = s.get("/api/v1/keys", &s.keys.free);
    assert_eq!(r.status(), 403);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let key_id = s.keys.free.split('_').nth(2).unwrap().to_string();
    let t0 = std::time::Instant::now();
    let line = loop {
        let found = s
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&rid))
            .cloned();
        if let Some(l) = found {
            break l;
        }
        assert!(t0.elapsed().as_secs() < 10, "no log line for {rid}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(line.contains("status=403"), "{line}");
    assert!(line.contains(&format!("key_id={key_id}")), "{line}");
}

#[test]
fn openapi_document_passes_openapi_spec_validator() {
    let s = Server::start_with(NO_DEMO, &[]);
    let r = s.client.get(s.url("/api/openapi.json")).send().unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().unwrap();
    // `servers` names the address this request reached.
    assert_eq!(doc["servers"][0]["url"], s.base.as_str());
    assert!(doc["info"]["description"]
        .as_str()
        .unwrap()
        .contains("X-RateLimit-Remaining"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/.venv/bin/python");
    if !python.exists() {
        println!(
            "SKIP: {} not found; openapi-spec-validator did not run",
            python.display()
        );
        return;
    }
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("tests/consumers/test_openapi.py"))
        .env("IOCD_OPENAPI", &file)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "openapi-spec-validator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
