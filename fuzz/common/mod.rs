//! What every fuzz target checks beyond "no panic": the invariants that
//! keep the store consistent whatever the input.

#![allow(dead_code)]

use iocd::import::{parse_bytes, Format, ImportDefaults};
use iocd::ioc::{normalize, Observation};

/// A stored value is canonical: normalizing it again (with its own type as
/// the hint) gives it back unchanged. Otherwise one IOC could be stored
/// under two ids.
pub fn assert_canonical(o: &Observation) {
    match normalize(&o.value, Some(o.ioc_type)) {
        Ok(n) => {
            assert_eq!(
                n.ioc_type, o.ioc_type,
                "type changed on re-normalizing {:?}",
                o.value
            );
            assert_eq!(n.value, o.value, "value changed on re-normalizing");
        }
        Err(e) => panic!(
            "an imported {} {:?} does not normalize: {e}",
            o.ioc_type.as_str(),
            o.value
        ),
    }
    if let Some(c) = o.confidence {
        assert!(c <= 100, "confidence {c} out of 0..=100");
    }
}

/// Parses `data` as a file named `name` in `format`: never a panic, and
/// every observation it yields is canonical.
pub fn import(data: &[u8], name: &str, format: Format) {
    let defaults = ImportDefaults {
        source: Some("fuzz".into()),
        ..Default::default()
    };
    if let Ok(p) = parse_bytes(data, name, format, &defaults) {
        assert_ne!(
            p.format,
            Format::Auto,
            "the format actually used is never auto"
        );
        p.observations.iter().for_each(assert_canonical);
    }
}
