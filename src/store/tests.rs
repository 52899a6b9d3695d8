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

fn seen(v: &str, year: i32, src: &str) -> Observation {
    let mut o = obs(v);
    o.seen = Some(chrono::TimeZone::with_ymd_and_hms(&Utc, year, 1, 1, 0, 0, 0).unwrap());
    o.source = Some(Source {
        name: src.into(),
        reference: Some(format!("{src}.csv")),
        direction: None,
    });
    o.tags = vec![format!("from-{src}")];
    o
}

#[test]
fn duplicates_inside_one_batch_merge_like_duplicates_across_batches() {
    let (_d, s) = open();
    // Later date first, as in a CSV sorted newest first.
    let r = s
        .ingest(vec![
            seen("dup.example.com", 2017, "b"),
            seen("dup.example.com", 2016, "a"),
        ])
        .unwrap();
    // Counted as if in two calls: the 2016 row adds first_seen, a source
    // and a tag.
    assert_eq!((r.new, r.updated, r.unchanged), (1, 1, 0));
    let id = crate::ioc::indicator_id(IocType::Domain, "dup.example.com");
    let rec = s.get(&id).unwrap().unwrap();
    assert_eq!(rec.first_seen.format("%Y").to_string(), "2016");
    assert_eq!(rec.last_seen.format("%Y").to_string(), "2017");
    let names: Vec<_> = rec.sources.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(rec.tags, ["from-a", "from-b"]);
    // The same two observations in two calls give the same record.
    let (_d2, s2) = open();
    s2.ingest(vec![seen("dup.example.com", 2017, "b")]).unwrap();
    let r = s2.ingest(vec![seen("dup.example.com", 2016, "a")]).unwrap();
    assert_eq!((r.new, r.updated), (0, 1));
    let rec2 = s2.get(&id).unwrap().unwrap();
    assert_eq!(
        (rec2.first_seen, rec2.last_seen, &rec2.sources, &rec2.tags),
        (rec.first_seen, rec.last_seen, &rec.sources, &rec.tags)
    );
}

/// Every id from `after` on, paging by cursor `limit` at a time.
fn ids_paged(s: &Store, mut after: Option<Cursor>, limit: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    loop {
        let p = s
            .page(&Query {
                after,
                limit,
                ..Default::default()
            })
            .unwrap();
        ids.extend(p.items.iter().map(|i| i.id));
        match p.next {
            Some(c) => after = Some(c),
            None => return ids,
        }
    }
}

/// Everything of a record but the times the store assigns.
fn content(i: &Indicator) -> String {
    let mut i = i.clone();
    i.added_at = Default::default();
    i.modified = Default::default();
    format!("{i:?}")
}

fn all_records(s: &Store) -> Vec<String> {
    let mut v: Vec<String> = s
        .scan(&Query::default())
        .map(|r| content(&r.unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn any_split_into_batches_gives_the_same_records() {
    use rand::{Rng, SeedableRng};
    let values = [
        "a.example",
        "b.example",
        "10.0.0.1",
        "x@y.example",
        "CVE-2020-0001",
    ];
    for seed in 0..12u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = rng.gen_range(5..40);
        let batch: Vec<Observation> = (0..n)
            .map(|_| {
                let mut o = seen(
                    values[rng.gen_range(0..values.len())],
                    rng.gen_range(2010..2026),
                    ["s1", "s2", "s3"][rng.gen_range(0..3)],
                );
                o.confidence = rng.gen_bool(0.5).then(|| rng.gen_range(0..=100));
                o.tlp = [
                    None,
                    Some(crate::ioc::Tlp::Green),
                    Some(crate::ioc::Tlp::Amber),
                ][rng.gen_range(0..3)];
                o.to_ids = rng.gen_bool(0.7);
                if rng.gen_bool(0.3) {
                    o.description = Some(format!("d{}", rng.gen_range(0..3)));
                }
                if rng.gen_bool(0.3) {
                    o.techniques = vec![format!("T10{}", rng.gen_range(10..13))];
                }
                o
            })
            .collect();
        let (_d, whole) = open();
        let r = whole.ingest(batch.clone()).unwrap();
        assert_eq!(r.new + r.updated + r.unchanged + r.suppressed, n as u64);
        let expect = all_records(&whole);
        // One observation per call, and random cuts.
        let (_d1, single) = open();
        let mut counts = IngestReport::default();
        for o in &batch {
            counts.add(&single.ingest(vec![o.clone()]).unwrap());
        }
        assert_eq!(all_records(&single), expect, "seed {seed}: one per call");
        assert_eq!(counts, r, "seed {seed}: counts do not depend on the split");
        let (_d2, cut) = open();
        let mut rest = batch.as_slice();
        let mut counts = IngestReport::default();
        while !rest.is_empty() {
            let k = rng.gen_range(1..=rest.len());
            counts.add(&cut.ingest(rest[..k].to_vec()).unwrap());
            rest = &rest[k..];
        }
        assert_eq!(all_records(&cut), expect, "seed {seed}: random cuts");
        assert_eq!(counts, r, "seed {seed}: counts, random cuts");
    }
}

#[test]
fn every_record_has_its_own_index_time_in_commit_order() {
    let (_d, s) = open();
    let mut batch: Vec<Observation> = (0..100).map(|n| obs(&format!("h{n}.example"))).collect();
    batch.extend((0..70).map(|n| obs(&format!("10.1.0.{n}"))));
    s.ingest(batch).unwrap();
    s.ingest((0..40).map(|n| obs(&format!("late{n}.example"))).collect())
        .unwrap();
    let all: Vec<Indicator> = s.scan(&Query::default()).map(|r| r.unwrap()).collect();
    assert_eq!(all.len(), 210);
    for w in all.windows(2) {
        assert!(
            w[0].modified < w[1].modified,
            "{:?} !< {:?}",
            w[0].modified,
            w[1].modified
        );
    }
    // Polling by an exclusive lower time bound (TAXII added_after) at
    // limit 1 meets every record once.
    let mut got = Vec::new();
    let mut since = None;
    loop {
        let p = s
            .page(&Query {
                since,
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        let Some(i) = p.items.first() else { break };
        got.push(i.id);
        since = Some(i.modified + chrono::Duration::microseconds(1));
    }
    assert_eq!(got, all.iter().map(|i| i.id).collect::<Vec<_>>());
    // `until` is exclusive on the record's own time, inside a block too.
    let cut = all[5].modified;
    let p = s
        .page(&Query {
            until: Some(cut),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(p.items.len(), 5);
    // Cursor paging at odd limits meets every record once.
    for limit in [1, 7, 33] {
        let ids = ids_paged(&s, None, limit);
        assert_eq!(
            ids,
            all.iter().map(|i| i.id).collect::<Vec<_>>(),
            "limit {limit}"
        );
    }
}

#[test]
fn blocks_of_shared_time_from_older_versions_still_page_exactly() {
    // Blocks written before per-record times: every record has the
    // block's time. Cursors and bounds still meet each record once.
    let (_d, s) = open();
    let t0 = micros(Utc::now()) - 1_000_000;
    let mut batch = sled::Batch::default();
    let mut expect = Vec::new();
    for b in 0..3i64 {
        let loc = Loc::new(IocType::Domain, t0 + b);
        let mut recs: Vec<Indicator> = (0..5)
            .map(|n| {
                let o = obs(&format!("old{b}-{n}.example"));
                let mut r = merge::new_record(o.id(), &o, from_micros(t0 + b));
                r.modified = from_micros(t0 + b);
                r
            })
            .collect();
        recs.sort_by_key(|r| r.id);
        expect.extend(recs.iter().map(|r| r.id));
        batch.insert(
            &loc_key(P_HEADER, loc)[..],
            block::encode_ids(recs.iter().map(|r| r.id)),
        );
        batch.insert(&loc_key(P_BLOCK, loc)[..], block::encode_block(&mut recs));
    }
    s.iocs.apply_batch(batch).unwrap();
    s.ingest(vec![obs("new.example")]).unwrap();
    let new_id = crate::ioc::indicator_id(IocType::Domain, "new.example");
    expect.push(new_id);
    for limit in [1, 2, 7] {
        let ids = ids_paged(&s, None, limit);
        assert_eq!(ids, expect, "limit {limit}");
    }
    // The new block starts after every old record.
    let newest = s.get(&new_id).unwrap().unwrap();
    assert!(micros(newest.modified) > t0 + 2);
}

#[test]
fn time_range_is_known_after_the_first_ingest() {
    let (_d, s) = open();
    assert!(s.time_range().unwrap().is_none());
    s.ingest(vec![obs("one.example")]).unwrap();
    let (a, b) = s.time_range().unwrap().expect("a range after one IOC");
    assert!(a <= b);
    s.ingest((0..40).map(|n| obs(&format!("m{n}.example"))).collect())
        .unwrap();
    let (a2, b2) = s.time_range().unwrap().unwrap();
    assert_eq!(a2, a);
    assert!(b2 > b);
}

#[test]
fn shared_time_blocks_from_older_versions_get_their_own_times_at_open() {
    let d = tempfile::tempdir().unwrap();
    let t0 = micros(Utc::now()) - 10_000_000;
    let mut expect = Vec::new();
    let old_cursor;
    {
        let s = Store::open(d.path()).unwrap();
        // As iocd 0.1 wrote them: blocks 1 us apart, every record at its
        // block's time, one of them larger than a block is today.
        let mut batch = sled::Batch::default();
        for (b, n) in [(0i64, 5usize), (1, 40), (2, 3)] {
            let ty = if b == 1 {
                IocType::Ipv4
            } else {
                IocType::Domain
            };
            let loc = Loc::new(ty, t0 + b);
            let mut recs: Vec<Indicator> = (0..n)
                .map(|k| {
                    let o = match ty {
                        IocType::Ipv4 => obs(&format!("45.9.{b}.{k}")),
                        _ => obs(&format!("old{b}-{k}.example")),
                    };
                    let mut r = merge::new_record(o.id(), &o, from_micros(t0 + b));
                    r.modified = from_micros(t0 + b);
                    r
                })
                .collect();
            recs.sort_by_key(|r| r.id);
            expect.extend(recs.iter().map(|r| r.id));
            batch.insert(
                &loc_key(P_HEADER, loc)[..],
                block::encode_ids(recs.iter().map(|r| r.id)),
            );
            batch.insert(&loc_key(P_BLOCK, loc)[..], block::encode_block(&mut recs));
        }
        batch.insert(&count_key(IocType::Domain)[..], &8u64.to_be_bytes()[..]);
        batch.insert(&count_key(IocType::Ipv4)[..], &40u64.to_be_bytes()[..]);
        batch.remove(retime::RETIMED_KEY);
        s.iocs.apply_batch(batch).unwrap();
        // A cursor a client holds from before: after the 3rd record.
        let p = s
            .page(&Query {
                limit: 3,
                ..Default::default()
            })
            .unwrap();
        old_cursor = p.next.unwrap();
        s.flush().unwrap();
    }
    let s = Store::open(d.path()).unwrap();
    let all: Vec<Indicator> = s.scan(&Query::default()).map(|r| r.unwrap()).collect();
    assert_eq!(all.iter().map(|i| i.id).collect::<Vec<_>>(), expect);
    for w in all.windows(2) {
        assert!(w[0].modified < w[1].modified);
    }
    assert!(micros(all[0].modified) >= t0);
    let rep = s.verify(false).unwrap();
    assert!(rep.is_consistent(), "{rep:?}");
    assert_eq!(rep.records, 48);
    // The old cursor resumes without losing anything (it may repeat).
    let ids = ids_paged(&s, Some(old_cursor), 5);
    assert!(expect[3..].iter().all(|id| ids.contains(id)));
    // Once converted, the next open changes nothing.
    drop(s);
    let s = Store::open(d.path()).unwrap();
    assert_eq!(s.retime_shared_blocks().unwrap(), 0);
    let again: Vec<Indicator> = s.scan(&Query::default()).map(|r| r.unwrap()).collect();
    assert_eq!(again, all);
}

#[test]
fn expiry_filter_keeps_pages_full_and_cursors_moving() {
    // Live, then a run of 70 expired (more than two blocks), then live
    // again, interleaved with never-expiring hashes: every page of
    // `limit` is full while enough live records follow, and paging at
    // limit 1 returns every live record exactly once.
    let (_d, s) = open();
    let old = Utc::now() - chrono::Duration::days(400);
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.push(obs(&format!("live{i}.example.com")));
    }
    for i in 0..70 {
        let mut o = obs(&format!("old{i}.example.com"));
        o.seen = Some(old);
        batch.push(o);
    }
    s.ingest(batch).unwrap();
    let mut late: Vec<Observation> = (0..5)
        .map(|i| obs(&format!("late{i}.example.com")))
        .collect();
    late.push(obs("44d88612fea8a8f36de82e1278abb02f"));
    let mut h = obs("da39a3ee5e6b4b0d3255bfef95601890afd80709");
    h.seen = Some(old);
    late.push(h);
    s.ingest(late).unwrap();
    let lifetimes =
        crate::ioc::expiry::Lifetimes::from_days(|t| if t == IocType::Domain { 90 } else { 0 });
    let filter = lifetimes.filter_at(Utc::now());
    for limit in [1, 3, 1000] {
        let mut q = Query {
            limit,
            unexpired: filter,
            ..Default::default()
        };
        let mut seen = std::collections::HashSet::new();
        loop {
            let p = s.page(&q).unwrap();
            if p.next.is_some() {
                assert_eq!(p.items.len(), limit, "a page short of its limit");
            }
            for i in &p.items {
                assert!(!i.value.starts_with("old"), "expired {}", i.value);
                assert!(seen.insert(i.value.clone()), "repeated {}", i.value);
            }
            match p.next {
                Some(c) => q.after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 12, "limit {limit}");
    }
    let all = Query {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(s.page(&all).unwrap().items.len(), 82);
}

#[test]
fn resighting_reindexes_only_on_revival_or_half_a_lifetime() {
    let (_d, s) = open();
    s.set_lifetimes(crate::ioc::expiry::Lifetimes::from_days(|t| {
        if t == IocType::Ipv4 {
            30
        } else {
            0
        }
    }));
    let now = Utc::now();
    let at = |v: &str, days_ago: i64| {
        let mut o = obs(v);
        o.seen = Some(now - chrono::Duration::days(days_ago));
        o
    };
    // Seen 40 days ago (expired), 20 days ago (live, drift < 15 d after
    // the next step), and a hash (never expires) 40 days ago.
    s.ingest(vec![
        at("198.51.100.1", 40),
        at("198.51.100.2", 20),
        at("198.51.100.3", 16),
        at("198.51.100.4", 60),
        at("44d88612fea8a8f36de82e1278abb02f", 40),
    ])
    .unwrap();
    let modified = |v: &str| {
        let n = detect(v).unwrap();
        s.get(&crate::ioc::indicator_id(n.ioc_type, &n.value))
            .unwrap()
            .unwrap()
            .modified
    };
    let m0: Vec<_> = [
        "198.51.100.1",
        "198.51.100.2",
        "44d88612fea8a8f36de82e1278abb02f",
    ]
    .iter()
    .map(|v| modified(v))
    .collect();
    // Re-seen 10 days later each: the expired one is revived (re-indexed),
    // the live one moved 10 d < 15 d (patched in place), the hash never
    // re-indexes.
    let r = s
        .ingest(vec![
            at("198.51.100.1", 30 - 1),
            at("198.51.100.2", 10),
            at("44d88612fea8a8f36de82e1278abb02f", 30),
        ])
        .unwrap();
    assert_eq!(r.new, 0);
    assert!(modified("198.51.100.1") > m0[0]);
    assert_eq!(modified("198.51.100.2"), m0[1]);
    assert_eq!(modified("44d88612fea8a8f36de82e1278abb02f"), m0[2]);
    // Live all along, seen 16 d after its last sighting (≥ half a
    // lifetime): re-indexed.
    let m3 = modified("198.51.100.3");
    s.ingest(vec![at("198.51.100.3", 0)]).unwrap();
    assert!(modified("198.51.100.3") > m3);
    // Without lifetimes nothing re-indexes, not even a revival.
    s.set_lifetimes(crate::ioc::expiry::Lifetimes::never());
    let m4 = modified("198.51.100.4");
    s.ingest(vec![at("198.51.100.4", 0)]).unwrap();
    assert_eq!(modified("198.51.100.4"), m4);
}
