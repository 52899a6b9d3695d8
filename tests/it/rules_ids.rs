//! Suricata and Snort rules (issue #14, item 3) through the binary:
//! `GET /api/v1/rules/suricata|snort` and `iocd export --format
//! suricata|snort`. Which rules each network IOC yields, sids unique and
//! stable across exports (and the same in both dialects), `rev` larger
//! after a content change, the `type` filter, and the real rule tooling
//! (`tests/consumers/test_ids_rules.py`: idstools, suricataparser,
//! suricata-check) on the exported files: our fixture always, and ESET's
//! public releases (`../shared/data/real/eset`) when present.

use crate::common;

use common::{code, iocd, Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const TAG: &str = "rules-test";
const IPS: [&str; 2] = ["203.0.113.10", "2001:db8::10"];
const DOMAINS: [&str; 2] = ["c2.rules-test.example", "evil.rules-test.example"];
const URLS: [&str; 1] = ["http://dl.rules-test.example/payload.bin"];
/// Types no network rule is written for.
const NO_RULE: [&str; 3] = [
    "44d88612fea8a8f36de82e1278abb02f",
    "CVE-2021-44228",
    "actor@rules-test.example",
];

fn post(s: &Server, values: &[&str], tags: &[&str]) {
    let body = Value::Array(
        values
            .iter()
            .map(|v| json!({"value": v, "tags": tags, "confidence": 80}))
            .collect(),
    );
    let r = s.post_json("/api/v1/iocs", &s.keys.admin, &body);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["rejected"], 0, "{v}");
}

fn loaded() -> Server {
    let s = Server::start_with("[demo]\nseed_when_empty = false\n", &[]);
    let all: Vec<&str> = IPS
        .iter()
        .chain(&DOMAINS)
        .chain(&URLS)
        .chain(&NO_RULE)
        .copied()
        .collect();
    post(&s, &all, &[TAG]);
    s
}

fn rule_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The number after `name:` in a rule (`sid`, `rev`).
fn num(rule: &str, name: &str) -> u64 {
    let at = rule
        .find(&format!(" {name}:"))
        .unwrap_or_else(|| panic!("no {name} in {rule}"));
    let rest = &rule[at + name.len() + 2..];
    rest[..rest.find(';').unwrap()].parse().unwrap()
}

fn get_rules(s: &Server, dialect: &str, query: &str) -> String {
    let r = s.get(
        &format!("/api/v1/rules/{dialect}?limit=1000{query}"),
        &s.keys.pro,
    );
    assert_eq!(r.status(), 200, "{dialect}{query}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    r.text().unwrap()
}

/// Rules mentioning `value`, by the variant at the end of their `msg`.
fn by_variant<'a>(rules: &[&'a str], value: &str) -> BTreeMap<String, &'a str> {
    let mut out = BTreeMap::new();
    for r in rules.iter().filter(|r| r.contains(&format!(" {value} "))) {
        let msg = &r[r.find("msg:\"").unwrap() + 5..];
        let msg = &msg[..msg.find('"').unwrap()];
        let variant = msg.rsplit(' ').next().unwrap().to_string();
        assert!(out.insert(variant, *r).is_none(), "two rules alike: {r}");
    }
    out
}

#[test]
fn each_network_ioc_gets_its_rules_with_stable_unique_sids() {
    let s = loaded();
    let text = get_rules(&s, "suricata", "");
    let rules = rule_lines(&text);
    assert_eq!(rules.len(), IPS.len() * 2 + DOMAINS.len() * 3 + URLS.len());
    for ip in IPS {
        let v = by_variant(&rules, ip);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.values().any(|r| r.contains(&format!("-> {ip} any"))));
        assert!(v
            .values()
            .any(|r| r.contains(&format!("alert ip {ip} any ->"))));
    }
    for d in DOMAINS {
        let v = by_variant(&rules, d);
        let buffers: BTreeSet<&str> = ["dns.query;", "tls.sni;", "http.host;"]
            .into_iter()
            .filter(|b| v.values().any(|r| r.contains(b)))
            .collect();
        assert_eq!(buffers.len(), 3, "{v:?}");
        assert!(v.values().all(|r| r.contains(d)));
    }
    let url = by_variant(&rules, URLS[0]);
    assert_eq!(url.len(), 1);
    let r = url.values().next().unwrap();
    assert!(
        r.contains("http.uri;") && r.contains("\"/payload.bin\""),
        "{r}"
    );
    assert!(
        r.contains("http.host;") && r.contains("dl.rules-test.example"),
        "{r}"
    );
    for v in NO_RULE {
        assert!(!text.contains(v), "{v} got a rule");
    }
    for r in &rules {
        assert!(r.contains("metadata:confidence 80"), "{r}");
        assert!(!r.contains("  "), "double space: {r}");
    }
    let sids: Vec<u64> = rules.iter().map(|r| num(r, "sid")).collect();
    let unique: BTreeSet<u64> = sids.iter().copied().collect();
    assert_eq!(unique.len(), sids.len(), "duplicate sids");
    assert!(sids
        .iter()
        .all(|&x| (1_000_000_000..1_100_000_000).contains(&x)));
    // A second export is the same to the byte.
    assert_eq!(get_rules(&s, "suricata", ""), text);
    // Snort: the same rules (one per IOC and variant), the same sids.
    let snort = get_rules(&s, "snort", "");
    let snort_sids: BTreeSet<u64> = rule_lines(&snort).iter().map(|r| num(r, "sid")).collect();
    assert_eq!(snort_sids, unique);
    assert!(
        snort.contains("|02|c2|0A|rules-test|07|example|00|"),
        "{snort}"
    );

    // The type filter: only the asked type; a type without rules is refused.
    let d = get_rules(&s, "suricata", "&type=domain");
    assert_eq!(rule_lines(&d).len(), DOMAINS.len() * 3);
    for q in ["type=md5", "type=nope", "limit=-1"] {
        let r = s.get(&format!("/api/v1/rules/suricata?{q}"), &s.keys.pro);
        assert_eq!(r.status(), 400, "{q}");
        let v: Value = r.json().unwrap();
        assert_eq!(code(&v), "invalid_parameter", "{q}: {v}");
    }
    let r = s.get("/api/v1/rules/suricata", &s.keys.stats_only);
    assert_eq!(r.status(), 403);

    // A content change (a new tag) on one domain: same sids, larger rev
    // for its rules only.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    post(&s, &[DOMAINS[0]], &[TAG, "changed"]);
    let after = get_rules(&s, "suricata", "");
    let after = rule_lines(&after);
    let (old_d, new_d) = (
        by_variant(&rules, DOMAINS[0]),
        by_variant(&after, DOMAINS[0]),
    );
    for (variant, r) in &old_d {
        let n = new_d[variant];
        assert_eq!(num(n, "sid"), num(r, "sid"));
        assert!(num(n, "rev") > num(r, "rev"), "{r}\n{n}");
    }
    let (old_o, new_o) = (
        by_variant(&rules, DOMAINS[1]),
        by_variant(&after, DOMAINS[1]),
    );
    for (variant, r) in &old_o {
        assert_eq!(num(new_o[variant], "rev"), num(r, "rev"));
    }

    // `iocd export` through the running server writes the same rules.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cli.rules");
    let (c, _, err) = iocd(&[
        "export",
        "--config",
        s.config.to_str().unwrap(),
        "--format",
        "suricata",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{err}");
    assert!(err.contains("exported 5 IOCs as suricata"), "{err}");
    let cli = std::fs::read_to_string(&out).unwrap();
    let cli: BTreeSet<&str> = rule_lines(&cli).into_iter().collect();
    assert_eq!(cli, after.iter().copied().collect::<BTreeSet<_>>());
}

/// Exports both dialects of `data_dir` (offline) into `dir` as
/// `<name>.suricata.rules` / `<name>.snort.rules`.
fn export_offline(data_dir: &Path, dir: &Path, name: &str) {
    for f in ["suricata", "snort"] {
        let out = dir.join(format!("{name}.{f}.rules"));
        let (c, _, err) = iocd(&[
            "export",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--format",
            f,
            "--include-expired",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{err}");
    }
}

/// The real rule tooling on our fixture's rules and, when present, on the
/// whole ESET import's. Prints `SKIP: …` when `tests/.venv` is missing.
#[test]
fn real_rule_tooling_accepts_the_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/.venv/bin/python");
    let tmp = tempfile::tempdir().unwrap();
    let fixture = tmp.path().join("fixture");
    let values: Vec<String> = IPS
        .iter()
        .chain(&DOMAINS)
        .chain(&URLS)
        .chain(&NO_RULE)
        .map(|v| v.to_string())
        .chain(["http://x.example/a;b\"c|d\\e?q=1".to_string()])
        .collect();
    let list = tmp.path().join("iocs.txt");
    std::fs::write(&list, values.join("\n")).unwrap();
    let (c, _, err) = iocd(&[
        "import",
        "--create",
        list.to_str().unwrap(),
        "--data-dir",
        fixture.to_str().unwrap(),
        "--source",
        "fixture",
    ]);
    assert_eq!(c, 0, "{err}");
    export_offline(&fixture, tmp.path(), "fixture");
    let eset = root.join("../shared/data/real/eset");
    if eset.is_dir() {
        let data = tmp.path().join("eset");
        let (c, _, err) = iocd(&[
            "import",
            "--create",
            eset.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ]);
        assert!(c == 0 || c == 1, "{err}");
        export_offline(&data, tmp.path(), "eset");
        let n = std::fs::read_to_string(tmp.path().join("eset.suricata.rules")).unwrap();
        assert!(rule_lines(&n).len() > 1000, "ESET import gave few rules");
    } else {
        println!("SKIP: real data not found at {}", eset.display());
    }
    if !python.exists() {
        println!(
            "SKIP: {} not found; the rule tooling checks did not run",
            python.display()
        );
        return;
    }
    let out = std::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-rA", "-s", "-p", "no:cacheprovider"])
        .arg(root.join("tests/consumers/test_ids_rules.py"))
        .env("IOCD_EXPORT_DIR", tmp.path())
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the rule tooling checks failed");
}
