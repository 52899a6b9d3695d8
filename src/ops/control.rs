//! The control socket: how the CLI reaches a running server.
//!
//! sled locks the store directory, so while `iocd serve` runs no other
//! process can open the store: `iocd import`, `stats`, `export`, `keys`,
//! `verify` and `backup` have to be run by the server itself. It listens on
//! a unix socket, `<data_dir>/control.sock` (mode 0600; a connecting
//! process must run as root or as the server's own user, checked with
//! `SO_PEERCRED`). A unix socket rather than an HTTP endpoint because it
//! needs no API key, no TLS and no open port, and file-system permissions
//! already say who operates the appliance (`sudo iocd import ...`). No
//! socket, or nobody listening on it, means no server: the commands then
//! open the store directly, with the same output and exit codes.
//!
//! Protocol: the client sends one request line; the server answers one
//! status line, `ok` or `error <message>` (refused: another user, too many
//! connections, a malformed request), then the payload:
//! - `backup` → the backup stream ([`crate::store::backup`]), signed
//!   with `<data_dir>/backup.key` ([`crate::ops::backup_key`]);
//! - `verify` → the JSON [`crate::store::verify::VerifyReport`] (read-only:
//!   repair needs the server stopped);
//! - `ping` → nothing (is a server running here?);
//! - `purge-source NAME` → the JSON [`crate::store::purge::PurgeReport`];
//! - a JSON object, `{"cmd":"stats"|"keys"|"export"|"import", …}`
//!   ([`crate::cli::live::Request`], the command's own arguments) → frames
//!   ([`crate::ops::frames`]): the command's standard output and error,
//!   import progress, a JSON result, and last the exit code or the error
//!   message. For `import` the client uploads its files as frames after the
//!   status line ([`crate::cli::import_live`]).
//! - `feeds-status`, `feeds-run NAME` → JSON from [`crate::feeds::control`].
//!
//! Connections are served concurrently, one thread each, at most
//! [`MAX_CONNECTIONS`] at a time (a further client is told to retry): a
//! long import must not hold up `iocd stats` or a backup, and the store
//! serializes writers itself. Timeouts keep a silent client from holding a
//! thread: [`READ_TIMEOUT`] for the request line, the import's own idle
//! timeout for its upload, [`WRITE_TIMEOUT`] per write of a reply.

use crate::http::AppState;
use crate::store::Store;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";
/// Connections served at once; a further one is refused with a message.
pub const MAX_CONNECTIONS: usize = 8;
/// Longest request line (a JSON request carries tags and column names).
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// How long a client may take to send its command.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write of the reply may block (a stalled reader must not
/// hold the writer mutex, and so every ingest, for ever).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The socket path for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// The listening socket; removes its file when dropped (server shutdown).
pub struct ControlSocket {
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `<data_dir>/control.sock` and serves it on background threads
/// (one per connection, at most [`MAX_CONNECTIONS`]). The caller holds the
/// store (and so sled's directory lock): a socket file left by a crashed
/// server is stale and replaced.
pub fn serve(state: Arc<AppState>, data_dir: &Path) -> std::io::Result<ControlSocket> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let dd = data_dir.to_path_buf();
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("iocd-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => accept(&state, &dd, &open, s),
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(ControlSocket { path })
}

/// Hands one connection to a thread of its own, or refuses it when
/// [`MAX_CONNECTIONS`] are open.
fn accept(state: &Arc<AppState>, dd: &Path, open: &Arc<AtomicUsize>, mut s: UnixStream) {
    if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        open.fetch_sub(1, Ordering::SeqCst);
        let _ = s.set_write_timeout(Some(READ_TIMEOUT));
        let _ = writeln!(
            s,
            "error busy: {MAX_CONNECTIONS} control connections are open already; try again when one ends"
        );
        return;
    }
    let (state, dd, open2) = (state.clone(), dd.to_path_buf(), open.clone());
    let spawned = std::thread::Builder::new()
        .name("iocd-control-conn".into())
        .spawn(move || {
            if let Err(e) = handle(&state, &dd, s) {
                tracing::warn!(error = %e, "control socket request failed");
            }
            open2.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        open.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(error = %e, "control socket: cannot start a thread");
    }
}

/// The uid of the peer process (`SO_PEERCRED`).
fn peer_uid(s: &UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

fn handle(state: &AppState, data_dir: &Path, mut s: UnixStream) -> std::io::Result<()> {
    let store: &Store = &state.store;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let uid = peer_uid(&s)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if uid != 0 && uid != me {
        tracing::warn!(
            peer_uid = uid,
            "control socket: refused a process of another user"
        );
        return writeln!(
            s,
            "error permission denied: run as root or as the iocd user"
        );
    }
    let mut reader = BufReader::new(&s);
    let mut out = &s;
    let mut line = String::new();
    (&mut reader).take(MAX_REQUEST_BYTES).read_line(&mut line)?;
    if line.trim_start().starts_with('{') {
        let req = match serde_json::from_str::<crate::cli::live::Request>(&line) {
            Ok(r) => r,
            Err(e) => return writeln!(out, "error malformed request: {e}"),
        };
        out.write_all(b"ok\n")?;
        return crate::cli::live::serve(state, req, &mut reader, &s);
    }
    match line.trim() {
        "backup" => {
            // Signed with the operator's backup key (created at the first
            // backup if `iocd init` did not).
            let key = match crate::ops::backup_key::load_or_create(data_dir) {
                Ok((k, _)) => k,
                Err(e) => return writeln!(out, "error no backup key: {e:#}"),
            };
            tracing::info!("control socket: backup started");
            out.write_all(b"ok\n")?;
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, &s);
            match store.backup(&mut w, &key) {
                Ok(sum) => {
                    w.flush()?;
                    tracing::info!(
                        records = sum.records,
                        keys = sum.keys,
                        bytes = sum.bytes,
                        "control socket: backup sent"
                    );
                }
                // The client sees a truncated stream and reports it (the
                // trailer's count and checksum are missing).
                Err(e) => tracing::error!(error = %e, "control socket: backup failed"),
            }
            Ok(())
        }
        "ping" => out.write_all(b"ok\n"),
        "verify" => match store.verify(false) {
            Ok(r) => {
                out.write_all(b"ok\n")?;
                out.write_all(serde_json::to_string(&r).unwrap_or_default().as_bytes())
            }
            Err(e) => writeln!(out, "error {e}"),
        },
        cmd if cmd.starts_with("purge-source ") => {
            let source = cmd["purge-source ".len()..].trim();
            match store.purge_source(source) {
                Ok(r) => {
                    tracing::info!(source, removed = r.removed_total(), "control socket: source purged");
                    out.write_all(b"ok\n")?;
                    out.write_all(serde_json::to_string(&r).unwrap_or_default().as_bytes())
                }
                Err(e) => writeln!(out, "error {e}"),
            }
        }
        // `feeds-status`, `feeds-run NAME`: crate::feeds answers.
        cmd if cmd.starts_with("feeds-") => match crate::feeds::control(cmd) {
            Some(Ok(payload)) => {
                s.write_all(b"ok\n")?;
                s.write_all(payload.as_bytes())
            }
            Some(Err(e)) => writeln!(s, "error {e}"),
            None => writeln!(s, "error unknown command '{cmd}'"),
        },
        other => writeln!(
            s,
            "error unknown command '{other}' (known: backup, verify, ping, purge-source NAME, feeds-status, feeds-run NAME)"
        ),
    }
}

/// Client side: sends `command` to the server of `data_dir`. Returns
/// `Ok(None)` when no server is listening there (no socket file, or a
/// stale one), `Ok(Some(stream))` positioned at the payload after an `ok`,
/// or an error carrying the server's message.
pub fn request(data_dir: &Path, command: &str) -> anyhow::Result<Option<BufReader<UnixStream>>> {
    let path = socket_path(data_dir);
    let mut s = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(anyhow::anyhow!(
                "iocd serve is running on {} as another user ({} is not accessible: {e}); \
                 run this command as root or as that user (sudo -u iocd iocd ...)",
                data_dir.display(),
                path.display()
            ))
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot connect to the running server at {}: {e}",
                path.display()
            ))
        }
    };
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    writeln!(s, "{command}")?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    let status = status.trim_end();
    if status == "ok" {
        // Replies may pause for as long as the command works (a long
        // import, a scan for stats); the server's own timeouts bound it.
        r.get_ref().set_read_timeout(None)?;
        return Ok(Some(r));
    }
    let msg = status.strip_prefix("error ").unwrap_or(status);
    let what = if command.starts_with('{') {
        "the request"
    } else {
        command
    };
    anyhow::bail!(
        "the running server refused {what}: {}",
        if msg.is_empty() { "no answer" } else { msg }
    )
}
