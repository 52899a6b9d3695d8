//! `iocd backup --to FILE`: a consistent snapshot of the store.
//!
//! While `iocd serve` runs (it holds sled's directory lock), the server
//! makes the snapshot and streams it over the control socket
//! ([`crate::ops::control`]); with the server stopped, this process opens
//! the store itself. Either way the stream is checked end to end (entry
//! count and SHA-256, [`crate::store::backup::inspect`]) as it is written,
//! then fsynced and renamed into place, so a file that exists is whole.

use super::setup::{load_config, open_store, store_dir};
use crate::ops::control;
use crate::store::backup::{inspect, BackupSummary};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Writes a backup of the store (online through the running server, or
/// offline).
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The backup file to write (`-`: standard output). Written as
    /// FILE.partial, then renamed; mode 0600 (it holds API key hashes).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// Config file (for the data directory).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Copies what is read through it to `out`.
struct Tee<'a, R: Read> {
    inner: R,
    out: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Produces the backup into `out`; returns its summary and whether the
/// running server made it.
fn produce(data_dir: &Path, out: &mut dyn Write) -> Result<(BackupSummary, bool)> {
    if let Some(stream) = control::request(data_dir, "backup")? {
        let mut tee = Tee { inner: stream, out };
        let s = inspect(&mut tee)
            .context("the backup stream from the server is incomplete (did the server stop?)")?;
        return Ok((s, true));
    }
    if !store_dir(data_dir).exists() {
        bail!(
            "no store in {} (wrong --data-dir or --config?)",
            data_dir.display()
        );
    }
    let store = open_store(data_dir)?;
    let s = store.backup(out)?;
    drop(store);
    if let Err(e) = crate::ops::match_owner(&store_dir(data_dir), data_dir) {
        eprintln!(
            "warning: could not restore the owner of {}: {e}",
            store_dir(data_dir).display()
        );
    }
    Ok((s, false))
}

/// Runs `iocd backup`.
pub fn run(args: &BackupArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let dd = cfg.storage.data_dir.clone();
    let (s, online) = if args.to.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        let r = produce(&dd, &mut w)?;
        w.flush()?;
        r
    } else {
        if args.to.exists() && !args.force {
            bail!(
                "{} exists; use --force to replace it, or choose another --to",
                args.to.display()
            );
        }
        let mut partial = args.to.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&partial)
                .with_context(|| format!("cannot write {}", partial.display()))?
        };
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, f);
        let r = produce(&dd, &mut w).and_then(|r| {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            Ok(r)
        });
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, &args.to)
            .with_context(|| format!("renaming {} to {}", partial.display(), args.to.display()))?;
        r
    };
    eprintln!(
        "backup {}: {} IOC records, {} store entries, {} API keys, {} bytes ({}); checksum verified",
        if args.to.as_os_str() == "-" { "written to stdout".to_string() } else { format!("written to {}", args.to.display()) },
        s.records,
        s.iocs_entries,
        s.keys,
        s.bytes,
        if online { "online, made by the running server" } else { "offline" }
    );
    Ok(0)
}
