//! The CLI against a running server (issue #13, item 1), through the real
//! binary: every command gives the same output and exit code through the
//! control socket as offline on the same data; an import during `serve`
//! with concurrent API and TAXII reads loses nothing; a client that breaks
//! off an import leaves no trace and no damage; a key revoked or rotated
//! through the socket stops authenticating at once.

use crate::common;

use common::{iocd, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NO_DEMO: &str = "[demo]\nseed_when_empty = false\n";
const ALL: &str = "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live")
}

fn cfg(s: &Server) -> String {
    s.config.to_str().unwrap().to_string()
}

fn socket(s: &Server) -> PathBuf {
    s.dir.path().join("data/control.sock")
}

/// `iocd ARGS... --config CFG` (the command's own flags first).
fn run(args: &[&str], config: &str) -> (i32, String, String) {
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["--config", config]);
    iocd(&a)
}

/// What differs between two runs by design: generated ids and times of
/// the document itself (STIX bundle id, OpenIOC id and dates) and the size
/// on disk of a store a server holds open.
fn mask(text: &str) -> String {
    let uuid = regex_lite(text);
    uuid.lines()
        .map(|l| {
            if l.starts_with("size on disk:") {
                "size on disk: (masked)".to_string()
            } else if let Some(i) = l.find("\"size_on_disk\":") {
                let rest = &l[i..];
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                format!("{}\"size_on_disk\":0{}", &l[..i], &rest[end..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces every UUID and every RFC 3339 time with a millisecond part
/// (document times) by a placeholder.
fn regex_lite(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let is_hex = |c: u8| c.is_ascii_hexdigit();
    while i < b.len() {
        // UUID: 8-4-4-4-12 hex digits.
        if i + 36 <= b.len()
            && b[i..i + 36].iter().enumerate().all(|(k, &c)| {
                if [8, 13, 18, 23].contains(&k) {
                    c == b'-'
                } else {
                    is_hex(c)
                }
            })
        {
            out.push_str("<uuid>");
            i += 36;
            continue;
        }
        // OpenIOC document time: 2026-12-02T05:09:42.457Z
        if i + 24 <= b.len()
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && b[i + 19] == b'.'
            && b[i + 23] == b'Z'
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
        {
            out.push_str("<time>");
            i += 24;
            continue;
        }
        let ch = text[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// A data directory initialized apart from any server, for offline runs.
fn offline_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("iocd.toml");
    let (code, _, err) = iocd(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "init: {err}");
    (dir, config.to_str().unwrap().to_string())
}

#[test]
fn every_command_gives_the_same_output_with_and_without_a_server() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    let c = cfg(&s);
    assert!(socket(&s).exists());
    let fx = fixtures();
    let missing = fx.join("no-such-file.txt");
    let import_args = [
        "import",
        fx.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--tag",
        "live-test",
        "--json",
    ];

    // import: a fresh store each, one served, one not.
    let live_import = run(&import_args, &c);
    let (_off_dir, off_cfg) = offline_dir();
    let off_import = run(&import_args, &off_cfg);
    assert_eq!(live_import, off_import, "import live vs offline");
    assert_eq!(live_import.0, 1, "a missing file fails the import");
    let summary: Value = serde_json::from_str(live_import.1.trim()).unwrap();
    assert_eq!(summary["files_failed"], 2, "{summary}"); // missing + broken.json
    assert_eq!(summary["new"], 6, "{summary}");
    assert!(
        summary["skipped_files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["reason"]
                .as_str()
                .unwrap()
                .contains("symlink placeholder")),
        "{summary}"
    );
    assert!(
        live_import.2.contains("rejected, e.g."),
        "{}",
        live_import.2
    );

    // The other commands on one store: live first, then offline.
    let tmp = tempfile::tempdir().unwrap();
    let out_live = tmp.path().join("live.csv");
    let out_off = tmp.path().join("off.csv");
    let mut commands: Vec<Vec<String>> = vec![
        vec!["stats".into()],
        vec!["stats".into(), "--json".into()],
        vec!["keys".into(), "list".into()],
        vec!["keys".into(), "list".into(), "--json".into()],
        vec!["keys".into(), "revoke".into(), "nonexistent1".into()],
        vec!["keys".into(), "rotate".into(), "nonexistent1".into()],
        vec![
            "keys".into(),
            "create".into(),
            "--name".into(),
            "x".into(),
            "--tier".into(),
            "no-such-tier".into(),
        ],
        vec!["verify".into(), "--json".into()],
        vec!["verify".into()],
        vec![
            "export".into(),
            "-f".into(),
            "json".into(),
            "--json-lines".into(),
            "--type".into(),
            "domain".into(),
            "--limit".into(),
            "2".into(),
        ],
        vec![
            "export".into(),
            "-f".into(),
            "json".into(),
            "--since".into(),
            "2099-01-01".into(),
        ],
    ];
    for f in ["json", "csv", "stix", "misp", "cef", "openioc"] {
        commands.push(vec!["export".into(), "-f".into(), f.into()]);
    }
    commands.push(vec![
        "export".into(),
        "-f".into(),
        "stix".into(),
        "--tlp-markings".into(),
        "--no-identity".into(),
        "--tlp".into(),
        "amber".into(),
    ]);
    let live: Vec<_> = commands
        .iter()
        .map(|a| run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &c))
        .collect();
    let file_live = run(
        &["export", "-f", "csv", "-o", out_live.to_str().unwrap()],
        &c,
    );
    s.stop();
    assert!(!socket(&s).exists(), "the socket goes with the server");
    for (a, l) in commands.iter().zip(&live) {
        let failing = a[0] == "keys" && a[1] != "list";
        assert_eq!(l.0, if failing { 1 } else { 0 }, "{a:?}: {}", l.2);
        let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), &c);
        assert_eq!(l.0, o.0, "exit code of {a:?}: {}", l.2);
        assert_eq!(mask(&l.1), mask(&o.1), "stdout of {a:?}");
        assert_eq!(mask(&l.2), mask(&o.2), "stderr of {a:?}");
    }
    // The exports hold the IOCs, not just the same nothing.
    let stix = live
        .iter()
        .zip(&commands)
        .find(|(_, a)| a.get(2).map(String::as_str) == Some("stix"))
        .unwrap()
        .0;
    let bundle: Value = serde_json::from_str(&stix.1).unwrap();
    let indicators = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .count();
    assert_eq!(indicators, 6);
    assert!(
        live[4].2.contains("no key with id 'nonexistent1'"),
        "{}",
        live[4].2
    );
    assert_eq!(live[4].0, 1);
    let file_off = run(
        &["export", "-f", "csv", "-o", out_off.to_str().unwrap()],
        &c,
    );
    assert_eq!(file_live.0, 0, "{}", file_live.2);
    assert_eq!(
        file_live.2.replace("live.csv", "X"),
        file_off.2.replace("off.csv", "X")
    );
    assert_eq!(
        std::fs::read(&out_live).unwrap(),
        std::fs::read(&out_off).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out_live).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // keys create: same shape both ways (the key itself is random).
    let created_off = run(&["keys", "create", "--name", "k", "--tier", "free"], &c);
    s.spawn();
    let created_live = run(&["keys", "create", "--name", "k", "--tier", "free"], &c);
    for r in [&created_off, &created_live] {
        assert_eq!(r.0, 0, "{}", r.2);
        assert!(r.1.trim().starts_with("sk_live_"), "{}", r.1);
        assert!(r.2.starts_with("created key id "), "{}", r.2);
    }
    let shape = |e: &str| e.split_whitespace().skip(4).collect::<Vec<_>>().join(" ");
    assert_eq!(shape(&created_off.2), shape(&created_live.2));
}

/// Pages a TAXII collection to its end; returns the indicators seen.
fn taxii_indicators(s: &Server, key: &str) -> u64 {
    let mut next: Option<String> = None;
    let mut n = 0;
    loop {
        let path = match &next {
            Some(c) => format!("{ALL}/objects/?limit=1000&next={c}"),
            None => format!("{ALL}/objects/?limit=1000"),
        };
        let r = s
            .client
            .get(s.url(&path))
            .bearer_auth(key)
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        n += v["objects"]
            .as_array()
            .map_or(0, |o| o.iter().filter(|o| o["type"] == "indicator").count())
            as u64;
        if v["more"] != true {
            return n;
        }
        next = Some(v["next"].as_str().unwrap().to_string());
    }
}

#[test]
fn import_during_serve_with_concurrent_reads_loses_nothing() {
    // A tier without effective rate limits: the readers hammer.
    let tier = "[tiers.reader]\nrequests_per_minute = 100000000\nrequests_per_day = 1000000000\nlookback_days = 3650\nscopes = [\"read:iocs\", \"read:stix\", \"read:taxii\"]\n";
    let s = Server::start_with(&format!("{NO_DEMO}{tier}"), &[("reader", "reader", None)]);
    const N: u64 = 30_000;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("iocs.txt");
    let mut text = String::new();
    for i in 0..N {
        if i % 3 == 0 {
            text.push_str(&format!(
                "10.{}.{}.{}\n",
                i / 65536,
                (i / 256) % 256,
                i % 256
            ));
        } else {
            text.push_str(&format!("h{i}.live-import.example\n"));
        }
    }
    std::fs::write(&file, text).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let readers: Vec<_> = [
        "/api/v1/iocs?limit=100",
        "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4/objects/?limit=100",
    ]
    .into_iter()
    .map(|path| {
        let (client, url, key) = (s.client.clone(), s.url(path), s.extra("reader").to_string());
        let (stop, ok, bad) = (stop.clone(), ok.clone(), bad.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                // Each route's own media type (a v1 route answers 406 to
                // a TAXII-only Accept).
                let accept = if url.contains("/taxii2/") {
                    "application/taxii+json;version=2.1"
                } else {
                    "application/json"
                };
                let r = client
                    .get(&url)
                    .bearer_auth(&key)
                    .header("Accept", accept)
                    .send();
                match r {
                    Ok(r) if r.status() == 200 => {
                        if r.bytes().is_ok() {
                            ok.fetch_add(1, Ordering::SeqCst)
                        } else {
                            bad.fetch_add(1, Ordering::SeqCst)
                        }
                    }
                    Ok(r) => {
                        eprintln!(
                            "read failed: {} {}",
                            r.status(),
                            r.text().unwrap_or_default()
                        );
                        bad.fetch_add(1, Ordering::SeqCst)
                    }
                    Err(e) => {
                        eprintln!("read failed: {e}");
                        bad.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        })
    })
    .collect();
    // Readers are under way before the import starts.
    let t0 = Instant::now();
    while ok.load(Ordering::SeqCst) < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "readers never got an answer"
        );
        std::thread::yield_now();
    }
    let before = ok.load(Ordering::SeqCst);
    let (code, out, err) = run(&["import", file.to_str().unwrap(), "--json"], &cfg(&s));
    let during = ok.load(Ordering::SeqCst) - before;
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(code, 0, "{err}");
    let sum: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(sum["observations"], N);
    assert_eq!(sum["new"], N);
    assert_eq!(sum["rejected"], 0);
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "reads failed during the import"
    );
    assert!(during > 0, "no read was answered during the import");

    let (_, stats, _) = run(&["stats", "--json"], &cfg(&s));
    let stats: Value = serde_json::from_str(stats.trim()).unwrap();
    assert_eq!(stats["total"], N);
    assert_eq!(stats["by_type"]["ipv4"], N.div_ceil(3));
    assert_eq!(stats["by_type"]["domain"], N - N.div_ceil(3));
    assert_eq!(taxii_indicators(&s, s.extra("reader")), N);
    let (code, lines, _) = run(&["export", "-f", "json", "--json-lines"], &cfg(&s));
    assert_eq!(code, 0);
    assert_eq!(lines.lines().count() as u64, N);
    // The same import again changes nothing.
    let (_, out, _) = run(&["import", file.to_str().unwrap(), "--json"], &cfg(&s));
    let sum: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(sum["unchanged"], N, "{sum}");
}

/// Writes one control frame.
fn frame(w: &mut impl Write, tag: u8, payload: &[u8]) {
    w.write_all(&[tag]).unwrap();
    w.write_all(&(payload.len() as u32).to_be_bytes()).unwrap();
    w.write_all(payload).unwrap();
}

/// Connects and sends a request line; returns the status line.
fn raw_request(sock: &Path, line: &str) -> (UnixStream, String) {
    let mut st = UnixStream::connect(sock).unwrap();
    st.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    writeln!(st, "{line}").unwrap();
    let mut r = BufReader::new(st.try_clone().unwrap());
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    (st, status)
}

/// The last frame of a reply (progress frames may come first).
fn last_frame(mut b: &[u8]) -> (u8, Vec<u8>) {
    let mut last = (0, Vec::new());
    while b.len() >= 5 {
        let len = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize;
        last = (b[0], b[5..5 + len].to_vec());
        b = &b[5 + len..];
    }
    assert!(b.is_empty(), "trailing bytes after the frames");
    last
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_client_breaking_off_an_import_leaves_no_trace() {
    let s = Server::start_with(NO_DEMO, &[]);
    let data = s.dir.path().join("data");
    let before = entries(&data);
    let req = r#"{"cmd":"import","format":"auto","source":null,"confidence":null,"tags":[],"columns":[]}"#;

    // A whole small file, then half of a big one, then the client is gone.
    let (mut st, status) = raw_request(&socket(&s), req);
    assert_eq!(status, "ok\n");
    let head = |path: &str, size: u64| {
        format!(
            r#"{{"path":"{path}","name":"{path}","size":{size},"explicit":true,"failed":null,"placeholder":false}}"#
        )
    };
    frame(&mut st, b'f', head("small.txt", 22).as_bytes());
    frame(&mut st, b'b', b"small.broken.example\n");
    frame(&mut st, b'z', b"");
    let lines: String = (0..20_000)
        .map(|i| format!("h{i}.broken-off.example\n"))
        .collect();
    frame(&mut st, b'f', head("big.txt", 10 << 20).as_bytes());
    frame(&mut st, b'b', lines.as_bytes());
    drop(st);

    // Malformed requests and frames get an answer, never a crash.
    let (_, status) = raw_request(&socket(&s), "{\"cmd\":\"nonsense\"}");
    assert!(status.starts_with("error malformed request"), "{status}");
    let (mut st, status) = raw_request(&socket(&s), req);
    assert_eq!(status, "ok\n");
    st.write_all(b"\xff\xff\xff\xff\xffgarbage").unwrap();
    let mut rest = Vec::new();
    let _ = st.read_to_end(&mut rest);
    let last = last_frame(&rest);
    assert_eq!(last.0, b'!', "an error frame last: {rest:?}");
    assert!(
        String::from_utf8_lossy(&last.1).contains("frame"),
        "{last:?}"
    );

    // The server is fine, nothing was staged, nothing half-written.
    let (code, out, err) = run(&["verify", "--json"], &cfg(&s));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["records"], 0, "the broken-off upload stored nothing: {v}");
    assert_eq!(entries(&data), before);
    let (code, out, err) = run(&["stats", "--json"], &cfg(&s));
    assert_eq!(code, 0, "{err}");
    let st: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(st["total"], 0);
    // And later imports work (the connection slots were given back).
    for _ in 0..10 {
        let fx = fixtures().join("good.txt");
        let (code, _, err) = run(&["import", fx.to_str().unwrap()], &cfg(&s));
        assert_eq!(code, 0, "{err}");
    }
    let (_, out, _) = run(&["stats", "--json"], &cfg(&s));
    let st: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(st["total"], 3);
}

#[test]
fn a_key_revoked_or_rotated_through_the_socket_stops_at_once() {
    let s = Server::start_with(NO_DEMO, &[]);
    let c = cfg(&s);
    let (code, key, err) = run(&["keys", "create", "--name", "siem", "--tier", "pro"], &c);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_string();
    let id = key.split('_').nth(2).unwrap().to_string();
    // Verified once, so the server holds it in its cache.
    assert_eq!(s.get("/api/v1/iocs?limit=1", &key).status(), 200);
    assert_eq!(s.get("/api/v1/iocs?limit=1", &key).status(), 200);
    let (code, _, err) = run(&["keys", "revoke", &id], &c);
    assert_eq!(
        (code, err.trim()),
        (0, format!("revoked key {id}").as_str())
    );
    assert_eq!(s.get("/api/v1/iocs?limit=1", &key).status(), 401);

    let (_, old, _) = run(&["keys", "create", "--name", "siem2", "--tier", "pro"], &c);
    let old = old.trim().to_string();
    let id2 = old.split('_').nth(2).unwrap().to_string();
    assert_eq!(s.get("/api/v1/iocs?limit=1", &old).status(), 200);
    let (code, new, err) = run(&["keys", "rotate", &id2], &c);
    assert_eq!(code, 0, "{err}");
    let new = new.trim();
    assert_eq!(s.get("/api/v1/iocs?limit=1", &old).status(), 401);
    assert_eq!(s.get("/api/v1/iocs?limit=1", new).status(), 200);
    // The listing through the socket shows the revocation.
    let (_, list, _) = run(&["keys", "list", "--json"], &c);
    let list: Value = serde_json::from_str(&list).unwrap();
    let rec = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap();
    assert!(!rec["revoked"].is_null(), "{rec}");
}
