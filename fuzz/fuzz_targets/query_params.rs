//! Query-string parsing (`iocd::http::params`) and cursors
//! (`iocd::store::Cursor`, the `cursor` parameter and TAXII `next`) on
//! arbitrary text. Beyond "no panic": every refusal is a client error
//! (4xx, never 5xx) with a message, and a cursor that decodes encodes back
//! to a cursor that decodes to itself.
#![no_main]

use iocd::http::error::ApiError;
use iocd::http::params::Params;
use iocd::store::Cursor;

fn client_error<T>(r: Result<T, ApiError>) {
    if let Err(e) = r {
        assert!(
            e.status.is_client_error(),
            "{} for a bad parameter",
            e.status
        );
        assert!(!e.message.is_empty());
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let p = Params::parse(Some(query));
    let names: Vec<String> = p.pairs().iter().map(|(k, _)| k.clone()).collect();
    for name in names
        .iter()
        .map(String::as_str)
        .chain(["limit", "since", "type", "cursor"])
    {
        let _ = p.get(name);
        let _ = p.text(name);
        client_error(p.ioc_type(name, None));
        client_error(p.ioc_type(name, Some(&iocd::ioc::IocType::ALL[..4])));
        client_error(p.time(name));
        client_error(p.limit(name, 100, 10_000));
        if let Ok(n) = p.limit(name, 100, 10_000) {
            assert!((1..=10_000).contains(&n), "limit {n} out of range");
        }
        client_error(p.boolean(name, false));
        client_error(p.int_in(name, 0, 100));
        client_error(p.tlp(name));
        client_error(p.choice(name, &["json", "csv"], "json"));
        if let Some(v) = p.get(name) {
            if let Some(c) = Cursor::decode(v) {
                let again = Cursor::decode(&c.encode()).expect("an encoded cursor decodes");
                assert_eq!(again.encode(), c.encode());
            }
        }
    }
    if let Some(c) = Cursor::decode(query) {
        assert_eq!(
            Cursor::decode(&c.encode()).map(|c| c.encode()),
            Some(c.encode())
        );
    }
});
