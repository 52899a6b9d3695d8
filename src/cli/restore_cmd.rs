//! `iocd restore --from FILE`: rebuilds the store of a data directory from
//! a backup ([`crate::store::backup`]).
//!
//! The server must be stopped. The backup is loaded into
//! `<data_dir>/store.restoring` and checked completely before it replaces
//! anything: format, entry count, SHA-256, the HMAC signature with the
//! operator's backup key (`<data_dir>/backup.key` or `--backup-key`; an
//! unsigned, altered or otherwise-signed backup is refused unless
//! `--trust-unsigned`), then the loaded copy is opened and run through
//! `verify` (an inconsistent one is refused, exit 2). Only then is it
//! renamed to `<data_dir>/store`. A non-empty existing store is refused unless
//! `--force`, and even then kept aside as `store.replaced-<time>` until the
//! operator deletes it. TLS files and the config are not in a backup.

use super::setup::{load_config, store_dir};
use crate::ops::{backup_key, control};
use crate::store::backup::{restore, Signature};
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
    /// The backup key to check the signature with (default: the data
    /// directory's backup.key). Restoring on a new machine: the copy of the
    /// old appliance's backup.key.
    #[arg(long, value_name = "FILE")]
    pub backup_key: Option<PathBuf>,
    /// Restore a backup whose signature cannot be checked or does not
    /// match (made by iocd before backups were signed, or with another
    /// key): the backup is then trusted input, so restore only one you
    /// know was not altered. Checksum and consistency are still checked.
    #[arg(long)]
    pub trust_unsigned: bool,
    /// Config file (for the data directory).
    #[arg(long, short, env = "IOCD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, env = "IOCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Why a signature check failed, and what to do; `None` when it passed.
fn signature_problem(sig: &Signature, key_file: &std::path::Path) -> Option<String> {
    match sig {
        Signature::Valid => None,
        Signature::Unsigned => Some("the backup is not signed (made by an iocd before backups were signed)".into()),
        Signature::Unchecked(id) => Some(format!(
            "the backup is signed with backup key {id}, but there is no key to check it ({} is missing): pass the old appliance's key with --backup-key",
            key_file.display()
        )),
        Signature::OtherKey(id) => Some(format!(
            "the backup is signed with backup key {id}, not with {}: pass the right key with --backup-key",
            key_file.display()
        )),
        Signature::Invalid => Some(format!(
            "the backup's signature does not match its content: it was altered after it was made (a checksum recomputed by hand does not make it valid); key {}",
            key_file.display()
        )),
    }
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
    let key_file = args
        .backup_key
        .clone()
        .unwrap_or_else(|| backup_key::path(&dd));
    let key = if args.backup_key.is_some() || key_file.exists() {
        Some(backup_key::load(&key_file)?)
    } else {
        None
    };
    let loaded = if args.from.as_os_str() == "-" {
        restore(&tmp, &mut std::io::stdin().lock(), key.as_ref())
    } else {
        let (f, _) = crate::ops::files::open_regular(&args.from, "the backup")?;
        restore(
            &tmp,
            &mut std::io::BufReader::with_capacity(256 * 1024, f),
            key.as_ref(),
        )
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
    if let Some(problem) = signature_problem(&s.signature, &key_file) {
        if !args.trust_unsigned {
            let _ = std::fs::remove_dir_all(&tmp);
            bail!(
                "{problem}\nrefusing to restore {}; nothing was changed (--trust-unsigned restores it anyway, as trusted input)",
                args.from.display()
            );
        }
        eprintln!("warning: {problem}; restoring it because of --trust-unsigned");
    }
    // The loaded copy must be consistent before it replaces anything.
    let check = open_when_released(&tmp).and_then(|st| {
        let rep = st.verify(false)?;
        let admins: Vec<String> = st
            .list_keys()?
            .into_iter()
            .filter(|k| k.revoked.is_none() && k.scopes.iter().any(|x| x == "admin"))
            .map(|k| format!("{} ({})", k.name, k.id))
            .collect();
        Ok((rep, admins))
    });
    let (rep, admins) = match check {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e).with_context(|| {
                format!(
                    "checking the restored copy of {}; nothing was changed",
                    args.from.display()
                )
            });
        }
    };
    if !rep.is_consistent() {
        let _ = std::fs::remove_dir_all(&tmp);
        eprintln!(
            "error: the backup {} is inconsistent ({} problem kind(s)); nothing was changed:",
            args.from.display(),
            rep.problem_counts.len()
        );
        for p in rep.problems.iter().take(20) {
            eprintln!("  - {} {}: {}", p.kind, p.key, p.detail);
        }
        return Ok(2);
    }
    if s.signature != Signature::Valid {
        eprintln!(
            "the restored store has these admin keys (check them): {}",
            if admins.is_empty() {
                "none".into()
            } else {
                admins.join(", ")
            }
        );
    }
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
    if let Err(e) = crate::ops::match_owner(&target, &dd) {
        eprintln!(
            "warning: could not give {} the owner of {}: {e}",
            target.display(),
            dd.display()
        );
    }
    eprintln!(
        "restored {} IOC records and {} API keys into {} ({} bytes read, checksum {}verified); verify: consistent",
        s.records,
        s.keys,
        target.display(),
        s.bytes,
        if s.signature == Signature::Valid { "and signature " } else { "" }
    );
    if let Some(aside) = replaced {
        eprintln!(
            "the previous store is kept in {}; delete it once the restore is checked",
            aside.display()
        );
    }
    Ok(0)
}
