//! The Auto importer (`iocd import --format auto`, the inbox and the feeds
//! use the same parser) on arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::import(data, "upload", iocd::import::Format::Auto);
});
