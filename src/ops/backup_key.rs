//! The operator's backup key, `<data_dir>/backup.key`: 32 random bytes as
//! 64 hex characters, mode 0600. `iocd backup` (and the server, for online
//! backups) signs every backup with it (HMAC-SHA256,
//! [`crate::store::backup`]); `iocd restore` refuses a backup it does not
//! verify unless `--trust-unsigned`. Created by `iocd init` or the first
//! backup. Keep a copy with the backups' owner, apart from the backups:
//! restoring on a new machine needs it (`iocd restore --backup-key FILE`).

use crate::store::backup::BackupKey;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name inside the data directory.
pub const FILE_NAME: &str = "backup.key";

/// `<data_dir>/backup.key`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads a backup key file (a regular file, at most 4 KiB, 64 hex
/// characters); warns on stderr when every user may read it.
pub fn load(file: &Path) -> Result<BackupKey> {
    let (_, meta) = super::files::open_regular(file, "the backup key")?;
    if let Some(w) = super::files::world_readable_warning(file, &meta, "the backup key") {
        crate::cli::notice(&format!("warning: {w}"));
    }
    let bytes = super::files::read_capped(file, 4096, "the backup key")?;
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    let mut secret = [0u8; 32];
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{} is not an iocd backup key (64 hex characters)",
            file.display()
        );
    }
    for (i, b) in secret.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    Ok(BackupKey::from_bytes(&secret))
}

/// Loads `<data_dir>/backup.key`, creating it first (`O_EXCL`, mode 0600,
/// given the data directory's owner when run as root) if it is missing.
/// Returns the key and whether it was created.
pub fn load_or_create(data_dir: &Path) -> Result<(BackupKey, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    let p = path(data_dir);
    if std::fs::symlink_metadata(&p).is_ok() {
        return Ok((load(&p)?, false));
    }
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&p);
    match created {
        Ok(mut f) => {
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|_| f.sync_all())
                .with_context(|| format!("writing {}", p.display()))?;
            if let Err(e) = super::match_owner(&p, data_dir) {
                eprintln!(
                    "warning: could not give {} the data directory's owner: {e}",
                    p.display()
                );
            }
            Ok((BackupKey::from_bytes(&secret), true))
        }
        // Created meanwhile by another process: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((load(&p)?, false)),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", p.display())),
    }
}
