//! The exporters, read as a specification: exact values for escaping and
//! the shapes of `spec/stix-export.md` and `spec/misp-export.md`, checked on
//! IOCs that went through normalization and the store, as in production.
//!
//! `real_consumers_accept_the_exports` then hands the same exports to the
//! real consumers (stix2, stix2-validator, stix2-patterns, PyMISP, lxml) in
//! `tests/consumers/test_exports.py` when `tests/.venv` exists.

use chrono::{DateTime, TimeZone, Utc};
use iocd::export::{self, mapping, ExportOptions, Format, StixFormat, StixOptions};
use iocd::ioc::{indicator_id, normalize, Indicator, IocType, Observation, Source, Tlp};
use iocd::store::{Query, Store};
use serde_json::Value;
use std::collections::BTreeSet;

const URL_QUOTE: &str = r"http://x.com/a'b\c";
const COMMENT: &str = "C2 from \"report | part=2\"\nsecond line";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An observation of `raw` as a feed would report it.
fn obs(raw: &str, confidence: u8) -> Observation {
    let mut o = Observation::new(normalize(raw, None).unwrap_or_else(|e| panic!("{raw}: {e}")));
    o.confidence = Some(confidence);
    o.seen = Some(at("2024-12-08T14:30:00.123456Z"));
    o.source = Some(Source {
        name: "eset".into(),
        reference: None,
        direction: None,
    });
    o
}

/// A varied store: every type, the escaping cases of issue 5, all three
/// confidence levels, an explicit TLP, tags, techniques, descriptions.
fn fixture() -> (tempfile::TempDir, Vec<Indicator>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut v = Vec::new();

    let mut ip = obs("1.2.3.4", 85);
    ip.tags = vec!["botnet".into(), "c2".into()];
    ip.techniques = vec!["T1071.001".into()];
    ip.source = Some(Source {
        name: "eset".into(),
        reference: Some(COMMENT.into()),
        direction: None,
    });
    v.push(ip);
    v.push(obs("8.8.4.4", 20)); // low → clear
    v.push(obs("2001:0DB8:0000:0000:0000:0000:0000:0001", 50)); // long form
    v.push(obs("Bücher.Example", 75)); // IDN
    v.push(obs(URL_QUOTE, 90));
    let mut pipe = obs("http://x.com/p|q?a=1&b=<2>", 60);
    pipe.description = Some("-cmd|' =HYPERLINK(\"x\")".into());
    pipe.tags = vec!["=1+1".into()];
    v.push(pipe);
    v.push(obs("D41D8CD98F00B204E9800998ECF8427E", 70)); // upper-case md5
    v.push(obs("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", 70));
    v.push(obs(
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        70,
    ));
    v.push(obs(&"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e".to_uppercase(), 70));
    let mut mail = obs("Phish@Example.COM", 65);
    mail.tlp = Some(Tlp::Red);
    v.push(mail);
    let mut cve = obs("cve-2024-3094", 95);
    cve.description = Some("xz backdoor".into());
    v.push(cve);
    v.push(obs("T1566.001", 80));
    store.ingest(v).unwrap();
    let items: Vec<Indicator> = store
        .scan(&Query::default())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(items.len(), 13);
    (dir, items)
}

fn find(items: &[Indicator], t: IocType) -> &Indicator {
    items.iter().find(|i| i.ioc_type == t).unwrap()
}

fn render(format: Format, items: &[Indicator], opts: &ExportOptions) -> (u64, String) {
    let mut buf = Vec::new();
    let n = export::write(format, &mut buf, items, opts).unwrap();
    (n, String::from_utf8(buf).unwrap())
}

fn stix_with(items: &[Indicator], stix: StixOptions) -> Value {
    let opts = ExportOptions {
        stix,
        ..Default::default()
    };
    serde_json::from_str(&render(Format::Stix, items, &opts).1).unwrap()
}

fn is_stix_time(s: &str) -> bool {
    // 2024-12-08T14:30:00.123Z
    let b = s.as_bytes();
    b.len() == 24
        && s.ends_with('Z')
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && DateTime::parse_from_rfc3339(s).is_ok()
}

#[test]
fn normalization_feeds_the_exports_the_expected_values() {
    let (_d, items) = fixture();
    let values: BTreeSet<&str> = items.iter().map(|i| i.value.as_str()).collect();
    for v in [
        "2001:db8::1",
        "xn--bcher-kva.example",
        URL_QUOTE,
        "d41d8cd98f00b204e9800998ecf8427e",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "CVE-2024-3094",
    ] {
        assert!(values.contains(v), "{v} missing from {values:?}");
    }
}

#[test]
fn stix_indicator_has_exactly_the_spec_example_keys() {
    let (_d, items) = fixture();
    let bundle = stix_with(&items, StixOptions::default());
    assert_eq!(bundle["type"], "bundle");
    let id = bundle["id"].as_str().unwrap();
    assert!(id.starts_with("bundle--") && uuid::Uuid::parse_str(&id[8..]).is_ok());
    let objects = bundle["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1 + 13);
    assert_eq!(objects[0]["type"], "identity");
    assert_eq!(objects[0]["name"], "iocd");
    assert_eq!(objects[0]["identity_class"], "organization");
    let identity = objects[0]["id"].as_str().unwrap();
    assert_eq!(identity, export::stix::identity_id("iocd"));

    // A bare indicator: the spec's example keys, plus pattern_version.
    let ind = objects
        .iter()
        .find(|o| o["name"] == "Malicious IPv6 Address - 2001:db8::1")
        .unwrap();
    let keys: Vec<&str> = ind
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "type",
        "spec_version",
        "id",
        "created",
        "modified",
        "created_by_ref",
        "object_marking_refs",
        "name",
        "indicator_types",
        "pattern",
        "pattern_type",
        "pattern_version",
        "valid_from",
        "confidence",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    assert_eq!(ind["spec_version"], "2.1");
    assert_eq!(ind["created_by_ref"], identity);
    assert_eq!(
        ind["indicator_types"],
        serde_json::json!(["malicious-activity"])
    );
    assert_eq!(ind["pattern"], "[ipv6-addr:value = '2001:db8::1']");
    assert_eq!(ind["pattern_type"], "stix");
    assert_eq!(ind["pattern_version"], "2.1");
    assert_eq!(ind["confidence"], 50);
    assert_eq!(
        ind["id"],
        format!("indicator--{}", indicator_id(IocType::Ipv6, "2001:db8::1"))
    );
    // medium → amber
    assert_eq!(
        ind["object_marking_refs"],
        serde_json::json!(["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"])
    );
    assert_eq!(ind["valid_from"], "2024-12-08T14:30:00.123Z");
}

#[test]
fn stix_indicator_carries_tags_attack_and_markings() {
    let (_d, items) = fixture();
    let bundle = stix_with(&items, StixOptions::default());
    let objects = bundle["objects"].as_array().unwrap();
    let ip = objects
        .iter()
        .find(|o| o["name"] == "Malicious IPv4 Address - 1.2.3.4")
        .unwrap();
    assert_eq!(ip["pattern"], "[ipv4-addr:value = '1.2.3.4']");
    assert_eq!(ip["labels"], serde_json::json!(["botnet", "c2"]));
    assert_eq!(
        ip["kill_chain_phases"],
        serde_json::json!([{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}])
    );
    assert_eq!(
        ip["external_references"],
        serde_json::json!([{"source_name": "mitre-attack", "external_id": "T1071.001",
            "url": "https://attack.mitre.org/techniques/T1071/001"}])
    );
    // high → green, the spec example's marking
    assert_eq!(
        ip["object_marking_refs"][0],
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
    );
    let url = objects
        .iter()
        .find(|o| o["name"] == format!("Malicious URL - {URL_QUOTE}"))
        .unwrap();
    assert_eq!(url["pattern"], r"[url:value = 'http://x.com/a\'b\\c']");
    let idn = objects
        .iter()
        .find(|o| o["pattern"] == "[domain-name:value = 'xn--bcher-kva.example']");
    assert!(idn.is_some());
    let sha = objects
        .iter()
        .find(|o| {
            o["pattern"]
                == "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']"
        })
        .unwrap();
    assert_eq!(
        sha["name"],
        "Malicious File Hash (SHA-256) - e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert!(objects
        .iter()
        .any(|o| o["pattern"] == "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"));
    assert!(objects
        .iter()
        .any(|o| o["pattern"] == "[email-addr:value = 'Phish@example.com']"));
    // explicit TLP wins over confidence
    let mail = objects
        .iter()
        .find(|o| o["pattern"] == "[email-addr:value = 'Phish@example.com']")
        .unwrap();
    assert_eq!(
        mail["object_marking_refs"][0],
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
    );
}

#[test]
fn stix_cve_and_attack_become_their_own_sdos() {
    let (_d, items) = fixture();
    let bundle = stix_with(&items, StixOptions::default());
    let objects = bundle["objects"].as_array().unwrap();
    let cve = objects
        .iter()
        .find(|o| o["type"] == "vulnerability")
        .unwrap();
    assert_eq!(cve["name"], "CVE-2024-3094");
    assert_eq!(cve["description"], "xz backdoor");
    assert_eq!(cve["external_references"][0]["source_name"], "cve");
    assert_eq!(
        cve["external_references"][0]["external_id"],
        "CVE-2024-3094"
    );
    assert!(cve.get("pattern").is_none());
    let ap = objects
        .iter()
        .find(|o| o["type"] == "attack-pattern")
        .unwrap();
    assert_eq!(ap["name"], "Spearphishing Attachment");
    assert_eq!(ap["external_references"][0]["source_name"], "mitre-attack");
    assert_eq!(ap["external_references"][0]["external_id"], "T1566.001");
    assert_eq!(ap["kill_chain_phases"][0]["phase_name"], "initial-access");
    assert_eq!(
        ap["id"],
        format!(
            "attack-pattern--{}",
            indicator_id(IocType::MitreAttack, "T1566.001")
        )
    );
}

#[test]
fn stix_timestamps_have_milliseconds_and_z_everywhere() {
    let (_d, items) = fixture();
    let opts = StixOptions {
        include_tlp_markings: true,
        ..Default::default()
    };
    let bundle = stix_with(&items, opts);
    let mut seen = 0;
    for o in bundle["objects"].as_array().unwrap() {
        for k in ["created", "modified", "valid_from"] {
            if let Some(t) = o.get(k) {
                assert!(is_stix_time(t.as_str().unwrap()), "{k} = {t}");
                seen += 1;
            }
        }
    }
    assert!(seen > 30);
}

#[test]
fn stix_ids_are_deterministic_and_bundle_ids_are_not() {
    let (_d, items) = fixture();
    let a = stix_with(&items, StixOptions::default());
    let b = stix_with(&items, StixOptions::default());
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["objects"], b["objects"]);
}

#[test]
fn stix_markings_only_for_levels_used_and_override() {
    let (_d, items) = fixture();
    let opts = StixOptions {
        include_tlp_markings: true,
        ..Default::default()
    };
    let bundle = stix_with(&items, opts);
    let objects = bundle["objects"].as_array().unwrap();
    let markings: Vec<&Value> = objects
        .iter()
        .filter(|o| o["type"] == "marking-definition")
        .collect();
    let names: Vec<&str> = markings
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:RED"]);
    let clear = markings[0];
    assert_eq!(
        clear["id"],
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    );
    assert_eq!(
        clear["extensions"]["extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]
            ["tlp_2_0"],
        "clear"
    );
    // Every reference resolves inside the bundle.
    let ids: BTreeSet<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    for o in objects {
        for r in o["object_marking_refs"].as_array().into_iter().flatten() {
            assert!(ids.contains(r.as_str().unwrap()), "{r} unresolved");
        }
    }

    let opts = StixOptions {
        include_tlp_markings: true,
        tlp: Some(Tlp::AmberStrict),
        ..Default::default()
    };
    let bundle = stix_with(&items, opts);
    let objects = bundle["objects"].as_array().unwrap();
    let markings: Vec<&Value> = objects
        .iter()
        .filter(|o| o["type"] == "marking-definition")
        .collect();
    assert_eq!(markings.len(), 1);
    assert_eq!(markings[0]["name"], "TLP:AMBER+STRICT");
    for o in objects
        .iter()
        .filter(|o| o["type"] != "marking-definition" && o["type"] != "identity")
    {
        assert_eq!(
            o["object_marking_refs"],
            serde_json::json!(["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"])
        );
    }
}

#[test]
fn stix_objects_format_and_no_identity() {
    let (_d, items) = fixture();
    let opts = StixOptions {
        format: StixFormat::Objects,
        include_identity: false,
        ..Default::default()
    };
    let v = stix_with(&items, opts);
    let objects = v.as_array().expect("a bare array");
    assert_eq!(objects.len(), 13);
    assert!(objects.iter().all(|o| o.get("created_by_ref").is_none()));
    assert!(objects.iter().all(|o| o["type"] != "identity"));
    // Empty input is still valid JSON.
    let v = stix_with(&[], StixOptions::default());
    assert_eq!(v["objects"].as_array().unwrap().len(), 1);
}

#[test]
fn misp_attributes_follow_the_spec_table() {
    let (_d, items) = fixture();
    let (n, text) = render(Format::Misp, &items, &ExportOptions::default());
    let v: Value = serde_json::from_str(&text).unwrap();
    let ev = &v["Event"];
    let attrs = ev["Attribute"].as_array().unwrap();
    assert_eq!(attrs.len(), 12, "mitre_attack is a tag, not an attribute");
    // The count reported is the attributes written (13 records in).
    assert_eq!(n, 12);
    let expect = [
        (IocType::Ipv4, "ip-src", "Network activity"),
        (IocType::Ipv6, "ip-src", "Network activity"),
        (IocType::Domain, "domain", "Network activity"),
        (IocType::Url, "url", "Network activity"),
        (IocType::Md5, "md5", "Payload delivery"),
        (IocType::Sha1, "sha1", "Payload delivery"),
        (IocType::Sha256, "sha256", "Payload delivery"),
        (IocType::Sha512, "sha512", "Payload delivery"),
        (IocType::Email, "email-src", "Payload delivery"),
        (IocType::Cve, "vulnerability", "External analysis"),
    ];
    for (t, ty, cat) in expect {
        let i = find(&items, t);
        let a = attrs
            .iter()
            .find(|a| a["uuid"] == i.id.to_string())
            .unwrap_or_else(|| panic!("{t} missing"));
        assert_eq!(
            (a["type"].as_str(), a["category"].as_str()),
            (Some(ty), Some(cat)),
            "{t}"
        );
        assert_eq!(a["value"], i.value);
        assert_eq!(a["timestamp"], i.modified.timestamp().to_string());
        // PyMISP's default: a CVE id matches no traffic.
        assert_eq!(a["to_ids"], t != IocType::Cve, "{t}");
    }
    let ip = attrs.iter().find(|a| a["value"] == "1.2.3.4").unwrap();
    // The reference is a report title: the comment names it.
    assert_eq!(ip["comment"], format!("C2 IP from \"{COMMENT}\""));
    let tags: Vec<&str> = ip["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            "tlp:green",
            "botnet",
            "c2",
            "misp-galaxy:mitre-attack-pattern=\"Web Protocols - T1071.001\""
        ]
    );
    assert_eq!(ev["threat_level_id"], "2");
    assert_eq!(ev["analysis"], "2");
    assert_eq!(ev["distribution"], "3");
    assert_eq!(ev["published"], false);
    let event_tags: Vec<&str> = ev["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        event_tags,
        [
            "tlp:red",
            "misp-galaxy:mitre-attack-pattern=\"Spearphishing Attachment - T1566.001\""
        ]
    );
    let info = ev["info"].as_str().unwrap();
    assert!(
        info.starts_with("iocd IOCs — ") && info.contains(" to "),
        "{info}"
    );
    assert!(ev["timestamp"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(ev["date"].as_str().unwrap().len(), 10);
}

#[test]
fn misp_event_uuid_is_deterministic_and_info_uses_the_range() {
    let (_d, items) = fixture();
    let mut opts = ExportOptions::default();
    opts.misp.since = Some(Utc.with_ymd_and_hms(2026, 5, 15, 0, 0, 0).unwrap());
    opts.misp.until = Some(Utc.with_ymd_and_hms(2026, 5, 17, 9, 0, 0).unwrap());
    opts.misp.tlp = Some(Tlp::Amber);
    let a: Value = serde_json::from_str(&render(Format::Misp, &items, &opts).1).unwrap();
    let b: Value = serde_json::from_str(&render(Format::Misp, &items, &opts).1).unwrap();
    assert_eq!(a, b);
    assert_eq!(a["Event"]["info"], "iocd IOCs — 2026-05-15 to 2026-05-17");
    assert_eq!(a["Event"]["date"], "2026-05-17");
    assert_eq!(a["Event"]["Tag"][0]["name"], "tlp:amber");
    let other: Value = serde_json::from_str(&render(Format::Misp, &items[1..], &opts).1).unwrap();
    assert_ne!(a["Event"]["uuid"], other["Event"]["uuid"]);
}

/// Splits a CEF line at unescaped `|`, at most 8 fields (the extension is
/// the rest of the line).
fn cef_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if fields.len() == 8 {
            fields[7].push(c);
            continue;
        }
        match c {
            '\\' => {
                let last = fields.last_mut().unwrap();
                last.push(c);
                if let Some(n) = chars.next() {
                    last.push(n);
                }
            }
            '|' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[test]
fn cef_lines_have_eight_fields_and_escape_exactly() {
    let (_d, items) = fixture();
    let (n, text) = render(Format::Cef, &items, &ExportOptions::default());
    assert_eq!(n, 13);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        13,
        "a newline in a value must not split a line"
    );
    for line in &lines {
        let f = cef_fields(line);
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(f[0], "CEF:0");
        assert_eq!((f[1].as_str(), f[2].as_str()), ("iocd", "iocd"));
        let sev: u8 = f[6].parse().unwrap();
        assert!(sev <= 10);
    }
    let ip = lines.iter().find(|l| l.contains("dst=1.2.3.4")).unwrap();
    assert!(ip.starts_with(&format!(
        "CEF:0|iocd|iocd|{}|ioc:ipv4|Malicious IPv4 Address|9|",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(
        ip.ends_with(r#" msg=C2 IP from "C2 from "report | part\=2"\nsecond line""#),
        "{ip}"
    );
    assert!(ip.contains(
        " cn1Label=confidence cn1=85 cs1Label=tlp cs1=green cs2Label=tags cs2=botnet,c2 "
    ));
    assert!(ip.contains(" cs4Label=mitreAttackTechniques cs4=T1071.001 "));
    let pipe = lines
        .iter()
        .find(|l| l.contains("ioc:url|") && l.contains("p|q"))
        .unwrap();
    assert!(pipe.contains(r"|ioc:url|Malicious URL|6|"), "{pipe}");
    assert!(
        pipe.contains(r" request=http://x.com/p|q?a\=1&b\=<2> "),
        "{pipe}"
    );
    let url = lines.iter().find(|l| l.contains("a'b")).unwrap();
    assert!(url.contains(r"|Malicious URL|"));
    assert!(url.contains(r" request=http://x.com/a'b\\c "));
    let v6 = lines.iter().find(|l| l.contains("ioc:ipv6")).unwrap();
    assert!(v6.contains(" c6a2Label=Malicious IPv6 Address c6a2=2001:db8::1 "));
    let sha = lines.iter().find(|l| l.contains("ioc:sha256")).unwrap();
    assert!(sha.contains(" fileHash=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 cs5Label=hashAlgorithm cs5=SHA-256 "));
    assert!(lines
        .iter()
        .any(|l| l.contains(" dhost=xn--bcher-kva.example ")));
    assert!(lines
        .iter()
        .any(|l| l.contains(" suser=Phish@example.com ")));
    assert!(lines
        .iter()
        .any(|l| l.contains(" cs6Label=cve cs6=CVE-2024-3094 ")));
}

#[test]
fn cef_escape_functions() {
    use export::cef::{escape_header, escape_value};
    assert_eq!(escape_header(r"a|b\c"), r"a\|b\\c");
    assert_eq!(escape_header("a\nb"), "a b");
    assert_eq!(escape_value("a=b\\c|d\ne\rf"), r"a\=b\\c|d\ne\rf");
}

#[test]
fn openioc_is_well_formed_and_parses_back() {
    use quick_xml::events::Event;
    let (_d, items) = fixture();
    let (n, text) = render(Format::OpenIoc, &items, &ExportOptions::default());
    // sha512, cve and mitre_attack have no OpenIOC term.
    assert_eq!(n, 10);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut stack: Vec<String> = Vec::new();
    let mut root = None;
    let mut searches = Vec::new();
    let mut contents = Vec::new();
    let mut items_seen = 0;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if root.is_none() {
                    root = Some(name.clone());
                    let ns = e
                        .try_get_attribute("xmlns")
                        .unwrap()
                        .unwrap()
                        .unescape_value()
                        .unwrap()
                        .into_owned();
                    assert_eq!(ns, "http://openioc.org/schemas/OpenIOC_1.1");
                }
                if name == "IndicatorItem" {
                    items_seen += 1;
                }
                stack.push(name);
            }
            Event::Empty(e) if e.name().as_ref() == b"Context" => {
                let s = e.try_get_attribute("search").unwrap().unwrap();
                searches.push(s.unescape_value().unwrap().into_owned());
            }
            Event::Text(t) if stack.last().map(String::as_str) == Some("Content") => {
                contents.push(t.unescape().unwrap().into_owned());
            }
            Event::End(e) => {
                assert_eq!(stack.pop().unwrap().as_bytes(), e.name().as_ref());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    assert_eq!(root.as_deref(), Some("OpenIOC"));
    assert_eq!(items_seen, 10);
    for s in [
        "PortItem/remoteIP",
        "DnsEntryItem/Host",
        "UrlHistoryItem/URL",
        "FileItem/Md5sum",
        "FileItem/Sha1sum",
        "FileItem/Sha256sum",
        "Email/From",
    ] {
        assert!(searches.iter().any(|x| x == s), "{s}");
    }
    assert!(contents.iter().any(|c| c == URL_QUOTE));
    assert!(contents.iter().any(|c| c == "http://x.com/p|q?a=1&b=<2>"));
    assert!(
        text.contains("<Content type=\"string\">http://x.com/p|q?a=1&amp;b=&lt;2&gt;</Content>")
    );
    assert!(contents.iter().any(|c| c == "2001:db8::1"));
}

#[test]
fn json_records_have_the_api_shape() {
    let (_d, items) = fixture();
    let (n, text) = render(Format::Json, &items, &ExportOptions::default());
    assert_eq!(n, 13);
    let v: Value = serde_json::from_str(&text).unwrap();
    let recs = v.as_array().unwrap();
    let ip = recs.iter().find(|r| r["value"] == "1.2.3.4").unwrap();
    let keys: BTreeSet<&str> = ip.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "id",
        "type",
        "value",
        "confidence",
        "confidence_level",
        "tlp",
        "tags",
        "sources",
        "techniques",
        "first_seen",
        "last_seen",
        "added_at",
        "modified",
        "to_ids",
        "reserved",
        "description",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(ip["type"], "ipv4");
    assert_eq!(ip["confidence_level"], "high");
    assert_eq!(ip["tlp"], "green");
    assert_eq!(ip["sources"][0]["name"], "eset");
    assert_eq!(ip["sources"][0]["reference"], COMMENT);
    assert_eq!(ip["first_seen"], "2024-12-08T14:30:00.123Z");
    for k in ["first_seen", "last_seen", "added_at", "modified"] {
        assert!(is_stix_time(ip[k].as_str().unwrap()));
    }
    let mitre = recs.iter().find(|r| r["type"] == "mitre_attack").unwrap();
    assert_eq!(mitre["value"], "T1566.001");

    let mut opts = ExportOptions::default();
    opts.json.lines = true;
    let (_, text) = render(Format::Json, &items, &opts);
    assert_eq!(text.lines().count(), 13);
    for l in text.lines() {
        serde_json::from_str::<Value>(l).unwrap();
    }
}

#[test]
fn csv_quotes_per_rfc4180_and_neutralizes_formulas() {
    let (_d, items) = fixture();
    let (n, text) = render(Format::Csv, &items, &ExportOptions::default());
    assert_eq!(n, 13);
    assert!(text.starts_with("id,type,value,confidence,confidence_level,tlp,tags,sources,techniques,first_seen,last_seen,added_at,modified,to_ids,reserved,description\r\n"));
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 13);
    let pipe = rows
        .iter()
        .find(|r| &r[2] == "http://x.com/p|q?a=1&b=<2>")
        .unwrap();
    assert_eq!(&pipe[6], "'=1+1");
    assert_eq!(&pipe[15], "'-cmd|' =HYPERLINK(\"x\")");
    let ip = rows.iter().find(|r| &r[2] == "1.2.3.4").unwrap();
    assert_eq!(&ip[7], &format!("eset ({COMMENT})"));
    assert_eq!(&ip[8], "T1071.001");
    // The embedded quote and newline are quoted, not raw.
    assert!(text.contains("\"eset (C2 from \"\"report | part=2\"\"\nsecond line)\""));
    assert_eq!(export::csv::neutralize("@SUM(1)"), "'@SUM(1)");
    assert_eq!(export::csv::neutralize("\tx"), "'\tx");
    assert_eq!(export::csv::neutralize("1.2.3.4"), "1.2.3.4");
}

#[test]
fn mapping_is_complete_and_display_names_follow_the_example() {
    let (_d, items) = fixture();
    assert_eq!(
        mapping::display_name(items.iter().find(|i| i.value == "1.2.3.4").unwrap()),
        "Malicious IPv4 Address - 1.2.3.4"
    );
    assert_eq!(
        mapping::display_name(find(&items, IocType::MitreAttack)),
        "ATT&CK Technique - T1566.001 Spearphishing Attachment"
    );
    for t in IocType::ALL {
        let m = mapping::mapping(t);
        assert_eq!(m.ioc_type, t);
        assert_eq!(m.misp.is_none(), t == IocType::MitreAttack);
    }
}

/// Writes every format for the fixture into `dir` (the files the Python
/// consumer checks read).
fn write_export_files(dir: &std::path::Path, items: &[Indicator]) {
    let mut opts = ExportOptions::default();
    opts.stix.include_tlp_markings = true;
    for f in Format::ALL {
        let mut buf = Vec::new();
        export::write(f, &mut buf, items, &opts).unwrap();
        std::fs::write(dir.join(format!("iocd.{}", f.extension())), buf).unwrap();
    }
    // The spec's defaults too (no markings), and the objects form.
    let mut buf = Vec::new();
    export::write(Format::Stix, &mut buf, items, &ExportOptions::default()).unwrap();
    std::fs::write(dir.join("iocd-default.stix.json"), buf).unwrap();
}

/// Runs `tests/consumers/test_exports.py` with the venv's Python on the
/// fixture's exports. Prints `SKIP: …` when `tests/.venv` is missing (build
/// it with `python3 -m venv tests/.venv && tests/.venv/bin/pip install -r
/// tests/requirements.txt`). With `IOCD_EXPORT_DIR` set, the files are
/// written there (and kept) instead of a temporary directory.
#[test]
fn real_consumers_accept_the_exports() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("tests/.venv/bin/python");
    let (_d, items) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("IOCD_EXPORT_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).unwrap();
    write_export_files(&dir, &items);
    if !python.exists() {
        println!(
            "SKIP: {} not found; the Python consumer checks did not run",
            python.display()
        );
        return;
    }
    let out = std::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"])
        .arg(root.join("tests/consumers/test_exports.py"))
        .env("IOCD_EXPORT_DIR", &dir)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python consumer checks failed");
}
