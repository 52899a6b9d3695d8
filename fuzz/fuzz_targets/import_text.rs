//! The Text importer (`iocd import --format text`, the inbox and the feeds
//! use the same parser) on arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::import(data, "list.txt", iocd::import::Format::Text);
});
