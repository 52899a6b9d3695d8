//! The systemd notification protocol (`sd_notify(3)`), hand-written: one
//! datagram of `KEY=VALUE` lines to the unix socket named by
//! `$NOTIFY_SOCKET`. A crate for ten lines of std is not worth a
//! dependency.
//!
//! The unit runs iocd as `Type=notify`, so systemd marks the service
//! started only after `READY=1` (listeners bound, store open), shows
//! `STATUS=` lines in `systemctl status`, and knows a stop or reload is
//! under way from `STOPPING=1` / `RELOADING=1`. Outside systemd (no
//! `$NOTIFY_SOCKET`) every call is a no-op.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (e.g. `"READY=1\nSTATUS=serving"`) to systemd. Returns
/// false when not under systemd or when the send failed (never fatal:
/// readiness is advisory for a server that is already serving).
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    let addr = match bytes.split_first() {
        // `@name` is a Linux abstract socket.
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)
        }
        _ => SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &a));
    if let Err(e) = &sent {
        tracing::warn!(error = %e, "could not notify systemd ($NOTIFY_SOCKET)");
    }
    sent.is_ok()
}

/// `READY=1` with a status line.
pub fn ready(status: &str) -> bool {
    notify(&format!("READY=1\nSTATUS={status}"))
}

/// `STOPPING=1`: shutdown has begun (systemd then waits up to
/// `TimeoutStopSec` for the process to exit).
pub fn stopping() -> bool {
    notify("STOPPING=1\nSTATUS=stopping: finishing in-flight requests")
}

/// `RELOADING=1` before a SIGHUP reload; follow with [`ready`].
pub fn reloading() -> bool {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
}

/// CLOCK_MONOTONIC in microseconds (systemd 253+ wants it with RELOADING=1).
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    #[test]
    fn sends_to_a_path_socket() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("notify");
        let rx = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
        // Only this test sets NOTIFY_SOCKET in the unit-test process.
        std::env::set_var("NOTIFY_SOCKET", &p);
        assert!(super::ready("serving"));
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        assert!(!super::stopping());
    }
}
