//! The accept loop: TLS (rustls) with ALPN h2/http1.1, an optional
//! plaintext listener when configured, per-connection timeouts, a cap on
//! concurrent connections, and graceful shutdown.
//!
//! Shutdown: on the signal the listeners stop accepting, open connections
//! finish their in-flight requests (bounded by `shutdown_grace_secs`), then
//! the caller flushes the store.

use super::idle::{watchdog, Activity, Idle};
use super::{handle, AppState};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// The plain-HTTP answer sent when a client speaks HTTP to the TLS port.
const PLAINTEXT_ON_TLS: &str = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 136\r\n\r\n{\"error\":{\"code\":\"tls_required\",\"message\":\"This port speaks HTTPS only: use https://\",\"details\":{},\"request_id\":\"req_0000000000000000\"}}";

fn builder(state: &AppState) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            state.config().server.header_read_timeout_secs,
        ))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
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
    let limit = Arc::new(Semaphore::new(state.config().server.max_connections));
    let handshake = Duration::from_secs(state.config().server.tls_handshake_timeout_secs);
    let idle = Duration::from_secs(state.config().server.idle_timeout_secs);
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
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = {
                let state = state.clone();
                service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    // Metrics see every response, TAXII's included.
                    let (t0, method, path) = (
                        std::time::Instant::now(),
                        req.method().clone(),
                        req.uri().path().to_string(),
                    );
                    let resp = handle(state.clone(), peer, req);
                    async move {
                        let resp = resp.await;
                        if let Ok(r) = &resp {
                            super::handlers::metrics::observe(
                                &method,
                                &path,
                                r.status().as_u16(),
                                t0.elapsed(),
                            );
                        }
                        resp
                    }
                })
            };
            let b = builder(&state);
            let activity = Activity::new();
            let dog = watchdog(activity.clone(), idle);
            if is_tls {
                let Some(stream) = tls_handshake(stream, &tls, handshake, peer).await else {
                    return;
                };
                let conn = b.serve_connection(TokioIo::new(Idle::new(stream, activity)), svc);
                tokio::select! {
                    _ = watcher.watch(conn.into_owned()) => {}
                    _ = dog => tracing::debug!(peer = %peer, "idle connection closed"),
                }
            } else {
                let conn = b.serve_connection(TokioIo::new(Idle::new(stream, activity)), svc);
                tokio::select! {
                    _ = watcher.watch(conn.into_owned()) => {}
                    _ = dog => tracing::debug!(peer = %peer, "idle connection closed"),
                }
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

/// Completes a TLS handshake within `limit`. A client that sends plain HTTP
/// gets a short JSON 400 explaining that the port speaks HTTPS.
async fn tls_handshake(
    mut stream: TcpStream,
    tls: &TlsAcceptor,
    limit: Duration,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return None,
    }
    if first[0] != 0x16 {
        // Not a TLS record: most likely `http://` on the HTTPS port.
        let _ = stream.write_all(PLAINTEXT_ON_TLS.as_bytes()).await;
        let _ = stream.shutdown().await;
        return None;
    }
    match tokio::time::timeout(limit, tls.accept(stream)).await {
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
