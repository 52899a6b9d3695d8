//! Store behaviour, read as a specification.

use super::*;
use crate::ioc::{detect, Observation, Source};

fn obs(v: &str) -> Observation {
    Observation::new(detect(v).unwrap())
}

fn open() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path()).unwrap();
    (d, s)
}

#[test]
fn ingest_dedupes_within_and_across_batches() {
    let (_d, s) = open();
    let r = s
        .ingest(vec![obs("evil.com"), obs("EVIL.com"), obs("1.2.3.4")])
        .unwrap();
    assert_eq!((r.new, r.updated, r.unchanged), (2, 0, 1));
    let r = s.ingest(vec![obs("evil.com")]).unwrap();
    assert_eq!((r.new, r.updated, r.unchanged), (0, 0, 1));
    assert_eq!(s.counts().unwrap()[&IocType::Domain], 1);
    assert_eq!(s.total().unwrap(), 2);
}

#[test]
fn merge_keeps_highest_confidence_unions_sources_and_moves_index() {
    let (_d, s) = open();
    let mut a = obs("evil.com");
    a.confidence = Some(80);
    a.source = Some(Source {
        name: "a".into(),
        reference: None,
        direction: None,
    });
    s.ingest(vec![a, obs("other.com")]).unwrap();
    let id = crate::ioc::indicator_id(IocType::Domain, "evil.com");
    let before = s.get(&id).unwrap().unwrap();

    let mut b = obs("evil.com");
    b.confidence = Some(30);
    b.tags = vec!["apt".into()];
    b.source = Some(Source {
        name: "b".into(),
        reference: Some("r".into()),
        direction: None,
    });
    let r = s.ingest(vec![b]).unwrap();
    assert_eq!(r.updated, 1);
    let after = s.get(&id).unwrap().unwrap();
    assert_eq!(after.confidence, 80);
    assert_eq!(after.tags, vec!["apt".to_string()]);
    assert_eq!(after.sources.len(), 2);
    assert!(after.modified > before.modified);
    assert_eq!(after.added_at, before.added_at);
    // Exactly one index entry per indicator, and the updated one is last.
    let all = s
        .page(&Query {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.items.len(), 2);
    assert_eq!(all.items[1].value, "evil.com");
    assert!(s.verify(false).unwrap().is_consistent());
    assert_eq!(s.verify(false).unwrap().records, 2);
}

#[test]
fn cursor_pages_every_item_once_under_concurrent_ingest() {
    let (_d, s) = open();
    let batch: Vec<_> = (0..250)
        .map(|i| obs(&format!("h{i}.example.com")))
        .collect();
    s.ingest(batch).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut q = Query {
        limit: 40,
        ..Default::default()
    };
    let mut extra = 0;
    loop {
        let p = s.page(&q).unwrap();
        for i in &p.items {
            assert!(seen.insert(i.value.clone()), "repeated {}", i.value);
        }
        if extra < 3 {
            s.ingest(vec![obs(&format!("late{extra}.example.com"))])
                .unwrap();
            extra += 1;
        }
        match p.next {
            Some(c) => q.after = Some(Cursor::decode(&c.encode()).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 253);
}

#[test]
fn type_and_time_filters() {
    let (_d, s) = open();
    s.ingest(vec![obs("1.2.3.4"), obs("evil.com")]).unwrap();
    let mid = Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    s.ingest(vec![obs("5.6.7.8")]).unwrap();
    let p = s
        .page(&Query {
            ioc_type: Some(IocType::Ipv4),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        p.items.iter().map(|i| i.value.as_str()).collect::<Vec<_>>(),
        vec!["1.2.3.4", "5.6.7.8"]
    );
    let p = s
        .page(&Query {
            since: Some(mid),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), 1);
    let p = s
        .page(&Query {
            until: Some(mid),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), 2);
    assert!(p.next.is_none());
}

#[test]
fn untyped_pages_merge_types_in_time_order() {
    let (_d, s) = open();
    for v in [
        "1.2.3.4",
        "evil.com",
        "5.6.7.8",
        "CVE-2021-44228",
        "bad.example",
    ] {
        s.ingest(vec![obs(v)]).unwrap();
    }
    let all = s
        .page(&Query {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let vals: Vec<&str> = all.items.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(
        vals,
        vec![
            "1.2.3.4",
            "evil.com",
            "5.6.7.8",
            "CVE-2021-44228",
            "bad.example"
        ]
    );
    let p1 = s
        .page(&Query {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    let p2 = s
        .page(&Query {
            limit: 2,
            after: p1.next,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        p2.items
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>(),
        vec!["5.6.7.8", "CVE-2021-44228"]
    );
    let mut q = Query {
        limit: 10,
        ..Default::default()
    };
    q.after = p2.next;
    assert_eq!(s.page(&q).unwrap().items.len(), 1);
}

#[test]
fn delete_leaves_tombstone_that_suppresses_reimport() {
    let (_d, s) = open();
    s.ingest(vec![obs("fp.example.com")]).unwrap();
    let id = crate::ioc::indicator_id(IocType::Domain, "fp.example.com");
    assert!(s
        .delete(&id, Some("false positive".into()))
        .unwrap()
        .is_some());
    assert!(s.get(&id).unwrap().is_none());
    assert_eq!(s.total().unwrap(), 0);
    // Its only block held nothing else: block, header and patch are gone.
    assert_eq!(s.iocs.scan_prefix([P_BLOCK]).count(), 0);
    assert_eq!(s.iocs.scan_prefix([P_HEADER]).count(), 0);
    assert_eq!(s.iocs.scan_prefix([P_PATCH]).count(), 0);
    assert!(s.verify(false).unwrap().is_consistent());
    let r = s.ingest(vec![obs("fp.example.com")]).unwrap();
    assert_eq!(r.suppressed, 1);
    assert!(s.get(&id).unwrap().is_none());
    assert!(s.delete(&id, None).unwrap().is_none());
}

#[test]
fn reopen_keeps_data() {
    let d = tempfile::tempdir().unwrap();
    {
        let s = Store::open(d.path()).unwrap();
        s.ingest(vec![obs("keep.example.com")]).unwrap();
    }
    let s = Store::open(d.path()).unwrap();
    assert_eq!(s.total().unwrap(), 1);
}

#[test]
fn cursor_decode_rejects_garbage() {
    assert!(Cursor::decode("").is_none());
    assert!(Cursor::decode("!!!").is_none());
    assert!(Cursor::decode("AAAA").is_none());
}

#[test]
fn open_waits_for_a_lock_released_shortly_and_reports_one_held_on() {
    let d = tempfile::tempdir().unwrap();
    let held = Store::open(d.path()).unwrap();
    held.ingest(vec![obs("evil.com")]).unwrap();
    // Held for the whole retry window: a clear Locked error, not a hang.
    let t = std::time::Instant::now();
    match Store::open(d.path()) {
        Err(StoreError::Locked { .. }) => {}
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second open of a held store succeeded"),
    }
    assert!(t.elapsed() >= std::time::Duration::from_secs(2));
    // Released while the second open is retrying: it gets the store.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
    });
    let s = Store::open(d.path()).unwrap();
    releaser.join().unwrap();
    assert_eq!(s.total().unwrap(), 1);
}

#[test]
fn a_lookup_by_id_never_misses_a_record_being_moved() {
    let (_d, s) = open();
    let s = std::sync::Arc::new(s);
    s.ingest(vec![obs("moving.example")]).unwrap();
    let id = crate::ioc::indicator_id(IocType::Domain, "moving.example");
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 0..60 {
                // A new tag each time: the record changes and moves to a
                // new block, its old copy patched away, in one batch.
                let mut o = obs("moving.example");
                o.tags = vec![format!("t{i}")];
                let r = s
                    .ingest(vec![o, obs(&format!("other{i}.example"))])
                    .unwrap();
                assert_eq!(r.updated, 1);
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        assert!(s.get(&id).unwrap().is_some(), "lookup missed the record");
        reads += 1;
    }
    writer.join().unwrap();
    assert!(reads > 0);
    assert_eq!(s.get(&id).unwrap().unwrap().tags.len(), 60);
    assert!(s.verify(false).unwrap().is_consistent());
}
