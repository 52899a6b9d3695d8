//! Every import format on hand-written fixtures (`tests/fixtures/import/`).
//! Expected counts are derived by hand from the fixture files; the comments
//! next to each number say which entries make it up.

use iocd::cli::import_cmd::{self, ImportArgs};
use iocd::import::{parse_bytes, Format, ImportDefaults, Parsed};
use iocd::ioc::{IocType, Tlp};
use iocd::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

fn parse(name: &str) -> Parsed {
    let bytes = std::fs::read(fixture(name)).unwrap();
    parse_bytes(&bytes, name, Format::Auto, &ImportDefaults::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Observations per type, by API name.
fn by_type(p: &Parsed) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for o in &p.observations {
        *m.entry(o.ioc_type.as_str()).or_insert(0) += 1;
    }
    m
}

fn find<'p>(p: &'p Parsed, value: &str) -> &'p iocd::ioc::Observation {
    p.observations
        .iter()
        .find(|o| o.value == value)
        .unwrap_or_else(|| {
            panic!(
                "{value} not among {:?}",
                p.observations.iter().map(|o| &o.value).collect::<Vec<_>>()
            )
        })
}

fn counts(pairs: &[(&'static str, usize)]) -> BTreeMap<&'static str, usize> {
    pairs.iter().copied().collect()
}

#[test]
fn misp_bare_event_with_objects_composites_galaxy_and_tlp() {
    let p = parse("misp_bare.json");
    assert_eq!(p.format, Format::Misp);
    assert_eq!(
        by_type(&p),
        counts(&[
            ("ipv4", 4),   // ip-dst, domain|ip's ip, ip-dst|port, object ip-dst
            ("ipv6", 1),   // ip-src
            ("domain", 4), // domain, hostname, domain|ip's domain, object domain
            ("url", 1),
            ("md5", 2), // md5, object md5
            ("sha1", 1),
            ("sha256", 2), // filename|sha256, object sha256
            ("sha512", 1),
            ("email", 1),
            ("cve", 1),
        ])
    );
    // link, text, filename, deleted ip-dst, object filename, object port.
    assert_eq!(p.skipped, 6);
    // 999.1.1.1 and "not-a-hash", each named by uuid.
    assert_eq!(p.errors.len(), 2);
    assert!(
        p.errors[0]
            .reason
            .contains("a0000000-0000-4000-8000-000000000016"),
        "{}",
        p.errors[0].reason
    );
    assert!(
        p.errors[1].reason.contains("not-a-hash"),
        "{}",
        p.errors[1].reason
    );

    let c2 = find(&p, "45.77.10.20");
    assert_eq!(
        c2.tlp,
        Some(Tlp::Red),
        "attribute TLP overrides the event's"
    );
    assert_eq!(
        c2.tags,
        vec!["c2", "misp-galaxy:threat-actor=\"Fixture Bear\""]
    );
    assert_eq!(c2.techniques, vec!["T1071.001", "T1105"]);
    assert_eq!(c2.description.as_deref(), Some("C2 server"));
    assert_eq!(c2.seen.map(|t| t.timestamp()), Some(1_709_294_400));
    let src = c2.source.as_ref().unwrap();
    assert_eq!(
        (src.name.as_str(), src.reference.as_deref()),
        ("examplecert", Some("Fixture: bare event"))
    );

    let v6 = find(&p, "2001:db8::1");
    assert_eq!(v6.ioc_type, IocType::Ipv6);
    assert!(v6.reserved && !v6.to_ids);
    assert_eq!(v6.tlp, Some(Tlp::Amber));
    assert_eq!(
        find(&p, "update.evil-example.com").ioc_type,
        IocType::Domain
    );
    assert_eq!(
        find(&p, "http://evil-example.com/gate.php").ioc_type,
        IocType::Url
    );
    assert_eq!(find(&p, "CVE-2021-44228").ioc_type, IocType::Cve);
    assert_eq!(
        find(&p, "0cc175b9c0f1b6a831c399e269772661")
            .description
            .as_deref(),
        Some("Loader")
    );
    assert_eq!(find(&p, "45.77.10.22").ioc_type, IocType::Ipv4);
}

#[test]
fn misp_response_and_list_shapes() {
    let r = parse("misp_response.json");
    assert_eq!(r.format, Format::Misp);
    // Event one: ip-dst, domain, sha256 (regkey skipped); event two: url,
    // email-dst, object ip-dst (mutex skipped).
    assert_eq!((r.observations.len(), r.errors.len(), r.skipped), (6, 0, 2));
    assert_eq!(
        find(&r, "Bad.Actor@evil-example.com").ioc_type,
        IocType::Email
    );
    assert_eq!(
        find(&r, "https://two.evil-example.com/x?a=B").ioc_type,
        IocType::Url
    );
    let names: Vec<&str> = r
        .observations
        .iter()
        .map(|o| o.source.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["eset", "eset", "eset", "import", "import", "import"]
    );

    let l = parse("misp_list.json");
    assert_eq!(l.format, Format::Misp);
    assert_eq!((l.observations.len(), l.errors.len(), l.skipped), (3, 0, 1));
    assert!(find(&l, "45.77.30.1").to_ids);
    assert!(!find(&l, "list-a.evil-example.com").to_ids, "to_ids \"0\"");
}

#[test]
fn misp_csv_export() {
    let p = parse("misp_export.csv");
    assert_eq!(p.format, Format::Csv);
    assert_eq!(
        by_type(&p),
        counts(&[
            ("ipv4", 2),
            ("domain", 1),
            ("md5", 1),
            ("sha256", 1),
            ("url", 1)
        ])
    );
    assert_eq!(p.skipped, 2, "link and text");
    let lines: Vec<Option<usize>> = p.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(9), Some(10)], "{:?}", p.errors);
    let first = find(&p, "45.77.40.1");
    assert_eq!(first.tlp, Some(Tlp::Green));
    assert_eq!(first.tags, vec!["c2"]);
    assert_eq!(first.description.as_deref(), Some("C2"));
    assert_eq!(
        find(&p, "http://csv.evil-example.com/a,b").ioc_type,
        IocType::Url
    );
    assert!(
        !find(
            &p,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        )
        .to_ids
    );
}

#[test]
fn plain_csv_with_and_without_header() {
    let h = parse("plain_header.csv");
    assert_eq!(
        by_type(&h),
        counts(&[("ipv4", 1), ("url", 1), ("domain", 1), ("md5", 1)])
    );
    assert_eq!(
        h.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![Some(6), Some(7)]
    );
    assert_eq!(
        find(&h, "https://plain.evil-example.com/login").ioc_type,
        IocType::Url
    );

    let n = parse("plain_noheader.csv");
    assert_eq!(by_type(&n), counts(&[("ipv4", 2), ("domain", 1)]));
    assert_eq!((n.errors.len(), n.skipped), (0, 1), "mutex row skipped");
}

#[test]
fn text_list_with_comments_and_defanged_values() {
    let p = parse("list.txt");
    assert_eq!(p.format, Format::Text);
    let got: Vec<(&str, &str)> = p
        .observations
        .iter()
        .map(|o| (o.ioc_type.as_str(), o.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("ipv4", "45.77.60.1"),
            ("ipv4", "45.77.60.2"),
            ("url", "http://text.evil-example.com/dl.exe"),
            ("domain", "text.evil-example.com"),
            ("email", "user@evil-example.com"),
            ("cve", "CVE-2023-1234"),
            ("mitre_attack", "T1566.001"),
            (
                "sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            ("ipv6", "2001:db8::dead:beef"),
        ]
    );
    assert_eq!(
        p.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![Some(13), Some(14)]
    );
}

#[test]
fn sha256_list() {
    let p = parse("samples.sha256");
    // Six lines: five valid (one repeated, one upper-case), one 63 chars.
    assert_eq!(by_type(&p), counts(&[("sha256", 5)]));
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].line, Some(4));
    assert!(
        p.errors[0].reason.contains("sha256"),
        "{}",
        p.errors[0].reason
    );
    find(
        &p,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
}

#[test]
fn stix_bundle() {
    let p = parse("bundle.stix.json");
    assert_eq!(p.format, Format::Stix);
    assert_eq!(
        by_type(&p),
        counts(&[
            ("ipv4", 3),   // OR pattern (2), SCO
            ("ipv6", 2),   // AND pattern, SCO
            ("domain", 2), // pattern, SCO
            ("url", 2),    // escaped pattern, SCO
            ("email", 2),  // pattern, SCO
            ("sha256", 1),
            ("md5", 1),
            ("sha1", 1), // file SCO
            ("cve", 2),  // by name, by external reference
            ("mitre_attack", 1),
        ])
    );
    // file:name comparison, yara indicator, dst_port comparison, SSDEEP, mutex.
    assert_eq!(p.skipped, 5);
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0]
        .reason
        .contains("indicator--f0000000-0000-4000-8000-00000000000f"));
    assert!(
        p.errors[0].reason.contains("unbalanced"),
        "{}",
        p.errors[0].reason
    );

    let a = find(&p, "45.77.70.1");
    assert_eq!(a.confidence, Some(85));
    assert_eq!(a.tlp, Some(Tlp::Amber));
    assert_eq!(a.tags, vec!["malicious-activity"]);
    assert_eq!(
        a.techniques,
        vec!["T1566"],
        "from the indicates relationship"
    );
    assert_eq!(a.description.as_deref(), Some("C2 IPs"));
    assert_eq!(
        a.seen.map(|t| t.to_rfc3339()),
        Some("2024-01-02T03:04:05+00:00".into())
    );
    let s = a.source.as_ref().unwrap();
    assert_eq!(
        (s.name.as_str(), s.reference.as_deref()),
        ("fixture intel", Some("Fixture report"))
    );

    assert_eq!(
        find(&p, r"http://stix.evil-example.com/it's/a\b").ioc_type,
        IocType::Url
    );
    assert_eq!(find(&p, "stix.evil-example.com").techniques, vec!["T1566"]);
    assert_eq!(find(&p, "2001:db8::1").ioc_type, IocType::Ipv6);
    assert_eq!(find(&p, "CVE-2021-45046").ioc_type, IocType::Cve);
    assert_eq!(find(&p, "T1566").ioc_type, IocType::MitreAttack);
    assert_eq!(
        find(&p, "45.77.70.4").source.as_ref().unwrap().name,
        "import"
    );
}

#[test]
fn whole_fixture_directory_into_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let args = ImportArgs {
        source: Some("fixtures".into()),
        confidence: Some(90),
        tags: vec!["test-run".into()],
        ..ImportArgs::for_paths(vec![fixture("")])
    };
    let s = import_cmd::import(&store, &args).unwrap();
    // Nine good files plus the two in bad/ (one fails: truncated JSON).
    assert_eq!((s.files_read, s.files_failed, s.files_skipped), (10, 1, 0));
    // Per file: bare 18, response 6, list 3, MISP CSV 6, plain CSV 4 + 3,
    // text 9, sha256 5, STIX 17, bad/missing_columns.csv 2.
    assert_eq!(s.observations, 18 + 6 + 3 + 6 + 4 + 3 + 9 + 5 + 17 + 2);
    assert_eq!(s.rejected, 2 + 2 + 2 + 2 + 1 + 1 + 2);
    let stored = store.total().unwrap();
    assert_eq!(s.new, stored);
    assert_eq!(
        s.new + s.updated + s.unchanged + s.suppressed,
        s.observations
    );
    // --source fills only where the file names no producer; --tag is added
    // everywhere; --confidence where the file has none.
    let sources = store.source_counts().unwrap();
    assert!(
        sources.contains_key("examplecert")
            && sources.contains_key("eset")
            && sources.contains_key("fixtures")
    );
    assert!(!sources.contains_key("import"));
    let ids = [("45.77.60.1", IocType::Ipv4), ("45.77.70.1", IocType::Ipv4)];
    let recs: Vec<_> = ids
        .iter()
        .map(|(v, t)| store.get(&iocd::ioc::indicator_id(*t, v)).unwrap().unwrap())
        .collect();
    assert_eq!(recs[0].confidence, 90);
    assert_eq!(recs[1].confidence, 85);
    assert!(recs
        .iter()
        .all(|r| r.tags.contains(&"test-run".to_string())));

    // `iocd stats` reads the same numbers back.
    let st = iocd::cli::stats_cmd::stats(&store).unwrap();
    assert_eq!(st.total, stored);
    assert_eq!(st.by_type.values().sum::<u64>(), stored);
    assert_eq!(
        st.by_type["mitre_attack"], 2,
        "T1566.001 (text), T1566 (STIX)"
    );
    assert_eq!(st.by_type["sha512"], 1);
    assert_eq!(st.tombstones, 0);
    // The --json line carries the same summary.
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(
        (j["files_failed"].as_u64(), j["rejected"].as_u64()),
        (Some(1), Some(12))
    );

    // Importing the same files again stores nothing new.
    let again = import_cmd::import(&store, &args).unwrap();
    assert_eq!(again.new, 0);
    assert_eq!(store.total().unwrap(), stored);
}

#[test]
fn command_line_arguments() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        import: ImportArgs,
    }
    let c = Cli::try_parse_from([
        "iocd",
        "--format",
        "stix",
        "--tag",
        "a",
        "--tag",
        "b",
        "--confidence",
        "100",
        "x.json",
    ])
    .unwrap();
    assert_eq!(c.import.format, Format::Stix);
    assert_eq!(c.import.tags, vec!["a", "b"]);
    assert_eq!(c.import.confidence, Some(100));
    assert!(Cli::try_parse_from(["iocd", "--confidence", "101", "x"]).is_err());
    assert!(Cli::try_parse_from(["iocd", "--format", "xml", "x"]).is_err());
    assert!(Cli::try_parse_from(["iocd"]).is_err(), "a path is required");
}
