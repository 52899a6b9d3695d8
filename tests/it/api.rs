//! The HTTPS API end to end through the real binary (issue #4): auth
//! matrix, rate limits, TLS, error envelope, listing, ingest, deletion,
//! restart durability.

use crate::common;

use base64::Engine;
use common::{code, iocd, Server};
use iocd::http::router::ROUTES;
use serde_json::{json, Value};
use std::time::Duration;

/// How a key is presented.
#[derive(Clone, Copy, Debug)]
enum Place {
    Bearer,
    XApiKey,
    Query,
    Basic,
}

fn send(
    s: &Server,
    method: &hyper::Method,
    path: &str,
    key: Option<&str>,
    place: Place,
) -> common::Response {
    let path = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
    let mut url = s.url(&path);
    let m = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let mut rb = s.client.request(m, &url);
    if let Some(k) = key {
        match place {
            Place::Bearer => rb = rb.bearer_auth(k),
            Place::XApiKey => rb = rb.header("X-API-Key", k),
            Place::Basic => rb = rb.basic_auth("taxii", Some(k)),
            Place::Query => {
                url = format!("{url}?api_key={k}");
                rb = s.client.request(
                    reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
                    &url,
                );
            }
        }
    }
    rb.send().unwrap()
}

#[test]
fn auth_matrix_over_every_route() {
    let s = Server::start_with(
        "[auth]\nfailed_attempts_per_minute = 100000\n",
        &[("iocs-only", "pro", Some("read:iocs"))],
    );
    let malformed = "sk_live_nothex_short";
    let unknown = "sk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for r in ROUTES {
        let Some(scope) = r.scope else {
            let resp = send(&s, &r.method, r.pattern, None, Place::Bearer);
            assert_eq!(resp.status(), 200, "{} {}", r.method, r.pattern);
            continue;
        };
        // The stats-only key lacks every scope but read:stats; for the
        // stats route use a key holding only read:iocs.
        let wrong = if scope == "read:stats" {
            s.extra("iocs-only").to_string()
        } else {
            s.keys.stats_only.clone()
        };
        let wrong = &wrong;
        let right = if scope == "admin" || scope == "write:iocs" {
            &s.keys.admin
        } else {
            &s.keys.pro
        };
        let resp = send(&s, &r.method, r.pattern, None, Place::Bearer);
        assert_eq!(resp.status(), 401, "{} {} no key", r.method, r.pattern);
        let v: Value = resp.json().unwrap();
        assert_eq!(code(&v), "missing_api_key");
        for place in [Place::Bearer, Place::XApiKey, Place::Query, Place::Basic] {
            let ctx = format!("{} {} {place:?}", r.method, r.pattern);
            for (key, want) in [
                (malformed, "malformed"),
                (unknown, "unknown"),
                (s.keys.revoked.as_str(), "revoked"),
            ] {
                let resp = send(&s, &r.method, r.pattern, Some(key), place);
                assert_eq!(resp.status(), 401, "{ctx} {want}");
                let v: Value = resp.json().unwrap();
                assert_eq!(code(&v), "invalid_api_key", "{ctx}");
                assert_eq!(v["error"]["details"]["reason"], want, "{ctx}");
            }
            let resp = send(&s, &r.method, r.pattern, Some(wrong), place);
            assert_eq!(resp.status(), 403, "{ctx} wrong scope");
            assert!(resp.headers().contains_key("x-ratelimit-limit"), "{ctx}");
            let v: Value = resp.json().unwrap();
            assert_eq!(code(&v), "insufficient_scope", "{ctx}");
            assert_eq!(v["error"]["details"]["required_scope"], scope, "{ctx}");
            assert!(v["error"]["details"]["your_scopes"].is_array(), "{ctx}");
            let resp = send(&s, &r.method, r.pattern, Some(right), place);
            let st = resp.status().as_u16();
            assert!(
                st != 401 && st != 403 && st != 429 && st < 500,
                "{ctx} right scope got {st}"
            );
            assert!(
                resp.headers().contains_key("x-ratelimit-remaining"),
                "{ctx}"
            );
        }
    }
}

#[test]
fn free_tier_cannot_export_and_lookback_is_clamped() {
    let s = Server::start();
    let r = s.get("/api/v1/iocs/stix", &s.keys.free);
    assert_eq!(r.status(), 403);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["details"]["required_scope"], "read:stix");
    assert_eq!(
        v["error"]["details"]["your_scopes"],
        json!(["read:articles", "read:iocs", "read:stats"])
    );
    // JSON listing works for free, and `since` a year ago is clamped to 1 day.
    let v = s.json(
        "/api/v1/iocs?since=2020-01-01T00:00:00Z&limit=5",
        &s.keys.free,
    );
    assert_eq!(v["count"], 5);
    assert!(v["next_cursor"].is_string());
}

#[test]
fn rate_limit_counts_down_denies_and_refills() {
    let s = Server::start_with(
        "[tiers.tiny]\nrequests_per_minute = 60\nrequests_per_day = 1000\nlookback_days = 1\nscopes = [\"read:iocs\"]\n",
        &[("tiny", "tiny", None)],
    );
    let key = s.extra("tiny").to_string();
    for i in 0..60u32 {
        let r = s.get("/api/v1/iocs?limit=1", &key);
        assert_eq!(r.status(), 200, "request {i}");
        let h = r.headers();
        assert_eq!(h["x-ratelimit-limit"], "60");
        let rem: u32 = h["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // Tokens refill continuously (1/s), so remaining may be a little above the count.
        assert!(rem >= 59 - i && rem <= 59 - i + 3, "remaining {rem} at {i}");
        let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(reset >= now && reset <= now + 61);
    }
    // Drain whatever refilled meanwhile, then expect a 429.
    let mut denied = None;
    for _ in 0..10 {
        let r = s.get("/api/v1/iocs?limit=1", &key);
        if r.status() == 429 {
            denied = Some(r);
            break;
        }
    }
    let r = denied.expect("no 429 after the bucket emptied");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let v: Value = r.json().unwrap();
    assert_eq!(code(&v), "rate_limit_exceeded");
    assert_eq!(v["error"]["details"]["limit"], 60);
    assert_eq!(v["error"]["details"]["tier"], "tiny");
    assert!(v["error"]["details"]["reset_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(s.get("/api/v1/iocs?limit=1", &key).status(), 200);
}

#[test]
fn failed_auth_is_limited_per_ip() {
    let s = Server::start_with("[auth]\nfailed_attempts_per_minute = 3\n", &[]);
    let bad = "sk_live_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    // The pro key is verified once (and cached) before the attack.
    assert_eq!(s.get("/api/v1/iocs", &s.keys.pro).status(), 200);
    for _ in 0..3 {
        assert_eq!(s.get("/api/v1/iocs", bad).status(), 401);
    }
    let r = s.get("/api/v1/iocs", bad);
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // A key not yet verified waits too: the limit is per IP and protects
    // the argon2 work.
    assert_eq!(s.get("/api/v1/iocs", &s.keys.free).status(), 429);
    // An already verified key keeps working from that address.
    assert_eq!(s.get("/api/v1/iocs", &s.keys.pro).status(), 200);
}

#[test]
fn errors_use_the_envelope_with_request_id() {
    let s = Server::start_with("[server]\nmax_body_bytes = 2048\n", &[]);
    let r = s.get("/api/v1/nope", &s.keys.pro);
    assert_eq!(r.status(), 404);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let v: Value = r.json().unwrap();
    assert_eq!(code(&v), "not_found");
    assert_eq!(v["error"]["request_id"], rid);
    assert!(rid.starts_with("req_"));

    let r = s
        .client
        .put(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.pro)
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");

    let r = s.get("/api/v1/iocs?limit=abc", &s.keys.pro);
    assert_eq!(r.status(), 400);
    let v: Value = r.json().unwrap();
    assert_eq!(code(&v), "invalid_parameter");
    assert_eq!(v["error"]["details"]["parameter"], "limit");
    for (q, p) in [
        ("type=cidr", "type"),
        ("since=yesterday", "since"),
        ("cursor=zzz", "cursor"),
        ("min_confidence=101", "min_confidence"),
    ] {
        let v: Value = s
            .get(&format!("/api/v1/iocs?{q}"), &s.keys.pro)
            .json()
            .unwrap();
        assert_eq!(v["error"]["details"]["parameter"], p, "{q}");
    }
    let r = s.get("/api/v1/iocs/stix?tlp=purple", &s.keys.pro);
    assert_eq!(r.status(), 400);

    let big = "a".repeat(4096);
    let r = s
        .client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "text/plain")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(code(&r.json().unwrap()), "payload_too_large");

    let r = s
        .client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().unwrap()), "invalid_body");
    let r = s
        .client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "image/png")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
}

#[test]
fn tls_only_and_curl_trusts_the_generated_ca() {
    let s = Server::start();
    let host = s.base.trim_start_matches("https://").to_string();
    // Plain HTTP on the TLS port gets a clear 400, never a response over plaintext otherwise.
    let r = reqwest::blocking::get(format!("http://{host}/api/v1/health")).unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(&r.json().unwrap()), "tls_required");
    // curl with --cacert.
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            s.ca().to_str().unwrap(),
            "-H",
            &format!("X-API-Key: {}", s.keys.pro),
            &s.url("/api/v1/stats"),
        ])
        .output()
        .expect("curl installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["total"].as_u64().unwrap() > 0);
    // TLS 1.1 is refused.
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            s.ca().to_str().unwrap(),
            "--tlsv1.1",
            "--tls-max",
            "1.1",
            &s.url("/api/v1/health"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // HTTP/2 by ALPN.
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--cacert",
            s.ca().to_str().unwrap(),
            &s.url("/api/v1/health"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2");
}

#[test]
fn ingest_list_delete_and_restart() {
    let mut s = Server::start_with("", &[]);
    let body = json!([
        "hxxp://evil-one[.]example/path?q=1",
        {"value": "=cmd|' /C calc'!A0.example.com", "type": "domain"},
        {"value": "198.51.100.77", "confidence": 90, "tags": ["=HYPERLINK(\"x\")", "c2"], "tlp": "amber", "techniques": ["t1071.001"]},
        {"value": "D41D8CD98F00B204E9800998ECF8427E"},
        {"value": "999.1.1.1"},
        42
    ]);
    let r = s.post_json("/api/v1/iocs", &s.keys.admin, &body);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(
        (v["new"].as_u64(), v["rejected"].as_u64()),
        (Some(3), Some(3)),
        "{v}"
    );
    let idx: Vec<u64> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![1, 4, 5]);
    // Bad fields are named.
    let v: Value = s
        .post_json("/api/v1/iocs", &s.keys.admin, &json!([{"value": "1.1.1.1", "confidence": "high"}, {"value": "1.1.1.2", "evil": 1}, {"value": "x".repeat(5000)}]))
        .json()
        .unwrap();
    let reasons: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("invalid type: string \"high\""),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("unknown field `evil`"), "{reasons:?}");
    assert_eq!(v["errors"][2]["value"].as_str().unwrap().len(), 200);

    // text/plain, one per line, with a comment and a duplicate.
    let r = s
        .client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "text/plain")
        .body("# feed\n198.51.100.77\nbad..domain\n2001:DB8:0:0:0:0:ABCD:5\n")
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["new"], 1, "{v}");
    assert_eq!(v["unchanged"], 1, "{v}");
    assert_eq!(v["rejected"], 1, "{v}");

    let v = s.json(
        "/api/v1/iocs?type=ipv4&source=api&min_confidence=80",
        &s.keys.pro,
    );
    assert_eq!(v["count"], 1);
    let rec = &v["data"][0];
    assert_eq!(rec["value"], "198.51.100.77");
    assert_eq!(rec["tlp"], "amber");
    assert_eq!(rec["confidence_level"], "high");
    assert_eq!(rec["techniques"], json!(["T1071.001"]));
    let id = rec["id"].as_str().unwrap().to_string();

    // CSV: formula injection neutralized, RFC 4180 quoting.
    let csv = s
        .get("/api/v1/iocs/csv?type=ipv4&source=api", &s.keys.pro)
        .text()
        .unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.starts_with("id,type,value"));

    // Cursor paging visits every IOC once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let v = s.json(&format!("/api/v1/iocs?limit=7{cursor}"), &s.keys.pro);
        for d in v["data"].as_array().unwrap() {
            assert!(seen.insert(d["id"].as_str().unwrap().to_string()));
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let total = s.json("/api/v1/stats", &s.keys.pro)["total"]
        .as_u64()
        .unwrap();
    assert_eq!(seen.len() as u64, total);

    // Lookup with a defanged value.
    let v = s.json("/api/v1/lookup?value=198.51.100[.]77", &s.keys.free);
    assert_eq!(v["found"], true);
    assert_eq!(v["ioc"]["id"], id.as_str());
    assert_eq!(v["risk"]["score"], 90);
    assert_eq!(v["mitre_techniques"][0]["name"], "Web Protocols");
    assert_eq!(
        v["mitre_techniques"][0]["tactics"],
        json!(["command-and-control"])
    );
    assert!(v["hunting_queries"]["splunk"]
        .as_str()
        .unwrap()
        .contains("dest_ip=\"198.51.100.77\""));
    let v = s.json("/api/v1/lookup?value=never-seen.example.org", &s.keys.free);
    assert_eq!(
        (v["found"].as_bool(), v["type"].as_str()),
        (Some(false), Some("domain"))
    );
    assert!(v["risk"].is_null());
    assert!(v["hunting_queries"]["elastic_kql"]
        .as_str()
        .unwrap()
        .starts_with("dns.question.name : \"never-seen.example.org\""));
    assert_eq!(
        s.get("/api/v1/lookup?value=999.1.1.1", &s.keys.free)
            .status(),
        400
    );

    // Delete as false positive: 410 afterwards and re-submission suppressed.
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/iocs/{id}?reason=fp")))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.get(&format!("/api/v1/iocs/{id}"), &s.keys.pro).status(),
        410
    );
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/iocs/{id}")))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        410,
        "deleting twice says it is gone, as GET does"
    );
    let v: Value = s
        .post_json("/api/v1/iocs", &s.keys.admin, &json!(["198.51.100.77"]))
        .json()
        .unwrap();
    assert_eq!(v["suppressed"], 1);

    // A key's scopes must fit its tier (free is JSON/CSV only, even for "admin").
    for scopes in [json!(["admin"]), json!(["read:stix"])] {
        let r = s.post_json(
            "/api/v1/keys",
            &s.keys.admin,
            &json!({"name": "x", "tier": "free", "scopes": scopes}),
        );
        assert_eq!(r.status(), 400, "{scopes}");
        let v: Value = r.json().unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not allow scope"),
            "{v}"
        );
    }

    // Keys over the API: create, use, revoke (immediate).
    let r = s.post_json(
        "/api/v1/keys",
        &s.keys.admin,
        &json!({"name": "siem", "tier": "pro", "scopes": ["read:iocs"]}),
    );
    assert_eq!(r.status(), 201);
    let k: Value = r.json().unwrap();
    let newkey = k["key"].as_str().unwrap().to_string();
    assert_eq!(s.get("/api/v1/iocs?limit=1", &newkey).status(), 200);
    let r = s
        .client
        .delete(s.url(&format!("/api/v1/keys/{}", k["id"].as_str().unwrap())))
        .bearer_auth(&s.keys.admin)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.get("/api/v1/iocs?limit=1", &newkey).status(), 401);
    let listed = s.json("/api/v1/keys", &s.keys.admin);
    assert!(listed.to_string().find("\"hash\"").is_none());

    // Restart: keys and IOCs persist.
    let md5_id =
        iocd::ioc::indicator_id(iocd::ioc::IocType::Md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(s.stop(), Some(0));
    s.spawn();
    let v = s.json(&format!("/api/v1/iocs/{md5_id}"), &s.keys.pro);
    assert_eq!(v["value"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        s.get(&format!("/api/v1/iocs/{id}"), &s.keys.pro).status(),
        410
    );
    assert_eq!(s.get("/api/v1/iocs?limit=1", &newkey).status(), 401);
}

#[test]
fn health_openapi_and_basic_auth() {
    let s = Server::start();
    let v: Value = s
        .client
        .get(s.url("/api/v1/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["status"], "ok");
    let doc: Value = s
        .client
        .get(s.url("/api/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/v1/iocs/stix"]["get"].is_object());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("user:{}", s.keys.pro));
    let r = s
        .client
        .get(s.url("/api/v1/stats"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn cli_check_config_reports_lines() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.toml");
    std::fs::write(
        &p,
        "[server]\nlisten = \"iocd.soc.lan:80\"\n[tiers.x]\nrequests_per_minute = 1\n",
    )
    .unwrap();
    let (code, _, err) = iocd(&["check-config", "--config", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.toml:2:10"), "{err}");
}

#[test]
fn silent_tls_clients_are_disconnected() {
    // A client that completes the handshake and sends nothing must not hold
    // a connection slot for ever.
    let s = Server::start_with("[server]\nidle_timeout_secs = 1\n", &[]);
    let host = s.base.trim_start_matches("https://").to_string();
    let (h, port) = host.rsplit_once(':').unwrap();
    let script = format!(
        "import socket,ssl,time\nc=ssl.create_default_context(cafile='{ca}')\nc.check_hostname=False\n\
         t=c.wrap_socket(socket.create_connection(('{h}',{port})),server_hostname='localhost')\nt.settimeout(20)\n\
         t0=time.time()\nd=t.recv(10)\nprint(repr(d), round(time.time()-t0,1))\n",
        ca = s.ca().display()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (data, secs) = text.trim().split_once(' ').unwrap();
    assert_eq!(data, "b''", "the server closes without sending anything");
    let secs: f64 = secs.parse().unwrap();
    assert!(
        (0.9..5.0).contains(&secs),
        "closed after {secs} s; the limit is 1 s"
    );
    // The server still serves.
    assert_eq!(
        s.client
            .get(s.url("/api/v1/health"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

/// Identical reads are served from the response cache, but only after
/// authentication, scope and rate limiting, only for the same tier
/// lookback, and never across a write.
#[test]
fn read_responses_are_cached_until_a_write() {
    let s = Server::start();
    let pro = &s.keys.pro;
    let get = |path: &str, key: &str| {
        let r = s.get(path, key);
        let cache = r
            .headers()
            .get("x-iocd-cache")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let remaining: i64 = r
            .headers()
            .get("x-ratelimit-remaining")
            .map(|v| v.to_str().unwrap().parse().unwrap())
            .unwrap_or(-1);
        (r.status().as_u16(), cache, remaining, r.text().unwrap())
    };
    let (st, c1, _, b1) = get("/api/v1/iocs/stix?limit=5&type=domain", pro);
    assert_eq!((st, c1.as_str()), (200, "miss"), "{b1}");
    let (st, c2, _, b2) = get("/api/v1/iocs/stix?type=domain&limit=5", pro);
    assert_eq!((st, c2.as_str()), (200, "hit"));
    assert_eq!(b1, b2);
    // A hit is still charged. (Checked on the free tier: 10/min refills one
    // token per 6 s, so the count cannot creep back between two requests
    // as pro's 1000/min can.)
    let (st, c, rem1, _) = get("/api/v1/iocs?limit=7", &s.keys.free);
    assert_eq!((st, c.as_str()), (200, "miss"));
    let (st, c, rem2, _) = get("/api/v1/iocs?limit=7", &s.keys.free);
    assert_eq!((st, c.as_str()), (200, "hit"));
    assert_eq!(rem2, rem1 - 1, "a cache hit is still charged");
    // A client accepting gzip gets the same document compressed.
    let r = s
        .client
        .get(s.url("/api/v1/iocs/stix?limit=5&type=domain"))
        .bearer_auth(pro)
        .header("Accept-Encoding", "br;q=1, gzip;q=0.8")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "accept-encoding");
    assert_eq!(r.headers()["x-iocd-cache"], "hit");
    let gz = r.bytes().unwrap();
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped)
        .unwrap();
    assert_eq!(unzipped, b1);
    // The gate runs before the cache.
    let (st, _, _, body) = get("/api/v1/iocs/stix?limit=5&type=domain", &s.keys.revoked);
    assert_eq!(st, 401, "{body}");
    let (st, _, _, body) = get("/api/v1/iocs/stix?limit=5&type=domain", &s.keys.free);
    assert_eq!(st, 403, "{body}");
    // Another tier lookback is another entry.
    let (st, c, _, _) = get("/api/v1/iocs?limit=5", pro);
    assert_eq!((st, c.as_str()), (200, "miss"));
    let (st, c, _, _) = get("/api/v1/iocs?limit=5", &s.keys.free);
    assert_eq!((st, c.as_str()), (200, "miss"));
    // A write makes every entry stale.
    let r = s.post_json(
        "/api/v1/iocs",
        &s.keys.admin,
        &json!(["cache-probe.example"]),
    );
    assert_eq!(r.status(), 200);
    let (st, c3, _, _) = get("/api/v1/iocs/stix?limit=5&type=domain", pro);
    assert_eq!((st, c3.as_str()), (200, "miss"));
    let (_, _, _, all) = get("/api/v1/iocs/stix?limit=1000&type=domain", pro);
    assert!(all.contains("cache-probe.example"), "{all}");
    assert!(!b1.contains("cache-probe.example"));
    // Errors are never cached.
    let (st, c, _, _) = get("/api/v1/iocs?limit=0", pro);
    assert_eq!((st, c.as_str()), (400, ""));
}

/// The conformance helper every harness request goes through fails on a
/// wrong type, an undocumented status or media type, and a non-envelope error.
#[test]
fn conformance_helper_catches_drift() {
    let ok = json!({"status": "ok", "version": "1", "uptime_seconds": 3}).to_string();
    assert_eq!(
        common::conformance::check(
            "GET",
            "/api/v1/health",
            200,
            Some("application/json"),
            None,
            ok.as_bytes()
        ),
        Ok(())
    );
    let bad = json!({"status": "ok", "version": "1", "uptime_seconds": "3"}).to_string();
    assert!(common::conformance::check(
        "GET",
        "/api/v1/health",
        200,
        Some("application/json"),
        None,
        bad.as_bytes()
    )
    .is_err());
    assert!(common::conformance::check(
        "GET",
        "/api/v1/health",
        418,
        Some("application/json"),
        None,
        ok.as_bytes()
    )
    .is_err());
    assert!(common::conformance::check(
        "GET",
        "/api/v1/health",
        200,
        Some("text/csv"),
        None,
        ok.as_bytes()
    )
    .is_err());
    let err =
        json!({"error": {"code": "not_found", "message": "m", "request_id": "r"}}).to_string();
    assert_eq!(
        common::conformance::check(
            "GET",
            "/nope",
            404,
            Some("application/json"),
            None,
            err.as_bytes()
        ),
        Ok(())
    );
    assert!(
        common::conformance::check("GET", "/nope", 404, Some("application/json"), None, b"{}")
            .is_err()
    );
    assert!(
        common::conformance::check("GET", "/nope", 200, Some("application/json"), None, b"{}")
            .is_err()
    );
}
