//! `iocd restore --from FILE`: rebuilds the store of a data directory from
//! a backup ([`crate::store::backup`]).
//!
//! The server must be stopped. The backup is loaded into
//! `<data_dir>/store.restoring` and checked completely (format, entry
//! count, SHA-256) before it replaces anything; only then is it renamed to
//! `<data_dir>/store`. A non-empty existing store is refused unless
//! `--force`, and even then kept aside as `store.replaced-<time>` until the
//! operator deletes it. TLS files and the config are not in a backup.

use super::setup::{load_config, store_dir};
use crate::ops::control;
use crate::store::backup::restore;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Restores a backup into a data directory (server stopped).
#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Replace a store that already holds IOCs or keys (it is kept aside
    /// as store.replaced-<time>).
    #[arg(long)]
    pub force: bool,
    /// Config file (for the data directory).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Opens the restored store. sled's background threads release the
/// directory lock of the database the restore just closed a moment after
/// the drop, so a lock error is retried for a few seconds.
fn open_when_released(path: &std::path::Path) -> Result<Store> {
    let t0 = std::time::Instant::now();
    loop {
        match Store::open(path) {
            Ok(s) => return Ok(s),
            Err(crate::store::StoreError::Locked { .. })
                if t0.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs `iocd restore`.
pub fn run(args: &RestoreArgs) -> Result<i32> {
    let cfg = load_config(args.config.as_deref(), args.data_dir.as_deref())?;
    let dd = cfg.storage.data_dir.clone();
    if control::request(&dd, "ping")
        .map(|r| r.is_some())
        .unwrap_or(true)
    {
        bail!(
            "iocd is serving {}; stop it first (systemctl stop iocd), then restore",
            dd.display()
        );
    }
    let target = store_dir(&dd);
    let mut replaced = None;
    if target.exists() {
        let existing = Store::open(&target)
            .map_err(|e| anyhow::anyhow!("{e}\nhint: stop `iocd serve` before restoring"))?;
        let (n, keys) = (existing.total()?, existing.list_keys()?.len());
        drop(existing);
        if n > 0 || keys > 0 {
            if !args.force {
                bail!(
                    "{} already holds {n} IOCs and {keys} API keys; restore into a new --data-dir, or use --force to replace it (the current store is kept aside)",
                    target.display()
                );
            }
            replaced = Some(dd.join(format!(
                "store.replaced-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            )));
        }
    }
    std::fs::create_dir_all(&dd).with_context(|| format!("cannot create {}", dd.display()))?;
    let tmp = dd.join("store.restoring");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("removing the leftover {}", tmp.display()))?;
    }
    let loaded = if args.from.as_os_str() == "-" {
        restore(&tmp, &mut std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&args.from)
            .with_context(|| format!("cannot read {}", args.from.display()))?;
        restore(&tmp, &mut std::io::BufReader::with_capacity(256 * 1024, f))
    };
    let s = match loaded {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(anyhow::anyhow!("{e}")).with_context(|| {
                format!("restoring {}; nothing was changed", args.from.display())
            });
        }
    };
    if target.exists() {
        match &replaced {
            Some(aside) => std::fs::rename(&target, aside)
                .with_context(|| format!("moving {} aside", target.display()))?,
            None => std::fs::remove_dir_all(&target)
                .with_context(|| format!("removing the empty {}", target.display()))?,
        }
    }
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))?;
    let store = open_when_released(&target)?;
    let rep = store.verify(false)?;
    drop(store);
    if let Err(e) = crate::ops::match_owner(&target, &dd) {
        eprintln!(
            "warning: could not give {} the owner of {}: {e}",
            target.display(),
            dd.display()
        );
    }
    eprintln!(
        "restored {} IOC records and {} API keys into {} ({} bytes read, checksum verified); verify: {}",
        s.records,
        s.keys,
        target.display(),
        s.bytes,
        if rep.is_consistent() { "consistent" } else { "INCONSISTENT, run `iocd verify`" }
    );
    if let Some(aside) = replaced {
        eprintln!(
            "the previous store is kept in {}; delete it once the restore is checked",
            aside.display()
        );
    }
    Ok(if rep.is_consistent() { 0 } else { 2 })
}
