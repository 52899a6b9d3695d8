//! The STIX pattern builder (`iocd::export::mapping::stix_pattern`, STIX
//! 2.1 §9) against iocd's own pattern reader: for any value iocd accepts,
//! the pattern it exports parses back, through the STIX importer, to the
//! same type and value (quotes and backslashes escaped, §9.2).
#![no_main]

use iocd::export::mapping::stix_pattern;
use iocd::import::{parse_bytes, Format, ImportDefaults};
use iocd::ioc::{normalize, IocType};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let hint = IocType::ALL[selector as usize % IocType::ALL.len()];
    let Ok(n) = normalize(text, Some(hint)) else {
        return;
    };
    let Some(pattern) = stix_pattern(n.ioc_type, &n.value) else {
        return;
    };
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": "bundle--6f1b0000-0000-4000-8000-000000000001",
        "objects": [{
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--6f1b0000-0000-4000-8000-000000000002",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z"
        }]
    });
    let bytes = serde_json::to_vec(&bundle).unwrap();
    let p = parse_bytes(
        &bytes,
        "pattern.json",
        Format::Stix,
        &ImportDefaults::default(),
    )
    .unwrap_or_else(|e| panic!("the bundle of {pattern} is refused: {e}"));
    assert!(
        p.errors.is_empty(),
        "{pattern} does not parse back: {:?}",
        p.errors
    );
    let got: Vec<(IocType, &str)> = p
        .observations
        .iter()
        .map(|o| (o.ioc_type, o.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(n.ioc_type, n.value.as_str())],
        "{pattern} reads back differently"
    );
});
