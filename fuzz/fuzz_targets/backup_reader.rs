//! The backup reader (`iocd::store::backup::{inspect, restore}`, what
//! `iocd backup` checks and `iocd restore` loads) on arbitrary streams.
//! Beyond "no panic": `restore` succeeds exactly when `inspect` does (a
//! damaged or altered stream is refused, never taken in part), and then
//! both count the same entries.
#![no_main]

use iocd::store::backup::{inspect, restore};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let checked = inspect(&mut &data[..], None);
    let dir = tempfile::tempdir().unwrap();
    let loaded = restore(&dir.path().join("store"), &mut &data[..], None);
    match (&checked, &loaded) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (a.iocs_entries, a.records, a.keys),
                (b.iocs_entries, b.records, b.keys)
            );
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "inspect and restore disagree: {:?} vs {:?}",
            checked.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            loaded.as_ref().map(|_| ()).map_err(|e| e.to_string())
        ),
    }
});
