//! One run of one feed: fetch what changed, stage it, import it through
//! the normal import path ([`crate::cli::import_cmd::import`]), and say
//! what happened.
//!
//! Downloads are staged as files in `<data_dir>/feeds/<name>/` (emptied
//! before and removed after every run, so a crash leaves no more than one
//! run's bytes) rather than parsed from memory: the importers and their
//! limits, format detection and per-file reports are those of
//! `iocd import`, and the byte cap bounds disk use while streaming.
//!
//! A run fails — and leaves the feed's cursor where it was, so the next
//! run fetches the same data again — when the fetch fails, when a
//! downloaded file cannot be read at all (invalid JSON, not OpenIOC…), or
//! when a line format yields not one IOC from a non-empty download (a
//! login page served instead of the list). Observations that did import
//! before such a failure stay: ingest is atomic per batch and the merge
//! rule makes the retry harmless.

use super::config::{FeedConfig, FeedFormat};
use super::fetch::{FeedClient, Fetched};
use super::status::{feeds_dir, Counts, Cursor};
use super::{misp_feed, taxii};
use crate::cli::import_cmd::{import, ImportArgs, Summary};
use crate::import::FeedDefaults;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// A successful run.
pub struct Ran {
    pub counts: Counts,
    /// The cursor to save.
    pub cursor: Cursor,
    /// Nothing had changed (304, same local file, unchanged manifest, no
    /// new TAXII objects).
    pub not_modified: bool,
}

/// A failed run: the error, and the counts of what was imported before it.
pub struct Failed {
    pub error: String,
    pub counts: Counts,
    /// A cursor to save even so (MISP feeds: the events that imported).
    /// Boxed: it is rare, and keeps the error variant small.
    pub cursor: Option<Box<Cursor>>,
}

/// The staging directory of a feed, emptied.
fn staging(data_dir: &Path, name: &str) -> Result<PathBuf> {
    let d = feeds_dir(data_dir).join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d).with_context(|| format!("emptying {}", d.display()))?;
    }
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// `<size>:<mtime ns>` of a file, or of a directory's files summed (names,
/// sizes and times of every entry, so any change shows).
fn local_stamp(p: &Path) -> Result<(String, u64)> {
    use std::hash::{Hash, Hasher};
    let md = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    let mtime = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos())
    };
    if md.is_file() {
        return Ok((format!("{}:{}", md.len(), mtime(&md)), md.len()));
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut total = 0u64;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .with_context(|| format!("cannot list {}", d.display()))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            e.file_name().hash(&mut h);
            m.len().hash(&mut h);
            mtime(&m).hash(&mut h);
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    Ok((format!("dir:{total}:{:016x}", h.finish()), total))
}

/// Runs feed `f` once against `store`, from `cursor`.
pub fn run_once(
    f: &FeedConfig,
    store: &Store,
    data_dir: &Path,
    cursor: &Cursor,
) -> Result<Ran, Failed> {
    let fail = |e: anyhow::Error| Failed {
        error: format!("{e:#}"),
        counts: Counts::default(),
        cursor: None,
    };
    let stage = staging(data_dir, &f.name).map_err(fail)?;
    let r = fetch_and_import(f, store, data_dir, cursor, &stage);
    let _ = std::fs::remove_dir_all(&stage);
    r
}

fn fetch_and_import(
    f: &FeedConfig,
    store: &Store,
    _data_dir: &Path,
    cursor: &Cursor,
    stage: &Path,
) -> Result<Ran, Failed> {
    let fail = |e: anyhow::Error| Failed {
        error: format!("{e:#}"),
        counts: Counts::default(),
        cursor: None,
    };
    let mut next = cursor.clone();
    let mut budget = f.max_bytes;
    let bytes;
    // (files, uuid per file for MISP feeds)
    let mut misp_ids: Vec<(PathBuf, String)> = Vec::new();
    let files: Vec<PathBuf> = if !f.is_remote() {
        let p = f.local_path();
        if f.format == FeedFormat::MispFeed {
            let l = misp_feed::list_local(&p, &cursor.misp_events, f.max_bytes).map_err(fail)?;
            bytes = l.bytes;
            for file in &l.files {
                if let Some(id) = file.file_stem() {
                    misp_ids.push((file.clone(), id.to_string_lossy().into_owned()));
                }
            }
            next.misp_events = l.events;
            l.files
        } else {
            let (stamp, size) = local_stamp(&p).map_err(fail)?;
            if size > f.max_bytes {
                return Err(fail(anyhow!(
                    "{} is {size} bytes, over the feed's size cap (max_bytes = {})",
                    p.display(),
                    f.max_bytes
                )));
            }
            if cursor.local_stamp.as_deref() == Some(stamp.as_str()) {
                return Ok(Ran {
                    counts: Counts::default(),
                    cursor: next,
                    not_modified: true,
                });
            }
            bytes = size;
            next.local_stamp = Some(stamp);
            vec![p]
        }
    } else {
        let client = FeedClient::new(f).map_err(fail)?;
        match f.format {
            FeedFormat::Taxii => {
                let polled = taxii::poll(
                    f,
                    &client,
                    cursor.taxii_added_after.as_deref(),
                    stage,
                    &mut budget,
                )
                .map_err(fail)?;
                bytes = polled.bytes;
                next.taxii_added_after = polled.added_after;
                polled.files
            }
            FeedFormat::MispFeed => {
                let l = misp_feed::list_remote(
                    f,
                    &client,
                    cursor.etag.as_deref(),
                    cursor.last_modified.as_deref(),
                    &cursor.misp_events,
                    stage,
                    &mut budget,
                )
                .map_err(fail)?;
                bytes = l.bytes;
                next.etag = l.etag;
                next.last_modified = l.last_modified;
                for file in &l.files {
                    if let Some(id) = file.file_stem() {
                        misp_ids.push((file.clone(), id.to_string_lossy().into_owned()));
                    }
                }
                next.misp_events = l.events;
                l.files
            }
            _ => {
                let dest = stage.join(format!("download.{}", extension(f.format)));
                match client
                    .get(
                        &f.url,
                        cursor.etag.as_deref(),
                        cursor.last_modified.as_deref(),
                        None,
                        &dest,
                        &mut budget,
                    )
                    .map_err(fail)?
                {
                    Fetched::NotModified => {
                        return Ok(Ran {
                            counts: Counts::default(),
                            cursor: next,
                            not_modified: true,
                        })
                    }
                    Fetched::Body {
                        etag,
                        last_modified,
                        bytes: n,
                        ..
                    } => {
                        bytes = n;
                        next.etag = etag;
                        next.last_modified = last_modified;
                        vec![dest]
                    }
                }
            }
        }
    };
    if files.is_empty() {
        return Ok(Ran {
            counts: Counts {
                bytes,
                ..Counts::default()
            },
            cursor: next,
            not_modified: true,
        });
    }
    let args = ImportArgs {
        format: f.format.import_format(),
        confidence: f.confidence,
        tags: f.tags.clone(),
        columns: f.columns.clone(),
        feed: Some(FeedDefaults {
            source: f.name.clone(),
            reference: f.display_url(),
            tlp: f.tlp(),
        }),
        ..ImportArgs::for_paths(files)
    };
    let summary = import(store, &args).map_err(|e| fail(e.context("importing into the store")))?;
    let counts = Counts {
        files: summary.files_read,
        bytes,
        observations: summary.observations,
        new: summary.new,
        updated: summary.updated,
        unchanged: summary.unchanged,
        rejected: summary.rejected,
    };
    match problem(f, &summary) {
        None => Ok(Ran {
            counts,
            cursor: next,
            not_modified: false,
        }),
        Some(error) => {
            // MISP feeds: the events that did import are not fetched again.
            let cursor = (!misp_ids.is_empty()).then(|| {
                let mut c = cursor.clone();
                let failed: std::collections::BTreeSet<&str> = summary
                    .files
                    .iter()
                    .filter(|r| r.failed.is_some())
                    .map(|r| r.path.as_str())
                    .collect();
                for (path, id) in &misp_ids {
                    if !failed.contains(path.display().to_string().as_str()) {
                        if let Some(ts) = next.misp_events.get(id) {
                            c.misp_events.insert(id.clone(), *ts);
                        }
                    }
                }
                Box::new(c)
            });
            Err(Failed {
                error,
                counts,
                cursor,
            })
        }
    }
}

/// Why an import that ran counts as a failed feed run, if it does.
fn problem(f: &FeedConfig, s: &Summary) -> Option<String> {
    let failed: Vec<String> = s
        .files
        .iter()
        .filter_map(|r| {
            r.failed.as_ref().map(|why| {
                let name = Path::new(&r.path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{name}: {why}")
            })
        })
        .collect();
    if !failed.is_empty() {
        let n = failed.len();
        let shown: Vec<&str> = failed.iter().take(3).map(String::as_str).collect();
        return Some(format!(
            "{n} of {} downloaded file(s) could not be read as {}: {}",
            s.files.len(),
            f.format.as_str(),
            shown.join("; ")
        ));
    }
    if s.observations == 0 && s.rejected > 0 {
        let first = s
            .files
            .iter()
            .flat_map(|r| r.errors.first())
            .next()
            .map(String::as_str)
            .unwrap_or("");
        return Some(format!(
            "no IOC in the download: all {} item(s) rejected (not {} data?); first: {first}",
            s.rejected,
            f.format.as_str()
        ));
    }
    None
}

fn extension(f: FeedFormat) -> &'static str {
    match f {
        FeedFormat::Csv => "csv",
        FeedFormat::Text => "txt",
        FeedFormat::Openioc => "ioc",
        FeedFormat::Rss => "xml",
        _ => "json",
    }
}

/// Refuses to run a feed whose name could escape the feeds directory
/// (config validation already refuses such names; this is the belt).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        bail!("invalid feed name '{name}'");
    }
    Ok(())
}
