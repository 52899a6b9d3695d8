//! Operations plumbing for running iocd as a managed service: the systemd
//! readiness protocol ([`sdnotify`]), the local control socket that lets
//! every CLI command reach a running server ([`control`]), the
//! inbox directory the server imports dropped files from ([`inbox`]), and
//! keeping file ownership right when an operator runs an offline command
//! as root ([`match_owner`]).

pub mod backup_key;
pub mod control;
pub mod files;
pub mod frames;
pub mod inbox;
pub mod sdnotify;

use std::path::Path;

/// When running as root, gives `path` (recursively) the owner and group of
/// `like` (normally the data directory). An operator who runs
/// `sudo iocd verify --repair` or `sudo iocd restore` on a stopped
/// appliance must not leave root-owned store files that the `iocd` service
/// user can no longer open. Does nothing for other users or when the
/// owners already match; errors are returned for the caller to report.
pub fn match_owner(path: &Path, like: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let want = std::fs::metadata(like)?;
    let (uid, gid) = (want.uid(), want.gid());
    if uid == 0 {
        return Ok(());
    }
    fn walk(p: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
        let m = std::fs::symlink_metadata(p)?;
        if m.file_type().is_symlink() {
            return Ok(());
        }
        if m.uid() != uid || m.gid() != gid {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))?;
        }
        if m.is_dir() {
            for e in std::fs::read_dir(p)? {
                walk(&e?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(path, uid, gid)
}
