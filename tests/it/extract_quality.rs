//! Extraction quality on real reports (issue #14 item 2): the ESET
//! campaign reports (`../shared/data/real/eset/*/README.adoc`, AsciiDoc)
//! against the IOCs ESET published beside them in machine-readable files
//! (MISP events, STIX bundles, hash lists, CSV and text lists of the same
//! campaign directory), read by iocd's own importers.
//!
//! Rules of the count (README, "Extraction quality"):
//! - a campaign counts for the network class (ipv4, ipv6, domain, url) only
//!   when its files hold network IOCs, and for the hash class (md5, sha1,
//!   sha256) only when they hold hashes: a report whose IOCs were not
//!   published as files cannot be scored;
//! - precision per type: extracted values of that type found in the
//!   campaign's files / extracted values of that type;
//! - recall for network types: published values the report yields / all
//!   published values;
//! - recall for hashes is per sample: ESET's `samples.md5`, `.sha1` and
//!   `.sha256` list the same samples line by line, and reports name each
//!   sample by one of its hashes (SHA-1 as a rule), so a sample is
//!   recalled when any of its hashes is extracted; hashes published
//!   outside those lists count one by one.
//!
//! The report is extracted exactly as `iocd import README.adoc` does
//! (document parser, default `[articles]` allow-list), with ESET's own
//! domains as publisher domains, as an operator importing ESET's reports
//! would configure (`publisher_domains = ["welivesecurity.com",
//! "eset.com"]`). The test fails when a figure drops below the one
//! recorded in README.

use iocd::import::{parse_bytes, Format, ImportDefaults};
use iocd::ioc::extract::ExtractOptions;
use iocd::ioc::IocType;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

const NETWORK: [IocType; 4] = [IocType::Ipv4, IocType::Ipv6, IocType::Domain, IocType::Url];
const HASHES: [IocType; 3] = [IocType::Md5, IocType::Sha1, IocType::Sha256];

/// Recorded figures (README, "Extraction quality"): precision and recall
/// must not fall below them. The targets (0.95 / 0.90) are not
/// reached against this ground truth; README says why (published files
/// that omit IOCs the reports list, and the reverse).
const MIN_NETWORK_PRECISION: f64 = 0.60;
const MIN_NETWORK_RECALL: f64 = 0.64;
const MIN_HASH_PRECISION: f64 = 0.98;
const MIN_HASH_RECALL: f64 = 0.56;

fn eset_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real/eset");
    d.is_dir().then_some(d)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Files that hold published IOCs (not reports, rules, code or keys).
fn is_ioc_file(p: &Path) -> bool {
    !matches!(
        ext(p).as_str(),
        "adoc" | "md" | "yar" | "yara" | "yml" | "yaml" | "rules" | "pem" | "ksy" | "pl" | "py"
    ) && p.extension().is_some()
}

#[derive(Default)]
struct Counts {
    extracted: u64,
    true_pos: u64,
    published: u64,
    recalled: u64,
}

impl Counts {
    fn precision(&self) -> f64 {
        if self.extracted == 0 {
            1.0
        } else {
            self.true_pos as f64 / self.extracted as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.published == 0 {
            1.0
        } else {
            self.recalled as f64 / self.published as f64
        }
    }
}

/// The keys a network IOC matches by: its value, and for a host (domain,
/// IP) or a URL without a path (`http://host[:port][/]`) the host.
fn network_keys(t: IocType, v: &str) -> Vec<String> {
    let mut k = vec![format!("v:{v}")];
    match t {
        IocType::Url => {
            if let Some(rest) = v.split_once("://").map(|(_, r)| r) {
                let rest = rest.trim_end_matches('/');
                if !rest.contains(['/', '?', '#']) {
                    let host = rest
                        .rsplit_once(':')
                        .filter(|(h, p)| !h.contains(']') || p.is_empty())
                        .map(|(h, _)| h)
                        .unwrap_or(rest);
                    k.push(format!("h:{host}"));
                }
            }
        }
        _ => k.push(format!("h:{v}")),
    }
    k
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn eset_reports_precision_and_recall() {
    let Some(root) = eset_dir() else {
        println!("SKIP extract_quality: ../shared/data/real/eset is not here (CI has it)");
        return;
    };
    let mut opts = ExtractOptions {
        publisher_domains: vec!["welivesecurity.com".into(), "eset.com".into()],
        ..iocd::articles::config::extract_options()
    };
    opts.allow_list = iocd::config::ArticlesConfig::default().allow_list;
    let mut per_type: BTreeMap<IocType, Counts> = BTreeMap::new();
    let mut samples = Counts::default();
    let mut campaigns = (0u32, 0u32, 0u32);
    let mut misses: Vec<String> = Vec::new();
    let mut false_pos: Vec<String> = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files = Vec::new();
        files_under(&dir, &mut files);
        let reports: Vec<&PathBuf> = files.iter().filter(|p| ext(p) == "adoc").collect();
        if reports.is_empty() {
            continue;
        }
        campaigns.0 += 1;
        // Published IOCs, by type.
        let mut truth: BTreeMap<IocType, HashSet<String>> = BTreeMap::new();
        for f in files.iter().filter(|p| is_ioc_file(p)) {
            let Ok(bytes) = std::fs::read(f) else {
                continue;
            };
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let Ok(p) = parse_bytes(&bytes, &name, Format::Auto, &ImportDefaults::default()) else {
                continue;
            };
            for o in p.observations {
                truth.entry(o.ioc_type).or_default().insert(o.value);
            }
        }
        // Extracted.
        let mut got: BTreeMap<IocType, HashSet<String>> = BTreeMap::new();
        for r in &reports {
            let bytes = std::fs::read(r).unwrap();
            let name = r.file_name().unwrap().to_string_lossy().into_owned();
            let a = iocd::articles::document::parse(&bytes, &name, "ESET", &opts)
                .unwrap_or_else(|e| panic!("{}: {e}", r.display()));
            for i in a.iocs {
                got.entry(i.ioc_type).or_default().insert(i.value);
            }
        }
        let has = |class: &[IocType]| {
            class
                .iter()
                .any(|t| truth.get(t).is_some_and(|s| !s.is_empty()))
        };
        let empty = HashSet::new();
        for (class, counted) in [(&NETWORK[..], has(&NETWORK)), (&HASHES[..], has(&HASHES))] {
            if !counted {
                continue;
            }
            if class == &NETWORK[..] {
                campaigns.1 += 1;
            } else {
                campaigns.2 += 1;
            }
            if class == &NETWORK[..] {
                // Network IOCs match across types by host: ESET's MISP
                // events turn a listed host `x.example:80` into the URL
                // `http://x.example:80`; a report naming the host names
                // that IOC.
                let keys = |t: IocType, v: &str| network_keys(t, v);
                let truth_keys: HashSet<String> = NETWORK
                    .iter()
                    .flat_map(|t| {
                        truth
                            .get(t)
                            .unwrap_or(&empty)
                            .iter()
                            .flat_map(move |v| keys(*t, v))
                    })
                    .collect();
                let got_keys: HashSet<String> = NETWORK
                    .iter()
                    .flat_map(|t| {
                        got.get(t)
                            .unwrap_or(&empty)
                            .iter()
                            .flat_map(move |v| keys(*t, v))
                    })
                    .collect();
                for t in NETWORK {
                    let c = per_type.entry(t).or_default();
                    for v in got.get(&t).unwrap_or(&empty) {
                        c.extracted += 1;
                        if keys(t, v).iter().any(|k| truth_keys.contains(k)) {
                            c.true_pos += 1;
                        } else {
                            false_pos.push(format!("{}: {} {v}", dir.display(), t.as_str()));
                        }
                    }
                    for v in truth.get(&t).unwrap_or(&empty) {
                        c.published += 1;
                        if keys(t, v).iter().any(|k| got_keys.contains(k)) {
                            c.recalled += 1;
                        } else {
                            misses.push(format!("{}: {} {v}", dir.display(), t.as_str()));
                        }
                    }
                }
                continue;
            }
            for t in class {
                let g = got.get(t).unwrap_or(&empty);
                let tr = truth.get(t).unwrap_or(&empty);
                let c = per_type.entry(*t).or_default();
                c.extracted += g.len() as u64;
                let tp = g.intersection(tr).count() as u64;
                c.true_pos += tp;
                c.published += tr.len() as u64;
                c.recalled += tp;
                for v in g.difference(tr) {
                    false_pos.push(format!("{}: {} {v}", dir.display(), t.as_str()));
                }
            }
            if class == &HASHES[..] {
                // Samples: aligned rows of samples.{md5,sha1,sha256}.
                let rows: Vec<Vec<String>> = {
                    let cols: Vec<Vec<String>> = ["md5", "sha1", "sha256"]
                        .iter()
                        .map(|e| lines(&dir.join(format!("samples.{e}"))))
                        .collect();
                    let n = cols.iter().map(Vec::len).max().unwrap_or(0);
                    let aligned = cols.iter().all(|c| c.is_empty() || c.len() == n);
                    if aligned {
                        (0..n)
                            .map(|i| cols.iter().filter_map(|c| c.get(i).cloned()).collect())
                            .collect()
                    } else {
                        cols.into_iter().flatten().map(|h| vec![h]).collect()
                    }
                };
                let in_rows: HashSet<&String> = rows.iter().flatten().collect();
                let all_got: HashSet<&String> =
                    HASHES.iter().filter_map(|t| got.get(t)).flatten().collect();
                for row in &rows {
                    samples.published += 1;
                    if row.iter().any(|h| all_got.contains(h)) {
                        samples.recalled += 1;
                    } else {
                        misses.push(format!("{}: sample {}", dir.display(), row.join("/")));
                    }
                }
                for t in HASHES {
                    for h in truth.get(&t).unwrap_or(&empty) {
                        if in_rows.contains(h) {
                            continue;
                        }
                        samples.published += 1;
                        if all_got.contains(h) {
                            samples.recalled += 1;
                        } else {
                            misses.push(format!("{}: {} {h}", dir.display(), t.as_str()));
                        }
                    }
                }
            }
        }
    }
    let sum = |class: &[IocType]| {
        let mut c = Counts::default();
        for t in class {
            if let Some(x) = per_type.get(t) {
                c.extracted += x.extracted;
                c.true_pos += x.true_pos;
                c.published += x.published;
                c.recalled += x.recalled;
            }
        }
        c
    };
    println!(
        "extraction quality over {} ESET reports ({} scored for network IOCs, {} for hashes)",
        campaigns.0, campaigns.1, campaigns.2
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "type", "extracted", "correct", "published", "precision", "recall"
    );
    for (t, c) in &per_type {
        println!(
            "{:<8} {:>9} {:>9} {:>9} {:>9.3} {:>9.3}",
            t.as_str(),
            c.extracted,
            c.true_pos,
            c.published,
            c.precision(),
            c.recall()
        );
    }
    let net = sum(&NETWORK);
    let hashes = sum(&HASHES);
    println!(
        "network  precision {:.3} recall {:.3} ({} of {} published)",
        net.precision(),
        net.recall(),
        net.recalled,
        net.published
    );
    println!(
        "hashes   precision {:.3} recall {:.3} by sample ({} of {} samples)",
        hashes.precision(),
        samples.recall(),
        samples.recalled,
        samples.published
    );
    println!("first false positives:");
    for f in false_pos.iter().take(
        std::env::var("IOCD_FP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40),
    ) {
        println!("  {f}");
    }
    println!("first misses:");
    for m in misses.iter().take(
        std::env::var("IOCD_MISSES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40),
    ) {
        println!("  {m}");
    }
    assert!(campaigns.1 > 0 && campaigns.2 > 0, "nothing scored");
    assert!(
        net.precision() >= MIN_NETWORK_PRECISION,
        "network precision {:.3}",
        net.precision()
    );
    assert!(
        net.recall() >= MIN_NETWORK_RECALL,
        "network recall {:.3}",
        net.recall()
    );
    assert!(
        hashes.precision() >= MIN_HASH_PRECISION,
        "hash precision {:.3}",
        hashes.precision()
    );
    assert!(
        samples.recall() >= MIN_HASH_RECALL,
        "hash recall {:.3}",
        samples.recall()
    );
}
