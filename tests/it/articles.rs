//! Articles (issue #14 item 1) through the binary: RSS, Atom, HTML and
//! Markdown imported into a running server (control socket) and by a
//! `[[feeds]]` entry of format `rss`; the listing's filters and cursor
//! paging; one article with its IOCs resolved; the bulk export in JSON,
//! NDJSON and CSV; tiers, scope and lookback; the MISP comment naming the
//! article; and bad feeds refused with clear errors, offline.

use crate::common;

use common::{code, iocd, Server};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LANTERN: &str = "Operation Paper Lantern targets logistics firms";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/articles")
        .join(name)
}

fn import(s: &Server, args: &[&str]) -> (i32, String) {
    let cfg = s.config.to_str().unwrap().to_string();
    let mut a = vec!["import", "--config", cfg.as_str()];
    a.extend_from_slice(args);
    let (c, out, err) = iocd(&a);
    (c, format!("{out}{err}"))
}

fn titles(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect()
}

fn list(s: &Server, query: &str) -> Value {
    s.json(&format!("/api/v1/articles{query}"), &s.keys.admin)
}

fn iocs_of(v: &Value) -> BTreeSet<String> {
    v["iocs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i["value"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn articles_import_list_search_page_and_export() {
    let feed_path = fixture("feed.rss");
    let extra = format!(
        "[[feeds]]\nname = \"lan-news\"\nurl = \"{}\"\nformat = \"rss\"\ninterval = \"1h\"\nenabled = false\n",
        fixture("feed.atom").display()
    );
    let s = Server::start_with(&extra, &[]);

    // Import into the running server: a feed file, then two reports.
    let (c, out) = import(&s, &[feed_path.to_str().unwrap()]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("articles: 2 new, 0 updated"), "{out}");
    let (c, out) = import(
        &s,
        &[
            "--source",
            "glass-blog",
            fixture("report.html").to_str().unwrap(),
            fixture("report.md").to_str().unwrap(),
        ],
    );
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("articles: 2 new, 0 updated"), "{out}");
    // The Atom file through a [[feeds]] entry of format rss.
    let cfg = s.config.to_str().unwrap().to_string();
    let (c, out, err) = iocd(&["feeds", "run", "lan-news", "--config", &cfg]);
    assert_eq!(c, 0, "{out}{err}");

    // Newest published first, every source.
    let all = list(&s, "");
    assert_eq!(
        titles(&all),
        vec![
            "Advisory 2026-17: credential phishing wave",
            "Patch Tuesday round-up",
            LANTERN,
            "Glass Viper: a new backdoor in the energy sector",
            "Quarterly notes: Amber Finch",
        ]
    );
    assert_eq!(all["count"], 5);
    assert!(all["next_cursor"].is_null());
    let first = &all["data"][0];
    assert_eq!(first["source"], "lan-news");
    assert_eq!(first["kind"], "atom");
    assert_eq!(first["published"], "2026-11-19T08:15:00Z");
    assert!(
        first.get("text").is_none(),
        "the listing leaves the text out"
    );
    let by_title = |t: &str| {
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["title"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(by_title(LANTERN)["source"], "Example Threat Research");
    assert_eq!(by_title(LANTERN)["ioc_count"], 7);
    assert_eq!(
        by_title("Quarterly notes: Amber Finch")["source"],
        "glass-blog"
    );

    // Filters.
    assert_eq!(titles(&list(&s, "?q=LANTERN%20loader")), vec![LANTERN]);
    assert_eq!(titles(&list(&s, "?q=glass+viper")).len(), 1);
    assert!(titles(&list(&s, "?q=lantern+nosuchword")).is_empty());
    assert_eq!(
        titles(&list(&s, "?has_iocs=false")),
        vec!["Patch Tuesday round-up"]
    );
    assert_eq!(titles(&list(&s, "?has_iocs=true")).len(), 4);
    assert_eq!(titles(&list(&s, "?tag=apt")), vec![LANTERN]);
    assert_eq!(
        titles(&list(&s, "?source=Example%20Threat%20Research")),
        vec!["Patch Tuesday round-up", LANTERN]
    );
    assert_eq!(
        titles(&list(
            &s,
            "?since=2026-11-01T00:00:00Z&until=2026-11-15T00:00:00Z"
        )),
        vec!["Patch Tuesday round-up", LANTERN]
    );

    // Cursor paging gives every article once, in order.
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let r = s.get(&format!("/api/v1/articles{query}"), &s.keys.admin);
        assert_eq!(r.status(), 200);
        let header = r
            .headers()
            .get("x-next-cursor")
            .map(|h| h.to_str().unwrap().to_string());
        let v: Value = r.json().unwrap();
        assert!(v["count"].as_u64().unwrap() <= 2);
        paged.extend(titles(&v));
        assert_eq!(header.as_deref(), v["next_cursor"].as_str());
        match header {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, titles(&all));
    for bad in [
        "?cursor=!!!",
        "?cursor=AAAA",
        "?limit=0",
        "?has_iocs=maybe",
        "?since=yesterday",
    ] {
        let r = s.get(&format!("/api/v1/articles{bad}"), &s.keys.admin);
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(code(&r.json().unwrap()), "invalid_parameter", "{bad}");
    }

    // One article: full text and IOCs resolved to stored records.
    let id = by_title(LANTERN)["id"].as_str().unwrap().to_string();
    let a = s.json(&format!("/api/v1/articles/{id}"), &s.keys.admin);
    assert_eq!(
        iocs_of(&a),
        [
            "cve:CVE-2026-12345",
            "domain:lantern-cdn.net",
            "email:phish@lantern-cdn.net",
            "ipv4:203.0.113.45",
            "mitre_attack:T1566.001",
            "sha256:5f2b1d8c9e0a7b6c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
            "url:https://update.lantern-cdn.net/gate.php",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    assert!(a["text"].as_str().unwrap().contains("beacons to"), "{a}");
    for i in a["iocs"].as_array().unwrap() {
        let rec = &i["ioc"];
        assert_eq!(rec["value"], i["value"], "{i}");
        assert_eq!(rec["id"], i["id"], "{i}");
    }
    let glass = s.json(
        &format!(
            "/api/v1/articles/{}",
            by_title("Glass Viper: a new backdoor in the energy sector")["id"]
                .as_str()
                .unwrap()
        ),
        &s.keys.admin,
    );
    let g = iocs_of(&glass);
    assert!(g.contains("ipv4:192.0.2.77"), "{g:?}");
    assert!(
        g.contains("url:https://files.glassviper-c2.org/up?id=7"),
        "{g:?}"
    );
    assert!(
        !g.iter().any(|v| v.contains("example-security.com")
            || v.contains("192.0.2.99")
            || v.contains("setup.exe")
            || v.contains("evil-style")),
        "publisher, comment, file name or style leaked: {g:?}"
    );
    let r = s.get(
        "/api/v1/articles/7d0a3c1e-0000-4000-8000-000000000000",
        &s.keys.admin,
    );
    assert_eq!(r.status(), 404);
    assert_eq!(code(&r.json().unwrap()), "not_found");
    let r = s.get("/api/v1/articles/nope", &s.keys.admin);
    assert_eq!(r.status(), 400);

    // The IOCs name the article in the MISP export's comment.
    let misp = s.json("/api/v1/iocs/misp?limit=1000", &s.keys.admin);
    let attr = misp["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["value"] == "203.0.113.45")
        .unwrap_or_else(|| panic!("{misp}"))
        .clone();
    assert!(
        attr["comment"]
            .as_str()
            .unwrap()
            .ends_with(&format!("from \"{LANTERN}\"")),
        "{attr}"
    );

    // Tiers: the free tier's day of lookback holds none of these (all
    // published weeks ago); a key without read:articles is refused.
    let free = s.json("/api/v1/articles", &s.keys.free);
    assert_eq!(free["count"], 0, "{free}");
    let r = s.get(&format!("/api/v1/articles/{id}"), &s.keys.free);
    assert_eq!(r.status(), 403);
    assert_eq!(code(&r.json().unwrap()), "outside_lookback");
    let r = s.get("/api/v1/articles", &s.keys.stats_only);
    assert_eq!(r.status(), 403);
    assert_eq!(code(&r.json().unwrap()), "insufficient_scope");
    assert_eq!(s.get("/api/v1/articles", "").status(), 401);

    // Export: JSON, NDJSON and CSV hold the same articles, with text.
    let r = s.get("/api/v1/articles/export", &s.keys.admin);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    let exported: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(exported, titles(&all));
    assert!(v[2]["text"].as_str().unwrap().contains("beacons to"));
    assert_eq!(v[2]["iocs"].as_array().unwrap().len(), 7);
    let r = s.get(
        "/api/v1/articles/export?format=ndjson&has_iocs=true",
        &s.keys.admin,
    );
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let body = r.text().unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let r = s.get("/api/v1/articles/export?format=csv", &s.keys.admin);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = r.text().unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        vec![
            "id",
            "published",
            "source",
            "title",
            "link",
            "tags",
            "ioc_count",
            "iocs"
        ]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 5);
    let lantern = rows.iter().find(|r| &r[3] == LANTERN).unwrap();
    assert_eq!(&lantern[6], "7");
    assert!(lantern[7].contains("ipv4:203.0.113.45"), "{lantern:?}");
    let r = s.get("/api/v1/articles/export?limit=2", &s.keys.admin);
    let next = r.headers()["x-next-cursor"].to_str().unwrap().to_string();
    assert_eq!(r.json::<Value>().unwrap().as_array().unwrap().len(), 2);
    let rest: Value = s.json(
        &format!("/api/v1/articles/export?cursor={next}"),
        &s.keys.admin,
    );
    assert_eq!(rest.as_array().unwrap().len(), 3);
    let r = s.get("/api/v1/articles/export?format=xml", &s.keys.admin);
    assert_eq!(r.status(), 400);

    // Re-importing the same feed replaces its articles, adds none.
    let (c, out) = import(&s, &[feed_path.to_str().unwrap()]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("articles: 0 new, 2 updated"), "{out}");
    assert_eq!(list(&s, "")["count"], 5);
    let again = s.json(&format!("/api/v1/articles/{id}"), &s.keys.admin);
    assert_eq!(
        again["added"], a["added"],
        "a re-import keeps the added time"
    );

    // Articles live in the store: verify counts them, and they survive
    // a restart.
    let mut s = s;
    s.stop();
    let (c, out, err) = iocd(&["verify", "--config", &cfg]);
    assert_eq!(c, 0, "{out}{err}");
    s.spawn();
    assert_eq!(list(&s, "")["count"], 5);
}

#[test]
fn a_recent_article_is_visible_to_the_free_tier() {
    let s = Server::start();
    let now = chrono::Utc::now().to_rfc2822();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("today.rss");
    std::fs::write(
        &f,
        format!(
            "<rss version=\"2.0\"><channel><title>Today</title><item><title>Fresh C2</title>\
             <link>https://news.example-today.org/a</link><pubDate>{now}</pubDate>\
             <description>C2 fresh-c2[.]example at 198.51.100[.]99</description></item></channel></rss>"
        ),
    )
    .unwrap();
    let (c, out) = import(&s, &[f.to_str().unwrap()]);
    assert_eq!(c, 0, "{out}");
    let v = s.json("/api/v1/articles", &s.keys.free);
    assert_eq!(titles(&v), vec!["Fresh C2"]);
    let a = s.json(
        &format!("/api/v1/articles/{}", v["data"][0]["id"].as_str().unwrap()),
        &s.keys.free,
    );
    assert_eq!(
        iocs_of(&a),
        ["domain:fresh-c2.example", "ipv4:198.51.100.99"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

#[test]
fn bad_feeds_and_documents_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("iocd.toml");
    let (c, _, err) = iocd(&[
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    let cfg = cfg.to_str().unwrap().to_string();
    let run = |path: &Path, extra: &[&str]| {
        let mut a = vec!["import", "--config", cfg.as_str()];
        a.extend_from_slice(extra);
        a.push(path.to_str().unwrap());
        let (c, out, err) = iocd(&a);
        (c, format!("{out}{err}"))
    };
    // Malformed XML: the line is named.
    let (c, out) = run(&fixture("bad.xml"), &[]);
    assert_ne!(c, 0, "{out}");
    assert!(out.contains("invalid XML at line 2"), "{out}");
    // Invalid UTF-8.
    let bin = dir.path().join("latin1.rss");
    std::fs::write(
        &bin,
        b"<rss version=\"2.0\"><channel><title>caf\xe9</title></channel></rss>",
    )
    .unwrap();
    let (c, out) = run(&bin, &[]);
    assert_ne!(c, 0, "{out}");
    assert!(out.contains("UTF-8"), "{out}");
    // Not a feed, forced as one.
    let csv = dir.path().join("list.csv");
    std::fs::write(&csv, "value,type\n198.51.100.1,ipv4\n").unwrap();
    let (c, out) = run(&csv, &["--format", "rss"]);
    assert_ne!(c, 0, "{out}");
    assert!(out.contains("not rss, feed (Atom) or rdf:RDF"), "{out}");
    // An entity-expansion bomb is read as text, never expanded.
    let bomb = dir.path().join("bomb.rss");
    std::fs::write(
        &bomb,
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\
         <rss version=\"2.0\"><channel><title>t</title><item><title>&b;</title><description>x</description></item></channel></rss>",
    )
    .unwrap();
    let (_, out) = run(&bomb, &[]);
    assert!(!out.contains("aaaaaaaaaaaaaaaaaaaa"), "{out}");
    // A huge item: text kept up to 1 MiB, IOCs from all of it.
    let big = dir.path().join("big.rss");
    let filler = "lorem ipsum ".repeat(200_000);
    std::fs::write(
        &big,
        format!(
            "<rss version=\"2.0\"><channel><title>Big</title><item><title>Long report</title>\
             <link>https://big.example-news.org/1</link>\
             <description>{filler} last C2 tail-c2[.]example</description></item></channel></rss>"
        ),
    )
    .unwrap();
    let (c, out) = run(&big, &[]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("articles: 1 new"), "{out}");
    assert!(out.contains("1 new"), "{out}");
    // The store is intact after all of it.
    let (c, out, err) = iocd(&["verify", "--config", &cfg]);
    assert_eq!(c, 0, "{out}{err}");
}
