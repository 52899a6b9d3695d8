//! Per-feed state and status, kept in `<data_dir>/feeds/state.json`.
//!
//! One small JSON file rather than sled keys: it must be readable while
//! the server holds the store's lock (`iocd feeds status` without the
//! control socket, an operator's `jq`), it is tiny (a few hundred bytes per
//! feed), and it is replaced whole and atomically
//! ([`crate::ops::files::write_atomic`]) after every run, so a crash leaves
//! the previous version. A missing or unreadable file means "never run":
//! the next run fetches everything again, which the store's merge rule
//! makes harmless (unchanged IOCs stay unchanged).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What makes the next run incremental. Updated only by a successful run,
/// so a failed import is fetched again in full next time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Cursor {
    /// `ETag` of the last imported download (sent as `If-None-Match`).
    pub etag: Option<String>,
    /// `Last-Modified` of it (sent as `If-Modified-Since`).
    pub last_modified: Option<String>,
    /// Local files: `<size>:<mtime ns>` of the last imported version.
    pub local_stamp: Option<String>,
    /// TAXII: the last `X-TAXII-Date-Added-Last` seen (next `added_after`).
    pub taxii_added_after: Option<String>,
    /// MISP feed: event uuid → manifest `timestamp` last imported.
    pub misp_events: BTreeMap<String, i64>,
}

/// Counts of one run (as `iocd import --json` reports them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Counts {
    /// Files (downloads, TAXII pages, MISP events) imported.
    pub files: u64,
    /// Bytes downloaded or read.
    pub bytes: u64,
    /// Observations parsed (STIX objects, rows, lines…).
    pub observations: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

/// Status of one feed, as `GET /api/v1/feeds` and `iocd feeds status`
/// show it. Times are RFC 3339 UTC.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FeedStatus {
    /// Start of the last run (success or not).
    pub last_run: Option<String>,
    /// Start of the last successful run (a "not modified" answer counts).
    pub last_success: Option<String>,
    /// Wall time of the last run, milliseconds.
    pub duration_ms: u64,
    /// `ok`, `not_modified` or `failed`; `never` before the first run.
    pub last_result: String,
    /// Counts of the last run.
    pub counts: Counts,
    /// Why the last run failed (`null` after a success).
    pub last_error: Option<String>,
    /// Failed runs in a row (drives the retry backoff).
    pub consecutive_failures: u32,
    /// Runs since the state file was created.
    pub runs: u64,
    /// When the scheduler runs it next (`null` when not scheduled).
    pub next_run: Option<String>,
    /// A run is in progress now.
    pub running: bool,
}

/// One feed's entry in the state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FeedState {
    pub cursor: Cursor,
    pub status: FeedStatus,
}

/// The whole state file: feed name → state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StateFile {
    pub feeds: BTreeMap<String, FeedState>,
}

/// `<data_dir>/feeds`: the state file and the per-feed staging directories.
pub fn feeds_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("feeds")
}

/// `<data_dir>/feeds/state.json`.
pub fn state_path(data_dir: &Path) -> PathBuf {
    feeds_dir(data_dir).join("state.json")
}

/// Largest state file read (a hostile manifest cannot grow it past this:
/// MISP event maps are capped per feed, see `misp_feed`).
const MAX_STATE_BYTES: u64 = 64 << 20;

impl StateFile {
    /// Reads the state file; a missing file is empty state. A corrupt one
    /// is logged and treated as empty (the next runs fetch in full).
    pub fn load(data_dir: &Path) -> StateFile {
        let p = state_path(data_dir);
        if !p.exists() {
            return StateFile::default();
        }
        let parsed = crate::ops::files::read_capped(&p, MAX_STATE_BYTES, "the feed state file")
            .and_then(|b| serde_json::from_slice(&b).context("invalid JSON"));
        match parsed {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(path = %p.display(), error = format!("{e:#}"), "feed state unreadable; feeds will fetch in full");
                StateFile::default()
            }
        }
    }

    /// Replaces the state file atomically (mode 0600).
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let dir = feeds_dir(data_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let json = serde_json::to_vec_pretty(self)?;
        crate::ops::files::write_atomic(&state_path(data_dir), 0o600, true, |f| {
            use std::io::Write;
            f.write_all(&json)?;
            Ok(())
        })
    }
}
