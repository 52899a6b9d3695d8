//! The OpenIoc importer (`iocd import --format openioc`, the inbox and the feeds
//! use the same parser) on arbitrary bytes.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::import(data, "iocs.ioc", iocd::import::Format::OpenIoc);
});
