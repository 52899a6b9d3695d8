//! The idle timeout of whole connections (`server.idle_timeout_secs`),
//! measured in *request activity*, not bytes: an HTTP/2 connection moves
//! bytes for ever without a request (the server's keep-alive PINGs and the
//! client's answers, a client's own PINGs, SETTINGS, WINDOW_UPDATEs), so
//! counting I/O let 16 idle clients hold every slot of a
//! `max_connections = 16` server (issue #11, item 2).
//!
//! Each connection has one [`Activity`]. A request touches it when it
//! starts ([`Activity::begin`]), when its handler returns, each time hyper
//! takes the next chunk of its response body ([`TrackedBody`]) and when
//! that body is done. [`watchdog`] resolves once no handler is running and
//! the last touch is older than the limit; the accept loop then drops the
//! connection. A handler's own wait on the client (the request body) has
//! its own bound (`body_read_timeout_secs`, see `super::body`); a client
//! that stops reading its response stops hyper from taking body chunks and
//! is closed after the idle limit too.

use super::Body;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// Request activity of one connection, shared by its requests, its
/// watchdog and the connection pool (which closes the longest-idle
/// connection when every slot is taken, see `super::conn_limits`).
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    /// Clock origin; `last_ms` counts from it (an atomic u64 is cheaper to
    /// share than a locked `Instant`).
    epoch: Instant,
    /// Milliseconds since `epoch` of the last request activity.
    last_ms: AtomicU64,
    /// Requests whose handler is running (the server's turn).
    handling: AtomicUsize,
    /// Requests not finished: handler running or response body not sent.
    open: AtomicUsize,
}

impl Activity {
    /// Starts the clock now: a connection that never sends a request is
    /// idle from its start.
    pub fn new() -> Activity {
        Activity(Arc::new(Inner {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
        }))
    }

    fn touch(&self) {
        self.0
            .last_ms
            .store(self.0.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Time since the last request activity.
    pub fn idle_for(&self) -> Duration {
        let now = self.0.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.0.last_ms.load(Ordering::Relaxed)))
    }

    /// Requests open on this connection (handler running or response not
    /// fully handed to hyper). 0 means the connection can be closed
    /// without cutting a request.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    fn handling(&self) -> usize {
        self.0.handling.load(Ordering::Relaxed)
    }

    /// A request starts: it is open and its handler runs until
    /// [`RequestGuard::handled`]; the guard's drop closes it.
    pub fn begin(&self) -> RequestGuard {
        self.0.open.fetch_add(1, Ordering::Relaxed);
        self.0.handling.fetch_add(1, Ordering::Relaxed);
        self.touch();
        RequestGuard {
            activity: self.clone(),
            handling: true,
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

/// One open request (see [`Activity::begin`]).
pub struct RequestGuard {
    activity: Activity,
    handling: bool,
}

impl RequestGuard {
    /// The handler returned: from now on the request waits for the client
    /// to take its response, which the idle limit bounds.
    pub fn handled(&mut self) {
        if std::mem::take(&mut self.handling) {
            self.activity.0.handling.fetch_sub(1, Ordering::Relaxed);
        }
        self.activity.touch();
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.handled();
        self.activity.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves when no handler is running and the connection has had no
/// request activity for `limit`.
pub async fn watchdog(a: Activity, limit: Duration) {
    loop {
        let idle = a.idle_for();
        if a.handling() == 0 && idle >= limit {
            return;
        }
        // While a handler runs, look again a full period later: it touches
        // the clock when it returns.
        let wait = if a.handling() > 0 {
            limit
        } else {
            limit - idle
        };
        tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
    }
}

/// Largest chunk handed to hyper at once: each chunk hyper takes is a sign
/// that the client is reading (HTTP/2 takes the next one only when the
/// flow-control window allows).
const CHUNK: usize = 64 * 1024;

/// A response body that reports its progress to its connection's
/// [`Activity`] and closes the request when it is done (or dropped).
pub struct TrackedBody {
    rest: Bytes,
    guard: Option<RequestGuard>,
}

impl TrackedBody {
    /// Takes the complete response body of a request and its guard.
    pub async fn new(body: Body, guard: RequestGuard) -> TrackedBody {
        use http_body_util::BodyExt;
        let rest = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(never) => match never {},
        };
        TrackedBody {
            rest,
            guard: Some(guard),
        }
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            self.guard = None;
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(CHUNK);
        let chunk = self.rest.split_to(n);
        if let Some(g) = &self.guard {
            g.activity.touch();
        }
        if self.rest.is_empty() {
            self.guard = None;
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn watchdog_counts_requests_not_time_alone() {
        let act = Activity::new();
        let dog = tokio::spawn(watchdog(act.clone(), Duration::from_secs(10)));
        tokio::time::sleep(Duration::from_secs(6)).await;
        let mut g = act.begin();
        // A handler running for longer than the limit is not cut.
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(!dog.is_finished(), "a running handler keeps the connection");
        g.handled();
        assert_eq!(act.open(), 1, "response not sent yet");
        drop(g);
        assert_eq!(act.open(), 0);
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(!dog.is_finished(), "the clock restarts at the response");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(dog.is_finished());
    }

    #[tokio::test]
    async fn tracked_body_is_chunked_and_exact() {
        use http_body_util::BodyExt;
        use hyper::body::Body as _;
        let act = Activity::new();
        let data = Bytes::from(vec![7u8; CHUNK * 2 + 5]);
        let mut b = TrackedBody::new(Body::new(data.clone()), act.begin()).await;
        assert_eq!(b.size_hint().exact(), Some(data.len() as u64));
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(f) = b.frame().await {
            got.extend_from_slice(f.unwrap().data_ref().unwrap());
            frames += 1;
        }
        assert_eq!((frames, got.len()), (3, data.len()));
        assert_eq!(act.open(), 0, "the request closes with its body");
    }
}
