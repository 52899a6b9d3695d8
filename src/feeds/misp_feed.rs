//! MISP feeds: a directory (local, or served over HTTP(S)) holding
//! `manifest.json` and one `<uuid>.json` event file per event, the layout
//! MISP's "feed" export and `misp-feed` tooling write.
//!
//! The manifest maps each event uuid to its metadata, among them
//! `timestamp` (the event's last change, Unix seconds, string or number).
//! A run fetches only events whose uuid is new or whose timestamp differs
//! from what the last successful run imported, so a feed of thousands of
//! events costs one manifest download when nothing changed (and nothing at
//! all when the manifest itself answers 304). Events that left the
//! manifest are forgotten, not deleted: iocd keeps what a feed once said
//! until it expires or is deleted by an analyst.
//!
//! Manifest keys are untrusted: only uuid-shaped keys are used, so a key
//! cannot name a path outside the feed (`../../etc/passwd`).

use super::config::FeedConfig;
use super::fetch::{FeedClient, Fetched};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Events tracked per feed at most (the state file stays small).
pub const MAX_EVENTS: usize = 200_000;

/// What a run found.
pub struct Listed {
    /// Event files to import (staged downloads, or the local files).
    pub files: Vec<PathBuf>,
    /// The manifest's uuid → timestamp after this run (saved on success).
    pub events: BTreeMap<String, i64>,
    /// Bytes downloaded or read.
    pub bytes: u64,
    /// `ETag` / `Last-Modified` of the manifest.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The manifest answered 304.
    pub not_modified: bool,
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

/// Parses a manifest: uuid → timestamp (0 when it states none).
pub fn parse_manifest(bytes: &[u8]) -> Result<BTreeMap<String, i64>> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| anyhow::anyhow!("manifest.json is not valid JSON ({e})"))?;
    let Some(m) = v.as_object() else {
        bail!("manifest.json is not a JSON object of event uuid → metadata");
    };
    let mut out = BTreeMap::new();
    for (k, meta) in m {
        if !is_uuid(k) {
            continue;
        }
        let ts = match meta.get("timestamp") {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        };
        out.insert(k.to_ascii_lowercase(), ts);
        if out.len() > MAX_EVENTS {
            bail!("manifest.json lists more than {MAX_EVENTS} events");
        }
    }
    Ok(out)
}

/// The uuids in `now` that are new or changed against `before`.
pub fn changed(now: &BTreeMap<String, i64>, before: &BTreeMap<String, i64>) -> Vec<String> {
    now.iter()
        .filter(|(k, ts)| before.get(*k) != Some(ts))
        .map(|(k, _)| k.clone())
        .collect()
}

/// A local MISP feed directory.
pub fn list_local(dir: &Path, before: &BTreeMap<String, i64>, max_bytes: u64) -> Result<Listed> {
    let m = dir.join("manifest.json");
    let bytes = crate::ops::files::read_capped(&m, max_bytes, "manifest.json")?;
    let events = parse_manifest(&bytes)?;
    let mut total = bytes.len() as u64;
    let mut files = Vec::new();
    for id in changed(&events, before) {
        let p = dir.join(format!("{id}.json"));
        match std::fs::metadata(&p) {
            Ok(md) if md.is_file() => {
                total += md.len();
                if total > max_bytes {
                    bail!(
                        "the changed events pass the feed's size cap (max_bytes) at {}",
                        p.display()
                    );
                }
                files.push(p);
            }
            _ => bail!(
                "manifest.json lists event {id} but {} is missing",
                p.display()
            ),
        }
    }
    Ok(Listed {
        files,
        events,
        bytes: total,
        etag: None,
        last_modified: None,
        not_modified: false,
    })
}

/// A MISP feed over HTTP(S): `<url>/manifest.json`, then `<url>/<uuid>.json`
/// for each changed event, staged in `dir`.
#[allow(clippy::too_many_arguments)]
pub fn list_remote(
    f: &FeedConfig,
    client: &FeedClient,
    etag: Option<&str>,
    last_modified: Option<&str>,
    before: &BTreeMap<String, i64>,
    dir: &Path,
    budget: &mut u64,
) -> Result<Listed> {
    let base = if f.url.ends_with('/') {
        f.url.clone()
    } else {
        format!("{}/", f.url)
    };
    let start = *budget;
    let mpath = dir.join("manifest.json");
    let (etag, last_modified) = match client.get(
        &format!("{base}manifest.json"),
        etag,
        last_modified,
        None,
        &mpath,
        budget,
    )? {
        Fetched::NotModified => {
            return Ok(Listed {
                files: Vec::new(),
                events: before.clone(),
                bytes: 0,
                etag: etag.map(str::to_string),
                last_modified: last_modified.map(str::to_string),
                not_modified: true,
            })
        }
        Fetched::Body {
            etag,
            last_modified,
            ..
        } => (etag, last_modified),
    };
    let bytes = std::fs::read(&mpath).with_context(|| format!("reading {}", mpath.display()))?;
    let _ = std::fs::remove_file(&mpath);
    let events = parse_manifest(&bytes)?;
    let mut files = Vec::new();
    for id in changed(&events, before) {
        let p = dir.join(format!("{id}.json"));
        match client.get(&format!("{base}{id}.json"), None, None, None, &p, budget)? {
            Fetched::Body { .. } => files.push(p),
            Fetched::NotModified => bail!("event {id}: 304 to an unconditional request"),
        }
    }
    Ok(Listed {
        files,
        events,
        bytes: start - *budget,
        etag,
        last_modified,
        not_modified: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_keys_must_be_uuids() {
        let m = br#"{"5f0c1e2a-1111-4222-8333-444455556666":{"timestamp":"1700000000"},
                     "../../etc/passwd":{"timestamp":"1"},
                     "6f0c1e2a-1111-4222-8333-444455556666":{"timestamp":1700000001}}"#;
        let e = parse_manifest(m).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e["5f0c1e2a-1111-4222-8333-444455556666"], 1_700_000_000);
        let mut before = e.clone();
        before.insert("6f0c1e2a-1111-4222-8333-444455556666".into(), 5);
        assert_eq!(
            changed(&e, &before),
            vec!["6f0c1e2a-1111-4222-8333-444455556666"]
        );
        assert!(parse_manifest(b"[1]").is_err());
    }
}
