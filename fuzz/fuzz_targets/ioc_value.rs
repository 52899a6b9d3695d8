//! IOC detection, normalization and refanging (`iocd::ioc`), and free-text
//! extraction (`iocd::ioc::extract`), on arbitrary text. Beyond "no
//! panic": a normalized value is a fixed point (normalizing it again with
//! its type gives it back), refanging is idempotent, and every extracted
//! IOC is canonical.
#![no_main]

use iocd::ioc::extract::{extract, ExtractOptions};
use iocd::ioc::{detect, normalize, refang, IocType};

#[path = "../common/mod.rs"]
mod common;

fn fixed_point(n: &iocd::ioc::Normalized) {
    let again = normalize(&n.value, Some(n.ioc_type)).unwrap_or_else(|e| {
        panic!(
            "{:?} ({}) does not normalize again: {e}",
            n.value,
            n.ioc_type.as_str()
        )
    });
    assert_eq!(again, *n, "normalizing is not idempotent");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let once = refang(text);
    assert_eq!(refang(&once), once, "refanging is not idempotent");
    if let Ok(n) = detect(text) {
        fixed_point(&n);
    }
    if let Ok(n) = normalize(text, None) {
        fixed_point(&n);
    }
    let hint = IocType::ALL[selector as usize % IocType::ALL.len()];
    if let Ok(n) = normalize(text, Some(hint)) {
        fixed_point(&n);
    }
    let opts = ExtractOptions {
        publisher_domains: vec!["example.org".into()],
        allow_list: Vec::new(),
    };
    for x in extract(text, &opts) {
        fixed_point(&x.ioc);
        assert!(x.offset <= text.len(), "offset beyond the text");
    }
});
