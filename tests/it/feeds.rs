//! Scheduled feeds (issue #13, item 2) through the real binary: a loopback
//! Python feed server (tests/feeds/feed_server.py) serves every format and
//! the hostile cases; a second iocd is the TAXII source.

use crate::common;

use common::{iocd, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/feeds");
const SERVER_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/feeds/feed_server.py");
const ALL: &str = "/api/taxii2/iocs/collections/57dce6a1-9cbf-52cf-89a5-7fecd7501cb4";
const NO_DEMO: &str = "[demo]\nseed_when_empty = false\n\
    [tiers.pro]\nrequests_per_minute = 100000\nrequests_per_day = 10000000\n";

/// The Python feed server; killed on drop.
struct FeedServer {
    child: Child,
    base: String,
}

impl FeedServer {
    fn start() -> FeedServer {
        let mut child = Command::new("python3")
            .args([SERVER_PY, FIXTURES])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 for the feed server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .expect("PORT line")
            .to_string();
        FeedServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn stats(&self) -> Value {
        reqwest::blocking::get(format!("{}/_stats", self.base))
            .unwrap()
            .json()
            .unwrap()
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops `s`, appends `feeds` (TOML) to its config, starts it again.
fn restart_with_feeds(s: &mut Server, feeds: &str) {
    s.stop();
    let mut t = std::fs::read_to_string(&s.config).unwrap();
    t.push('\n');
    t.push_str(feeds);
    std::fs::write(&s.config, t).unwrap();
    s.spawn();
}

fn feeds(s: &Server) -> Vec<Value> {
    s.json("/api/v1/feeds", &s.keys.admin)["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn feed<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("feed {name} not listed"))
}

/// Polls `GET /api/v1/feeds` until `done` holds, or panics after `secs`.
fn wait_for(s: &Server, secs: u64, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let f = feeds(s);
        if done(&f) {
            return f;
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            panic!("{what}: not reached in {secs} s; feeds: {f:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn runs(f: &Value) -> u64 {
    f["status"]["runs"].as_u64().unwrap_or(0)
}

/// The source names of `value` in the store.
fn sources(s: &Server, value: &str) -> Vec<String> {
    let v = s.json(&format!("/api/v1/lookup?value={value}"), &s.keys.admin);
    assert_eq!(v["found"], true, "{value} not imported: {v}");
    v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

fn data_dir(s: &Server) -> PathBuf {
    s.dir.path().join("data")
}

#[test]
fn feeds_import_on_schedule_and_bad_feeds_fail_alone() {
    let fs = FeedServer::start();
    let b = &fs.base;
    let mut s = Server::start_with(NO_DEMO, &[]);
    let good = [
        ("f-text", "list.txt", "text"),
        ("f-csv", "list.csv", "csv"),
        ("f-misp", "event.json", "misp"),
        ("f-mispfeed", "mispfeed", "misp_feed"),
        ("f-stix", "bundle.json", "stix"),
        ("f-openioc", "iocs.ioc", "openioc"),
    ];
    let mut toml = String::new();
    for (name, path, format) in good {
        toml.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{b}/{path}\"\nformat = \"{format}\"\ninterval = \"2s\"\ntlp = \"green\"\ntags = [\"lan-feed\"]\n\n"
        ));
    }
    toml.push_str(&format!(
        "[[feeds]]\nname = \"bad-json\"\nurl = \"{b}/broken.json\"\nformat = \"stix\"\ninterval = \"2s\"\n\n\
         [[feeds]]\nname = \"bad-slow\"\nurl = \"{b}/slow\"\nformat = \"text\"\ninterval = \"2s\"\ntimeout = \"2s\"\n\n\
         [[feeds]]\nname = \"bad-huge\"\nurl = \"{b}/huge\"\nformat = \"text\"\ninterval = \"2s\"\nmax_bytes = 65536\n\n\
         [[feeds]]\nname = \"bad-loop\"\nurl = \"{b}/loop\"\nformat = \"text\"\ninterval = \"2s\"\n\n\
         [[feeds]]\nname = \"bad-404\"\nurl = \"{b}/nope.txt\"\nformat = \"text\"\ninterval = \"2s\"\n\n"
    ));
    restart_with_feeds(&mut s, &toml);
    let (code, _, err) = iocd(&["check-config", "--config", s.config.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");

    // Every good feed imports on its own schedule (no manual run).
    let all = wait_for(&s, 60, "every good feed ran twice", |f| {
        good.iter().all(|(n, _, _)| runs(feed(f, n)) >= 2)
    });
    for (name, _, format) in good {
        let f = feed(&all, name);
        assert_eq!(f["format"], format);
        assert_eq!(f["transport"], "http");
        assert!(f["status"]["last_error"].is_null(), "{name}: {f}");
        assert!(f["status"]["last_success"].is_string(), "{name}: {f}");
        assert!(f["status"]["next_run"].is_string(), "{name}: {f}");
    }
    // The IOCs carry the feed as source, its TLP and tags.
    for (value, name) in [
        ("text-feed.example", "f-text"),
        ("203.0.113.10", "f-text"),
        ("csv-feed.example", "f-csv"),
        ("misp-event.example", "f-misp"),
        ("misp-feed-a.example", "f-mispfeed"),
        ("stix-feed.example", "f-stix"),
        ("openioc-feed.example", "f-openioc"),
    ] {
        assert_eq!(sources(&s, value), vec![name.to_string()], "{value}");
    }
    let rec = s.json("/api/v1/lookup?value=csv-feed.example", &s.keys.admin);
    assert_eq!(rec["ioc"]["tlp"], "green", "{rec}");
    assert!(
        rec["ioc"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "lan-feed"),
        "{rec}"
    );

    // Later runs of unchanged feeds: the server saw If-None-Match, answered
    // 304, and nothing was imported.
    let all = wait_for(&s, 30, "text feed not modified", |f| {
        feed(f, "f-text")["status"]["last_result"] == "not_modified"
            && feed(f, "f-mispfeed")["status"]["last_result"] == "not_modified"
    });
    for name in ["f-text", "f-mispfeed"] {
        let c = &feed(&all, name)["status"]["counts"];
        assert_eq!(
            (
                c["new"].as_u64(),
                c["updated"].as_u64(),
                c["observations"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{name}: {c}"
        );
    }
    let st = fs.stats();
    assert!(
        st["/list.txt"]["if_none_match"].as_u64().unwrap() >= 1,
        "{st}"
    );
    assert!(
        st["/list.txt"]["not_modified"].as_u64().unwrap() >= 1,
        "{st}"
    );
    assert!(
        st["/mispfeed/manifest.json"]["not_modified"]
            .as_u64()
            .unwrap()
            >= 1,
        "{st}"
    );
    // Each MISP feed event was fetched once: later runs stop at the manifest.
    assert_eq!(
        st["/mispfeed/6f1b0000-0000-4000-8000-0000000000a1.json"]["requests"], 1,
        "{st}"
    );

    // Each bad feed reports its own clear error; the others went on.
    let all = wait_for(&s, 60, "bad feeds failed", |f| {
        ["bad-json", "bad-slow", "bad-huge", "bad-loop", "bad-404"]
            .iter()
            .all(|n| feed(f, n)["status"]["last_result"] == "failed")
    });
    for (name, needle) in [
        ("bad-json", "could not be read as stix"),
        ("bad-slow", "timed out"),
        ("bad-huge", "size cap"),
        ("bad-loop", "redirect"),
        ("bad-404", "HTTP 404"),
    ] {
        let e = feed(&all, name)["status"]["last_error"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(e.contains(needle), "{name}: {e}");
        assert!(feed(&all, name)["status"]["last_success"].is_null());
    }
    // Nothing of the oversized list reached the store; the API answers.
    let v = s.json("/api/v1/lookup?value=0.huge.example", &s.keys.admin);
    assert_eq!(v["found"], false, "{v}");
    assert_eq!(s.get("/api/v1/health", "").status(), 200);
    // The staging directories are cleaned up after each run.
    let feeds_dir = data_dir(&s).join("feeds");
    let f_text_dir = feeds_dir.join("f-text");
    assert!(!f_text_dir.exists() || std::fs::read_dir(&f_text_dir).unwrap().next().is_none());

    // Admin only, with the usual envelope.
    let r = s.get("/api/v1/feeds", &s.keys.free);
    assert_eq!(r.status(), 403);
    let v: Value = r.json().unwrap();
    assert!(
        v["error"]["code"].is_string() && v["error"]["request_id"].is_string(),
        "{v}"
    );
    // No secret or query string in the listing.
    assert!(!s
        .get("/api/v1/feeds", &s.keys.admin)
        .text()
        .unwrap()
        .contains("password"));
}

#[test]
fn taxii_feed_pulls_only_new_objects() {
    // The source: a second iocd, with three IOCs.
    let src = Server::start_with(NO_DEMO, &[]);
    let post = |vals: &[&str]| {
        let r = src
            .client
            .post(src.url("/api/v1/iocs"))
            .bearer_auth(&src.keys.admin)
            .header("content-type", "text/plain")
            .body(vals.join("\n"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    post(&["taxii-one.example", "198.51.100.1", "taxii-two.example"]);
    let mut s = Server::start_with(NO_DEMO, &[]);
    let token = s.dir.path().join("taxii.token");
    std::fs::write(&token, format!("{}\n", src.keys.pro)).unwrap();
    // Scheduled hourly: the runs below are the manual ones.
    restart_with_feeds(
        &mut s,
        &format!(
            "[[feeds]]\nname = \"up-taxii\"\nurl = \"{}{ALL}/objects/\"\nformat = \"taxii\"\ninterval = \"1h\"\nenabled = false\n\
             ca_file = \"{}\"\nbearer_token_file = \"{}\"\npage_size = 2\n",
            src.base,
            src.ca().display(),
            token.display()
        ),
    );
    let cfg = s.config.to_str().unwrap().to_string();
    let run = || {
        let (code, out, err) = iocd(&["feeds", "run", "up-taxii", "--config", &cfg, "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    // First run: everything, over several pages (page_size 2).
    let first = run();
    assert_eq!(first["last_result"], "ok", "{first}");
    assert_eq!(first["counts"]["new"], 3, "{first}");
    assert!(
        first["counts"]["files"].as_u64().unwrap() >= 2,
        "paged: {first}"
    );
    assert_eq!(sources(&s, "taxii-one.example"), vec!["up-taxii"]);
    // Two more upstream: the second run pulls those only.
    post(&["taxii-three.example", "198.51.100.3"]);
    let second = run();
    assert_eq!(second["last_result"], "ok", "{second}");
    assert_eq!(second["counts"]["new"], 2, "{second}");
    assert_eq!(
        second["counts"]["unchanged"], 0,
        "old objects pulled again: {second}"
    );
    assert_eq!(second["counts"]["observations"], 2, "{second}");
    assert_eq!(sources(&s, "taxii-three.example"), vec!["up-taxii"]);
    // Nothing new: nothing pulled.
    let third = run();
    assert_eq!(third["last_result"], "not_modified", "{third}");
    assert_eq!(third["counts"]["observations"], 0, "{third}");
    // The status API shows the same, without the token.
    let f = feeds(&s);
    let f = feed(&f, "up-taxii");
    assert_eq!(f["auth"], "bearer");
    assert_eq!(f["status"]["runs"], 3);
    assert!(!f.to_string().contains(&src.keys.pro));
}

#[test]
fn feeds_cli_with_and_without_a_server() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    let dir = s.dir.path().to_path_buf();
    let list = dir.join("local.txt");
    std::fs::write(&list, "local-one.example\n192.0.2.55\n").unwrap();
    let feed_dir = dir.join("mispdir");
    std::fs::create_dir(&feed_dir).unwrap();
    for e in std::fs::read_dir(Path::new(FIXTURES).join("mispfeed")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), feed_dir.join(e.file_name())).unwrap();
    }
    restart_with_feeds(
        &mut s,
        &format!(
            "[[feeds]]\nname = \"local\"\nurl = \"{}\"\nformat = \"text\"\ninterval = \"1h\"\nenabled = false\n\n\
             [[feeds]]\nname = \"localmisp\"\nurl = \"{}\"\nformat = \"misp_feed\"\ninterval = \"1h\"\nenabled = false\n\n\
             [[feeds]]\nname = \"gone\"\nurl = \"{}\"\nformat = \"text\"\nenabled = false\n",
            list.display(),
            feed_dir.display(),
            dir.join("gone.txt").display()
        ),
    );
    let cfg = s.config.to_str().unwrap().to_string();
    // With the server: through the control socket.
    let (code, out, err) = iocd(&["feeds", "run", "local", "--config", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("2 new"), "{err}");
    assert_eq!(sources(&s, "local-one.example"), vec!["local"]);
    let (code, out, _) = iocd(&["feeds", "status", "--config", &cfg, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        feed(v["data"].as_array().unwrap(), "local")["status"]["runs"],
        1
    );
    let (code, _, err) = iocd(&["feeds", "run", "gone", "--config", &cfg]);
    assert_eq!(code, 1, "a failed run exits 1");
    assert!(err.contains("FAILED") && err.contains("gone.txt"), "{err}");
    let (code, _, err) = iocd(&["feeds", "run", "nosuch", "--config", &cfg]);
    assert_ne!(code, 0);
    assert!(err.contains("no feed named 'nosuch'"), "{err}");

    // Without a server: status from the state file, run opens the store.
    s.stop();
    let (code, out, _) = iocd(&["feeds", "status", "--config", &cfg]);
    assert_eq!(code, 0);
    assert!(
        out.contains("local (text,") && out.contains("2 new"),
        "{out}"
    );
    assert!(out.contains("last error (1 failure(s) in a row)"), "{out}");
    let (code, _, err) = iocd(&["feeds", "run", "local", "--config", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not modified"), "{err}");
    std::fs::write(&list, "local-one.example\n192.0.2.55\nlocal-two.example\n").unwrap();
    let (code, out, err) = iocd(&["feeds", "run", "local", "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["counts"]["new"].as_u64(),
            v["counts"]["unchanged"].as_u64()
        ),
        (Some(1), Some(2)),
        "{v}"
    );
    // A local MISP feed: both events, then only the changed one.
    let (code, out, err) = iocd(&["feeds", "run", "localmisp", "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["counts"]["files"].as_u64(), v["counts"]["new"].as_u64()),
        (Some(2), Some(2)),
        "{v}"
    );
    let m = feed_dir.join("manifest.json");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("1767312000", "1767399999");
    std::fs::write(&m, t).unwrap();
    let ev = feed_dir.join("6f1b0000-0000-4000-8000-0000000000a2.json");
    let t = std::fs::read_to_string(&ev)
        .unwrap()
        .replace("\"Attribute\": [", "\"Attribute\": [{\"type\": \"domain\", \"category\": \"Network activity\", \"value\": \"misp-feed-c.example\", \"to_ids\": true}, ");
    std::fs::write(&ev, t).unwrap();
    let (code, out, err) = iocd(&["feeds", "run", "localmisp", "--config", &cfg, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["counts"]["files"].as_u64(), v["counts"]["new"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    // The state survives a restart: the server shows the offline runs.
    s.spawn();
    let f = feeds(&s);
    assert_eq!(feed(&f, "local")["status"]["runs"], 3);
    assert_eq!(feed(&f, "localmisp")["status"]["runs"], 2);
    assert_eq!(sources(&s, "misp-feed-c.example"), vec!["localmisp"]);
}

#[test]
fn sighup_reschedules_changed_feeds() {
    let mut s = Server::start_with(NO_DEMO, &[]);
    let dir = s.dir.path().to_path_buf();
    std::fs::write(dir.join("a.txt"), "reload-a.example\n").unwrap();
    std::fs::write(dir.join("b.txt"), "reload-b.example\n").unwrap();
    let feed_a = format!(
        "[[feeds]]\nname = \"a\"\nurl = \"{}\"\nformat = \"text\"\ninterval = \"1h\"\n",
        dir.join("a.txt").display()
    );
    restart_with_feeds(&mut s, &feed_a);
    wait_for(&s, 30, "feed a ran at start", |f| runs(feed(f, "a")) == 1);
    // Replace a by b in the config, then SIGHUP: b is scheduled at once.
    let t = std::fs::read_to_string(&s.config).unwrap().replace(
        &feed_a,
        &feed_a
            .replace("name = \"a\"", "name = \"b\"")
            .replace("a.txt", "b.txt"),
    );
    std::fs::write(&s.config, t).unwrap();
    let pid = s.child.as_ref().unwrap().id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let all = wait_for(&s, 30, "feed b ran after SIGHUP", |f| {
        f.iter().any(|x| x["name"] == "b" && runs(x) == 1)
    });
    assert!(all.iter().all(|x| x["name"] != "a"), "{all:?}");
    assert_eq!(sources(&s, "reload-b.example"), vec!["b"]);
}
