//! The Stix importer (`iocd import --format stix`, the inbox and the feeds
//! use the same parser) on arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::import(data, "bundle.json", iocd::import::Format::Stix);
});
