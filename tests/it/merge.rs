//! Issue #12, item 1, through the binary: duplicates inside one import or
//! one POST merge exactly like duplicates across imports (earliest
//! first_seen, latest last_seen, every source with its reference, tags
//! merged), and the summary counts each row once, as if it came alone.

use crate::common;

use common::{iocd, Server};
use serde_json::{json, Value};
use std::path::Path;

/// The JSON export of a data directory, by value.
fn export(data: &Path) -> Vec<Value> {
    let out = data.parent().unwrap().join("out.json");
    let (code, _, err) = iocd(&[
        "export",
        "--include-expired",
        "--data-dir",
        data.to_str().unwrap(),
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Array(a)) => a,
            other => panic!("unexpected export shape: {other:?}"),
        },
        other => panic!("unexpected export shape: {other}"),
    }
}

fn by_value<'a>(rows: &'a [Value], v: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["value"] == v)
        .unwrap_or_else(|| panic!("{v} not exported"))
}

fn source_names(r: &Value) -> Vec<String> {
    r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn duplicate_rows_in_one_csv_keep_the_earliest_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("dups.csv");
    // A MISP CSV export listing one domain twice, newest row first.
    std::fs::write(
        &csv,
        "uuid,event_id,category,type,value,comment,to_ids,date\n\
         e0000000-0000-4000-8000-000000000001,1,Network activity,domain,dup.example.com,second,1,20170101\n\
         e0000000-0000-4000-8000-000000000002,1,Network activity,domain,dup.example.com,first,1,20160101\n\
         e0000000-0000-4000-8000-000000000003,1,Network activity,domain,once.example.com,,1,20160601\n",
    )
    .unwrap();
    let (code, _, err) = iocd(&[
        "import",
        "--create",
        csv.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--source",
        "csvfeed",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("3 read: 2 new, 1 updated, 0 unchanged"),
        "summary: {err}"
    );
    // Item 8: the time range is known after the first import (one block).
    let (code, out, err) = iocd(&["stats", "--json", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert!(
        stats["oldest"].is_string() && stats["newest"].is_string(),
        "{stats}"
    );
    assert!(
        stats["oldest"].as_str() <= stats["newest"].as_str(),
        "{stats}"
    );
    let rows = export(&data);
    assert_eq!(rows.len(), 2);
    let dup = by_value(&rows, "dup.example.com");
    assert!(
        dup["first_seen"]
            .as_str()
            .unwrap()
            .starts_with("2016-01-01"),
        "{dup}"
    );
    assert!(
        dup["last_seen"].as_str().unwrap().starts_with("2017-01-01"),
        "{dup}"
    );
}

#[test]
fn two_files_of_one_import_keep_both_sources_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::write(
        inputs.join("a.csv"),
        "value,type,first_seen\nshared.example.net,domain,2018-05-01\n",
    )
    .unwrap();
    std::fs::write(
        inputs.join("b.json"),
        json!({"Event": {
            "uuid": "5e0a1c3a-0000-4000-8000-0000000000b1",
            "info": "Report B",
            "date": "2019-02-03",
            "Orgc": {"name": "OrgB"},
            "Tag": [{"name": "apt-b"}],
            "Attribute": [{"type": "domain", "value": "shared.example.net",
                           "to_ids": true, "timestamp": "1549152000", "Tag": [{"name": "c2"}]}]
        }})
        .to_string(),
    )
    .unwrap();
    let (code, _, err) = iocd(&[
        "import",
        "--create",
        inputs.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--source",
        "OrgA",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows = export(&data);
    let r = by_value(&rows, "shared.example.net");
    // --source is kept as given; MISP organisation names are lower-cased.
    assert_eq!(source_names(r), ["OrgA", "orgb"], "{r}");
    let tags: Vec<&str> = r["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"apt-b") && tags.contains(&"c2"), "{r}");
    assert!(
        r["first_seen"].as_str().unwrap().starts_with("2018-05-01"),
        "{r}"
    );
    assert!(
        r["last_seen"].as_str().unwrap().starts_with("2019-02-03"),
        "{r}"
    );
}

#[test]
fn duplicates_in_one_post_merge_like_separate_posts() {
    let s = Server::start_with("[demo]\nseed_when_empty = false\n", &[]);
    let r = s.post_json(
        "/api/v1/iocs",
        &s.keys.admin,
        &json!([
            {"value": "dup.example.org", "first_seen": "2016-01-01T00:00:00Z",
             "source": "A", "reference": "ref-a", "tags": ["ta"]},
            {"value": "dup.example.org", "first_seen": "2017-01-01T00:00:00Z",
             "source": "B", "reference": "ref-b", "tags": ["tb"], "confidence": 90}
        ]),
    );
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().unwrap();
    assert_eq!(
        (rep["new"].as_u64(), rep["updated"].as_u64()),
        (Some(1), Some(1)),
        "{rep}"
    );
    let v = s.json("/api/v1/iocs?type=domain", &s.keys.admin);
    let rec = by_value(v["data"].as_array().unwrap(), "dup.example.org");
    assert!(
        rec["first_seen"]
            .as_str()
            .unwrap()
            .starts_with("2016-01-01"),
        "{rec}"
    );
    assert!(
        rec["last_seen"].as_str().unwrap().starts_with("2017-01-01"),
        "{rec}"
    );
    assert_eq!(source_names(rec), ["A", "B"]);
    let refs: Vec<&str> = rec["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["ref-a", "ref-b"]);
    assert_eq!(rec["tags"], json!(["ta", "tb"]));
    assert_eq!(rec["confidence"], 90);
}
