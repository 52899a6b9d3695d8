//! How iocd reads and writes the files an operator names (issue #11
//! item 9).
//!
//! Reading ([`read_capped`]): the file is opened first (following a
//! symbolic link, as for a certbot `live/` link), then checked through
//! the open descriptor, so nothing can be swapped in between: it must be
//! a regular file (a FIFO, device, socket or directory is refused, and
//! opening never blocks on a FIFO) and at most `max` bytes, and no more
//! than `max` bytes are ever read.
//!
//! Writing ([`write_atomic`]): the content goes to a new temporary file in
//! the target's directory, created with `O_CREAT|O_EXCL` under an
//! unpredictable name (`.<name>.<12 random chars>.tmp`, via `tempfile`), so
//! a file or symbolic link planted under a guessed name is never opened;
//! it gets its final mode explicitly (`fchmod`, whatever the umask), is
//! fsynced, then renamed over the target (a symbolic link *at* the target
//! is refused rather than followed), and the directory is fsynced.

use anyhow::{anyhow, bail, Context, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest config file read (`iocd.toml`).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Largest PEM file read (TLS certificate chain, private key).
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// What a path is, for messages about files that are not regular.
fn kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a pipe"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file (checked on the open
/// descriptor). `what` names it in errors ("the TLS key").
pub fn open_regular(path: &Path, what: &str) -> Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        // Opening a FIFO for reading would wait for a writer.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let m = f
        .metadata()
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if !m.is_file() {
        bail!(
            "{what} {} is {}; iocd reads only regular files there",
            path.display(),
            kind(m.file_type())
        );
    }
    Ok((f, m))
}

/// Reads all of `path` if it is a regular file of at most `max` bytes.
///
/// Errors: missing or unreadable, not a regular file, larger than `max`
/// (also when it grows while being read); each names `what` and the path.
pub fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let (f, m) = open_regular(path, what)?;
    let too_big = || {
        anyhow!(
            "{what} {} is larger than {max} bytes; that is not a {what}",
            path.display()
        )
    };
    if m.len() > max {
        return Err(too_big());
    }
    let mut out = Vec::with_capacity(m.len() as usize);
    f.take(max + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if out.len() as u64 > max {
        return Err(too_big());
    }
    Ok(out)
}

/// A warning when `m` (a private key's metadata) lets every local user
/// read the file; `None` when it does not.
pub fn world_readable_warning(path: &Path, m: &std::fs::Metadata, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = m.permissions().mode() & 0o777;
    (mode & 0o004 != 0).then(|| {
        format!(
            "{what} {} is readable by every user (mode {mode:04o}); make it private: chmod o-rwx {}",
            path.display(),
            path.display()
        )
    })
}

/// The directory a target file lives in (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `path` atomically (see the module doc) with permission bits
/// `mode`. `write` gets the temporary file; its result is returned. With
/// `replace` false an existing `path` is refused (also one that appears
/// while writing); with `replace` true a regular file there is replaced
/// whole. A symbolic link or a directory at `path` is always refused.
/// On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic<T>(
    path: &Path,
    mode: u32,
    replace: bool,
    write: impl FnOnce(&mut File) -> Result<T>,
) -> Result<T> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => bail!(
            "{} is a symbolic link; iocd does not write through links (give the path it points to)",
            path.display()
        ),
        Ok(m) if m.is_dir() => bail!("{} is a directory; give a file name", path.display()),
        Ok(_) if !replace => bail!(
            "{} exists; use --force to replace it, or choose another name",
            path.display()
        ),
        _ => {}
    }
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file name", path.display()))?;
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .rand_bytes(12)
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .with_context(|| {
            format!(
                "cannot create a file in {} (does the directory exist and is it writable?)",
                dir.display()
            )
        })?;
    // The mode given at creation is cut by the umask: set it exactly.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    let out = write(tmp.as_file_mut())?;
    tmp.as_file_mut()
        .flush()
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    let persisted = if replace {
        tmp.persist(path).map(|_| ())
    } else {
        tmp.persist_noclobber(path).map(|_| ())
    };
    persisted.map_err(|e| anyhow!("cannot put {} in place: {}", path.display(), e.error))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reads_are_capped_and_regular_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_capped(&p, 5, "the file").unwrap(), b"hello");
        let e = read_capped(&p, 4, "the file").unwrap_err().to_string();
        assert!(e.contains("larger than 4 bytes"), "{e}");
        let e = read_capped(d.path(), 4, "the file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
        let e = read_capped(Path::new("/dev/zero"), 4, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a device"), "{e}");
    }

    #[test]
    fn writes_are_exclusive_with_their_mode_and_refuse_links() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        write_atomic(&p, 0o600, false, |f| Ok(f.write_all(b"one")?)).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert!(write_atomic(&p, 0o600, false, |f| Ok(f.write_all(b"x")?)).is_err());
        write_atomic(&p, 0o640, true, |f| Ok(f.write_all(b"two")?)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_atomic(&link, 0o600, true, |f| Ok(f.write_all(b"x")?)).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        // A failed write leaves nothing behind.
        let q = d.path().join("failed");
        assert!(write_atomic(&q, 0o600, false, |_| -> Result<()> { bail!("no") }).is_err());
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
