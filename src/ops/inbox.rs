//! The inbox: a directory the running server imports from (issue #13,
//! item 3). An air-gapped SOC brings releases in on removable media; the
//! operator copies them into `<data_dir>/inbox` (`[inbox] path`) and the
//! server imports each drop once, then moves it out of the way with a
//! report beside it.
//!
//! A *drop* is one top-level entry of the inbox: a file, or a directory
//! imported as a whole (walked like `iocd import DIR`, with the same skips).
//! It is complete when
//! - a marker `<name>.done` exists beside it: imported at the next scan,
//!   and the marker removed; or
//! - its fingerprint (size and modification time of every entry; for a
//!   directory, of the whole tree) has not changed for `settle_secs`, as
//!   observed by this process. A directory that still holds a `*.part` or
//!   `*.tmp` file is never complete without a marker.
//!
//! Top-level names starting with `.`, and ending in `.part`, `.tmp` or `~`
//! are in-progress copies (rsync's `.name.XXXXXX`, curl/wget/browser
//! `.part`, editors' `~`) and are ignored; so are `processed/`, `failed/`
//! and `.importing/`. Copy a drop to a temporary name and rename it when it
//! is whole, or write the `.done` marker last, and it is never read half
//! written; a plain `cp` is covered by the settle time.
//!
//! Why the settle time is measured by this process and not from the
//! files' modification times: `cp -p`, `rsync -t` and `tar x` give a file
//! its source's old mtime, so an old mtime says nothing about whether the
//! copy is finished. Files already present at start therefore wait
//! `settle_secs` too.
//!
//! Each complete drop is first *claimed*: renamed (atomic, same directory
//! tree) into `<inbox>/.importing/<UTC timestamp>-<name>`. It is imported
//! from there with [`crate::cli::import_cmd::import`], the same path as
//! `iocd import` (source `[inbox] source` for IOCs whose file names no
//! producer), then renamed to `processed/<stamp>-<name>` or
//! `failed/<stamp>-<name>` with `<stamp>-<name>.report.json` (the import
//! `Summary` plus outcome, reason, start time and duration) and a short
//! `.report.txt` beside it. *Failed* means: a file could not be read at all
//! (binary, invalid JSON, too large, unreadable), nothing importable was
//! found, or the store refused the write; a drop with some rejected lines
//! is *processed* and its report lists them.
//!
//! Exactly once, also across a restart: a drop leaves the inbox proper
//! (by the claim rename) before its first byte is read, so no later scan
//! can see it again. If the server stops mid-import (crash, power loss),
//! the drop is still in `.importing/` at the next start; it is then moved
//! to `failed/` with a report saying the import was interrupted and may be
//! partial, rather than imported a second time behind the operator's back.
//! Re-importing it is safe (the merge rule, `docs/store.md`, makes a
//! repeated import change at most `last_seen`): move it back into the
//! inbox. A stop between the final rename and the report leaves a drop in
//! `processed/` without a report; it is not imported again either.
//!
//! A drop that is, or holds, a symbolic link fails unread: following it
//! would let anyone who may drop files make the service read (and quote in
//! a report) any file it can open, its TLS key included.
//!
//! One drop at a time, on a thread of its own (not a runtime worker), so a
//! large import never stalls request handling beyond the store's own
//! write lock. No error of the inbox stops the server: each is logged,
//! and written to the drop's report where there is one. A drop that cannot
//! be claimed (permissions) is logged once per change and left in place.
//!
//! Detection: `notify` (inotify) wakes the loop on any change at the top
//! of the inbox; a full scan also runs every `poll_secs` (inotify queues
//! can overflow, and a directory drop's inner writes are not watched), and
//! when a drop is settling the loop wakes at its deadline. If inotify
//! cannot be set up (limits, a filesystem without it), or with
//! `watch = "poll"`, the scans alone find drops.

use crate::cli::import_cmd::{import, ImportArgs, Summary};
use crate::config::{Config, WatchMode};
use crate::store::Store;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Subdirectory of drops being imported (the claim).
pub const IMPORTING: &str = ".importing";
/// Subdirectory of imported drops.
pub const PROCESSED: &str = "processed";
/// Subdirectory of drops that failed.
pub const FAILED: &str = "failed";
/// The UTC time stamp that starts a filed drop's name, and its length.
const STAMP: &str = "%Y%m%dT%H%M%SZ";
const STAMP_LEN: usize = 16;
/// Suffix of the marker that makes a drop complete at once.
pub const DONE: &str = ".done";

/// Drops moved to `processed/` and `failed/` since start (for `/metrics`).
pub static PROCESSED_TOTAL: AtomicU64 = AtomicU64::new(0);
/// See [`PROCESSED_TOTAL`].
pub static FAILED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// The inbox settings, resolved against the data directory.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// The inbox directory (absolute or relative to the working directory).
    pub dir: PathBuf,
    pub watch: WatchMode,
    pub settle: Duration,
    pub poll: Duration,
    pub source: String,
    /// Largest file of a drop, bytes.
    pub max_file_bytes: u64,
    /// Age past which `processed/` entries are removed; `None`: kept.
    pub keep: Option<Duration>,
}

impl Inbox {
    /// The inbox of `cfg`, or `None` when `[inbox] enabled = false`.
    pub fn from_config(cfg: &Config) -> Option<Inbox> {
        let c = &cfg.inbox;
        c.enabled.then(|| Inbox {
            dir: cfg.data_path(&c.path),
            watch: c.watch,
            settle: Duration::from_secs(c.settle_secs),
            poll: Duration::from_secs(c.poll_secs),
            source: c.source.clone(),
            max_file_bytes: c.max_file_mib << 20,
            keep: (c.keep_days > 0).then(|| Duration::from_secs(u64::from(c.keep_days) * 86_400)),
        })
    }
}

/// Creates the inbox and its subdirectories, settles drops interrupted by
/// a previous stop, and starts the watcher thread. Errors (the inbox
/// cannot be created) are returned for the caller to log; the server runs
/// on without an inbox.
pub fn start(store: Arc<Store>, inbox: Inbox) -> Result<std::thread::JoinHandle<()>> {
    prepare(&inbox.dir)?;
    recover_interrupted(&inbox);
    std::thread::Builder::new()
        .name("iocd-inbox".into())
        .spawn(move || run(&store, &inbox))
        .context("starting the inbox thread")
}

/// `dir` and its subdirectories exist. The inbox itself is made 0770 (an
/// operators' group may drop files; the .deb creates it setgid `iocd`),
/// `processed/` and `failed/` 0750 (that group may read the reports).
fn prepare(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (d, mode) in [
        (dir.to_path_buf(), 0o770),
        (dir.join(PROCESSED), 0o750),
        (dir.join(FAILED), 0o750),
        (dir.join(IMPORTING), 0o700),
    ] {
        if !d.is_dir() {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create the inbox directory {}", d.display()))?;
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode));
        }
    }
    Ok(())
}

/// Drops left in `.importing/` by a stop mid-import go to `failed/`.
fn recover_interrupted(inbox: &Inbox) {
    let Ok(rd) = std::fs::read_dir(inbox.dir.join(IMPORTING)) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let outcome = Outcome {
            ok: false,
            reason: Some(
                "the server stopped during this import: some of it may be in the store. \
                 Move it back into the inbox to import it again (a repeated import is safe)"
                    .into(),
            ),
            summary: None,
        };
        tracing::warn!(drop = %name, "inbox: an import was interrupted by a stop; moved to failed/");
        finish(inbox, &e.path(), &name, outcome, now_rfc3339(), 0.0);
    }
}

/// What one drop looked like at the last scan.
struct Seen {
    fingerprint: Fingerprint,
    since: Instant,
    /// A claim failure was logged for this fingerprint.
    complained: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    /// (relative path, size, mtime ns) of every entry, in walk order.
    entries: Vec<(PathBuf, u64, i128)>,
    /// A `*.part`/`*.tmp` file inside a directory drop.
    in_progress: bool,
    /// The largest file, bytes.
    largest: u64,
    /// The first symbolic link met (relative; empty: the drop itself).
    symlink: Option<PathBuf>,
}

/// The watcher loop: never returns.
fn run(store: &Store, inbox: &Inbox) {
    let (wake, _watcher) = watch(inbox);
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut last_prune: Option<Instant> = None;
    tracing::info!(
        inbox = %inbox.dir.display(),
        settle_secs = inbox.settle.as_secs(),
        "inbox: watching for drops"
    );
    loop {
        let next_due = scan(store, inbox, &mut seen);
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            prune(inbox);
            last_prune = Some(Instant::now());
        }
        let timeout = next_due.map_or(inbox.poll, |d| d.min(inbox.poll));
        match &wake {
            Some(rx) => match rx.recv_timeout(timeout) {
                // Coalesce a burst of events into one scan.
                Ok(()) => while rx.try_recv().is_ok() {},
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(timeout),
            },
            None => std::thread::sleep(timeout),
        }
    }
}

/// An inotify watch on the inbox, or `None` (polling only).
fn watch(inbox: &Inbox) -> (Option<Receiver<()>>, Option<notify::RecommendedWatcher>) {
    use notify::Watcher;
    if inbox.watch == WatchMode::Poll {
        tracing::info!(
            poll_secs = inbox.poll.as_secs(),
            "inbox: polling (watch = \"poll\")"
        );
        return (None, None);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let made = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Any change, an error (queue overflow) included, means: rescan.
        // Access events are not changes, and the scan itself causes them
        // (reading the directory opens it): waking on them would spin.
        if !matches!(&ev, Ok(e) if e.kind.is_access()) {
            let _ = tx.send(());
        }
    })
    .and_then(|mut w| {
        w.watch(&inbox.dir, notify::RecursiveMode::NonRecursive)
            .map(|()| w)
    });
    match made {
        Ok(w) => (Some(rx), Some(w)),
        Err(e) => {
            tracing::warn!(
                error = %e,
                poll_secs = inbox.poll.as_secs(),
                "inbox: inotify unavailable; polling instead"
            );
            (None, None)
        }
    }
}

/// True for top-level names that are not drops.
fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with(".part")
        || name.ends_with(".tmp")
        || name.ends_with('~')
        || name.ends_with(DONE)
        || name == PROCESSED
        || name == FAILED
}

/// One pass over the inbox: imports every complete drop (in name order),
/// updates `seen`. Returns how long until the earliest settling drop is
/// due, if any.
fn scan(store: &Store, inbox: &Inbox, seen: &mut BTreeMap<String, Seen>) -> Option<Duration> {
    let names: Vec<String> = match std::fs::read_dir(&inbox.dir) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !ignored(n))
                .collect();
            v.sort();
            v
        }
        Err(e) => {
            tracing::error!(inbox = %inbox.dir.display(), error = %e, "inbox: cannot list");
            return None;
        }
    };
    seen.retain(|n, _| names.contains(n));
    let mut next: Option<Duration> = None;
    for name in names {
        let path = inbox.dir.join(&name);
        let marker = inbox.dir.join(format!("{name}{DONE}"));
        let Some(fp) = fingerprint(&path) else {
            continue; // vanished or unreadable: looked at again next scan
        };
        let entry = seen.entry(name.clone()).or_insert_with(|| Seen {
            fingerprint: fp.clone(),
            since: Instant::now(),
            complained: false,
        });
        if entry.fingerprint != fp {
            *entry = Seen {
                fingerprint: fp.clone(),
                since: Instant::now(),
                complained: false,
            };
        }
        let marked = marker.exists();
        let settled = !fp.in_progress && entry.since.elapsed() >= inbox.settle;
        if !(marked || settled) {
            let left = inbox.settle.saturating_sub(entry.since.elapsed());
            next = Some(next.map_or(left, |n| n.min(left)));
            continue;
        }
        match process(store, inbox, &path, &name, &fp) {
            Ok(()) => {
                seen.remove(&name);
                if marked {
                    let _ = std::fs::remove_file(&marker);
                }
            }
            Err(e) => {
                if !entry.complained {
                    tracing::error!(drop = %name, error = format!("{e:#}"), "inbox: cannot take the drop; left in place");
                    entry.complained = true;
                }
            }
        }
    }
    next
}

/// The drop's fingerprint; `None` when it has vanished. An entry that
/// cannot be read is kept in it (with size 0), so the drop still settles
/// and its report names the error.
fn fingerprint(path: &Path) -> Option<Fingerprint> {
    std::fs::symlink_metadata(path).ok()?;
    let mut fp = Fingerprint {
        entries: Vec::new(),
        in_progress: false,
        largest: 0,
        symlink: None,
    };
    for e in walkdir::WalkDir::new(path)
        .follow_links(false)
        .sort_by_file_name()
    {
        let (e, m) = match e.map(|e| (e.metadata(), e)) {
            Ok((Ok(m), e)) => (e, m),
            Ok((Err(_), e)) => {
                fp.entries.push((e.path().to_path_buf(), 0, -1));
                continue;
            }
            Err(err) => {
                let p = err.path().map(Path::to_path_buf).unwrap_or_default();
                fp.entries.push((p, 0, -1));
                continue;
            }
        };
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        if m.file_type().is_symlink() && fp.symlink.is_none() {
            fp.symlink = Some(
                e.path()
                    .strip_prefix(path)
                    .unwrap_or(e.path())
                    .to_path_buf(),
            );
        }
        if m.is_file() {
            fp.largest = fp.largest.max(m.len());
            let n = e.file_name().to_string_lossy();
            if e.depth() > 0 && (n.ends_with(".part") || n.ends_with(".tmp")) {
                fp.in_progress = true;
            }
        }
        let rel = e
            .path()
            .strip_prefix(path)
            .unwrap_or(e.path())
            .to_path_buf();
        fp.entries.push((rel, m.len(), mtime));
    }
    Some(fp)
}

/// The result of one drop.
struct Outcome {
    ok: bool,
    reason: Option<String>,
    summary: Option<Summary>,
}

/// The `.report.json` beside a drop in `processed/` or `failed/`.
#[derive(Serialize)]
struct Report<'a> {
    /// The drop's name in the inbox.
    drop: &'a str,
    /// `processed` or `failed`.
    outcome: &'static str,
    reason: Option<&'a str>,
    /// Where the drop now is.
    moved_to: String,
    started: &'a str,
    duration_secs: f64,
    summary: Option<&'a Summary>,
}

/// Claims, imports and files away one complete drop. An error means the
/// drop could not be claimed and is still in the inbox.
fn process(store: &Store, inbox: &Inbox, path: &Path, name: &str, fp: &Fingerprint) -> Result<()> {
    let stamped = unique_name(inbox, name);
    let claimed = inbox.dir.join(IMPORTING).join(&stamped);
    std::fs::rename(path, &claimed)
        .with_context(|| format!("moving {} to {}", path.display(), claimed.display()))?;
    let started = now_rfc3339();
    let t0 = Instant::now();
    tracing::info!(drop = %name, "inbox: importing");
    let outcome = if let Some(link) = &fp.symlink {
        // A link could make the service read (and quote in the report)
        // any file it can open, its TLS key included.
        Outcome {
            ok: false,
            reason: Some(format!(
                "{} is a symbolic link; links are not followed out of the inbox (copy the file itself); nothing was read",
                if link.as_os_str().is_empty() { name.to_string() } else { format!("{name}/{}", link.display()) }
            )),
            summary: None,
        }
    } else if fp.largest > inbox.max_file_bytes {
        Outcome {
            ok: false,
            reason: Some(format!(
                "a file of {} bytes is over [inbox] max_file_mib ({} bytes); nothing was read",
                fp.largest, inbox.max_file_bytes
            )),
            summary: None,
        }
    } else {
        import_drop(store, inbox, &claimed)
    };
    finish(
        inbox,
        &claimed,
        &stamped,
        outcome,
        started,
        t0.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Imports the claimed drop; decides processed or failed.
fn import_drop(store: &Store, inbox: &Inbox, claimed: &Path) -> Outcome {
    let args = ImportArgs {
        source: Some(inbox.source.clone()),
        ..ImportArgs::for_paths(vec![claimed.to_path_buf()])
    };
    match import(store, &args) {
        Err(e) => Outcome {
            ok: false,
            reason: Some(format!("the store refused the import: {e:#}")),
            summary: None,
        },
        Ok(s) => {
            let reason = if s.files_failed > 0 {
                let first = s
                    .files
                    .iter()
                    .find_map(|f| f.failed.as_ref().map(|r| format!("{}: {r}", f.path)));
                Some(format!(
                    "{} file(s) could not be read at all; first: {}",
                    s.files_failed,
                    first.unwrap_or_default()
                ))
            } else if s.observations == 0 && s.articles_new + s.articles_updated == 0 {
                Some(format!(
                    "nothing importable: {} file(s) read, {} skipped (not IOC data), {} line(s) rejected",
                    s.files_read, s.files_skipped, s.rejected
                ))
            } else {
                None
            };
            Outcome {
                ok: reason.is_none(),
                reason,
                summary: Some(s),
            }
        }
    }
}

/// `<UTC stamp>-<name>`, with `-2`, `-3` … when that is taken.
fn unique_name(inbox: &Inbox, name: &str) -> String {
    let stamp = chrono::Utc::now().format(STAMP);
    let base = format!("{stamp}-{name}");
    let taken = |n: &str| {
        [IMPORTING, PROCESSED, FAILED]
            .iter()
            .any(|d| inbox.dir.join(d).join(n).exists())
    };
    let mut n = base.clone();
    let mut i = 2;
    while taken(&n) {
        n = format!("{base}-{i}");
        i += 1;
    }
    n
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Moves the claimed drop to `processed/` or `failed/`, writes its
/// reports, counts and logs. Every error is logged, none returned.
fn finish(
    inbox: &Inbox,
    claimed: &Path,
    stamped: &str,
    mut o: Outcome,
    started: String,
    secs: f64,
) {
    let dir = inbox.dir.join(if o.ok { PROCESSED } else { FAILED });
    let dest = dir.join(stamped);
    if let Err(e) = std::fs::rename(claimed, &dest) {
        tracing::error!(drop = %stamped, error = %e, "inbox: cannot move the drop out of .importing/");
    }
    if let Some(s) = o.summary.as_mut() {
        relabel(s, claimed, &dest);
    }
    let report = Report {
        drop: stamped.split_once('-').map_or(stamped, |(_, n)| n),
        outcome: if o.ok { "processed" } else { "failed" },
        reason: o.reason.as_deref(),
        moved_to: dest.display().to_string(),
        started: &started,
        duration_secs: (secs * 1000.0).round() / 1000.0,
        summary: o.summary.as_ref(),
    };
    let text = human_report(&report);
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    // The `.report.json` is written last: a tool that waits for it finds
    // the `.report.txt` already in place.
    for (ext, bytes) in [("report.txt", text.into_bytes()), ("report.json", json)] {
        let p = dir.join(format!("{stamped}.{ext}"));
        let w = crate::ops::files::write_atomic(&p, 0o640, true, |f| {
            use std::io::Write;
            f.write_all(&bytes).map_err(Into::into)
        });
        if let Err(e) = w {
            tracing::error!(report = %p.display(), error = format!("{e:#}"), "inbox: cannot write the report");
        }
    }
    let s = o.summary.as_ref();
    if o.ok {
        PROCESSED_TOTAL.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            drop = %stamped,
            observations = s.map_or(0, |s| s.observations),
            new = s.map_or(0, |s| s.new),
            updated = s.map_or(0, |s| s.updated),
            rejected = s.map_or(0, |s| s.rejected),
            secs,
            "inbox: imported; moved to processed/"
        );
    } else {
        FAILED_TOTAL.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            drop = %stamped,
            reason = o.reason.as_deref().unwrap_or(""),
            "inbox: import failed; moved to failed/"
        );
    }
}

/// Shows the summary's paths under `.importing/` at their final place.
fn relabel(s: &mut Summary, from: &Path, to: &Path) {
    let (from, to) = (from.display().to_string(), to.display().to_string());
    let fix = |p: &mut String| {
        if let Some(rest) = p.strip_prefix(&from) {
            *p = format!("{to}{rest}");
        }
    };
    s.files.iter_mut().for_each(|f| fix(&mut f.path));
    s.skipped_files.iter_mut().for_each(|f| fix(&mut f.path));
}

/// The `.report.txt`: what an operator reads first.
fn human_report(r: &Report) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(t, "{}: {}", r.drop, r.outcome.to_uppercase());
    if let Some(reason) = r.reason {
        let _ = writeln!(t, "reason: {reason}");
    }
    let _ = writeln!(
        t,
        "started {} , took {:.3} s; now at {}",
        r.started, r.duration_secs, r.moved_to
    );
    if let Some(s) = r.summary {
        let _ = writeln!(
            t,
            "files: {} read, {} failed, {} skipped (not IOC data)",
            s.files_read, s.files_failed, s.files_skipped
        );
        let _ = writeln!(
            t,
            "IOCs: {} read: {} new, {} updated, {} unchanged, {} suppressed; {} rejected; {} without a supported type",
            s.observations, s.new, s.updated, s.unchanged, s.suppressed, s.rejected, s.skipped_items
        );
        for f in &s.files {
            if let Some(why) = &f.failed {
                let _ = writeln!(t, "FAILED {}: {why}", f.path);
            }
            for e in &f.errors {
                let _ = writeln!(t, "rejected in {}: {e}", f.path);
            }
        }
        for f in &s.skipped_files {
            let _ = writeln!(t, "skipped {}: {}", f.path, f.reason);
        }
    }
    t
}

/// Removes `processed/` entries (drops and reports) older than
/// `inbox.keep`, by the time stamp their name starts with (not their
/// mtime: `cp -p` gives a drop its source's old one).
fn prune(inbox: &Inbox) {
    let Some(keep) = inbox.keep else { return };
    let Ok(rd) = std::fs::read_dir(inbox.dir.join(PROCESSED)) else {
        return;
    };
    let mut removed = 0u64;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let old = name
            .get(..STAMP_LEN)
            .and_then(|st| chrono::NaiveDateTime::parse_from_str(st, STAMP).ok())
            .and_then(|t| (chrono::Utc::now().naive_utc() - t).to_std().ok())
            .is_some_and(|age| age > keep);
        if !old {
            continue;
        }
        let p = e.path();
        let r = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match r {
            Ok(()) => removed += 1,
            Err(err) => tracing::warn!(path = %p.display(), error = %err, "inbox: cannot prune"),
        }
    }
    if removed > 0 {
        tracing::info!(removed, "inbox: pruned processed/ entries past keep_days");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_progress_names_are_not_drops() {
        for (n, skip) in [
            ("feed.json", false),
            ("release-2026-12", false),
            (".feed.json.Xy12ab", true),
            ("feed.json.part", true),
            ("feed.json.tmp", true),
            ("feed.json~", true),
            ("feed.json.done", true),
            ("processed", true),
            ("failed", true),
            (".importing", true),
        ] {
            assert_eq!(ignored(n), skip, "{n}");
        }
    }

    #[test]
    fn stamp_has_its_length() {
        let s = chrono::Utc::now().format(STAMP).to_string();
        assert_eq!(s.len(), STAMP_LEN);
        assert!(chrono::NaiveDateTime::parse_from_str(&s, STAMP).is_ok());
    }
}
