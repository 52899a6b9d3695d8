//! The accept loop: TLS (rustls) with ALPN h2/http1.1, an optional
//! plaintext listener when configured, connection admission (per-address
//! caps, a handshake pool separate from the established one; see
//! [`super::conn_limits`]), idle timeouts counted in requests (see
//! [`super::idle`]), and graceful shutdown.
//!
//! A socket's life: accepted (never waiting for a slot: a socket over its
//! address's caps is closed at once) → handshake (TLS; for plaintext, until
//! its first byte) under a handshake slot and `tls_handshake_timeout_secs`
//! → established slot → served by hyper until the client closes, the
//! idle limit passes with no request open, or a new connection needs the
//! slot of this idle one.
//!
//! Shutdown: on the signal the listeners stop accepting, open connections
//! finish their in-flight requests (bounded by `shutdown_grace_secs`), then
//! the caller flushes the store.

use super::body::{BodyLease, Budget, ConnectionBudget};
use super::conn_limits::{AddressSlot, HandshakeSlot, Limits};
use super::error::ApiError;
use super::idle::{watchdog, Activity, TrackedBody};
use super::{handle, request_id, AppState};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The plain-HTTP answer sent when a client speaks HTTP to the TLS port.
const PLAINTEXT_ON_TLS: &str = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 136\r\n\r\n{\"error\":{\"code\":\"tls_required\",\"message\":\"This port speaks HTTPS only: use https://\",\"details\":{},\"request_id\":\"req_0000000000000000\"}}";

/// How long a connection refused for lack of an established slot is
/// answered 503 before it is closed.
const BUSY_ANSWER: Duration = Duration::from_secs(5);

fn builder(state: &AppState) -> Builder<TokioExecutor> {
    let cfg = state.config();
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(cfg.server.header_read_timeout_secs))
        .keep_alive(true);
    // Keep-alive PINGs find dead peers; they do not keep a connection from
    // being idle (see `idle`).
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(cfg.server.http2_max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

/// Timeouts and limits of one server, read once at start.
struct Settings {
    handshake: Duration,
    idle: Duration,
    connection_body_mib: u64,
}

/// Serves until `shutdown` resolves. `tls` is the rustls acceptor for the
/// HTTPS listener; `plain` an optional plaintext listener.
pub async fn run(
    state: Arc<AppState>,
    tls_listener: TcpListener,
    tls: TlsAcceptor,
    plain: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let cfg = state.config();
    let limits = Limits::new(&cfg.server);
    let settings = Arc::new(Settings {
        handshake: Duration::from_secs(cfg.server.tls_handshake_timeout_secs),
        idle: Duration::from_secs(cfg.server.idle_timeout_secs),
        connection_body_mib: cfg.server.max_connection_body_mib,
    });
    drop(cfg);
    tokio::pin!(shutdown);
    loop {
        let plain_accept = async {
            match &plain {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        let (stream, peer, is_tls) = tokio::select! {
            _ = &mut shutdown => break,
            r = tls_listener.accept() => match r {
                Ok((s, p)) => (s, p, true),
                Err(e) => { tracing::warn!(error = %e, "accept failed"); tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            r = plain_accept => match r {
                Ok((s, p)) => (s, p, false),
                Err(e) => { tracing::warn!(error = %e, "accept failed"); tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
        };
        // Admission never waits: a socket over its address's caps is
        // closed here (dropped), and the loop goes on accepting.
        let admitted = limits
            .admit(peer.ip())
            .and_then(|a| Ok((limits.handshake(&a)?, a)));
        let (hs, addr) = match admitted {
            Ok(x) => x,
            Err(why) => {
                tracing::debug!(peer = %peer, reason = ?why, "connection refused");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Socket {
            state: state.clone(),
            limits: limits.clone(),
            settings: settings.clone(),
            peer,
            _addr: addr,
        };
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            if is_tls {
                conn.serve_tls(stream, &tls, hs, watcher).await
            } else {
                conn.serve_plain(stream, hs, watcher).await
            }
        });
    }
    drop(tls_listener);
    drop(plain);
    let grace = Duration::from_secs(state.config().server.shutdown_grace_secs);
    tracing::info!(
        "shutting down: waiting up to {}s for in-flight requests",
        grace.as_secs()
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing remaining connections");
    }
}

/// One accepted socket and what it needs to be served.
struct Socket {
    state: Arc<AppState>,
    limits: Arc<Limits>,
    settings: Arc<Settings>,
    peer: SocketAddr,
    /// Counts against the address for the socket's whole life.
    _addr: AddressSlot,
}

impl Socket {
    /// TLS: handshake under `hs` (dropped when a newer handshake evicts
    /// it), then served.
    async fn serve_tls(
        self,
        stream: TcpStream,
        tls: &TlsAcceptor,
        mut hs: HandshakeSlot,
        watcher: Watcher,
    ) {
        let peer = self.peer;
        let done = tokio::select! {
            s = tls_handshake(stream, tls, self.settings.handshake, peer) => s,
            _ = hs.evicted() => {
                tracing::debug!(peer = %peer, "handshake dropped: the handshake pool is full");
                None
            }
        };
        if let Some(s) = done {
            self.established(s, hs, watcher).await
        }
    }

    /// Plaintext: the "handshake" lasts until the first byte.
    async fn serve_plain(self, stream: TcpStream, mut hs: HandshakeSlot, watcher: Watcher) {
        let mut first = [0u8; 1];
        let spoke = tokio::select! {
            r = tokio::time::timeout(self.settings.handshake, stream.peek(&mut first)) => matches!(r, Ok(Ok(1))),
            _ = hs.evicted() => false,
        };
        if spoke {
            self.established(stream, hs, watcher).await
        }
    }

    /// Takes an established slot (answering 503 while holding the
    /// handshake slot when none is free), then serves the connection until
    /// it closes, idles out, or an evicting new connection takes its slot.
    async fn established<S>(self, io: S, hs: HandshakeSlot, watcher: Watcher)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let activity = Activity::new();
        let mut slot = match self.limits.establish(&activity) {
            Ok(s) => s,
            Err(_) => {
                tracing::warn!(peer = %peer, "every connection slot has a request open: answering 503");
                answer_busy(io).await;
                return;
            }
        };
        drop(hs);
        let budget = ConnectionBudget(Budget::connection(self.settings.connection_body_mib));
        let svc = {
            let (state, activity) = (self.state.clone(), activity.clone());
            service_fn(move |mut req: Request<hyper::body::Incoming>| {
                // Metrics see every response, TAXII's included.
                let (t0, method, path) = (
                    std::time::Instant::now(),
                    req.method().clone(),
                    req.uri().path().to_string(),
                );
                let mut guard = activity.begin();
                req.extensions_mut().insert(budget.clone());
                req.extensions_mut().insert(BodyLease::default());
                let resp = handle(state.clone(), peer, req);
                async move {
                    let r = match resp.await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    guard.handled();
                    super::handlers::metrics::observe(
                        &method,
                        &path,
                        r.status().as_u16(),
                        t0.elapsed(),
                    );
                    let (parts, body) = r.into_parts();
                    let body = TrackedBody::new(body, guard).await;
                    Ok::<_, Infallible>(Response::from_parts(parts, body))
                }
            })
        };
        let b = builder(&self.state);
        let conn = b.serve_connection(TokioIo::new(io), svc);
        tokio::select! {
            _ = watcher.watch(conn.into_owned()) => {}
            _ = watchdog(activity, self.settings.idle) => tracing::debug!(peer = %peer, "idle connection closed"),
            _ = slot.evicted() => tracing::debug!(peer = %peer, "idle connection closed for a new one"),
        }
    }
}

/// Answers every request of a connection that got no established slot
/// with 503 `server_busy` and `Retry-After`, for at most [`BUSY_ANSWER`].
async fn answer_busy<S>(io: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
        let e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_busy",
            "Every connection slot of the server is serving a request. Retry shortly.",
        )
        .with_details(serde_json::json!({"reason": "max_connections"}))
        .with_header("retry-after", "1".into());
        Ok::<_, Infallible>(e.into_response(&request_id()))
    });
    let mut b = Builder::new(TokioExecutor::new());
    b.http1().keep_alive(false);
    let conn = b.serve_connection(TokioIo::new(io), svc);
    let _ = tokio::time::timeout(BUSY_ANSWER, conn).await;
}

/// Completes a TLS handshake within `limit` (first byte included). A client that sends plain HTTP
/// gets a short JSON 400 explaining that the port speaks HTTPS.
async fn tls_handshake(
    mut stream: TcpStream,
    tls: &TlsAcceptor,
    limit: Duration,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    if first[0] != 0x16 {
        // Not a TLS record: most likely `http://` on the HTTPS port.
        let _ = stream.write_all(PLAINTEXT_ON_TLS.as_bytes()).await;
        let _ = stream.shutdown().await;
        return None;
    }
    match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer = %peer, "TLS handshake timed out");
            None
        }
    }
}
