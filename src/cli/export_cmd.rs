//! `iocd export`: write the store's IOCs to a file in any export format,
//! for hand-off across an air gap (issue 5, item 5).
//!
//! Unlike the API there is no limit cap: the store is scanned in time order
//! and streamed through the format's writer into a `BufWriter`, so memory
//! stays constant whether the store holds a hundred IOCs or a million. A
//! file is written to a temporary name beside it and renamed into place
//! only when complete, so a half-written export never sits under the final
//! name (an interrupted run leaves the old file, or none).
//!
//! While `iocd serve` runs, the server scans its store and streams the body
//! back over the control socket ([`crate::cli::live`]); this process still
//! writes the file (atomically, with its own permissions) or stdout, so the
//! result is byte for byte the offline one. A server failure mid-stream
//! fails the write the same way a store error does offline.

use super::setup::{load_config, open_store_with_cache};
use crate::config::Config;
use crate::export::{self, ExportOptions, Format, StixFormat};
use crate::ioc::{IocType, Tlp};
use crate::store::{Query, Store, StoreError};
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use std::cell::RefCell;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Export IOCs to a file (or stdout). Also the control socket's `export`
/// request (serde).
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportArgs {
    /// Output format: json, csv, stix, misp, cef, openioc, or the detection
    /// rules sigma, suricata, snort (sids from `[rules] sid_base`).
    #[arg(long, short, default_value = "json")]
    pub format: Format,
    /// Only this IOC type (ipv4, ipv6, domain, url, md5, sha1, sha256,
    /// sha512, email, cve, mitre_attack).
    #[arg(long = "type", short = 't')]
    pub ioc_type: Option<IocType>,
    /// Only IOCs changed at or after this time (RFC 3339, or a date
    /// YYYY-MM-DD meaning midnight UTC).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Only IOCs changed before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// At most N IOCs (default: all; no cap).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output file (default: stdout). Written atomically.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Force one TLP level on every IOC: clear, green, amber, amber+strict,
    /// red (default: each IOC's own, from its confidence).
    #[arg(long)]
    pub tlp: Option<Tlp>,
    /// STIX only: `bundle` (default) or `objects` (bare array).
    #[arg(long, default_value = "bundle")]
    pub stix_format: StixFormat,
    /// STIX only: leave out the identity SDO and `created_by_ref`.
    #[arg(long)]
    pub no_identity: bool,
    /// STIX only: include the TLP 2.0 marking-definition objects.
    #[arg(long)]
    pub tlp_markings: bool,
    /// JSON only: one record per line (JSON Lines) instead of an array.
    #[arg(long)]
    pub json_lines: bool,
    /// Also export IOCs past their type's lifetime (`[expiry]` in the
    /// config); by default they are left out, as by the API.
    #[arg(long)]
    pub include_expired: bool,
    /// Config file (for the data directory and the identity name).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config; default ./iocd-data).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `--since`/`--until`: RFC 3339, or a bare date at midnight UTC.
fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "'{s}' is neither an RFC 3339 time (2026-05-15T00:00:00Z) nor a date (2026-05-15)"
            )
        })
}

/// Runs `iocd export` (the body from the running server if there is one);
/// exit code 0 on success.
pub fn run(args: &ExportArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let dd = &cfg.storage.data_dir;
    let req = super::live::Request::Export {
        export: Box::new(args.clone()),
    };
    let count = match super::live::connect(dd, &req)? {
        Some(mut conn) => sink(args, |w| {
            let reply = super::live::receive(&mut conn, w, &|_| {})
                .map_err(|e| io::Error::other(format!("{e:#}")))?;
            serde_json::from_slice::<Exported>(&reply.result)
                .map_err(|e| io::Error::other(format!("the server sent a malformed count: {e}")))
        })?,
        None => {
            // One sequential pass: a small page cache keeps memory flat.
            let store = open_store_with_cache(dd, 8 * 1024 * 1024)?;
            sink(args, |w| write_body(&store, &cfg, args, w))?
        }
    };
    let dest = args
        .output
        .as_ref()
        .map_or("stdout".to_string(), |p| p.display().to_string());
    eprintln!(
        "exported {} IOCs as {} to {dest}",
        count.written, args.format
    );
    if count.expired_left_out > 0 {
        eprintln!(
            "left out {} expired IOCs (add --include-expired to export them)",
            count.expired_left_out
        );
    }
    Ok(0)
}

/// What one export wrote: IOCs written, and IOCs left out because they
/// expired (`[expiry]`; 0 with `--include-expired`). The running server
/// sends it to the client as the command's JSON result.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Exported {
    pub written: u64,
    pub expired_left_out: u64,
}

/// Runs `write` into stdout or, atomically, `--output`.
fn sink<T, F>(args: &ExportArgs, write: F) -> Result<T>
where
    F: FnOnce(&mut dyn Write) -> io::Result<T>,
{
    match &args.output {
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
            let n = write(&mut w).context("writing the export to stdout")?;
            w.flush().context("writing the export to stdout")?;
            Ok(n)
        }
        Some(path) => write_atomically(path, write),
    }
}

/// Writes the export `args` asks for (format, filters, options; the
/// identity name from `cfg`) from `store` into `w`; returns the number of
/// IOCs written and of expired ones left out. A store error ends the stream and is returned, so a file
/// is then never renamed into place.
pub fn write_body(
    store: &Store,
    cfg: &Config,
    args: &ExportArgs,
    w: &mut dyn Write,
) -> io::Result<Exported> {
    let q = Query {
        ioc_type: args.ioc_type,
        since: args.since,
        until: args.until,
        ..Query::default()
    };
    // The same rule as the API's, at one instant for the whole file;
    // counted here (not in the query) so the summary can say how many
    // were left out.
    let lifetimes = cfg.expiry.lifetimes();
    let unexpired = if args.include_expired {
        None
    } else {
        lifetimes.filter_at(Utc::now())
    };
    let left_out = std::cell::Cell::new(0u64);
    let mut opts = ExportOptions::default().with_tlp(args.tlp);
    opts.json.lines = args.json_lines;
    opts.stix.format = args.stix_format;
    opts.stix.include_identity = !args.no_identity;
    opts.stix.include_tlp_markings = args.tlp_markings;
    opts.stix.identity_name = cfg.server.identity_name.clone();
    opts.stix.lifetimes = lifetimes;
    opts.misp.since = args.since;
    opts.misp.until = args.until;
    opts.misp.info_prefix = format!("{} IOCs", cfg.server.identity_name);
    opts.openioc.author = cfg.server.identity_name.clone();
    opts.openioc.short_description = format!("{} IOCs", cfg.server.identity_name);
    opts.sigma.author = cfg.server.identity_name.clone();
    opts.ids.sid_base = cfg.rules.sid_base;

    // The writers take plain indicators; a store error ends the stream and
    // fails the write.
    let failure: RefCell<Option<StoreError>> = RefCell::new(None);
    let items = store
        .scan(&q)
        .map_while(|r| r.map_err(|e| *failure.borrow_mut() = Some(e)).ok())
        .filter(|i| {
            let keep = unexpired.is_none_or(|f| f.admits(i));
            if !keep {
                left_out.set(left_out.get() + 1);
            }
            keep
        })
        .take(args.limit.unwrap_or(usize::MAX));
    let n = export::write(args.format, &mut IoRef(w), items, &opts)?;
    let failed = failure.borrow_mut().take();
    match failed {
        Some(e) => Err(io::Error::other(format!(
            "reading the store failed, the export is incomplete: {e}"
        ))),
        None => Ok(Exported {
            written: n,
            expired_left_out: left_out.get(),
        }),
    }
}

/// `&mut dyn Write` as a sized `Write`, for the generic writers.
struct IoRef<'a>(&'a mut dyn Write);

impl Write for IoRef<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Mode of an export file: owner read/write, group read (exports carry
/// TLP-marked data; set explicitly, whatever the umask).
const EXPORT_MODE: u32 = 0o640;

/// Writes `path` through an `O_EXCL` temporary file with an unpredictable
/// name in the same directory, renamed over `path` once complete and
/// synced ([`crate::ops::files::write_atomic`]); nothing is left on
/// failure. The file gets mode 0640.
///
/// A path that already exists and is not a regular file (a device such as
/// `/dev/null`, a FIFO) is written in place, never replaced; a symbolic
/// link is refused, not followed (a link planted in a shared directory
/// must not redirect the export).
fn write_atomically<T, F>(path: &Path, write: F) -> Result<T>
where
    F: FnOnce(&mut dyn Write) -> io::Result<T>,
{
    if let Ok(m) = std::fs::symlink_metadata(path) {
        let ft = m.file_type();
        if !ft.is_symlink() && !m.is_dir() && !m.is_file() {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {} for writing", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 16, file);
            let n = write(&mut w).with_context(|| format!("writing {}", path.display()))?;
            w.flush()
                .with_context(|| format!("writing {}", path.display()))?;
            return Ok(n);
        }
    }
    crate::ops::files::write_atomic(path, EXPORT_MODE, true, |f| {
        let mut w = BufWriter::with_capacity(1 << 16, f);
        let n = write(&mut w).with_context(|| format!("writing {}", path.display()))?;
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_date() {
        assert_eq!(
            parse_time("2026-05-15").unwrap(),
            parse_time("2026-05-15T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-05-15T02:00:00+02:00").unwrap(),
            parse_time("2026-05-15T00:00:00Z").unwrap()
        );
        assert!(parse_time("yesterday").is_err());
    }
}
