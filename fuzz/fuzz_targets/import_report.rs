//! The Report importer (`iocd import --format report`, the inbox and the feeds
//! use the same parser) on arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::import(data, "report.md", iocd::import::Format::Report);
});
