//! `iocd verify [--repair]`: checks the store's index invariants
//! ([`crate::store::verify`]). Online (server running) it asks the server
//! over the control socket and only reports; `--repair` needs the server
//! stopped.
//!
//! Exit status: 0 consistent (or repaired), 2 problems remain, 1 error.

use super::setup::{load_config, open_store, store_dir};
use crate::ops::control;
use anyhow::{bail, Result};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

/// Checks (and repairs) the store.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Repair what can be repaired (server stopped).
    #[arg(long)]
    pub repair: bool,
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

fn consistent(r: &Value) -> bool {
    r["problem_counts"].as_object().is_none_or(|m| m.is_empty())
}

fn print_text(r: &Value, where_: &str) {
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    println!(
        "{where_}: {} records in {} blocks, {} tombstones, {} API keys",
        n("records"),
        n("blocks"),
        n("tombstones"),
        n("api_keys")
    );
    if let Some(m) = r["counted"].as_object() {
        let by: Vec<String> = m
            .iter()
            .filter(|(_, v)| v.as_u64() != Some(0))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "  by type: {}",
            if by.is_empty() {
                "(empty)".into()
            } else {
                by.join(", ")
            }
        );
    }
    if consistent(r) {
        println!("consistent");
        return;
    }
    let total: u64 = r["problem_counts"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    println!("{total} problem(s):");
    if let Some(m) = r["problem_counts"].as_object() {
        for (k, v) in m {
            println!("  {k}: {v}");
        }
    }
    for p in r["problems"].as_array().into_iter().flatten() {
        println!(
            "  - {} {}: {}",
            p["kind"].as_str().unwrap_or(""),
            p["key"].as_str().unwrap_or(""),
            p["detail"].as_str().unwrap_or("")
        );
    }
}

/// Runs `iocd verify`.
pub fn run(args: &VerifyArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let dd = cfg.storage.data_dir.clone();
    let where_ = store_dir(&dd).display().to_string();
    let (report, after) = match control::request(&dd, "verify")? {
        Some(mut stream) => {
            if args.repair {
                bail!("iocd is serving {}; stop it to repair (systemctl stop iocd), or run without --repair to check", dd.display());
            }
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            (serde_json::from_str::<Value>(&text)?, None)
        }
        None => {
            if !store_dir(&dd).exists() {
                bail!(
                    "no store in {} (wrong --data-dir or --config?)",
                    dd.display()
                );
            }
            let store = open_store(&dd)?;
            let r = store.verify(args.repair)?;
            let after = if r.repaired {
                Some(serde_json::to_value(store.verify(false)?)?)
            } else {
                None
            };
            drop(store);
            if let Err(e) = crate::ops::match_owner(&store_dir(&dd), &dd) {
                eprintln!("warning: could not restore the owner of {where_}: {e}");
            }
            (serde_json::to_value(&r)?, after)
        }
    };
    if args.json {
        let mut v = report.clone();
        if let Some(a) = &after {
            v["after_repair"] = a.clone();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_text(&report, &where_);
        if let Some(a) = &after {
            println!("after repair:");
            print_text(a, &where_);
        } else if !consistent(&report) {
            println!("run `iocd verify --repair` with the server stopped to fix what can be fixed");
        }
    }
    let ok = after
        .as_ref()
        .map_or_else(|| consistent(&report), consistent);
    Ok(if ok { 0 } else { 2 })
}
