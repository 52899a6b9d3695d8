//! ESET's public IOC releases (`../shared/data/real/eset`), when present.
//!
//! Expected counts are computed here, independently of the importer: the
//! MISP events are read with serde_json and their attributes counted per
//! MISP type with the test's own small type table; hash lists are counted
//! as non-empty lines.

use iocd::cli::import_cmd::{self, FileReport, ImportArgs, Summary};
use iocd::import::{parse_bytes, Format, ImportDefaults};
use iocd::ioc::IocType;
use iocd::store::Store;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn eset() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/eset");
    if p.is_dir() {
        Some(p)
    } else {
        println!("SKIP: real data not found at {}", p.display());
        None
    }
}

fn args(paths: Vec<PathBuf>) -> ImportArgs {
    ImportArgs::for_paths(paths)
}

fn report<'s>(s: &'s Summary, rel: &str) -> &'s FileReport {
    s.files
        .iter()
        .find(|f| f.path.ends_with(rel))
        .unwrap_or_else(|| panic!("{rel} not among the files read"))
}

/// Every file under `dir` (recursive) whose name ends with one of `suffixes`.
fn files_with(dir: &Path, suffixes: &[&str], out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_with(&p, suffixes, out);
        } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
            out.push(p);
        }
    }
}

/// The test's own reading of MISP types: which IOC type each attribute of
/// these types yields (composites yield one per IOC part).
fn expected_types(misp_type: &str) -> &'static [&'static str] {
    match misp_type {
        "ip-dst" | "ip-src" | "ip-dst|port" | "ip-src|port" => &["ip"],
        "domain" | "hostname" => &["domain"],
        "domain|ip" => &["domain", "ip"],
        "url" => &["url"],
        "md5" | "filename|md5" => &["md5"],
        "sha1" | "filename|sha1" => &["sha1"],
        "sha256" | "filename|sha256" => &["sha256"],
        "email-src" | "email-dst" | "email" => &["email"],
        "vulnerability" => &["cve"],
        _ => &[],
    }
}

/// (type → observation count, distinct (type, value) pairs) of a MISP
/// event file, counted from the raw JSON. IPs are typed by the presence of
/// ':'; values are lower-cased except URLs and emails' local parts (the
/// files at hand hold only lower-case-safe values in those).
fn count_misp(path: &Path) -> (BTreeMap<String, usize>, BTreeSet<(String, String)>) {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let events: Vec<&Value> = match v.get("response") {
        Some(r) => r.as_array().unwrap().iter().map(|x| &x["Event"]).collect(),
        None => vec![&v["Event"]],
    };
    let mut counts = BTreeMap::new();
    let mut distinct = BTreeSet::new();
    for ev in events {
        let mut attrs: Vec<&Value> = ev["Attribute"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for o in ev["Object"].as_array().into_iter().flatten() {
            attrs.extend(o["Attribute"].as_array().unwrap());
        }
        for a in attrs {
            let value = a["value"].as_str().unwrap();
            let kinds = expected_types(a["type"].as_str().unwrap());
            let parts: Vec<&str> = if a["type"].as_str().unwrap().contains('|') {
                value.split('|').collect()
            } else {
                vec![value]
            };
            for (i, kind) in kinds.iter().enumerate() {
                let part = match (a["type"].as_str().unwrap(), i) {
                    (t, _) if t.starts_with("filename|") => parts[1],
                    (t, 0) if t.ends_with("|port") => parts[0],
                    (_, i) => parts[i],
                };
                let t = match *kind {
                    "ip" if part.contains(':') => "ipv6",
                    "ip" => "ipv4",
                    k => k,
                };
                *counts.entry(t.to_string()).or_insert(0) += 1;
                let norm = if t == "url" {
                    part.to_string()
                } else {
                    part.to_lowercase()
                };
                distinct.insert((t.to_string(), norm));
            }
        }
    }
    (counts, distinct)
}

fn parsed_counts(path: &Path) -> BTreeMap<String, usize> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let p = parse_bytes(
        &std::fs::read(path).unwrap(),
        &name,
        Format::Auto,
        &ImportDefaults::default(),
    )
    .unwrap();
    assert_eq!(p.format, Format::Misp);
    assert!(p.errors.is_empty(), "{name}: {:?}", p.errors);
    let mut m = BTreeMap::new();
    for o in &p.observations {
        *m.entry(o.ioc_type.as_str().to_string()).or_insert(0) += 1;
    }
    m
}

#[test]
fn named_misp_events_match_independent_counts() {
    let Some(root) = eset() else { return };
    for rel in [
        "mozi/mozi.misp-event.json",
        "oceanlotus/oceanlotus.misp.event.json",
        "sshdoor/misp-events/kessel.json",
    ] {
        let path = root.join(rel);
        let (expected, distinct) = count_misp(&path);
        assert_eq!(parsed_counts(&path), expected, "{rel}");

        // Stored: one record per distinct (type, value).
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = import_cmd::import(&store, &args(vec![path.clone()])).unwrap();
        assert_eq!(s.files_failed, 0);
        let mut want: BTreeMap<IocType, u64> = IocType::ALL.iter().map(|t| (*t, 0)).collect();
        for (t, _) in &distinct {
            *want.get_mut(&t.parse::<IocType>().unwrap()).unwrap() += 1;
        }
        assert_eq!(store.counts().unwrap(), want, "{rel}");
        assert_eq!(
            store.source_counts().unwrap().keys().collect::<Vec<_>>(),
            vec!["eset"],
            "{rel}"
        );
    }
    // mozi, spelled out (Object attributes only): 4 ip-dst + 1 ip-src,
    // 11 url, 21 each of md5/sha1/sha256; 61 text + 11 port skipped.
    let (mozi, _) = count_misp(&root.join("mozi/mozi.misp-event.json"));
    let m: Vec<(&str, usize)> = mozi.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        m,
        vec![
            ("ipv4", 5),
            ("md5", 21),
            ("sha1", 21),
            ("sha256", 21),
            ("url", 11)
        ]
    );
}

#[test]
fn whole_eset_directory() {
    let Some(root) = eset() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let started = std::time::Instant::now();
    let s = import_cmd::import(&store, &args(vec![root.clone()])).unwrap();
    let elapsed = started.elapsed();
    println!(
        "ESET: {} files read, {} skipped, {} observations ({} new) in {:.2?} ({:.0} observations/s)",
        s.files_read,
        s.files_skipped,
        s.observations,
        s.new,
        elapsed,
        s.observations as f64 / elapsed.as_secs_f64()
    );

    // No file fails. The one JSON file that is neither MISP nor STIX (a
    // DNS blocklist) is listed as skipped with the reason.
    let failed: Vec<(&str, &str)> = s
        .files
        .iter()
        .filter_map(|f| f.failed.as_deref().map(|r| (f.path.as_str(), r)))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let duvel = s
        .skipped_files
        .iter()
        .find(|f| f.path.ends_with("dnsbirthday/rqz-dnsduvel_blocklist.json"))
        .expect("the blocklist is listed as skipped");
    assert!(
        duvel.reason.starts_with("unknown JSON format"),
        "{}",
        duvel.reason
    );

    // Every other JSON file is a MISP event, and every attribute of a
    // supported type is accepted (the Zebrocy URL with spaces in its path
    // included).
    let mut json = Vec::new();
    files_with(&root, &[".json"], &mut json);
    assert_eq!(json.len(), 59);
    let mut misp_rejects = Vec::new();
    for p in json
        .iter()
        .filter(|p| !p.ends_with("dnsbirthday/rqz-dnsduvel_blocklist.json"))
    {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let r = report(&s, &rel);
        assert_eq!(r.format, Some(Format::Misp), "{rel}");
        assert!(r.observations > 0, "{rel}");
        misp_rejects.extend(r.errors.iter().map(|e| format!("{rel}: {e}")));
    }
    assert!(misp_rejects.is_empty(), "{misp_rejects:#?}");
    // The event published with trailing commas is read, with a warning.
    let pypi = report(&s, "pypi_backdoor/malicious_pypi_packages.misp-event.json");
    assert!(
        pypi.warnings.iter().any(|w| w.contains("trailing comma")),
        "{:?}",
        pypi.warnings
    );

    // Every hash list is read whole: one observation per line that is a hex
    // string of the length its extension names, one rejection per other
    // non-empty line (there is one: modiloader/samples.sha1 line 13).
    let mut lists = Vec::new();
    files_with(&root, &[".md5", ".sha1", ".sha256"], &mut lists);
    assert_eq!(lists.len(), 354);
    let mut bad_lines = 0;
    for p in &lists {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let len = match p.extension().unwrap().to_str().unwrap() {
            "md5" => 32,
            "sha1" => 40,
            _ => 64,
        };
        let text = std::fs::read_to_string(p).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let good = lines
            .iter()
            .filter(|l| l.len() == len && l.bytes().all(|b| b.is_ascii_hexdigit()))
            .count();
        bad_lines += lines.len() - good;
        let r = report(&s, &rel);
        assert_eq!(
            (r.observations as usize, r.rejected as usize),
            (good, lines.len() - good),
            "{rel}: {:?}",
            r.errors
        );
    }
    assert_eq!(bad_lines, 1);
    assert_eq!(
        report(&s, "modiloader/samples.sha1").errors[0]
            .split(':')
            .next(),
        Some("line 13")
    );

    // OpenIOC is an import format now (issue #12 item 7).
    assert_eq!(
        report(&s, "windigo/windigo.ioc").format,
        Some(Format::OpenIoc)
    );
    assert!(report(&s, "windigo/windigo.ioc").observations > 100);
    // Documentation, rules, keys, LICENSE/Makefile, the three git
    // symlink placeholders, and .txt files without a single IOC (word
    // lists, Suricata rules) are skipped, not failed.
    for rel in [
        "README.adoc",
        "LICENSE",
        "Makefile",
        "aceCryptor",
        "kryptocibule/nouns.txt",
        "moose/LinuxMooseETrules.txt",
    ] {
        assert!(
            s.skipped_files.iter().any(|f| f.path.ends_with(rel)),
            "{rel} not skipped"
        );
    }
    assert_eq!(s.rejected, 1, "the modiloader line that is not hex");
    assert_eq!(s.new, store.total().unwrap());
}

#[test]
fn named_hash_lists_have_exact_line_counts() {
    let Some(root) = eset() else { return };
    // Line counts as `grep -c . FILE` gives them (all distinct).
    for (rel, count) in [
        ("moustachedbouncer/samples.sha256", 29),
        ("stantinko/samples.sha256", 127),
        ("stantinko/cryptominer/samples.sha256", 1053),
    ] {
        let path = root.join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let distinct: BTreeSet<String> = lines.iter().map(|l| l.to_lowercase()).collect();
        assert_eq!((lines.len(), distinct.len()), (count, count), "{rel}");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = import_cmd::import(&store, &args(vec![path.clone()])).unwrap();
        assert_eq!(
            (s.observations as usize, s.rejected),
            (lines.len(), 0),
            "{rel}"
        );
        assert_eq!(
            store.counts().unwrap()[&IocType::Sha256],
            distinct.len() as u64,
            "{rel}"
        );
        assert_eq!(store.total().unwrap(), distinct.len() as u64, "{rel}");
    }
}

/// Issue #12: importing the whole tree in one `iocd import` (many files,
/// several batches, duplicates inside files and across them) gives each IOC
/// the earliest date any input file gives for it. Each file is read alone
/// with the importer's parser (what that file says); the whole tree is
/// imported into one store; the two must agree for every stored IOC.
#[test]
fn first_seen_is_the_earliest_date_any_input_file_gives() {
    let Some(dir) = eset() else { return };
    let started = chrono::Utc::now();
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    import_cmd::import(&store, &args(vec![dir.clone()])).unwrap();

    let mut files = Vec::new();
    files_with(&dir, &[""], &mut files);
    // Per IOC id: the earliest date given, or None when no file dates it.
    let mut earliest: std::collections::HashMap<uuid::Uuid, Option<chrono::DateTime<chrono::Utc>>> =
        std::collections::HashMap::new();
    for f in files {
        if import_cmd::skip_reason(&f).is_some() {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let Ok(p) = parse_bytes(&bytes, &name, Format::Auto, &ImportDefaults::default()) else {
            continue;
        };
        for o in p.observations {
            let e = earliest.entry(o.id()).or_insert(o.seen);
            *e = match (*e, o.seen) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let (mut dated, mut undated) = (0, 0);
    for rec in store.scan(&iocd::store::Query::default()) {
        let rec = rec.unwrap();
        match earliest.get(&rec.id) {
            Some(Some(t)) => {
                assert_eq!(
                    rec.first_seen,
                    *t,
                    "{} {}",
                    rec.ioc_type.as_str(),
                    rec.value
                );
                dated += 1;
            }
            Some(None) => {
                // No file dates it: first seen when imported.
                assert!(rec.first_seen >= started, "{}", rec.value);
                undated += 1;
            }
            None => panic!("{} stored but in no file", rec.value),
        }
    }
    assert_eq!(dated + undated, earliest.len(), "every IOC read is stored");
    println!("first_seen checked: {dated} dated IOCs, {undated} without a date");
    assert!(dated > 1000, "{dated}");
}
