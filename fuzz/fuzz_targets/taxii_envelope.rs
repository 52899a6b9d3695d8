//! The TAXII 2.1 envelope reader of `POST .../objects/` (§5.4,
//! `iocd::taxii::status::process`) on arbitrary bodies, against a real
//! store. Beyond "no panic": a refusal is a 4xx, and an accepted
//! envelope's status resource accounts for every object (total = success
//! + failure, pending 0).
#![no_main]

use iocd::http::auth::Principal;
use iocd::store::Store;
use std::sync::OnceLock;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    who: Principal,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let who = Principal {
            key_id: "fuzz".into(),
            name: "fuzz".into(),
            tier: "pro".into(),
            scopes: vec!["write:taxii".into()],
            limits: iocd::config::default_tiers()["pro"].clone(),
            source_name: None,
        };
        Fixture {
            _dir: dir,
            store,
            who,
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = fixture();
    match iocd::taxii::status::process(&f.store, data, uuid_of(data), &f.who) {
        Err(e) => assert!(e.status.is_client_error(), "{}: {}", e.status, e.message),
        Ok(body) => {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("status is JSON");
            let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
            assert_eq!(v["status"], "complete");
            assert_eq!(
                n("total_count"),
                n("success_count") + n("failure_count"),
                "{v}"
            );
            assert_eq!(n("pending_count"), 0);
        }
    }
});

/// A status id from the input (the store does not care; it keeps runs
/// reproducible).
fn uuid_of(data: &[u8]) -> uuid::Uuid {
    let mut b = [0u8; 16];
    for (i, x) in data.iter().enumerate() {
        b[i % 16] ^= x;
    }
    uuid::Uuid::from_bytes(b)
}
