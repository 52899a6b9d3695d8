//! iocd: an on-prem threat-intelligence appliance.
//!
//! The domain (`ioc`, `store`) is separate from the ways in and out
//! (`import`, `export`, `http`, the CLI). Data flows one way: parse →
//! normalize → store → query → export (see docs/design.md in the repository).

pub mod apikeys;
pub mod articles;
pub mod certs;
pub mod cli;
pub mod config;
pub mod demo;
pub mod export;
pub mod feeds;
pub mod http;
pub mod import;
pub mod ioc;
pub mod ops;
pub mod store;
pub mod taxii;
