//! `iocd purge --source NAME`: removes every IOC that source alone
//! reported ([`crate::store::purge`]), e.g. the demo data of an evaluation
//! install (`iocd purge --source iocd-demo`). No tombstones are left, so
//! another source may report the same values later. With the server
//! running it goes through the control socket (`purge-source NAME`).
//!
//! Exit status: 0 done (also when nothing matched), 1 error.

use super::setup::{load_config, open_store};
use crate::ops::control;
use anyhow::{bail, Result};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

/// Removes the IOCs of one source.
#[derive(clap::Args, Debug)]
pub struct PurgeArgs {
    /// The source whose IOCs go (case-insensitive); IOCs other sources
    /// reported too are kept.
    #[arg(long, value_name = "NAME")]
    pub source: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Config file (for the data directory).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs `iocd purge`.
pub fn run(args: &PurgeArgs) -> Result<i32> {
    let source = args.source.trim();
    if source.is_empty() || source.contains(['\n', '\r']) {
        bail!("--source needs a source name (see `iocd stats` for the sources stored)");
    }
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let dd = cfg.storage.data_dir.clone();
    let report: Value = match control::request(&dd, &format!("purge-source {source}"))? {
        Some(mut stream) => {
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            serde_json::from_str(&text)?
        }
        None => serde_json::to_value(open_store(&dd)?.purge_source(source)?)?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(0);
    }
    let removed = report["removed"].as_object().cloned().unwrap_or_default();
    let total: u64 = removed.values().filter_map(Value::as_u64).sum();
    println!("purged source '{source}': {total} IOCs removed");
    for (ty, n) in &removed {
        println!("  {ty:<12} {n:>10}");
    }
    let shared = report["kept_shared"].as_u64().unwrap_or(0);
    if shared > 0 {
        println!("{shared} IOCs also reported by other sources were kept");
    }
    if total == 0 && shared == 0 {
        println!("no IOC has the source '{source}' (sources are listed by `iocd stats`)");
    }
    Ok(0)
}
