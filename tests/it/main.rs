//! The integration suite: one test binary (the library is linked once, not
//! once per file), one module per area. Run one area with
//! `cargo test --release --test it -- NAME::` (e.g. `inbox::`).

mod common;

mod api;
mod api_fuzz;
mod articles;
mod auth_limits;
mod crash_safety;
mod expiry;
mod export_cli;
mod export_formats;
mod export_http;
mod extract_quality;
mod feeds;
mod fidelity;
mod first_hour;
mod import_bad;
mod import_formats;
mod import_real;
mod inbox;
mod live_cli;
mod lookup_bulk;
mod merge;
mod ops;
mod rules_ids;
mod security_conn;
mod security_files;
mod security_lookback;
mod security_quotas;
mod taxii;
mod taxii_polling;
mod timeline;
