//! Reading request bodies within bounds (issue #11, item 6): size
//! (`max_body_bytes`, 413), time (`body_read_timeout_secs` for the whole
//! body, 408) and memory — a server-wide budget (`max_inflight_body_mib`)
//! and one per connection (`max_connection_body_mib`: HTTP/2 carries up
//! to `http2_max_concurrent_streams` bodies on one connection), both 503
//! `server_busy` with `Retry-After` when full.
//!
//! Before, one HTTP/2 connection could make the server buffer 64 bodies of
//! 10 MiB at once (640 MiB), and a body sent at 1 byte every 20 s held its
//! connection as long as it liked.
//!
//! The budgets are semaphores counted in KiB. A body's permits are taken
//! before its bytes are read (the whole `Content-Length` at once, or chunk
//! by chunk without one) and kept in the request's [`BodyLease`] until the
//! request's handling ends, since the handler holds the bytes (and what it
//! parsed from them) until then.

use super::error::ApiError;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A body budget in KiB.
#[derive(Clone)]
pub struct Budget {
    sem: Arc<Semaphore>,
    mib: u64,
    /// `details.reason` of the 503 when it is full.
    reason: &'static str,
}

impl Budget {
    /// The server-wide budget (`max_inflight_body_mib`).
    pub fn server(mib: u64) -> Budget {
        Budget::new(mib, "server_body_budget")
    }

    /// One connection's budget (`max_connection_body_mib`).
    pub fn connection(mib: u64) -> Budget {
        Budget::new(mib, "connection_body_budget")
    }

    fn new(mib: u64, reason: &'static str) -> Budget {
        let kib = (mib.saturating_mul(1024) as usize).min(Semaphore::MAX_PERMITS);
        Budget {
            sem: Arc::new(Semaphore::new(kib)),
            mib,
            reason,
        }
    }

    /// KiB free now (metrics, tests).
    pub fn available_kib(&self) -> usize {
        self.sem.available_permits()
    }

    fn take(&self, kib: u32) -> Result<OwnedSemaphorePermit, ApiError> {
        self.sem.clone().try_acquire_many_owned(kib).map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_busy",
                "The server is receiving too many request bodies at once. Retry shortly, or send fewer uploads in parallel.",
            )
            .with_details(json!({"reason": self.reason, "budget_mib": self.mib}))
            .with_header("retry-after", "1".into())
        })
    }
}

/// The body budget of one connection, put in each request's extensions by
/// the accept loop.
#[derive(Clone)]
pub struct ConnectionBudget(pub Budget);

/// Where a request's body permits are kept until the request is answered
/// (a request extension: dropped with the request's `Parts`, after the
/// handler dropped the bytes).
#[derive(Clone, Default)]
pub struct BodyLease(Arc<Lease>);

#[derive(Default)]
struct Lease {
    permits: Mutex<Vec<OwnedSemaphorePermit>>,
    /// KiB of body memory the request held.
    kib: std::sync::atomic::AtomicUsize,
}

impl BodyLease {
    fn keep(&self, p: OwnedSemaphorePermit, kib: u32) {
        self.0
            .kib
            .fetch_add(kib as usize, std::sync::atomic::Ordering::Relaxed);
        self.0
            .permits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
    }
}

/// Bodies from this size up give their memory back to the OS when freed.
const RETURN_KIB: usize = 1024;

impl Drop for Lease {
    fn drop(&mut self) {
        if *self.kib.get_mut() >= RETURN_KIB {
            // mimalloc purges freed pages lazily, on later allocator work
            // of the same thread: after a burst of uploads the idle
            // workers kept ~60 MiB resident. Large bodies are rare (bulk
            // POSTs), so a forced collection after each costs little.
            // SAFETY: mi_collect only walks mimalloc's own heaps; where
            // mimalloc is not the allocator (unit tests) they are empty.
            unsafe { libmimalloc_sys::mi_collect(true) };
        }
    }
}

/// Takes `bytes` (rounded up to KiB) from the connection's budget, then the
/// server's, into `lease`.
fn reserve(
    bytes: usize,
    server: &Budget,
    conn: Option<&Budget>,
    lease: &BodyLease,
) -> Result<(), ApiError> {
    let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
    if kib == 0 {
        return Ok(());
    }
    if let Some(c) = conn {
        lease.keep(c.take(kib)?, 0);
    }
    lease.keep(server.take(kib)?, kib);
    Ok(())
}

/// 408 `request_timeout`: the body did not arrive in time. The connection
/// closes after the answer (its remaining bytes are unread).
fn too_slow(secs: u64) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!("The request body did not arrive within {secs} seconds; send it at once."),
    )
    .with_details(json!({"body_read_timeout_secs": secs}))
    .with_header("connection", "close".into())
}

/// Reserve granularity for bodies without `Content-Length`: fewer
/// semaphore operations than one per frame.
const STEP: usize = 64 * 1024;

/// Reads a whole request body: at most `max` bytes (413 beyond, before
/// reading when `Content-Length` says so), within `timeout` (408), within
/// the budgets (503). `parts` carries the connection budget and the lease
/// (both absent outside the accept loop, e.g. in unit tests: then only the
/// server budget applies and the permits are freed on return).
pub async fn read(
    parts: &Parts,
    body: Incoming,
    max: usize,
    timeout: Duration,
    server: &Budget,
) -> Result<Bytes, ApiError> {
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(ApiError::too_large(max));
    }
    let conn = parts.extensions.get::<ConnectionBudget>().map(|c| &c.0);
    let local = BodyLease::default();
    let lease = parts.extensions.get::<BodyLease>().unwrap_or(&local);
    let mut reserved = 0usize;
    let mut buf = match declared {
        Some(len) => {
            let len = len as usize;
            reserve(len, server, conn, lease)?;
            reserved = len;
            BytesMut::with_capacity(len)
        }
        None => BytesMut::new(),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(too_slow(timeout.as_secs())),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::invalid_body(format!(
                    "could not read the request body: {e}"
                )))
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = buf.len() + data.len();
        if total > max {
            return Err(ApiError::too_large(max));
        }
        if total > reserved {
            let more = (total - reserved).max(STEP).min(max - reserved);
            reserve(more, server, conn, lease)?;
            reserved += more;
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_refuse_with_the_envelope_and_free_on_drop() {
        let server = Budget::server(1);
        let conn = Budget::connection(1);
        let lease = BodyLease::default();
        reserve(600 * 1024, &server, Some(&conn), &lease).unwrap();
        let e = reserve(600 * 1024, &server, Some(&conn), &lease).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (503, "server_busy"));
        assert_eq!(e.details["reason"], "connection_body_budget");
        assert!(e
            .headers
            .iter()
            .any(|(k, v)| *k == "retry-after" && v == "1"));
        drop(lease);
        assert_eq!(server.available_kib(), 1024);
        assert_eq!(conn.available_kib(), 1024);
    }
}
