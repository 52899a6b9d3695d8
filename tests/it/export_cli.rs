//! `iocd export` (issue 5, item 5), driven through its `run` function on a
//! real data directory: every format, filters, no limit cap, atomic output.

use iocd::cli::export_cmd::{run, ExportArgs};
use iocd::export::{Format, StixFormat};
use iocd::ioc::{normalize, IocType, Observation};
use iocd::store::Store;
use std::path::{Path, PathBuf};

/// A data directory whose store (`<dir>/store`) holds `n` IPv4s and 3
/// domains. The store is closed again so the command can open it.
fn data_dir(n: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut batch: Vec<Observation> = (0..n)
        .map(|k| {
            let ip = format!("198.{}.{}.{}", 18 + (k >> 16) % 2, (k >> 8) & 255, k & 255);
            Observation::new(normalize(&ip, None).unwrap())
        })
        .collect();
    for d in ["a.example.com", "b.example.com", "c.example.com"] {
        batch.push(Observation::new(normalize(d, None).unwrap()));
    }
    store.ingest(batch).unwrap();
    drop(store);
    dir
}

fn args(dir: &Path, format: Format, output: Option<PathBuf>) -> ExportArgs {
    ExportArgs {
        format,
        ioc_type: None,
        since: None,
        until: None,
        limit: None,
        output,
        tlp: None,
        stix_format: StixFormat::Bundle,
        no_identity: false,
        tlp_markings: false,
        json_lines: false,
        include_expired: false,
        config: None,
        data_dir: Some(dir.to_path_buf()),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn exports_every_format_to_a_file_without_a_cap() {
    let dd = data_dir(2500);
    let out = tempfile::tempdir().unwrap();
    for f in Format::ALL {
        let path = out.path().join(format!("x.{}", f.extension()));
        assert_eq!(run(&args(dd.path(), f, Some(path.clone()))).unwrap(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        match f {
            Format::Json => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    v.as_array().unwrap().len(),
                    2503,
                    "more than the API's 1000"
                );
            }
            Format::Csv => assert_eq!(text.lines().count(), 2504),
            Format::Cef => assert_eq!(text.lines().count(), 2503),
            Format::Stix => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["objects"].as_array().unwrap().len(), 2504);
            }
            Format::Misp => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["Event"]["Attribute"].as_array().unwrap().len(), 2503);
            }
            Format::OpenIoc => assert_eq!(text.matches("<IndicatorItem ").count(), 2503),
            Format::Sigma | Format::Suricata | Format::Snort => {
                unreachable!("not in Format::ALL")
            }
        }
    }
    // Only the finished files: no temporary file left behind.
    assert_eq!(
        files_in(out.path()),
        [
            "x.cef",
            "x.csv",
            "x.ioc",
            "x.json",
            "x.misp.json",
            "x.stix.json"
        ]
    );
}

#[test]
fn filters_and_limit_apply() {
    let dd = data_dir(50);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("d.json");
    let mut a = args(dd.path(), Format::Json, Some(path.clone()));
    a.ioc_type = Some(IocType::Domain);
    run(&a).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut values: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["a.example.com", "b.example.com", "c.example.com"]);

    let mut a = args(dd.path(), Format::Cef, Some(out.path().join("l.cef")));
    a.limit = Some(7);
    run(&a).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("l.cef"))
            .unwrap()
            .lines()
            .count(),
        7
    );

    let mut a = args(
        dd.path(),
        Format::Json,
        Some(out.path().join("future.json")),
    );
    a.since = Some(chrono::Utc::now() + chrono::Duration::days(1));
    a.json_lines = true;
    run(&a).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("future.json")).unwrap(),
        ""
    );
}

#[test]
fn stix_flags_reach_the_writer() {
    let dd = data_dir(3);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("o.stix.json");
    let mut a = args(dd.path(), Format::Stix, Some(path.clone()));
    a.stix_format = StixFormat::Objects;
    a.no_identity = true;
    a.tlp_markings = true;
    a.tlp = Some(iocd::ioc::Tlp::Red);
    run(&a).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let objects = v.as_array().unwrap();
    assert_eq!(objects.len(), 6 + 1);
    assert!(objects.iter().all(|o| o["type"] != "identity"));
    assert_eq!(objects.last().unwrap()["name"], "TLP:RED");
}

#[test]
fn a_failed_export_leaves_no_file() {
    let dd = data_dir(3);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("missing-dir").join("x.json");
    let err = run(&args(dd.path(), Format::Json, Some(path.clone()))).unwrap_err();
    assert!(format!("{err:#}").contains("cannot create"), "{err:#}");
    assert!(!path.exists());
    assert!(files_in(out.path()).is_empty());
}

#[test]
fn an_existing_file_is_replaced_whole() {
    let dd = data_dir(3);
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("x.cef");
    std::fs::write(
        &path,
        "old content that is longer than nothing\n".repeat(100),
    )
    .unwrap();
    run(&args(dd.path(), Format::Cef, Some(path.clone()))).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.lines().all(|l| l.starts_with("CEF:0|")));
}

#[test]
fn special_files_are_written_in_place_never_replaced() {
    let d = data_dir(5);
    let out = tempfile::tempdir().unwrap();
    // A FIFO: read it concurrently; it must still be a FIFO afterwards.
    let fifo = out.path().join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let f = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(f).unwrap())
    };
    assert_eq!(
        run(&args(d.path(), Format::Csv, Some(fifo.clone()))).unwrap(),
        0
    );
    let text = reader.join().unwrap();
    assert_eq!(text.lines().count(), 1 + 8);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // /dev/null stays a character device.
    assert_eq!(
        run(&args(
            d.path(),
            Format::Json,
            Some(PathBuf::from("/dev/null"))
        ))
        .unwrap(),
        0
    );
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A symlink is refused, not followed (issue #11): the target keeps its
    // content and the link stays.
    let target = out.path().join("real.csv");
    std::fs::write(&target, "old").unwrap();
    let link = out.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = run(&args(d.path(), Format::Csv, Some(link.clone()))).unwrap_err();
    assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
    // A directory is refused.
    assert!(run(&args(d.path(), Format::Csv, Some(out.path().to_path_buf()))).is_err());
}
