//! `iocd backup --to FILE`: a consistent snapshot of the store.
//!
//! While `iocd serve` runs (it holds sled's directory lock), the server
//! makes the snapshot and streams it over the control socket
//! ([`crate::ops::control`]); with the server stopped, this process opens
//! the store itself. Either way the stream is checked end to end (entry
//! count, SHA-256 and the HMAC signature, [`crate::store::backup::inspect`])
//! as it is written to an `O_EXCL` temporary file with an unpredictable
//! name next to FILE, which gets mode 0600 and is fsynced and renamed into
//! place only when whole ([`crate::ops::files::write_atomic`]). Backups are
//! signed with `<data_dir>/backup.key` ([`crate::ops::backup_key`]),
//! created by the first backup if `iocd init` did not.

use super::setup::{load_config, open_store, store_dir};
use crate::ops::{backup_key, control};
use crate::store::backup::{inspect, BackupSummary, Signature};
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Writes a backup of the store (online through the running server, or
/// offline).
#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The backup file to write (`-`: standard output). Written to a new
    /// temporary file next to it, then renamed; mode 0600 (it holds API key
    /// hashes). A symbolic link at FILE is refused.
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
        // The server signed it with the key it created or found; check
        // the signature too when this user may read that key.
        let key = backup_key::load(&backup_key::path(data_dir)).ok();
        let mut tee = Tee { inner: stream, out };
        let s = inspect(&mut tee, key.as_ref())
            .context("the backup stream from the server is incomplete (did the server stop?)")?;
        if matches!(s.signature, Signature::Invalid | Signature::OtherKey(_)) {
            bail!(
                "the backup from the server does not verify with {} ({:?})",
                backup_key::path(data_dir).display(),
                s.signature
            );
        }
        return Ok((s, true));
    }
    if !store_dir(data_dir).exists() {
        bail!(
            "no store in {} (wrong --data-dir or --config?)",
            data_dir.display()
        );
    }
    let (key, created) = backup_key::load_or_create(data_dir)?;
    if created {
        eprintln!(
            "created the backup key {} (keep a copy apart from the backups: a restore elsewhere needs it)",
            backup_key::path(data_dir).display()
        );
    }
    let store = open_store(data_dir)?;
    let s = store.backup(out, &key)?;
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
        crate::ops::files::write_atomic(&args.to, 0o600, args.force, |f| {
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, f);
            let r = produce(&dd, &mut w)?;
            w.flush()?;
            Ok(r)
        })?
    };
    eprintln!(
        "backup {}: {} IOC records, {} store entries, {} API keys, {} bytes ({}); checksum verified; {}",
        if args.to.as_os_str() == "-" { "written to stdout".to_string() } else { format!("written to {}", args.to.display()) },
        s.records,
        s.iocs_entries,
        s.keys,
        s.bytes,
        if online { "online, made by the running server" } else { "offline" },
        match &s.signature {
            Signature::Valid => "signed with the backup key".to_string(),
            other => format!("signature not checked here ({other:?}): this user cannot read the backup key"),
        }
    );
    Ok(0)
}
