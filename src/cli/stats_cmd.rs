//! `iocd stats`: what the store holds — counts by type and by source,
//! tombstones, time range and size on disk.
//!
//! Counts by type come from the store's counters (cheap); counts by source
//! scan every record, which takes about a second per million IOCs; so do
//! the expired counts (only the types with a lifetime in `[expiry]`).
//!
//! While `iocd serve` runs, the server gathers and renders them
//! ([`crate::cli::live`]); the output is the same either way.

use super::setup::{load_config, open_store};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Show what the store holds.
#[derive(clap::Args, Debug, Clone)]
pub struct StatsArgs {
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Config file (for the data directory).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config; default ./iocd-data).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub total: u64,
    pub tombstones: u64,
    /// Every type, zeros included, keyed by API type name.
    pub by_type: BTreeMap<String, u64>,
    /// IOCs per source name (an IOC with two sources counts for both).
    pub by_source: BTreeMap<String, u64>,
    /// Oldest and newest `modified` time (RFC 3339), if any IOC is stored.
    pub oldest: Option<String>,
    pub newest: Option<String>,
    pub size_on_disk: u64,
    /// IOCs expired now per type that has a lifetime (`[expiry]`): kept
    /// and counted in `by_type`, but left out of listings and exports.
    /// Filled by `iocd stats`; absent when not computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_by_type: Option<BTreeMap<String, u64>>,
}

/// How many IOCs of each type with a lifetime are expired at `now` (one
/// scan of those types).
pub fn expired_counts(
    store: &Store,
    lifetimes: &crate::ioc::expiry::Lifetimes,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for t in crate::ioc::IocType::ALL {
        if lifetimes.days(t) == 0 {
            continue;
        }
        let q = crate::store::Query {
            ioc_type: Some(t),
            ..Default::default()
        };
        let mut n = 0u64;
        for i in store.scan(&q) {
            n += u64::from(lifetimes.is_expired(&i?, now));
        }
        out.insert(t.as_str().to_string(), n);
    }
    Ok(out)
}

/// Gathers the statistics of `store`.
pub fn stats(store: &Store) -> Result<Stats> {
    let range = store.time_range()?;
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(Stats {
        total: store.total()?,
        tombstones: store.tombstone_count() as u64,
        by_type: store
            .counts()?
            .into_iter()
            .map(|(t, n)| (t.as_str().to_string(), n))
            .collect(),
        by_source: store.source_counts()?,
        oldest: range.map(|r| fmt(r.0)),
        newest: range.map(|r| fmt(r.1)),
        size_on_disk: store.size_on_disk(),
        expired_by_type: None,
    })
}

/// Runs `iocd stats` (through the running server if there is one); exit
/// code 0.
pub fn run(args: &StatsArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let req = super::live::Request::Stats { json: args.json };
    if let Some(code) = super::live::run_remote(&cfg.storage.data_dir, &req)? {
        return Ok(code);
    }
    let store = open_store(&cfg.storage.data_dir)?;
    let s = gather(&store, &cfg)?;
    let stdout = std::io::stdout();
    render(&s, args.json, &mut stdout.lock())?;
    Ok(0)
}

/// [`stats`] plus the expired counts under `cfg`'s `[expiry]` lifetimes,
/// now: what `iocd stats` shows, offline or from the running server.
pub fn gather(store: &Store, cfg: &crate::config::Config) -> Result<Stats> {
    let mut s = stats(store)?;
    s.expired_by_type = Some(expired_counts(
        store,
        &cfg.expiry.lifetimes(),
        chrono::Utc::now(),
    )?);
    Ok(s)
}

/// Writes `s` as `iocd stats` prints it: one JSON line (`json`) or the
/// table.
pub fn render(s: &Stats, json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(s)?)?;
        return Ok(());
    }
    writeln!(out, "IOCs: {} (tombstones: {})", s.total, s.tombstones)?;
    writeln!(out, "by type:")?;
    for (t, n) in &s.by_type {
        writeln!(out, "  {t:<14}{n:>10}")?;
    }
    if let Some(expired) = s.expired_by_type.as_ref().filter(|e| !e.is_empty()) {
        writeln!(out, "expired (kept, not listed or exported):")?;
        for (t, n) in expired {
            writeln!(out, "  {t:<14}{n:>10}")?;
        }
    }
    writeln!(out, "by source:")?;
    let mut sources: Vec<_> = s.by_source.iter().collect();
    sources.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (name, n) in sources {
        writeln!(out, "  {name:<30}{n:>10}")?;
    }
    if let (Some(a), Some(b)) = (&s.oldest, &s.newest) {
        writeln!(out, "modified: {a} .. {b}")?;
    }
    writeln!(
        out,
        "size on disk: {:.1} MiB",
        s.size_on_disk as f64 / (1024.0 * 1024.0)
    )?;
    out.flush()
}
