//! `iocd feeds status|run NAME`: the scheduled feeds ([`crate::feeds`]).
//!
//! With a server running, both go through its control socket
//! (`feeds-status`, `feeds-run NAME`), so a manual run takes the same
//! per-feed lock and run slots as the scheduler and the server's state is
//! the one shown. Without a server, `status` reads the config and
//! `<data_dir>/feeds/state.json`, and `run` opens the store and runs the
//! feed once in this process.
//!
//! Exit code: 0; 1 when `run` failed (its `last_error` is printed) or on
//! any error.

use super::setup::{load_config, open_store_with_cache};
use crate::feeds::status::{FeedStatus, StateFile};
use crate::feeds::{status_view, Runner};
use crate::ops::control;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// Show or run the scheduled feeds (`[[feeds]]`).
#[derive(clap::Args, Debug)]
pub struct FeedsArgs {
    #[command(subcommand)]
    pub cmd: FeedsCmd,
    /// Config file (the feeds and the data directory).
    #[arg(long, short, env = "IOCD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, env = "IOCD_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `iocd feeds` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum FeedsCmd {
    /// Each feed's last run, last success, counts, last error and next run.
    Status,
    /// Run one feed now (also a disabled one) and print its status.
    Run {
        /// The feed's `name` in the config.
        name: String,
    },
}

/// Runs `iocd feeds`.
pub fn run(args: &FeedsArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let dd = &cfg.storage.data_dir;
    match &args.cmd {
        FeedsCmd::Status => {
            let v = match control::request(dd, "feeds-status")? {
                Some(mut r) => {
                    let mut s = String::new();
                    r.read_to_string(&mut s)?;
                    serde_json::from_str(&s).context("the server's answer is not JSON")?
                }
                None => status_view(&cfg.feeds, &StateFile::load(dd)),
            };
            if args.json {
                println!("{v}");
            } else {
                print_table(&v);
            }
            Ok(0)
        }
        FeedsCmd::Run { name } => {
            let st: FeedStatus = match control::request(dd, &format!("feeds-run {name}"))? {
                Some(mut r) => {
                    let mut s = String::new();
                    r.read_to_string(&mut s)?;
                    serde_json::from_str(&s).context("the server's answer is not JSON")?
                }
                None => {
                    let Some(f) = cfg.feeds.iter().find(|f| &f.name == name) else {
                        bail!(
                            "no feed named '{name}' in the config (feeds: {})",
                            cfg.feeds
                                .iter()
                                .map(|f| f.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    };
                    let store = Arc::new(open_store_with_cache(
                        dd,
                        cfg.storage.import_cache_mib << 20,
                    )?);
                    store.set_lifetimes(cfg.expiry.lifetimes());
                    let st = Runner::new(store.clone(), dd).run(f);
                    store.flush()?;
                    st
                }
            };
            if args.json {
                println!("{}", serde_json::to_string(&st)?);
            } else {
                print_run(name, &st);
            }
            Ok(if st.last_result == "failed" { 1 } else { 0 })
        }
    }
}

fn print_run(name: &str, st: &FeedStatus) {
    let c = &st.counts;
    match st.last_result.as_str() {
        "failed" => eprintln!(
            "feed {name}: FAILED after {} ms: {}",
            st.duration_ms,
            st.last_error.as_deref().unwrap_or("(no message)")
        ),
        "not_modified" => eprintln!("feed {name}: not modified since the last run; nothing imported ({} ms)", st.duration_ms),
        _ => eprintln!(
            "feed {name}: ok in {} ms: {} file(s), {} bytes, {} IOCs read: {} new, {} updated, {} unchanged, {} rejected",
            st.duration_ms, c.files, c.bytes, c.observations, c.new, c.updated, c.unchanged, c.rejected
        ),
    }
}

fn print_table(v: &Value) {
    let feeds = v["data"].as_array().cloned().unwrap_or_default();
    if feeds.is_empty() {
        println!("no feeds configured ([[feeds]] in the config)");
        return;
    }
    let s = |x: &Value| x.as_str().unwrap_or("-").to_string();
    for f in feeds {
        let st = &f["status"];
        let c = &st["counts"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        println!(
            "{} ({}, {}, every {}{})",
            s(&f["name"]),
            s(&f["format"]),
            s(&f["url"]),
            s(&f["interval"]),
            if f["enabled"].as_bool() == Some(false) {
                ", disabled"
            } else {
                ""
            }
        );
        println!(
            "  last run {} ({}, {} ms{}), last success {}, next run {}",
            s(&st["last_run"]),
            s(&st["last_result"]),
            st["duration_ms"].as_u64().unwrap_or(0),
            if st["running"].as_bool() == Some(true) {
                ", running now"
            } else {
                ""
            },
            s(&st["last_success"]),
            s(&st["next_run"]),
        );
        println!(
            "  last counts: {} new, {} updated, {} unchanged, {} rejected ({} IOCs read, {} file(s), {} bytes)",
            n("new"), n("updated"), n("unchanged"), n("rejected"), n("observations"), n("files"), n("bytes")
        );
        if let Some(e) = st["last_error"].as_str() {
            println!(
                "  last error ({} failure(s) in a row): {e}",
                st["consecutive_failures"].as_u64().unwrap_or(0)
            );
        }
    }
}
