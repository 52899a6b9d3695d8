//! Operations, read as a specification: online and offline backup,
//! restore, verify, key rotation, certificate reload on SIGHUP, systemd
//! readiness notifications and the Prometheus metrics endpoint — all
//! through the real binary.

use crate::common;

use common::{iocd, Server, BIN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NO_DEMO: &str = "[demo]\nseed_when_empty = false\n";

fn cfg(s: &Server) -> &str {
    s.config.to_str().unwrap()
}

fn data(s: &Server) -> PathBuf {
    s.dir.path().join("data")
}

/// A client trusting only the CA in `ca` (a fresh connection pool).
fn client_trusting(ca: &Path) -> common::Client {
    let pem = std::fs::read(ca).unwrap();
    common::Client::from(
        reqwest::blocking::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    )
}

fn sighup(s: &Server) {
    let pid = s.child.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

/// `iocd verify --json` on a data directory: (exit code, report).
fn verify(data_dir: &Path) -> (i32, Value) {
    let (code, out, err) = iocd(&["verify", "--json", "--data-dir", data_dir.to_str().unwrap()]);
    assert!(code == 0 || code == 2, "verify failed: {err}");
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
    )
}

fn total(report: &Value) -> u64 {
    report["counted"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

#[test]
fn backup_taken_during_an_import_restores_to_a_consistent_store() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    const BATCHES: usize = 30;
    const PER: usize = 400;
    let (tx, rx) = std::sync::mpsc::channel();
    let (client, url, key) = (
        s.client.clone(),
        s.url("/api/v1/iocs"),
        s.keys.admin.clone(),
    );
    let importer = std::thread::spawn(move || {
        for b in 0..BATCHES {
            let body: Vec<String> = (0..PER)
                .map(|i| format!("h{i}.b{b}.backup-test.example"))
                .collect();
            let r = client
                .post(&url)
                .bearer_auth(&key)
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().unwrap();
            assert_eq!(v["new"], PER as u64, "{v}");
            let _ = tx.send(b);
        }
    });
    // Take the backup once the import is under way, while it goes on.
    rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let bak = s.dir.path().join("online.iocdbak");
    let (code, _, err) = iocd(&["backup", "--config", cfg(&s), "--to", bak.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("online"), "{err}");
    let done_at_backup = rx.try_iter().count();
    importer.join().unwrap();
    assert!(
        done_at_backup < BATCHES - 1,
        "the import finished before the backup; nothing concurrent was tested"
    );

    // Another backup under the same name is refused without --force.
    let (code, _, err) = iocd(&["backup", "--config", cfg(&s), "--to", bak.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--force"), "{err}");

    // Online verify reports on the live store; repair is refused while serving.
    let (code, out, err) = iocd(&["verify", "--config", cfg(&s)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("consistent"), "{out}");
    let (code, _, err) = iocd(&["verify", "--config", cfg(&s), "--repair"]);
    assert_eq!(code, 1);
    assert!(err.contains("stop it"), "{err}");
    // Restoring over the served data directory is refused.
    let (code, _, err) = iocd(&[
        "restore",
        "--config",
        cfg(&s),
        "--from",
        bak.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("stop it first"), "{err}");

    // The restored store is consistent and holds whole POST batches only.
    // A new data directory has no backup key: the appliance's is named.
    let restored = s.dir.path().join("restored");
    let bkey = s.dir.path().join("data/backup.key");
    let (code, _, err) = iocd(&[
        "restore",
        "--from",
        bak.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--backup-key",
        bkey.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, rep) = verify(&restored);
    assert_eq!(code, 0, "{rep}");
    let n = total(&rep);
    assert_eq!(n % PER as u64, 0, "a batch was split by the backup: {n}");
    assert!(n >= PER as u64 && n < (BATCHES * PER) as u64, "{n}");
    assert_eq!(rep["api_keys"], 5, "{rep}");

    // Offline: with the server stopped, backup opens the store itself.
    s.stop();
    let off = s.dir.path().join("offline.iocdbak");
    let (code, _, err) = iocd(&["backup", "--config", cfg(&s), "--to", off.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("offline"), "{err}");
    let again = s.dir.path().join("again");
    // The operator carries the backup key to the new data directory.
    std::fs::create_dir_all(&again).unwrap();
    std::fs::copy(&bkey, again.join("backup.key")).unwrap();
    let (code, _, err) = iocd(&[
        "restore",
        "--from",
        off.to_str().unwrap(),
        "--data-dir",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(total(&verify(&again).1), (BATCHES * PER) as u64);

    // A damaged copy changes nothing; a non-empty store needs --force.
    let mut bytes = std::fs::read(&off).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = s.dir.path().join("bad.iocdbak");
    std::fs::write(&bad, &bytes).unwrap();
    let (code, _, err) = iocd(&[
        "restore",
        "--from",
        bad.to_str().unwrap(),
        "--data-dir",
        again.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("nothing was changed"), "{err}");
    let (code, _, err) = iocd(&[
        "restore",
        "--from",
        bak.to_str().unwrap(),
        "--data-dir",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(total(&verify(&again).1), (BATCHES * PER) as u64);
    let (code, _, err) = iocd(&[
        "restore",
        "--from",
        bak.to_str().unwrap(),
        "--data-dir",
        again.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(total(&verify(&again).1), n);

    // The restored data directory serves: start the server on it.
    s.spawn();
    let v = s.json("/api/v1/stats", &s.keys.pro);
    assert_eq!(v["total"], (BATCHES * PER) as u64);
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_connections() {
    let s = Server::start_with(NO_DEMO, &[]);
    let tls = data(&s).join("tls");
    let old_ca = tls.join("ca.crt");
    // A connection opened before the reload (kept alive in the pool).
    let before = client_trusting(&old_ca);
    assert_eq!(
        before.get(s.url("/api/v1/health")).send().unwrap().status(),
        200
    );

    // A second pair, from another CA, copied over the configured files.
    let other = s.dir.path().join("other");
    let (ca2, crt2, key2) = (
        other.join("ca.crt"),
        other.join("server.crt"),
        other.join("server.key"),
    );
    assert!(iocd::certs::ensure_certificates(&ca2, &crt2, &key2, &[]).unwrap());
    std::fs::copy(&crt2, tls.join("server.crt")).unwrap();
    std::fs::copy(&key2, tls.join("server.key")).unwrap();
    sighup(&s);

    let t0 = Instant::now();
    loop {
        match client_trusting(&ca2).get(s.url("/api/v1/health")).send() {
            Ok(r) if r.status() == 200 => break,
            _ if t0.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(100))
            }
            other => panic!("the new certificate is not served after SIGHUP: {other:?}"),
        }
    }
    // New connections no longer get the old certificate ...
    assert!(client_trusting(&old_ca)
        .get(s.url("/api/v1/health"))
        .send()
        .is_err());
    // ... while the connection opened before the reload still works.
    assert_eq!(
        before.get(s.url("/api/v1/health")).send().unwrap().status(),
        200
    );

    // Bad files: the reload fails and the current certificate stays.
    std::fs::write(tls.join("server.key"), "not a key").unwrap();
    sighup(&s);
    std::thread::sleep(Duration::from_millis(500));
    let c2 = client_trusting(&ca2);
    assert_eq!(
        c2.get(s.url("/api/v1/health")).send().unwrap().status(),
        200
    );
    let m = c2
        .get(s.url("/metrics"))
        .bearer_auth(&s.keys.stats_only)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(m.contains("iocd_tls_reloads_total{result=\"ok\"} 1"), "{m}");
    assert!(
        m.contains("iocd_tls_reloads_total{result=\"error\"} 1"),
        "{m}"
    );
}

/// POSTs `n` bytes of IOC list (one domain per line) as the admin; the status.
fn post_bytes(s: &Server, n: usize) -> u16 {
    let mut body = String::new();
    let mut i = 0;
    while body.len() < n {
        body.push_str(&format!("h{i}.reload.example\n"));
        i += 1;
    }
    s.client
        .post(s.url("/api/v1/iocs"))
        .bearer_auth(&s.keys.admin)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn sighup_applies_new_settings_to_the_next_requests() {
    let s = Server::start_with(
        &format!("{NO_DEMO}[server]\nmax_body_bytes = 1048576\nidle_timeout_secs = 60\n"),
        &[],
    );
    assert_eq!(post_bytes(&s, 4000), 200);
    let base = std::fs::read_to_string(&s.config).unwrap();

    // A smaller body limit applies after the reload; the idle timeout (read
    // once at start) is kept and reported, not half-applied.
    let smaller = common::apply_overrides(
        &base,
        "[server]\nmax_body_bytes = 2048\nidle_timeout_secs = 5\n",
    );
    std::fs::write(&s.config, &smaller).unwrap();
    sighup(&s);
    let t0 = Instant::now();
    while post_bytes(&s, 4000) != 413 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "max_body_bytes not reloaded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(post_bytes(&s, 1000), 200);

    // A config with errors changes nothing.
    std::fs::write(&s.config, format!("{smaller}\n[server\n")).unwrap();
    sighup(&s);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(post_bytes(&s, 4000), 413);
    assert_eq!(post_bytes(&s, 1000), 200);

    // Back to the larger limit.
    std::fs::write(&s.config, &base).unwrap();
    sighup(&s);
    let t0 = Instant::now();
    while post_bytes(&s, 4000) != 200 {
        assert!(t0.elapsed() < Duration::from_secs(10), "limit not restored");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let s = Server::start_with(NO_DEMO, &[]);
    let mut s = s;
    s.stop();
    let sock_path = s.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config", cfg(&s), "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("IOCD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = sock.recv(&mut buf).expect("no notification from iocd");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let m = recv();
    assert!(
        m.starts_with("READY=1\nSTATUS=serving on https://127.0.0.1:"),
        "{m}"
    );
    // READY comes after the listener is bound: the listen line is out.
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    assert!(lines.any(|l| l.contains("listening on https://")));
    // Keep draining stderr: a closed pipe would fail the server's last lines.
    std::thread::spawn(move || lines.for_each(drop));
    let pid = child.id().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(recv().starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert!(recv().starts_with("READY=1\n"));
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(recv().starts_with("STOPPING=1"));
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // The control socket is removed on a clean stop.
    assert!(!data(&s).join("control.sock").exists());
}

#[test]
fn metrics_count_requests_latency_iocs_and_rejections() {
    let s = Server::start_with(
        "[demo]\nseed_when_empty = false\n[tiers.tiny]\nrequests_per_minute = 2\nrequests_per_day = 100\nlookback_days = 1\nscopes = [\"read:iocs\"]\n",
        &[("tiny", "tiny", None), ("iocs-only", "pro", Some("read:iocs"))],
    );
    let r = s.post_json(
        "/api/v1/iocs",
        &s.keys.admin,
        &json!(["evil.example", "198.51.100.7", "CVE-2024-3400"]),
    );
    assert_eq!(r.status(), 200);
    let tiny = s.extra("tiny");
    let statuses: Vec<u16> = (0..3)
        .map(|_| s.get("/api/v1/iocs?limit=1", tiny).status().as_u16())
        .collect();
    assert_eq!(statuses, vec![200, 200, 429]);
    assert_eq!(
        s.get(
            "/api/v1/iocs/0b6a1c4e-0000-5000-8000-000000000000",
            &s.keys.pro
        )
        .status(),
        404
    );

    // Scope read:stats (the stats-only key); other keys get 403.
    assert_eq!(s.get("/metrics", s.extra("iocs-only")).status(), 403);
    assert_eq!(
        s.client.get(s.url("/metrics")).send().unwrap().status(),
        401
    );
    let r = s.get("/metrics", &s.keys.stats_only);
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = r.text().unwrap();
    for want in [
        "iocd_iocs{type=\"domain\"} 1",
        "iocd_iocs{type=\"ipv4\"} 1",
        "iocd_iocs{type=\"cve\"} 1",
        "iocd_http_requests_total{route=\"/api/v1/iocs\",method=\"POST\",status=\"200\"} 1",
        "iocd_http_requests_total{route=\"/api/v1/iocs\",method=\"GET\",status=\"200\"} 2",
        "iocd_http_requests_total{route=\"/api/v1/iocs\",method=\"GET\",status=\"429\"} 1",
        // The id is not a label: the route pattern is.
        "iocd_http_requests_total{route=\"/api/v1/iocs/{id}\",method=\"GET\",status=\"404\"} 1",
        "iocd_rate_limited_total{route=\"/api/v1/iocs\"} 1",
        "iocd_http_request_duration_seconds_bucket{route=\"/api/v1/iocs\",le=\"+Inf\"} 4",
        "iocd_http_request_duration_seconds_count{route=\"/api/v1/iocs\"} 4",
        "# TYPE iocd_http_request_duration_seconds histogram",
        "iocd_store_size_bytes ",
    ] {
        assert!(m.contains(want), "missing {want}\n{m}");
    }
    // Every sample line is `name{labels} number`.
    for l in m.lines().filter(|l| !l.starts_with('#')) {
        let v = l.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok(), "{l}");
    }
}

#[test]
fn keys_rotate_keeps_the_id_and_replaces_the_secret() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    let old = s.keys.pro.clone();
    let id = old.split('_').nth(2).unwrap().to_string();
    s.stop();
    let (code, out, err) = iocd(&["keys", "--config", cfg(&s), "rotate", &id]);
    assert_eq!(code, 0, "{err}");
    let new = out.trim().to_string();
    assert!(new.starts_with(&format!("sk_live_{id}_")), "{new}");
    assert_ne!(new, old);
    // A revoked key cannot be rotated; an unknown id is an error.
    let revoked = s.keys.revoked.split('_').nth(2).unwrap().to_string();
    assert_eq!(
        iocd(&["keys", "--config", cfg(&s), "rotate", &revoked]).0,
        1
    );
    assert_eq!(
        iocd(&["keys", "--config", cfg(&s), "rotate", "0123456789abcdef"]).0,
        1
    );
    s.spawn();
    assert_eq!(s.get("/api/v1/iocs", &old).status(), 401);
    assert_eq!(s.get("/api/v1/iocs", &new).status(), 200);
    let keys = s.json("/api/v1/keys", &s.keys.admin);
    let rec = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (rec["name"].as_str(), rec["tier"].as_str()),
        (Some("pro"), Some("pro"))
    );
}
